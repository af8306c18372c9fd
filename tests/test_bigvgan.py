"""BigVGAN v2: the official layout at the released size, parity with the reference on the golden tiny
model (output and every stage), the official container and folder, and chunked vocoding."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.errors import Cancelled, ModelLoadError
from engine.jobs import CancelToken
from engine.models.bigvgan import BigVGAN, fold_weight_norm, load_model, read_config
from engine.models.bigvgan import model as bigvgan_model
from engine.models.checkpoint import load_strict
from tests.conftest import GOLDEN

GOLDEN_DIR = GOLDEN / "bigvgan"
TINY = GOLDEN_DIR / "tiny_0.safetensors"
TINY_CONFIG = GOLDEN_DIR / "config_0.json"
INPUTS = ("", "_rand", "_loud")


def release_config():
    values = json.loads(TINY_CONFIG.read_text())
    values.update(upsample_initial_channel=1536, resblock_kernel_sizes=[3, 7, 11],
                  resblock_dilation_sizes=[[1, 3, 5]] * 3)
    return read_config(values)


@pytest.fixture(scope="module")
def case():
    return np.load(GOLDEN_DIR / "case_0.npz")


@pytest.fixture(scope="module")
def tiny():
    return load_model(TINY, config=TINY_CONFIG)


def test_released_layout_loads_strictly_on_meta():
    """The official file's 783 tensors (weight-normed) fold into exactly this module's 667 at full size."""
    manifest = json.loads((GOLDEN_DIR / "keys_release.json").read_text())
    with torch.device("meta"):
        model = BigVGAN(release_config())
        official = {name: torch.empty(shape) for name, shape in manifest.items()}
    folded = fold_weight_norm(official)
    assert len(official) == 783 and len(folded) == 667
    load_strict(model, folded, source="keys_release.json")
    assert sum(p.numel() for p in model.parameters()) == 112_199_472
    assert sum(b.numel() for b in model.buffers()) == 2_616
    assert model.receptive_field_frames() == 42


@pytest.mark.parametrize("fused", [True, False], ids=["compiled-activation", "pytorch-steps"])
@pytest.mark.parametrize("suffix", INPUTS)
def test_output_matches_the_reference(tiny, case, suffix, fused, monkeypatch):
    """Both CPU forms: the compiled activation kernel, and the PyTorch steps that run without numba."""
    if not fused:
        monkeypatch.setattr(bigvgan_model, "anti_aliased_snake", None)
    mel = torch.from_numpy(case["mel" + suffix])
    audio = tiny(mel)
    assert audio.shape == (1, 1, 256 * mel.shape[-1])
    np.testing.assert_allclose(audio.numpy(), case["audio" + suffix], rtol=0, atol=1e-5)


def test_loud_input_is_clamped_not_squashed(tiny, case):
    audio = tiny(torch.from_numpy(case["mel_loud"])).numpy()
    over = np.abs(case["conv_post_out_loud"]) > 1
    assert over.sum() == 91
    assert np.array_equal(audio[over], np.sign(case["conv_post_out_loud"][over]))


def _close(actual: torch.Tensor, expected: np.ndarray) -> None:
    np.testing.assert_allclose(actual.numpy(), expected, rtol=0, atol=1e-5 * np.abs(expected).max())


@torch.inference_mode()
def test_every_stage_matches_the_reference(tiny, case):
    kernels = len(tiny.config.resblock_kernel_sizes)
    x = tiny.conv_pre(torch.from_numpy(case["mel"]))
    _close(x, case["conv_pre_out"])
    first = tiny.ups[0][0](x)
    _close(first, case["ups0_out"])
    activation = tiny.resblocks[0].activations[0]
    up = activation.upsample(first)
    _close(up, case["act0_up"])
    _close(activation.act(up), case["act0_snake"])
    _close(activation.downsample(activation.act(up)), case["act0_out"])
    _close(activation(first), case["act0_out"])
    _close(tiny.resblocks[0](first), case["resblock0_out"])
    for stage, (upsample,) in enumerate(tiny.ups):
        x = upsample(x)
        x = sum(tiny.resblocks[stage * kernels + j](x) for j in range(kernels)) / kernels
        _close(x, case[f"stage{stage}_out"])
    x = tiny.activation_post(x)
    _close(x, case["act_post_out"])
    _close(tiny.conv_post(x), case["conv_post_out"])
    rand = tiny.conv_pre(torch.from_numpy(case["mel_rand"]))
    _close(rand, case["conv_pre_out_rand"])
    _close(tiny.ups[0][0](rand), case["ups0_out_rand"])
    _close(activation(tiny.ups[0][0](rand)), case["act0_out_rand"])


@pytest.mark.parametrize("with_beta, logscale", [(True, True), (False, False)])
@pytest.mark.parametrize("batch, channels, length", [(1, 3, 1), (2, 4, 7), (1, 5, 2048), (2, 3, 5000)])
@torch.inference_mode()
def test_fused_cpu_activation_equals_the_pytorch_steps(with_beta, logscale, batch, channels, length):
    """The compiled float32 kernel against the PyTorch form in float64: both row edges (the resamplers'
    replicate padding), block seams, batch rows, both Snake forms, loud inputs (range reduction of sin)."""
    torch.manual_seed(length)
    activation = bigvgan_model.Activation1d(channels, with_beta, logscale)
    activation.act.alpha.normal_(0.0 if logscale else 1.0, 0.5)
    if with_beta:
        activation.act.beta.normal_(0.0, 0.5)
    x = 4 * torch.randn(batch, channels, length)
    x[..., ::97] *= 25
    fused = activation(x)
    steps = copy.deepcopy(activation).double()(x.double())
    assert fused.dtype == torch.float32 and fused.shape == x.shape
    np.testing.assert_allclose(fused.numpy(), steps.numpy(), rtol=0, atol=2e-6 * float(steps.abs().max()))


def test_rebuilt_filters_equal_the_stored_ones(case):
    fresh = BigVGAN(read_config(TINY_CONFIG))
    filters = [b for name, b in fresh.named_buffers() if name.endswith("filter")]
    assert len(filters) == 146
    for buffer in filters:
        np.testing.assert_allclose(buffer.flatten().numpy(), case["aa_filter"], rtol=0, atol=1e-7)


def test_official_release_folder_loads(tmp_path, case):
    """``bigvgan_generator.pt`` (``{'generator': …}``, weight-normed) beside ``config.json``."""
    shutil.copy(GOLDEN_DIR / "tiny_0_generator.pt", tmp_path / "bigvgan_generator.pt")
    shutil.copy(TINY_CONFIG, tmp_path / "config.json")
    model = load_model(tmp_path)
    assert (model.sample_rate, model.hop_length) == (22050, 256)
    np.testing.assert_allclose(model(torch.from_numpy(case["mel"])).numpy(), case["audio"], rtol=0, atol=1e-5)


def test_checkpoint_saved_without_weight_norm_loads(tmp_path, tiny, case):
    path = tmp_path / "plain.safetensors"
    save_file(tiny.state_dict(), str(path))
    model = load_model(path, config=TINY_CONFIG)
    np.testing.assert_allclose(model(torch.from_numpy(case["mel"])).numpy(), case["audio"], rtol=0, atol=1e-5)


def test_damaged_checkpoints_and_configs_are_refused_clearly(tmp_path):
    tensors = load_file(str(TINY))
    del tensors["conv_pre.weight_g"]
    path = tmp_path / "broken.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(ModelLoadError, match=r"without their partner: conv_pre\.weight_v"):
        load_model(path, config=TINY_CONFIG)
    tensors = load_file(str(TINY))
    del tensors["resblocks.1.activations.2.upsample.filter"]
    save_file(tensors, str(path))
    with pytest.raises(ModelLoadError, match=r"missing in checkpoint \(1\): resblocks\.1\.activations\.2\.upsample"):
        load_model(path, config=TINY_CONFIG)
    values = json.loads(TINY_CONFIG.read_text())
    with pytest.raises(ModelLoadError, match="resblock"):
        load_model(TINY, config={**values, "resblock": "2"})
    with pytest.raises(ModelLoadError, match="config.json: BigVGAN config not found"):
        load_model(TINY)


def test_long_mel_in_windows_equals_one_pass(tiny):
    """With the default context margin the chunked result is the single pass up to rounding, seams
    included (measured 2.2e-7); a margin far below the receptive field shows at the seams."""
    mel = -4 + 2 * torch.randn(2, 80, 300, generator=torch.Generator().manual_seed(3))
    whole = tiny(mel)
    chunked = tiny.vocode_long(mel, window=120, fade=8)
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked.numpy(), whole.numpy(), rtol=0, atol=1e-5)
    too_little_context = tiny.vocode_long(mel, window=120, fade=8, margin=2)
    assert (too_little_context - whole).abs().max() > 1e-3
    short = mel[..., :50]
    np.testing.assert_allclose(tiny.vocode_long(short).numpy(), tiny(short).numpy(), rtol=0, atol=0)


def test_long_vocoding_stops_when_cancelled(tiny):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        tiny.vocode_long(torch.zeros(1, 80, 400), window=120, fade=8, cancel=token)
