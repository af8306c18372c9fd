"""Catalog loader of the ``seedvc`` family: the DiT/CFM and length regulator of an installed Seed-VC model.

The catalog entry's ``config.preset`` names the released architecture (``whisper-small-wavenet``,
``xlsr-tiny``), or ``config.config_file`` names one of the model's files holding its configuration (a preset
YAML or a ``model_params`` JSON, e.g. for a fine-tuned model); the content encoder, speaker model and vocoder are models of their own (the entry's
``requires`` and its ``content_encoder`` / ``style_encoder`` / ``vocoder`` config values name them)."""

from __future__ import annotations

from typing import Any

import torch

from engine.errors import ModelLoadError
from engine.models.seedvc.config import PRESETS
from engine.models.seedvc.loading import load_model
from engine.models.seedvc.model import SeedVC


def load_installed(installed: Any, device: torch.device, dtype: torch.dtype, **options: Any) -> SeedVC:
    preset = installed.config.get("preset")
    config_file = installed.config.get("config_file")
    if preset is not None and preset not in PRESETS:
        raise ModelLoadError(f"{installed.entry.id}: unknown Seed-VC preset {preset!r} (known: {', '.join(PRESETS)})")
    config = PRESETS[preset] if preset else installed.folder / config_file if config_file else None
    model = load_model(installed.path, config, device=device)
    return model.to(dtype=dtype)
