"""The "hdemucs" vocal separator for lyrics segmentation: torchaudio's Hybrid Demucs from the model store.

The model family (:mod:`engine.models.hdemucs`) knows nothing of the store or of lyrics; this module joins
them and registers the result in the separator registry under :data:`NAME`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.audio.clip import Clip
from engine.jobs import CancelToken, Progress
from engine.models import devices, hdemucs
from engine.models.cache import model_cache
from engine.models.store import resolve
from engine.tasks.lyrics.separators import register_separator

NAME = "hdemucs"
MODEL_ID = "hdemucs-high"
SEGMENT_S = 10.0  # the segment torchaudio's HDemucs tutorial uses; memory grows with it
OVERLAP_S = 1.0


def _model(checkpoint: Path, sources: tuple[str, ...], device: str) -> torch.nn.Module:
    """The loaded model, kept in the shared model cache for the next song of a batch (a changed file, seen
    by its mtime, is a new cache entry)."""
    key = ("hdemucs", str(checkpoint), checkpoint.stat().st_mtime_ns, sources, device)
    return model_cache.get(key, lambda: hdemucs.load_model(checkpoint, sources, device))


def hdemucs_vocals(clip: Clip, progress: Progress, cancel: CancelToken) -> Clip:
    """Vocals of ``clip`` by Hybrid Demucs on the runtime's device (the user's setting), in fp32 (see
    :mod:`engine.models.hdemucs.separate`)."""
    installed = resolve(MODEL_ID)
    sources = tuple(installed.config.get("sources", hdemucs.SOURCES))
    device = devices.resolve()
    progress(0.0, "loading Hybrid Demucs")
    model = _model(installed.path, sources, str(device))
    return hdemucs.separate_vocals(clip, model, sources=sources, segment_s=SEGMENT_S, overlap_s=OVERLAP_S,
                                   device=device, progress=progress.sub(0.05, 1.0), cancel=cancel)


register_separator(NAME, hdemucs_vocals)
