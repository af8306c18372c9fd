"""The tiny golden Lina and WavTokenizer models (and the real tokenizer file) installed into a models folder
under the catalog ids of the released ones, through the store's import path, so that the Speak task, the
CLI and batch load them exactly as they load the real models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from engine.models.catalog import default_catalog
from engine.models.install.importer import import_path
from engine.models.store import ModelStore
from tests.conftest import GOLDEN

LINA = GOLDEN / "lina"
CODEC = GOLDEN / "wavtokenizer"
LINA_ID = "lina-speech-gigaspeech"
CODEC_ID = "wavtokenizer-medium-speech"
TOKENIZER_ID = "lina-speech-tokenizer"


def _lina_hyper_parameters() -> dict:
    """TrainLina's constructor arguments as LightningCLI saves them, for the tiny configuration."""
    config = json.loads((LINA / "config_0.json").read_text())
    model = config["LinaModel"]
    return {"attentive_rnn": {"class_path": "model.gla.AttentiveGLA", "init_args": config["AttentiveGLA"]},
            "txt_encoder": {"class_path": "model.encoder.TextEncoder", "init_args": config["TextEncoder"]},
            "d_model": model["d_model"], "quant_layer": list(range(model["n_quant"])),
            "n_codebook": model["n_codebook"], "n_special_token_in": model["n_special_token_in"],
            "n_special_token_out": model["n_special_token_out"], "n_txt_vocab": model["n_txt_vocab"],
            "tie_embed": False, "spk_encoder": None, "learning_rate": 2e-4}


def install_tiny_speech_models(models_dir: Path, staging: Path) -> ModelStore:
    """Build release-shaped files from the tiny golden weights in ``staging`` and import them."""
    store = ModelStore(models_dir, default_catalog())
    lina = staging / "lina"
    lina.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(LINA / "tiny_0.safetensors"))
    torch.save({"state_dict": {f"model.{name}": value for name, value in weights.items()},
                "hyper_parameters": _lina_hyper_parameters(), "epoch": 1}, lina / "last.ckpt")
    import_path(store, LINA_ID, lina / "last.ckpt")

    codec = staging / "codec"
    codec.mkdir(parents=True, exist_ok=True)
    entry = default_catalog()[CODEC_ID]
    checkpoint, config = (f.name for f in entry.files)
    torch.save({"state_dict": load_file(str(CODEC / "tiny_0.safetensors"))}, codec / checkpoint)
    shutil.copy(CODEC / "config_0.json", codec / config)  # JSON is YAML
    import_path(store, CODEC_ID, codec)

    import_path(store, TOKENIZER_ID, LINA / "bpe256.json")
    return store
