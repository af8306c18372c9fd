"""Hybrid Demucs (torchaudio's ``hdemucs_high``) and the layout of its official checkpoint.

torchaudio publishes the weights of ``HDEMUCS_HIGH_MUSDB_PLUS`` as ``hdemucs_high_trained.pt`` (and the
MUSDB-only variant as ``hdemucs_high_musdbhq_only.pt``): a plain ``torch.save`` of the module's state dict,
sources ordered drums, bass, other, vocals, stereo at 44.1 kHz. Reading it needs no pickled code, so it
goes through :func:`engine.models.checkpoint.read_tensors` like every other checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torchaudio.models import HDemucs, hdemucs_high

from engine.models.checkpoint import load_strict, read_tensors

SOURCES = ("drums", "bass", "other", "vocals")
SAMPLE_RATE = 44100
AUDIO_CHANNELS = 2


def build_model(sources: Sequence[str] = SOURCES) -> HDemucs:
    """The untrained architecture the official checkpoints were saved from."""
    return hdemucs_high(sources=list(sources))


def load_model(checkpoint: str | Path, sources: Sequence[str] = SOURCES,
               device: str | torch.device = "cpu") -> HDemucs:
    """Build ``hdemucs_high`` for ``sources`` (the catalog entry's ``config.sources``) and fill it strictly
    from ``checkpoint``; returns it in eval mode on ``device``."""
    model = build_model(sources)
    load_strict(model, read_tensors(checkpoint), source=checkpoint)
    return model.eval().to(device)
