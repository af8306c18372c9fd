"""Where models run: the device choice (CUDA > MPS > CPU unless the user says otherwise), the precision
for that device, CPU thread counts for torch and CTranslate2, a description of what is available (and why
a GPU is not used), and the translation of out-of-memory failures into a message with a way out.

The user's choices persist as :class:`engine.models.runtime.RuntimeSettings`; the CLI's ``--device``
overrides them for one run.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from engine.errors import BadInputError, DeviceOutOfMemoryError
from engine.models.runtime import DEVICE_CHOICES, PRECISION_CHOICES, RuntimeSettings, load_runtime_settings

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


# -- choice -------------------------------------------------------------------------------------------

def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve(requested: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``requested`` ("auto", "cpu", "cuda", "cuda:1", "mps"), else the saved
    setting; "auto" means CUDA, then MPS, then CPU. An unavailable explicit choice is an error, not a
    silent fallback, so the user knows why it is slow."""
    if isinstance(requested, torch.device):
        requested = str(requested)
    requested = (requested or load_runtime_settings().device or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise BadInputError(None, f"unknown device {requested!r}; use one of {', '.join(DEVICE_CHOICES)}") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInputError(None, f"device {requested} is not usable: {gpu_unavailable_reason()}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadInputError(None, f"device {requested} does not exist: {torch.cuda.device_count()} CUDA "
                                      f"device(s) found")
    elif device.type == "mps" and not _mps_available():
        raise BadInputError(None, "device mps is not usable: Apple Metal is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise BadInputError(None, f"unsupported device {requested!r}; use one of {', '.join(DEVICE_CHOICES)}")
    return device


def choose_dtype(device: torch.device | str, precision: str | None = None, *, half_ok: bool = True) -> torch.dtype:
    """fp32 on the CPU (half precision there is slow and inexact); on a GPU the requested precision, with
    "auto" meaning bf16 where the GPU supports it, else fp16. ``half_ok=False`` is for models that are
    only accurate in fp32."""
    device = torch.device(device)
    precision = (precision or load_runtime_settings().precision or "auto").lower()
    if precision not in PRECISION_CHOICES:
        raise BadInputError(None, f"unknown precision {precision!r}; use one of {', '.join(PRECISION_CHOICES)}")
    if device.type == "cpu" or not half_ok or precision == "fp32":
        return torch.float32
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise BadInputError(None, f"{torch.cuda.get_device_name(device)} does not support bf16; use fp16")
    return _DTYPES[precision]


# -- CPU threads --------------------------------------------------------------------------------------

def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads share one core's arithmetic units, so
    more threads than cores slows matrix work down)."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return max(1, logical)
    cores = set()
    package = core = None
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip():
            if core is not None:
                cores.add((package, core))
            package = core = None
    threads_per_core = max(1, (os.cpu_count() or 1) // len(cores)) if cores else 1
    return max(1, logical // threads_per_core)


def cpu_threads(settings: RuntimeSettings | None = None) -> int:
    """The thread count to use: the setting when positive, else the physical cores."""
    chosen = (settings or load_runtime_settings()).cpu_threads
    return chosen if chosen > 0 else physical_cores()


def apply_cpu_threads(settings: RuntimeSettings | None = None) -> int:
    """Set torch's intra-op thread count; returns the count, which callers also pass to CTranslate2
    (``WhisperModel(cpu_threads=...)``), the one runtime that takes it per model."""
    count = cpu_threads(settings)
    torch.set_num_threads(count)
    return count


# -- description ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceInfo:
    id: str  # "cpu", "cuda:0", "mps"
    name: str
    total_bytes: int | None
    free_bytes: int | None
    dtype: str  # what "auto" precision picks there
    note: str = ""


@dataclass(frozen=True)
class DeviceReport:
    devices: list[DeviceInfo]
    chosen: str
    torch_version: str
    cuda_version: str | None
    gpu_note: str  # why no GPU is used, or "" when one is
    cpu_threads: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "torch": self.torch_version, "cuda": self.cuda_version,
                "gpu_note": self.gpu_note, "cpu_threads": self.cpu_threads,
                "devices": [vars(d) for d in self.devices]}


def system_memory() -> tuple[int | None, int | None]:
    """(total, available) system memory in bytes from /proc/meminfo (no psutil needed)."""
    values = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0]) * 1024
    except OSError:
        return None, None
    return values.get("MemTotal"), values.get("MemAvailable")


def _cpu_model_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def gpu_unavailable_reason() -> str:
    """Why torch cannot use a CUDA GPU here, in words a user can act on."""
    if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
        return f"this torch {torch.__version__} was built without CUDA (install a CUDA build of torch)"
    try:
        count = torch.cuda.device_count()
    except RuntimeError as exc:
        return f"the CUDA driver cannot be used ({exc})"
    if count == 0:
        if not Path("/proc/driver/nvidia/version").exists() and platform.system() == "Linux":
            return "no NVIDIA driver is loaded (no GPU, or the driver is not installed)"
        return "CUDA reports no devices (check CUDA_VISIBLE_DEVICES and the driver)"
    return ""


def describe_devices() -> DeviceReport:
    """Every device torch can use, with memory and the precision "auto" picks."""
    total, free = system_memory()
    cpu_name = _cpu_model_name()
    devices = [DeviceInfo("cpu", f"CPU {cpu_name} ({physical_cores()} cores)", total, free, "fp32")]
    gpu_note = gpu_unavailable_reason()
    if not gpu_note:
        for index in range(torch.cuda.device_count()):
            free_b, total_b = torch.cuda.mem_get_info(index)
            props = torch.cuda.get_device_properties(index)
            devices.append(DeviceInfo(f"cuda:{index}", torch.cuda.get_device_name(index), total_b, free_b,
                                      "bf16" if props.major >= 8 else "fp16",  # bf16 arithmetic from Ampere on
                                      f"compute capability {props.major}.{props.minor}"))
    if _mps_available():
        devices.append(DeviceInfo("mps", "Apple Metal (MPS)", total, free, "fp16", "shares system memory"))
        gpu_note = ""
    try:
        chosen = str(resolve())
    except BadInputError as exc:
        chosen = f"cpu ({exc})"
    return DeviceReport(devices, chosen, torch.__version__, torch.version.cuda, gpu_note, cpu_threads())


# -- out of memory ----------------------------------------------------------------------------------------

def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_device_memory() -> None:
    """Return cached blocks to the driver so that a retry (or another model) has room."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if _mps_available() and mps is not None and hasattr(mps, "empty_cache"):
        mps.empty_cache()


@contextlib.contextmanager
def out_of_memory_as_error(device: torch.device | str, doing: str = "running the model",
                           advice: str = "try a smaller chunk or window") -> Iterator[None]:
    """Turn an out-of-memory failure inside the block into :class:`DeviceOutOfMemoryError` with a message
    offering smaller chunks or the CPU, after freeing the cached memory (so the app keeps running)."""
    try:
        yield
    except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        free_device_memory()
        where = str(device)
        escape = "" if torch.device(device).type == "cpu" else ", or run on the CPU (--device cpu)"
        raise DeviceOutOfMemoryError(f"{where} ran out of memory while {doing}: {advice}{escape}") from exc
