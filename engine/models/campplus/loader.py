"""Catalog CAM++ speaker encoders (family ``campplus``) for :mod:`engine.models.loading`. fp32 on every
device: the model is small and its embeddings are compared by cosine similarity to five decimals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engine.models.campplus import CAMPPlus, load_model

if TYPE_CHECKING:  # loaders get an InstalledModel; the family itself never imports the store
    from engine.models.store import InstalledModel

HALF_PRECISION_OK = False


def load_installed(installed: InstalledModel, device: torch.device, dtype: torch.dtype) -> CAMPPlus:
    return load_model(installed.path, device=device)
