"""Reading the released checkpoint's container without running its code: the restricted unpickler keeps
objects as inert records and refuses calls; the Lina loader reads a Lightning-style file built from the
tiny golden weights (configuration from hyper-parameters, or inferred from the weights) and refuses a
hostile one without running it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.errors import ModelLoadError
from engine.models.lina import load_model
from engine.models.lina.config import from_golden, infer_from_weights, read_config
from engine.models.safe_pickle import PickledObject, load_checkpoint
from tests.conftest import GOLDEN

LINA = GOLDEN / "lina"


class RunsCode:
    """Unpickling this would run a shell command (the classic malicious checkpoint)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class TrainingCallback:
    """A stand-in for the framework objects a checkpoint carries (never imported back)."""

    def __init__(self):
        self.monitor = "val_loss"
        self.best = torch.tensor(1.5)


def _namespace(class_path: str, init_args: dict) -> argparse.Namespace:
    return argparse.Namespace(class_path=class_path, init_args=argparse.Namespace(**init_args))


def _lightning_checkpoint(path, hyper_parameters: dict, **extra) -> None:
    weights = load_file(str(LINA / "tiny_0.safetensors"))
    state_dict = {f"model.{name}": tensor for name, tensor in weights.items()}
    optimizer = {"state": {i: {"step": torch.tensor(10.0), "exp_avg": torch.zeros_like(t),
                               "exp_avg_sq": torch.zeros_like(t)} for i, t in enumerate(weights.values())},
                 "param_groups": [{"lr": 2e-4, "betas": (0.9, 0.999), "params": list(range(len(weights)))}]}
    torch.save({"epoch": 3, "global_step": 1000, "pytorch-lightning_version": "2.4.0", "state_dict": state_dict,
                "optimizer_states": [optimizer], "lr_schedulers": [{"last_epoch": 1000, "_last_lr": [2e-4]}],
                "callbacks": {"ModelCheckpoint": TrainingCallback()}, "hparams_name": "kwargs",
                "hyper_parameters": hyper_parameters, **extra}, path)


def _train_lina_hparams(config: dict, wrap) -> dict:
    """TrainLina's constructor arguments as LightningCLI saves them (sub-modules as class_path/init_args)."""
    model, attentive, text = config["LinaModel"], config["AttentiveGLA"], config["TextEncoder"]
    return {"attentive_rnn": wrap("model.gla.AttentiveGLA", attentive), "d_model": model["d_model"],
            "quant_layer": list(range(model["n_quant"])), "n_codebook": model["n_codebook"],
            "n_special_token_in": model["n_special_token_in"], "n_special_token_out": model["n_special_token_out"],
            "n_txt_vocab": model["n_txt_vocab"], "tie_embed": False,
            "txt_encoder": wrap("model.encoder.TextEncoder", text), "spk_encoder": None, "learning_rate": 2e-4,
            "betas": (0.9, 0.999), "n_warmup_steps": 500}


@pytest.fixture(scope="module")
def golden():
    data = np.load(LINA / "case_0.npz")
    return (torch.from_numpy(data["text_ids"])[None], torch.from_numpy(data["audio_tokens"])[None],
            torch.from_numpy(data["logits"]))


def _assert_golden(model, golden):
    text, audio, logits = golden
    with torch.no_grad():
        torch.testing.assert_close(model.logits(text, audio)[0], logits, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("wrap", [lambda path, args: {"class_path": path, "init_args": args}, _namespace],
                         ids=["dicts", "namespaces"])
def test_a_lightning_checkpoint_loads_with_its_own_configuration(tmp_path, golden, wrap):
    config = json.loads((LINA / "config_0.json").read_text())
    path = tmp_path / "last.ckpt"
    _lightning_checkpoint(path, _train_lina_hparams(config, wrap))
    wrong = dict(config, TextEncoder=dict(config["TextEncoder"], n_layers=5))
    model = load_model(path, config=wrong)  # the checkpoint's own configuration wins
    assert model.config == dataclasses.replace(from_golden(config), text_dropout=model.config.text_dropout)
    assert not model.training
    _assert_golden(model, golden)


def test_without_a_readable_configuration_it_is_inferred_and_logged(tmp_path, golden, caplog):
    path = tmp_path / "last.ckpt"
    hparams = {"attentive_rnn": torch.nn.Linear(2, 2), "txt_encoder": TrainingCallback(), "d_model": 64}
    _lightning_checkpoint(path, hparams)
    with caplog.at_level(logging.INFO, logger="engine.models.lina.loader"):
        model = load_model(path)
    assert "inferred from the weights" in caplog.text and "text encoder 2 layers" in caplog.text
    _assert_golden(model, golden)


def test_configuration_inferred_from_the_weights_is_the_golden_one():
    config = from_golden(json.loads((LINA / "config_0.json").read_text()))
    inferred = infer_from_weights(load_file(str(LINA / "tiny_0.safetensors")))
    training_only = {"dropout": config.dropout, "dropout_att": config.dropout_att, "text_dropout": config.text_dropout}
    assert dataclasses.replace(inferred, **training_only, d_blind=config.d_blind) == config
    assert inferred.blind_dim == config.blind_dim


@pytest.mark.parametrize("where", ["hyper_parameters", "state_dict"])
def test_a_hostile_checkpoint_is_refused_and_never_runs(tmp_path, where):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    config = json.loads((LINA / "config_0.json").read_text())
    hparams = _train_lina_hparams(config, lambda p, a: {"class_path": p, "init_args": a})
    if where == "hyper_parameters":
        hparams["note"] = RunsCode(marker)
        _lightning_checkpoint(path, hparams)
    else:
        torch.save({"state_dict": {"model.txt_embed.weight": RunsCode(marker)}, "hyper_parameters": hparams}, path)
    with pytest.raises(ModelLoadError, match=r"refused to load: the file would call posix\.system") as caught:
        load_model(path)
    assert str(path) in str(caught.value) and "nothing from it was run" in str(caught.value)
    assert not marker.exists()


def test_objects_become_inert_records_and_tensors_keep_their_views(tmp_path):
    base = torch.arange(10.0)
    path = tmp_path / "objects.pt"
    torch.save({"view": base[3:7], "namespace": argparse.Namespace(x=1, y="two"), "callback": TrainingCallback(),
                "module": torch.nn.Linear(3, 2), "shared": (base, base)}, path)
    data = load_checkpoint(path)
    assert torch.equal(data["view"], torch.tensor([3.0, 4.0, 5.0, 6.0]))
    assert data["shared"][0].data_ptr() == data["shared"][1].data_ptr()
    namespace, callback = data["namespace"], data["callback"]
    assert isinstance(namespace, PickledObject) and namespace.class_name == "argparse.Namespace"
    assert namespace.state == {"x": 1, "y": "two"}
    assert callback.class_name.endswith("test_lina_loader.TrainingCallback") and callback.state["monitor"] == "val_loss"
    assert torch.equal(callback.state["best"], torch.tensor(1.5))
    assert data["module"].state["_parameters"]["weight"].shape == (2, 3)
    assert not hasattr(namespace, "x")  # a record, not the object: nothing of its class was imported


def test_plain_checkpoints_and_safetensors_load_directly(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    assert torch.equal(load_checkpoint(path)["state_dict"]["w"], torch.ones(2))
    assert set(load_checkpoint(LINA / "ist_0.safetensors")) == {f"layer{i}_{p}" for i in range(4) for p in "kv"}


def test_damaged_legacy_and_missing_files_are_named(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelLoadError, match="garbage.ckpt: not a readable PyTorch checkpoint"):
        load_checkpoint(garbage)
    legacy = tmp_path / "legacy.pt"
    torch.save({"callback": TrainingCallback()}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelLoadError, match="legacy.pt: refused to load: a legacy"):
        load_checkpoint(legacy)
    with pytest.raises(ModelLoadError, match="checkpoint file not found"):
        load_model(tmp_path / "absent.ckpt")


def test_unsupported_variants_and_bad_configurations_are_explained(tmp_path):
    config = json.loads((LINA / "config_0.json").read_text())
    for change, problem in (({"blind": False}, "not blind"), ({"pos_type": "sinusoidal"}, "pos_type"),
                            ({"use_short_conv": False}, "no short convolutions")):
        with pytest.raises(ModelLoadError, match=problem):
            read_config(dict(config, AttentiveGLA=dict(config["AttentiveGLA"], **change)))
    broken = tmp_path / "config.json"
    broken.write_text(json.dumps({"LinaModel": {}}))
    with pytest.raises(ModelLoadError, match="config.json: not a Lina configuration"):
        read_config(broken)
