"""The Edit menu's operations as functions of (clip, selection) → new clip, built on engine.audio.dsp.

An operation with a selection works on the selected range only and splices the result back; without a
selection it works on the whole clip. The window runs them as jobs (a resample of an hour takes seconds)
through :func:`gui.jobs.plain_task`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

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


# --- clipboard ------------------------------------------------------------------------------------------

def copy_selection(clip: Clip, selection: Selection) -> Clip:
    """The selected audio as a clip of its own (what Copy and Cut put on the clipboard)."""
    return dsp.crop(clip, *_frames(clip, selection))


def conform(insert: Clip, like: Clip) -> Clip:
    """``insert`` at the rate and channel count of ``like``, so audio copied from any track pastes into
    any other."""
    if insert.sample_rate != like.sample_rate:
        insert = dsp.resample(insert, like.sample_rate)
    if insert.channels != like.channels and insert.channels != 1:
        insert = dsp.to_mono(insert)
    return dsp.to_channels(insert, like.channels)


def paste(clip: Clip, selection: Selection, insert: Clip, cursor_s: float) -> Clip:
    """``insert`` in place of the selection, or inserted at ``cursor_s`` (clamped to the clip) without one."""
    insert = conform(insert, clip)
    if selection is None:
        at = min(max(0, dsp.seconds_to_frame(cursor_s, clip.sample_rate)), clip.frames)
        start, end = at, at
    else:
        start, end = _frames(clip, selection)
    return dsp.replace_range(clip, start, end, insert)


def duplicate_as_track(clip: Clip, selection: Selection) -> Clip:
    """The selection (or the whole clip) as a new track's clip that lines up in time with its source:
    silence up to the selection's start, then the selected audio (Audacity's Duplicate)."""
    if selection is None:
        return clip.with_samples(clip.samples.copy())
    start, end = _frames(clip, selection)
    lead = np.zeros((clip.channels, start), dtype=np.float32)
    return clip.with_samples(np.concatenate((lead, clip.samples[:, start:end]), axis=1))
