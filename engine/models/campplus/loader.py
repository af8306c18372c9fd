"""Catalog loader of the ``campplus`` family (``campplus_cn_common.bin``)."""

from __future__ import annotations

from typing import Any

import torch

from engine.models.campplus import CAMPPlus, load_model

# A small model whose output is a similarity figure shown to the user: kept in float32 on every device.
HALF_PRECISION_OK = False


def load_installed(installed: Any, device: torch.device, dtype: torch.dtype, **options: Any) -> CAMPPlus:
    return load_model(installed.path, device=device).to(dtype=dtype)
