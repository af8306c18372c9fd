"""Strict, safe checkpoint loading: every mismatch is a clear ModelLoadError and pickled code never runs."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

from engine.errors import ModelLoadError
from engine.models.checkpoint import load_strict, read_tensors


class TwoLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(4, 3)
        self.decoder = torch.nn.Linear(3, 2)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: torch.randn_like(t) for name, t in model.state_dict().items()}


def test_a_fitting_checkpoint_loads_exactly_through_wrappers(tmp_path):
    model = TwoLayers()
    weights = _weights(model)
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in weights.items()}, "epoch": 3}, path)
    load_strict(model, read_tensors(path), source=path)
    assert all(torch.equal(model.state_dict()[k], weights[k]) for k in weights)


def test_missing_key_is_listed(tmp_path):
    weights = _weights(TwoLayers())
    del weights["decoder.bias"]
    path = tmp_path / "missing.safetensors"
    save_file(weights, str(path))
    with pytest.raises(ModelLoadError, match=r"missing in checkpoint \(1\): decoder\.bias") as caught:
        load_strict(TwoLayers(), read_tensors(path), source=path)
    assert str(path) in str(caught.value) and "TwoLayers" in str(caught.value)


def test_unexpected_key_is_listed(tmp_path):
    weights = _weights(TwoLayers())
    weights["postnet.weight"] = torch.zeros(2)
    with pytest.raises(ModelLoadError, match=r"unexpected in checkpoint \(1\): postnet\.weight"):
        load_strict(TwoLayers(), weights)


def test_wrong_shape_is_listed(tmp_path):
    weights = _weights(TwoLayers())
    weights["encoder.weight"] = torch.zeros(5, 4)
    with pytest.raises(ModelLoadError, match=r"wrong shape \(1\): encoder\.weight: checkpoint \(5, 4\) vs model \(3, 4\)"):
        load_strict(TwoLayers(), weights)


class RunsCode:
    """Unpickling this object would run a shell command (the classic malicious checkpoint)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class CustomObject:
    def __init__(self):
        self.weights = torch.zeros(2)


@pytest.mark.parametrize("payload", ["reduce", "object"])
def test_pickled_code_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    extra = RunsCode(marker) if payload == "reduce" else CustomObject()
    torch.save({"state_dict": _weights(TwoLayers()), "extra": extra}, path)
    with pytest.raises(ModelLoadError, match="refused to load: the checkpoint contains Python objects"):
        read_tensors(path)
    assert not marker.exists()


def test_unreadable_files_are_named(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="garbage.pt: not a readable PyTorch checkpoint"):
        read_tensors(garbage)
    with pytest.raises(ModelLoadError, match="checkpoint file not found"):
        read_tensors(tmp_path / "absent.pt")
