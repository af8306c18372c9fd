"""The "hdemucs" vocal separator: torchaudio's Hybrid Demucs (catalog model ``hdemucs-high``), registered
in the separator registry under :data:`NAME`. The model family (:mod:`engine.models.hdemucs`) knows nothing
of the catalog or of tasks; :func:`engine.models.loading.load_catalog_model` joins them."""

from __future__ import annotations

from engine.audio.clip import Clip
from engine.jobs import CancelToken, Progress
from engine.models import hdemucs
from engine.models.loading import load_catalog_model
from engine.tasks.separators import register_separator

NAME = "hdemucs"
MODEL_ID = "hdemucs-high"
SEGMENT_S = 10.0  # the segment torchaudio's HDemucs tutorial uses; memory grows with it
OVERLAP_S = 1.0


def hdemucs_vocals(clip: Clip, progress: Progress, cancel: CancelToken, *, device: str = "auto") -> Clip:
    """Vocals of ``clip`` by Hybrid Demucs on ``device``, in fp32 (see :mod:`engine.models.hdemucs.separate`)."""
    progress(0.0, "loading Hybrid Demucs")
    model = load_catalog_model(MODEL_ID, device=device)
    sources = tuple(model.sources)
    return hdemucs.separate_vocals(clip, model, sources=sources, segment_s=SEGMENT_S, overlap_s=OVERLAP_S,
                                   device=next(model.parameters()).device, progress=progress.sub(0.05, 1.0),
                                   cancel=cancel)


register_separator(NAME, hdemucs_vocals)
