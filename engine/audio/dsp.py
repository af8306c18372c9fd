"""Edits and measurements on clips. Every function takes clips and returns a new clip (inputs are never
changed), so the GUI can undo by keeping the previous clip and the CLI and batch share the same code.

Frame ranges are half-open ``[start, end)``; times convert to frames by rounding to the nearest frame.
Invalid ranges and mismatched clips raise :class:`BadInputError` naming the clip's file, because they come
from what a person selected or combined.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np
import pyloudnorm

from engine.audio.clip import Clip
from engine.audio.resample import resample as resample_samples
from engine.errors import BadInputError

FADE_SHAPES = ("linear", "cosine")
# ITU BS.1770 defines channel weights for up to five channels (L, R, C, Ls, Rs); pyloudnorm follows it.
LOUDNESS_MAX_CHANNELS = 5
LOUDNESS_BLOCK_S = 0.4


# --- time and frames -------------------------------------------------------------------------------------

def seconds_to_frame(seconds: float, sample_rate: int) -> int:
    return int(round(seconds * sample_rate))


def frame_to_seconds(frame: int, sample_rate: int) -> float:
    return frame / sample_rate


def frame_range(clip: Clip, start_s: float, end_s: float) -> tuple[int, int]:
    """A time selection as a frame range clipped to the clip."""
    start = min(max(0, seconds_to_frame(start_s, clip.sample_rate)), clip.frames)
    end = min(max(0, seconds_to_frame(end_s, clip.sample_rate)), clip.frames)
    return start, end


def _check_range(clip: Clip, start: int, end: int, *, allow_empty: bool = False) -> tuple[int, int]:
    start, end = int(start), int(end)
    if not (0 <= start <= end <= clip.frames) or (start == end and not allow_empty):
        raise BadInputError(clip.source, f"frames {start}..{end} are not a range inside the clip "
                                         f"(0..{clip.frames}, {clip.duration:.3f} s)")
    return start, end


# --- measurements ----------------------------------------------------------------------------------------

def _dbfs(amplitude: float) -> float:
    return float(20.0 * np.log10(amplitude)) if amplitude > 0 else float("-inf")


def block_levels(blocks: Iterable[np.ndarray]) -> tuple[float, float]:
    """(peak dBFS, RMS dBFS) over float32 ``(channels, n)`` blocks, so a file can be measured while it
    streams past instead of being loaded (squares are summed in float64 to stay exact over hours)."""
    peak, squares, count = 0.0, 0.0, 0
    for block in blocks:
        if block.size:
            peak = max(peak, float(np.max(np.abs(block))))
            squares += float(np.sum(np.square(block, dtype=np.float64)))
            count += block.size
    return _dbfs(peak), (_dbfs(float(np.sqrt(squares / count))) if count else float("-inf"))


def _column_blocks(clip: Clip, frames: int = 1 << 16) -> Iterator[np.ndarray]:
    for first in range(0, clip.frames, frames):
        yield clip.samples[:, first:first + frames]


def peak_dbfs(clip: Clip) -> float:
    """The largest absolute sample in dB relative to full scale (-inf for silence)."""
    return block_levels(_column_blocks(clip))[0]


def rms_dbfs(clip: Clip) -> float:
    """Root mean square over all channels in dBFS (a full-scale sine reads -3.01 dB; -inf for silence)."""
    return block_levels(_column_blocks(clip))[1]


def loudness_lufs(clip: Clip) -> float:
    """Integrated loudness (ITU BS.1770 via pyloudnorm). Clips with more than five channels are measured
    on their mono mix, since the standard weights only five."""
    if clip.duration < LOUDNESS_BLOCK_S:
        raise BadInputError(clip.source, f"is too short to measure loudness ({clip.duration:.2f} s; "
                                         f"at least {LOUDNESS_BLOCK_S} s needed)")
    samples = clip.samples if clip.channels <= LOUDNESS_MAX_CHANNELS else clip.mono()[None, :]
    return float(pyloudnorm.Meter(clip.sample_rate).integrated_loudness(samples.T.astype(np.float64)))


# --- level -----------------------------------------------------------------------------------------------

def gain_db(clip: Clip, db: float) -> Clip:
    return clip.with_samples(clip.samples * np.float32(10.0 ** (db / 20.0)))


def normalize_peak(clip: Clip, target_dbfs: float = -1.0) -> Clip:
    """Scale so the largest sample sits at ``target_dbfs``."""
    peak = peak_dbfs(clip)
    if peak == float("-inf"):
        raise BadInputError(clip.source, "is silent; there is no peak to normalise")
    return gain_db(clip, target_dbfs - peak)


def normalize_loudness(clip: Clip, target_lufs: float = -23.0) -> Clip:
    """Scale so the integrated loudness is ``target_lufs`` (the result may exceed full scale; follow with
    :func:`normalize_peak` or a limiter if it must not)."""
    loudness = loudness_lufs(clip)
    if not np.isfinite(loudness):
        raise BadInputError(clip.source, "is silent; its loudness cannot be normalised")
    return gain_db(clip, target_lufs - loudness)


# --- rate and channels -----------------------------------------------------------------------------------

def resample(clip: Clip, sample_rate: int, quality: str = "hq") -> Clip:
    """The clip at ``sample_rate``, exactly ``round(frames * new / old)`` frames long, through
    :func:`engine.audio.resample.resample` (its docstring states the quality guaranteed)."""
    sample_rate = int(sample_rate)
    if sample_rate <= 0:
        raise BadInputError(clip.source, f"cannot resample to {sample_rate} Hz")
    if sample_rate == clip.sample_rate:
        return clip
    return clip.with_samples(resample_samples(clip.samples, clip.sample_rate, sample_rate, quality), sample_rate)


def to_mono(clip: Clip) -> Clip:
    """The channel mean as a one-channel clip."""
    return clip if clip.channels == 1 else clip.with_samples(clip.mono()[None, :])


def to_channels(clip: Clip, channels: int) -> Clip:
    """Mono to several channels by copying, or anything to mono by mixing."""
    if channels == clip.channels:
        return clip
    if channels == 1:
        return to_mono(clip)
    if clip.channels == 1:
        return clip.with_samples(np.repeat(clip.samples, channels, axis=0))
    raise BadInputError(clip.source, f"has {clip.channels} channels; only mono can be spread to {channels}")


def select_channel(clip: Clip, index: int) -> Clip:
    if not 0 <= index < clip.channels:
        raise BadInputError(clip.source, f"has no channel {index + 1} (it has {clip.channels})")
    return clip.with_samples(clip.samples[index:index + 1])


def split_channels(clip: Clip) -> list[Clip]:
    """One mono clip per channel, named ``<name> ch<k>``."""
    return [Clip(clip.samples[k:k + 1], clip.sample_rate, clip.source, f"{clip.name} ch{k + 1}")
            for k in range(clip.channels)]


def _check_compatible(clips: Sequence[Clip], *, same_channels: bool) -> None:
    if not clips:
        raise BadInputError(None, "no clips given")
    first = clips[0]
    for other in clips[1:]:
        if other.sample_rate != first.sample_rate:
            raise BadInputError(other.source, f"is at {other.sample_rate} Hz but {first.name or 'the first clip'} "
                                              f"is at {first.sample_rate} Hz; resample first")
        if same_channels and other.channels != first.channels:
            raise BadInputError(other.source, f"has {other.channels} channels but {first.name or 'the first clip'} "
                                              f"has {first.channels}")


def merge_channels(clips: Sequence[Clip]) -> Clip:
    """Stack clips (same rate and length) as the channels of one clip, e.g. two mono clips to stereo."""
    _check_compatible(clips, same_channels=False)
    lengths = {clip.frames for clip in clips}
    if len(lengths) != 1:
        raise BadInputError(clips[0].source, f"clips to merge differ in length ({sorted(lengths)} frames)")
    return clips[0].with_samples(np.concatenate([clip.samples for clip in clips], axis=0))


def mix(clips: Sequence[Clip], gains_db: Sequence[float] | None = None) -> Clip:
    """Sum clips (same rate and channels), each with an optional gain; shorter ones are padded with silence."""
    _check_compatible(clips, same_channels=True)
    gains = [0.0] * len(clips) if gains_db is None else list(gains_db)
    if len(gains) != len(clips):
        raise BadInputError(None, f"{len(gains)} gains given for {len(clips)} clips")
    out = np.zeros((clips[0].channels, max(clip.frames for clip in clips)), dtype=np.float32)
    for clip, gain in zip(clips, gains):
        out[:, :clip.frames] += clip.samples * np.float32(10.0 ** (gain / 20.0))
    return clips[0].with_samples(out)


# --- ranges ----------------------------------------------------------------------------------------------

def crop(clip: Clip, start: int, end: int) -> Clip:
    """Exactly frames ``start..end``."""
    start, end = _check_range(clip, start, end)
    return clip.with_samples(clip.samples[:, start:end].copy())


def crop_seconds(clip: Clip, start_s: float, end_s: float) -> Clip:
    return crop(clip, *frame_range(clip, start_s, end_s))


def replace_range(clip: Clip, start: int, end: int, insert: Clip) -> Clip:
    """Frames ``start..end`` replaced by ``insert`` (any length, same rate and channels); with
    ``start == end`` this inserts, with an empty ``insert`` it deletes."""
    start, end = _check_range(clip, start, end, allow_empty=True)
    _check_compatible([clip, insert], same_channels=True)
    return clip.with_samples(np.concatenate([clip.samples[:, :start], insert.samples, clip.samples[:, end:]], axis=1))


def delete_range(clip: Clip, start: int, end: int) -> Clip:
    start, end = _check_range(clip, start, end)
    if end - start == clip.frames:
        raise BadInputError(clip.source, "deleting every frame would leave an empty clip")
    return clip.with_samples(np.concatenate([clip.samples[:, :start], clip.samples[:, end:]], axis=1))


def concatenate(clips: Sequence[Clip]) -> Clip:
    """Clips one after another; they must share rate and channel count."""
    _check_compatible(clips, same_channels=True)
    return clips[0].with_samples(np.concatenate([clip.samples for clip in clips], axis=1))


def trim_silence(clip: Clip, top_db: float = 60.0, frame_length: int = 2048, hop_length: int = 512) -> Clip:
    """Drop leading and trailing audio whose frame RMS (all channels together) is more than ``top_db``
    below the loudest frame; the rule of librosa.effects.trim, computed here with cumulative sums because
    librosa's first call spends seconds compiling, which a GUI edit cannot wait for."""
    if peak_dbfs(clip) == float("-inf"):
        raise BadInputError(clip.source, "is silent throughout; trimming would leave nothing")
    power_per_frame = np.einsum("cf,cf->f", clip.samples, clip.samples, dtype=np.float64) / clip.channels
    energy = np.concatenate([[0.0], np.cumsum(power_per_frame)])
    starts = np.arange(0, max(1, clip.frames - frame_length + hop_length), hop_length)
    ends = np.minimum(starts + frame_length, clip.frames)
    power = (energy[ends] - energy[starts]) / frame_length
    loud = np.flatnonzero(power > power.max() * 10.0 ** (-top_db / 10.0))
    return crop(clip, int(starts[loud[0]]), int(ends[loud[-1]]))


# --- fades -----------------------------------------------------------------------------------------------

def fade_curve(frames: int, shape: str = "linear") -> np.ndarray:
    """Rising gain over ``frames`` samples, from 0 at the first sample towards 1 (exclusive)."""
    if shape not in FADE_SHAPES:
        raise BadInputError(None, f"fade shape must be one of {FADE_SHAPES}, got {shape!r}")
    ramp = np.arange(frames, dtype=np.float64) / max(1, frames)
    curve = ramp if shape == "linear" else 0.5 - 0.5 * np.cos(np.pi * ramp)
    return curve.astype(np.float32)


def _faded(clip: Clip, frames: int, shape: str, at_start: bool) -> Clip:
    frames = int(frames)
    if not 0 < frames <= clip.frames:
        raise BadInputError(clip.source, f"a fade of {frames} frames does not fit a clip of {clip.frames}")
    samples = clip.samples.copy()
    curve = fade_curve(frames, shape)
    if at_start:
        samples[:, :frames] *= curve
    else:
        samples[:, clip.frames - frames:] *= curve[::-1]
    return clip.with_samples(samples)


def fade_in(clip: Clip, frames: int, shape: str = "linear") -> Clip:
    """Silence at the first frame rising to full level after ``frames`` frames."""
    return _faded(clip, frames, shape, at_start=True)


def fade_out(clip: Clip, frames: int, shape: str = "linear") -> Clip:
    """Full level falling to silence at the last frame (the mirror of :func:`fade_in`)."""
    return _faded(clip, frames, shape, at_start=False)
