"""MossFormer2: exact checkpoint layout, numerical parity with the reference implementation, and loading
of the official checkpoint format."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.errors import ModelLoadError
from engine.models.mossformer2 import MossFormer2, load_model
from tests.conftest import GOLDEN, REPO

GOLDEN_DIR = GOLDEN / "mossformer2"


def test_state_dict_matches_the_released_model_layout():
    expected = json.loads((GOLDEN_DIR / "keys_full.json").read_text())
    own = {name: list(t.shape) for name, t in MossFormer2().state_dict().items()}
    assert own == expected
    assert sum(int(np.prod(s)) for s in expected.values()) == 55_736_034


def test_reproduces_reference_sources_from_golden_weights():
    model = load_model(GOLDEN_DIR / "tiny_0.safetensors", num_layers=2)
    case = np.load(GOLDEN_DIR / "case_0.npz")
    with torch.inference_mode():
        sources = model(torch.from_numpy(case["mixture"])[None])[0].numpy()
    assert sources.shape == case["sources"].shape
    assert np.abs(sources - case["sources"]).max() <= 1e-4


@pytest.mark.parametrize("samples", [4000, 4003, 16000 * 2 + 7])
def test_output_length_equals_input_length_for_any_length(samples):
    torch.manual_seed(0)
    model = MossFormer2(num_layers=1, num_speakers=3, encoder_dim=64, sequence_dim=64).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, samples))
    assert out.shape == (2, 3, samples)
    assert torch.isfinite(out).all()


def test_batch_items_are_independent():
    """Each batch item must give what it gives alone (the stitcher batches windows)."""
    model = load_model(GOLDEN_DIR / "tiny_0.safetensors", num_layers=2)
    mixture = torch.from_numpy(np.load(GOLDEN_DIR / "case_0.npz")["mixture"][:16000])
    with torch.inference_mode():
        batched = model(torch.stack((mixture, mixture.flip(0))))
        alone = model(mixture[None])
    assert torch.allclose(batched[0], alone[0], atol=1e-5)


def _official_style_checkpoint(path, optimizer_mb: int = 0):
    """A file laid out like ClearerVoice's last_best_checkpoint.pt: DataParallel names under ``model``,
    optimizer state beside them."""
    weights = load_file(str(GOLDEN_DIR / "tiny_0.safetensors"))
    optimizer = {"state": {0: {"exp_avg": torch.zeros(optimizer_mb * 2**18)}}, "param_groups": [{"lr": 1e-4}]}
    torch.save({"model": {f"module.{k}": v for k, v in weights.items()}, "optimizer": optimizer, "epoch": 7},
               path)
    return weights


def test_loads_official_checkpoint_layout_with_module_prefix_and_optimizer(tmp_path):
    path = tmp_path / "last_best_checkpoint.pt"
    weights = _official_style_checkpoint(path)
    model = load_model(path, num_layers=2)
    assert not model.training
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in weights.items())


def test_loads_safetensors(tmp_path):
    weights = load_file(str(GOLDEN_DIR / "tiny_0.safetensors"))
    path = tmp_path / "moss.safetensors"
    save_file({f"module.{k}": v for k, v in weights.items()}, str(path))
    model = load_model(path, num_layers=2)
    assert torch.equal(model.state_dict()["dec.weight"], weights["dec.weight"])


def test_wrong_depth_is_a_clear_model_load_error():
    with pytest.raises(ModelLoadError) as info:
        load_model(GOLDEN_DIR / "tiny_0.safetensors", num_layers=3)
    message = str(info.value)
    assert "tiny_0.safetensors" in message and "missing in checkpoint" in message and ".fsmn.2." in message


def test_wrong_speaker_count_reports_shapes():
    with pytest.raises(ModelLoadError, match=r"conv1d_out.weight: checkpoint \(1024, 512, 1\) vs model \(1536"):
        load_model(GOLDEN_DIR / "tiny_0.safetensors", num_layers=2, num_speakers=3)


def test_optimizer_state_is_not_read_into_memory(tmp_path):
    """The loader's peak memory must not grow with the optimizer state stored beside the weights."""
    path = tmp_path / "last_best_checkpoint.pt"
    _official_style_checkpoint(path, optimizer_mb=600)
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(REPO)!r})
        import torch
        from engine.models.mossformer2 import load_model
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        load_model({str(path)!r}, num_layers=2)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    grown_mb = float(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                                    text=True).stdout.strip())
    assert grown_mb < 200, f"loading grew memory by {grown_mb:.0f} MB for a 600 MB optimizer state"
