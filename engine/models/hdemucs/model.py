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


# The first encoder convolution has ``channels`` outputs: the one width ``hdemucs_high`` fixes (48).
_WIDTH_TENSOR = "freq_encoder.0.conv.weight"
HIGH_CHANNELS = 48


def build_model(sources: Sequence[str] = SOURCES, channels: int = HIGH_CHANNELS) -> HDemucs:
    """The untrained architecture the official checkpoints were saved from (``channels`` other than 48
    gives the same layout narrower, e.g. small test models)."""
    if channels == HIGH_CHANNELS:
        return hdemucs_high(sources=list(sources))
    return HDemucs(sources=list(sources), nfft=4096, depth=6, channels=channels)


def load_model(checkpoint: str | Path, sources: Sequence[str] = SOURCES,
               device: str | torch.device = "cpu") -> HDemucs:
    """Build ``hdemucs_high`` for ``sources`` (the catalog entry's ``config.sources``) at the width the
    checkpoint's tensors have, and fill it strictly from ``checkpoint``; returns it in eval mode on
    ``device``."""
    tensors = read_tensors(checkpoint)
    width = tensors.get(_WIDTH_TENSOR)
    model = build_model(sources, HIGH_CHANNELS if width is None else int(width.shape[0]))
    load_strict(model, tensors, source=checkpoint)
    return model.eval().to(device)
