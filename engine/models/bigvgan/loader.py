"""Catalog BigVGAN vocoders (family ``bigvgan``) for :mod:`engine.models.loading`: the release layout,
``bigvgan_generator.pt`` (the entry's first file) with ``config.json`` beside it. fp32 on every device until
its half-precision output is measured against the golden data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engine.models.bigvgan import CONFIG_NAME, BigVGAN, load_model

if TYPE_CHECKING:  # loaders get an InstalledModel; the family itself never imports the store
    from engine.models.store import InstalledModel

HALF_PRECISION_OK = False


def load_installed(installed: InstalledModel, device: torch.device, dtype: torch.dtype) -> BigVGAN:
    return load_model(installed.path, installed.files.get(CONFIG_NAME), device=device)
