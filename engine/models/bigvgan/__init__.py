"""BigVGAN v2 vocoder (NVIDIA, MIT licence): Seed-VC's mel → 22.05 kHz waveform stage.

``load_model`` reads the official release folder (``bigvgan_generator.pt`` holding ``{'generator':
state_dict}`` next to ``config.json``, e.g. ``nvidia/bigvgan_v2_22khz_80band_256x``) or any checkpoint file
with the same tensor names (safetensors too) and a config, folds the weight norm, loads strictly and returns
the generator in eval mode: ``vocoder(mel[B, num_mels, T])`` → ``wav[B, 1, hop_length·T]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ModelLoadError
from engine.models.bigvgan.model import BigVGAN, BigVGANConfig, fold_weight_norm
from engine.models.checkpoint import load_strict, read_tensors

__all__ = ["BigVGAN", "BigVGANConfig", "CHECKPOINT_NAME", "CONFIG_NAME", "fold_weight_norm", "load_model",
           "read_config"]

CHECKPOINT_NAME = "bigvgan_generator.pt"
CONFIG_NAME = "config.json"


def read_config(config: str | Path | Mapping[str, Any]) -> BigVGANConfig:
    """A config from a ``config.json`` path or an already parsed mapping."""
    if isinstance(config, Mapping):
        return BigVGANConfig.from_dict(config)
    path = Path(config)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: BigVGAN config not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: not a readable BigVGAN config ({exc})") from exc
    if not isinstance(values, Mapping):
        raise ModelLoadError(f"{path}: a BigVGAN config must be a JSON object")
    return BigVGANConfig.from_dict(values, source=path)


def load_model(path_or_folder: str | Path, config: str | Path | Mapping[str, Any] | None = None,
               device: str | torch.device = "cpu") -> BigVGAN:
    """Load a BigVGAN generator.

    ``path_or_folder``: a release folder (``bigvgan_generator.pt`` + ``config.json``) or a checkpoint file
    (``{'generator': …}`` or a flat state dict, ``.pt`` or ``.safetensors``), weight-normed
    (``weight_g``/``weight_v``) or not. ``config``: a path or mapping; by default the ``config.json`` beside
    the checkpoint.
    """
    path = Path(path_or_folder)
    checkpoint = path / CHECKPOINT_NAME if path.is_dir() else path
    model = BigVGAN(read_config(checkpoint.parent / CONFIG_NAME if config is None else config))
    tensors = fold_weight_norm(read_tensors(checkpoint, nested_keys=("generator",)), source=checkpoint)
    load_strict(model, tensors, source=checkpoint)
    return model.eval().to(device)
