"""Catalog Hybrid Demucs models (family ``hdemucs``) for :mod:`engine.models.loading`: the sources named
by the entry's ``config.sources``. fp32 on every device (see :mod:`engine.models.hdemucs.separate`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torchaudio.models import HDemucs

from engine.models.hdemucs.model import SOURCES, load_model

if TYPE_CHECKING:  # loaders get an InstalledModel; the family itself never imports the store
    from engine.models.store import InstalledModel

HALF_PRECISION_OK = False


def load_installed(installed: InstalledModel, device: torch.device, dtype: torch.dtype) -> HDemucs:
    return load_model(installed.path, tuple(installed.config.get("sources", SOURCES)), device)
