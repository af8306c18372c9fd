"""Catalog loader of the ``whisper-encoder`` family: a Hugging Face Whisper folder, encoder only."""

from __future__ import annotations

from typing import Any

import torch

from engine.models.whisper_encoder import WhisperContentEncoder, load_model


def load_installed(installed: Any, device: torch.device, dtype: torch.dtype, **options: Any) -> WhisperContentEncoder:
    return load_model(installed.folder, device=device).to(dtype=dtype)
