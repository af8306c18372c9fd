"""``stems``: a song split into music stems (vocals, drums, bass, other, or vocals and accompaniment) by
Hybrid Demucs.

The same function serves the GUI (a clip in, one clip per stem out), the CLI and batch (a file in, one
file per stem out). The model family (:mod:`engine.models.hdemucs`) does the chunked inference; this
module picks the model, the stem set and the output format. "Accompaniment" is the sum of the model's
other sources, so vocals + accompaniment is the model's reconstruction of the mix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models import devices, hdemucs
from engine.models.cache import model_cache
from engine.models.catalog import default_catalog
from engine.models.loading import load_catalog_model
from engine.settings import option
from engine.tasks import registry

DEFAULT_MODEL = "hdemucs-high"
ACCOMPANIMENT = "accompaniment"
STEM_SETS = {
    "4": ("vocals", "drums", "bass", "other"),
    "2": ("vocals", ACCOMPANIMENT),
}
# What each output format stores: float wav keeps stems that peak above full scale; flac holds integers.
FORMATS = {"wav": "FLOAT", "flac": "PCM_24"}


@dataclass(frozen=True)
class StemsSettings:
    stems: str = option("4", "4: vocals, drums, bass and other; 2: vocals and accompaniment (everything "
                             "but the vocals)", choices=tuple(STEM_SETS), label="Stems")
    model: str = option(DEFAULT_MODEL, "music separation model (catalog id)",
                        choices=[e.id for e in default_catalog().for_task("music-separate")], kind="model",
                        model_task="music-separate")
    checkpoint: str = option("", "use this Hybrid Demucs checkpoint file (torchaudio's state dict layout) "
                                 "instead of the installed model", label="Checkpoint file", advanced=True,
                             browse="file")
    format: str = option("wav", "output file format: wav (32-bit float) or flac (24-bit)", choices=tuple(FORMATS))
    segment: float = option(10.0, "seconds of audio the model sees at once; memory grows with it",
                            minimum=1.0, maximum=60.0, label="Segment (s)", advanced=True)
    overlap: float = option(1.0, "seconds shared by consecutive segments (crossfaded)", minimum=0.0,
                            maximum=10.0, label="Overlap (s)", advanced=True)
    device: str = option("auto", "where the model runs", choices=devices.DEVICE_CHOICES)

    def __post_init__(self) -> None:
        if self.overlap >= self.segment:
            raise BadInputError(None, f"the overlap ({self.overlap} s) must be shorter than the segment "
                                      f"({self.segment} s)")


def _sources(settings: StemsSettings) -> tuple[str, ...]:
    return tuple(default_catalog()[settings.model].config.get("sources", hdemucs.SOURCES))


def _load_model(settings: StemsSettings, device: torch.device) -> torch.nn.Module:
    """The catalog model through :func:`load_catalog_model`, or a checkpoint file of the official layout
    (kept in the shared model cache too; a changed file, seen by its mtime, is a new entry)."""
    if not settings.checkpoint:
        return load_catalog_model(settings.model, device=device)
    path = Path(settings.checkpoint)
    if not path.is_file():
        raise BadInputError(path, "checkpoint file not found")
    sources = _sources(settings)
    key = ("hdemucs-checkpoint", str(path), path.stat().st_mtime_ns, sources, str(device))
    return model_cache.get(key, lambda: hdemucs.load_model(path, sources, device))


def separate_stems(clip: Clip, settings: StemsSettings, progress: Progress | None = None,
                   cancel: CancelToken | None = None) -> list[Clip]:
    """One clip per stem of ``settings.stems`` (in that order), at the clip's rate and channel count,
    named "<clip name> <stem>"."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    if clip.frames == 0:
        raise BadInputError(clip.source, "has no audio to separate")
    wanted = STEM_SETS[settings.stems]
    sources = _sources(settings)
    missing = [name for name in wanted if name != ACCOMPANIMENT and name not in sources]
    if missing:
        raise BadInputError(None, f"model {settings.model} has no {', '.join(missing)} source "
                                  f"(it separates {', '.join(sources)})")
    device = devices.resolve(settings.device)
    progress(0.0, "loading Hybrid Demucs")
    model = _load_model(settings, device)
    cancel.check()
    stems = hdemucs.separate_sources(clip, model, sources=sources, segment_s=settings.segment,
                                     overlap_s=settings.overlap, device=device,
                                     progress=progress.sub(0.05, 1.0), cancel=cancel)
    if ACCOMPANIMENT in wanted:
        others = [stem.samples for name, stem in stems.items() if name != "vocals"]
        stems[ACCOMPANIMENT] = Clip(np.sum(others, axis=0), clip.sample_rate, source=clip.source,
                                    name=f"{clip.name} {ACCOMPANIMENT}".strip())
    return [stems[name] for name in wanted]


def output_names(output_stem: Path, settings: StemsSettings) -> list[Path]:
    output_stem = Path(output_stem)
    return [output_stem.with_name(f"{output_stem.name}_{name}.{settings.format}")
            for name in STEM_SETS[settings.stems]]


def prepare(input_path: Path, settings: StemsSettings) -> Clip:
    """Decoding: the CPU part that batch runs for the next file ahead of time."""
    return audio_io.load(input_path)


def process_file(input_path: Path, output_stem: Path, settings: StemsSettings, progress: Progress,
                 cancel: CancelToken, *, prepared: Clip | None = None) -> list[Path]:
    """``<stem>_vocals.wav``, ``<stem>_drums.wav``, … at the input's rate and channels."""
    clip = prepared if prepared is not None else prepare(Path(input_path), settings)
    stems = separate_stems(clip, settings, progress.sub(0.0, 0.95), cancel)
    names = output_names(output_stem, settings)
    for stem, name in zip(stems, names):
        cancel.check()
        audio_io.save(stem, name, subtype=FORMATS[settings.format])
    progress(1.0, "stems written")
    return names


TASK = registry.register(registry.FileTask(
    name="stems",
    help="split songs into music stems: vocals, drums, bass, other (or vocals and accompaniment) with Hybrid Demucs",
    settings_type=StemsSettings,
    process_file=process_file,
    output_names=output_names,
    prepare=prepare,
    device_field="device",
))
