"""Seed-VC v1 family: parity with the reference on the golden reduced models (length regulator, estimator
with and without CFG, padded batch, 4-step Euler), the mel front end, and the released layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import ModelLoadError
from engine.models.seedvc import OFFLINE, REALTIME, SeedVC, checkpoint_layout, load_model, log_mel
from tests.conftest import GOLDEN

GOLDEN_DIR = GOLDEN / "seedvc"
ATOL = 1e-4  # the README's suggestion; float64 reruns of the reference move these arrays by <= 8.4e-6
CASES = (0, 1)


@pytest.fixture(scope="module", params=CASES)
def case(request):
    index = request.param
    model = load_model(GOLDEN_DIR / f"tiny_{index}.pth", GOLDEN_DIR / f"config_{index}.json")
    arrays = np.load(GOLDEN_DIR / f"case_{index}.npz")
    return model, {name: torch.from_numpy(arrays[name]) for name in arrays.files}


def close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=0, atol=ATOL)


def test_length_regulator(case):
    model, c = case
    source = model.regulate(c["content_src"], c["target_len_src"])
    reference = model.regulate(c["content_ref"], c["target_len_ref"])
    close(source, c["lr_src_out"])
    close(reference, c["lr_ref_out"])
    close(torch.cat([reference, source], dim=1), c["mu"])


def test_one_estimator_evaluation_with_and_without_guidance(case):
    model, c = case
    t = c["t_eval"].reshape(1)
    args = (c["x_eval"], c["prompt_x"], c["x_lens"], t, c["style"], c["mu"])
    with torch.inference_mode():
        close(model.estimator(*args), c["v_cond"])
        null = model.estimator(c["x_eval"], torch.zeros_like(c["prompt_x"]), c["x_lens"], t,
                               torch.zeros_like(c["style"]), torch.zeros_like(c["mu"]))
    close(null, c["v_uncond"])
    close(model.velocity(*args, cfg_rate=0.7), c["v_cfg"])
    close(model.velocity(*args, cfg_rate=0.0), c["v_cond"])


def test_velocity_from_a_frame_on_equals_the_full_velocity_there(case):
    """The sampler asks only for the frames after the prompt: the head then skips the frames before it
    (less its reach), and what it returns from there on must be the full evaluation's."""
    model, c = case
    t = c["t_eval"].reshape(1)
    args = (c["x_eval"], c["prompt_x"], c["x_lens"], t, c["style"], c["mu"])
    start = c["x_eval"].shape[-1] // 2
    with torch.inference_mode():
        full = model.estimator(*args)
        tail = model.estimator(*args, output_from=start)
    assert model.estimator.head_reach() < start
    assert torch.equal(tail[..., :start], torch.zeros_like(tail[..., :start]))
    np.testing.assert_allclose(tail[..., start:].numpy(), full[..., start:].numpy(), rtol=0, atol=1e-5)


def test_padded_batch_masks_the_short_item(case):
    model, c = case
    with torch.inference_mode():
        out = model.estimator(c["xb_x"], c["xb_prompt_x"], c["xb_lens"], c["xb_t"], c["xb_style"], c["xb_mu"])
    short = int(c["xb_lens"][1])
    close(out[0], c["vb_masked"][0])
    close(out[1, :, :short], c["vb_masked"][1, :, :short])


def test_euler_steps_and_samples(case):
    model, c = case
    prompt_frames = c["prompt_mel"].shape[-1]
    prompt_x = torch.zeros_like(c["noise"])
    prompt_x[..., :prompt_frames] = c["prompt_mel"]
    for step in range(len(c["euler_t"])):
        velocity = model.velocity(c["euler_x_in"][step], prompt_x, c["x_lens"], c["euler_t"][step].reshape(1),
                                  c["style"], c["mu"], cfg_rate=0.7)
        close(velocity, c["euler_v"][step])
    steps = []
    sample = model.sample(c["mu"], c["prompt_mel"], c["style"], c["noise"], 4, 0.7, on_step=steps.append)
    assert steps == [1, 2, 3, 4]
    close(sample, c["sample"])
    close(sample[..., prompt_frames:], c["vc_target"])
    assert not sample[..., :prompt_frames].any()
    close(model.sample(c["mu"], c["prompt_mel"], c["style"], c["noise"], 4, 0.0), c["sample_nocfg"])


def test_prompt_mel_front_end(case):
    model, c = case
    # Bit-exact where this CPU's FFT rounds like the reference's; float32 FFTs differ by ~2e-4 in the
    # quietest bins elsewhere (README: atol 1e-3 for a different FFT).
    np.testing.assert_allclose(log_mel(c["prompt_wav_22k"], model.config.mel).numpy(), c["prompt_mel"].numpy(),
                               rtol=0, atol=1e-3)


@pytest.mark.parametrize("name, settings", [("mel", OFFLINE.mel), ("mel_fmax8000", REALTIME.mel)])
def test_mel_front_end_of_both_presets(name, settings):
    arrays = np.load(GOLDEN_DIR / "mel_case.npz")
    mel = log_mel(arrays["wav_22k"], settings)
    assert mel.shape == arrays[name].shape == (1, 80, arrays["wav_22k"].size // 256)
    np.testing.assert_allclose(mel.numpy(), arrays[name], rtol=0, atol=1e-3)


@pytest.mark.parametrize("config, manifest, counts", [
    (OFFLINE, "keys_release.json", {"cfm": 98_203_984, "length_regulator": 4_857_344}),
    (REALTIME, "keys_release_xlsr_tiny.json", {"cfm": 25_684_688, "length_regulator": 2_709_120}),
])
def test_released_definitions_carry_the_official_names_and_shapes(config, manifest, counts):
    expected = json.loads((GOLDEN_DIR / manifest).read_text())
    with torch.device("meta"):
        model = SeedVC(config)
    for module, values in counts.items():
        layout = checkpoint_layout(getattr(model, module))
        assert layout == expected[module]
        assert sum(int(np.prod(shape)) for shape in layout.values()) == values


def test_checkpoint_wrappers_are_accepted_and_extra_entries_ignored(tmp_path):
    data = torch.load(GOLDEN_DIR / "tiny_0.pth", weights_only=True)
    wrapped = {"net": {name: {f"module.{key}": value for key, value in state.items()}
                       for name, state in data["net"].items()},
               "ema": {"cfm": {}}, "epoch": 3}
    path = tmp_path / "wrapped.pth"
    torch.save(wrapped, path)
    model = load_model(path, GOLDEN_DIR / "config_0.json")
    reference = load_model(GOLDEN_DIR / "tiny_0.pth", GOLDEN_DIR / "config_0.json")
    for mine, theirs in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.equal(mine, theirs)


def test_a_checkpoint_of_another_shape_is_refused_clearly(tmp_path):
    data = torch.load(GOLDEN_DIR / "tiny_0.pth", weights_only=True)
    del data["net"]["cfm"]["estimator.conv2.bias"]
    path = tmp_path / "broken.pth"
    torch.save(data, path)
    with pytest.raises(ModelLoadError, match=r"(?s)\[cfm\].*missing in checkpoint \(1\): estimator\.conv2\.bias"):
        load_model(path, GOLDEN_DIR / "config_0.json")
    with pytest.raises(ModelLoadError, match="match no released Seed-VC v1 model"):
        load_model(GOLDEN_DIR / "tiny_0.pth")
    torch.save({"model": {}}, path)
    with pytest.raises(ModelLoadError, match="no 'net' dictionary"):
        load_model(path, GOLDEN_DIR / "config_0.json")
