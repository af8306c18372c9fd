"""The Edit menu's operations as functions of (clip, selection) → new clip, built on engine.audio.dsp.

An operation with a selection works on the selected range only and splices the result back; without a
selection it works on the whole clip. The window runs them as jobs (a resample of an hour takes seconds)
through :func:`gui.jobs.plain_task`.
"""

from __future__ import annotations

from typing import Callable

from engine.audio import dsp
from engine.audio.clip import Clip
from engine.errors import BadInputError

Selection = tuple[float, float] | None

DEFAULT_FADE_S = 1.0
"""Fade length when nothing is selected; with a selection the fade spans it."""


def _frames(clip: Clip, selection: Selection) -> tuple[int, int]:
    if selection is None:
        raise BadInputError(clip.source, "select a range first")
    start, end = dsp.frame_range(clip, *selection)
    if end <= start:
        raise BadInputError(clip.source, "the selection lies outside this track")
    return start, end


def crop_to_selection(clip: Clip, selection: Selection) -> Clip:
    return dsp.crop(clip, *_frames(clip, selection))


def delete_selection(clip: Clip, selection: Selection) -> Clip:
    return dsp.delete_range(clip, *_frames(clip, selection))


def on_selection(clip: Clip, selection: Selection, operation: Callable[[Clip], Clip]) -> Clip:
    """``operation`` applied to the selected range (spliced back in), or to the whole clip."""
    if selection is None:
        return operation(clip)
    start, end = _frames(clip, selection)
    return dsp.replace_range(clip, start, end, operation(dsp.crop(clip, start, end)))


def gain(clip: Clip, selection: Selection, db: float) -> Clip:
    return on_selection(clip, selection, lambda part: dsp.gain_db(part, db))


def normalize_peak(clip: Clip, selection: Selection, target_dbfs: float) -> Clip:
    return on_selection(clip, selection, lambda part: dsp.normalize_peak(part, target_dbfs))


def normalize_loudness(clip: Clip, selection: Selection, target_lufs: float) -> Clip:
    return on_selection(clip, selection, lambda part: dsp.normalize_loudness(part, target_lufs))


def fade(clip: Clip, selection: Selection, fade_in: bool) -> Clip:
    """Fade in (or out) across the selection, or over the first (last) :data:`DEFAULT_FADE_S` seconds."""
    shape_fade = dsp.fade_in if fade_in else dsp.fade_out
    if selection is None:
        length = min(clip.frames, dsp.seconds_to_frame(DEFAULT_FADE_S, clip.sample_rate))
        return shape_fade(clip, length)
    return on_selection(clip, selection, lambda part: shape_fade(part, part.frames))


def resample(clip: Clip, selection: Selection, sample_rate: int) -> Clip:
    """The whole clip at another rate (a track has one rate, so the selection does not apply)."""
    return dsp.resample(clip, sample_rate)
