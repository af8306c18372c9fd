"""Device choice, precision, CPU threads, the device description and out-of-memory translation."""

from __future__ import annotations

import os

import pytest
import torch

from engine.errors import BadInputError, DeviceOutOfMemoryError
from engine.models import devices
from engine.models.runtime import RuntimeSettings, load_runtime_settings, save_runtime_settings


def _expected_auto() -> str:
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def test_auto_picks_cuda_then_mps_then_cpu():
    assert devices.resolve("auto").type == _expected_auto()
    assert devices.resolve(None).type == _expected_auto()  # no saved setting: auto
    assert devices.resolve("CPU") == torch.device("cpu")


def test_saved_setting_is_the_default_and_an_explicit_choice_wins():
    save_runtime_settings(RuntimeSettings(device="cpu", precision="fp16", cpu_threads=1))
    assert load_runtime_settings() == RuntimeSettings(device="cpu", precision="fp16", cpu_threads=1)
    assert devices.resolve() == torch.device("cpu")
    assert devices.cpu_threads() == 1


def test_unusable_or_unknown_devices_are_refused_with_the_reason():
    with pytest.raises(BadInputError, match="unknown device 'tpu'"):
        devices.resolve("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BadInputError, match="device cuda is not usable: ") as caught:
            devices.resolve("cuda")
        assert devices.gpu_unavailable_reason() in str(caught.value)
    else:
        with pytest.raises(BadInputError, match="does not exist"):
            devices.resolve(f"cuda:{torch.cuda.device_count()}")


def test_precision_is_fp32_on_cpu_and_half_on_gpu():
    assert devices.choose_dtype("cpu", "auto") is torch.float32
    assert devices.choose_dtype("cpu", "bf16") is torch.float32
    if torch.cuda.is_available():
        auto = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        assert devices.choose_dtype("cuda", "auto") is auto
        assert devices.choose_dtype("cuda", "fp16") is torch.float16
        assert devices.choose_dtype("cuda", "auto", half_ok=False) is torch.float32
    with pytest.raises(BadInputError, match="unknown precision 'fp8'"):
        devices.choose_dtype("cpu", "fp8")


def test_thread_count_defaults_to_physical_cores_and_is_applied():
    cores = devices.physical_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    assert devices.cpu_threads(RuntimeSettings()) == cores
    before = torch.get_num_threads()
    try:
        assert devices.apply_cpu_threads(RuntimeSettings(cpu_threads=1)) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_description_lists_the_cpu_with_memory_and_explains_a_missing_gpu():
    report = devices.describe_devices()
    cpu = report.devices[0]
    assert cpu.id == "cpu" and cpu.dtype == "fp32"
    assert cpu.total_bytes > cpu.free_bytes > 0
    assert report.torch_version == torch.__version__ and report.chosen == _expected_auto()
    cuda_ids = [d.id for d in report.devices if d.id.startswith("cuda")]
    if torch.cuda.is_available():
        assert cuda_ids and report.gpu_note == ""
        free, total = torch.cuda.mem_get_info(0)
        assert report.devices[1].total_bytes == total
    else:
        assert cuda_ids == [] and report.gpu_note
    assert report.to_dict()["devices"][0]["id"] == "cpu"


@pytest.mark.parametrize("failure", [
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    MemoryError(),
    RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"),
])
def test_out_of_memory_becomes_a_message_with_a_way_out(failure):
    with pytest.raises(DeviceOutOfMemoryError) as caught:
        with devices.out_of_memory_as_error("cuda:0", "separating a 30 s window",
                                            advice="choose a shorter window"):
            raise failure
    message = str(caught.value)
    assert message == ("cuda:0 ran out of memory while separating a 30 s window: choose a shorter window, "
                       "or run on the CPU (--device cpu)")
    assert caught.value.__cause__ is failure


def test_other_errors_pass_through_unchanged():
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with devices.out_of_memory_as_error("cpu"):
            raise RuntimeError("shape mismatch")
    with pytest.raises(DeviceOutOfMemoryError, match="^cpu ran out of memory while running the model: try a smaller chunk or window$"):
        with devices.out_of_memory_as_error("cpu"):
            raise MemoryError()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_real_cuda_out_of_memory_is_translated_and_the_gpu_stays_usable():
    too_much = 2 * torch.cuda.get_device_properties(0).total_memory
    with pytest.raises(DeviceOutOfMemoryError, match=r"^cuda:0 ran out of memory while allocating"):
        with devices.out_of_memory_as_error("cuda:0", "allocating"):
            torch.empty(too_much, dtype=torch.uint8, device="cuda:0")
    assert torch.ones(1024, device="cuda:0").sum().item() == 1024
