"""Catalog loader of the ``wavlm`` family (:mod:`engine.models.loading`): a Hugging Face WavLM folder read
as a content encoder; ``layer`` picks the hidden state. fp32 on every device: its features are quantised
to k-means units fitted on fp32 features, and half precision moves frames across unit boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.models.wavlm import WavLMContent, load_model

HALF_PRECISION_OK = False


def load_installed(installed: Any, device: torch.device, dtype: torch.dtype, layer: int | None = None) -> WavLMContent:
    return load_path(installed.folder, device, dtype, layer=layer)


def load_path(path: Path, device: torch.device, dtype: torch.dtype, layer: int | None = None) -> WavLMContent:
    return load_model(path, device=device, layer=layer).to(dtype=dtype)
