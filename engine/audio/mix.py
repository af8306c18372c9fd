"""Several tracks mixed for playback, block by block as the sound device asks for them.

Mixing rules (Audacity's): a track's gain (dB) scales it; a muted track is silent; when any track is
soloed only the soloed tracks play, and a track both soloed and muted stays silent. The gains live in one
small array that :meth:`Mix.set_levels` rewrites in place, so a mute, solo or gain change made while the
mix plays is heard from the next block on, without rebuilding anything.

Tracks at another sample rate than the mix are resampled once, when the mix is built (and remembered for
the clip, so playing again does not resample again); tracks with another channel count are spread (mono)
or mixed down then spread. :meth:`Mix.read_into` only multiplies and adds into preallocated arrays, which
is what a real-time audio callback may do.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from engine.audio import dsp
from engine.audio.clip import Clip

_SCRATCH_FRAMES = 1 << 14  # larger than any device block seen in practice; grows if one is larger

# clip → {rate: that clip resampled}: a clip is an immutable value, so its resampled copy stays valid for
# as long as the clip lives (and goes with it).
_resampled: "weakref.WeakKeyDictionary[Clip, dict[int, Clip]]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class TrackLevel:
    """How one track enters the mix."""

    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False


def linear_gains(levels: Sequence[TrackLevel]) -> np.ndarray:
    """The factor each track is multiplied by in the mix (0 for the tracks that are not heard)."""
    soloing = any(level.solo for level in levels)
    return np.array([0.0 if level.mute or (soloing and not level.solo) else 10.0 ** (level.gain_db / 20.0)
                     for level in levels], dtype=np.float32)


def at_rate(clip: Clip, sample_rate: int) -> Clip:
    """``clip`` at ``sample_rate``, resampled at most once per clip and rate."""
    if clip.sample_rate == sample_rate:
        return clip
    copies = _resampled.setdefault(clip, {})
    if sample_rate not in copies:
        copies[sample_rate] = dsp.resample(clip, sample_rate)
    return copies[sample_rate]


def _with_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """``samples`` as one channel (added to every output channel) or exactly ``channels`` channels."""
    if samples.shape[0] in (1, channels):
        return samples
    return samples.mean(axis=0, keepdims=True, dtype=np.float32)


class Mix:
    """The sum of ``clips`` with their :class:`TrackLevel` (all at 0 dB by default), read like a clip:
    ``sample_rate``, ``channels``, ``frames``, ``duration``, ``read(start, stop)``. By default the mix
    has the highest rate and the most channels of its tracks; a clip shorter than the mix is silent
    after its end."""

    def __init__(self, clips: Sequence[Clip], levels: Sequence[TrackLevel] | None = None,
                 sample_rate: int | None = None, channels: int | None = None):
        if not clips:
            raise ValueError("a mix needs at least one track")
        self.clips = list(clips)
        self.sample_rate = int(sample_rate or max(clip.sample_rate for clip in clips))
        self.channels = int(channels or max(clip.channels for clip in clips))
        self._tracks = [_with_channels(at_rate(clip, self.sample_rate).samples, self.channels) for clip in clips]
        self.frames = max(track.shape[1] for track in self._tracks)
        self.gains = np.ones(len(clips), dtype=np.float32)
        self._scratch = np.zeros((_SCRATCH_FRAMES, self.channels), dtype=np.float32)
        if levels is not None:
            self.set_levels(levels)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def set_levels(self, levels: Sequence[TrackLevel]) -> None:
        """New gain, mute and solo for every track (in the order of ``clips``), heard from the next block."""
        if len(levels) != len(self._tracks):
            raise ValueError(f"{len(levels)} levels given for {len(self._tracks)} tracks")
        self.gains[:] = linear_gains(levels)

    def with_format(self, sample_rate: int, channels: int) -> "Mix":
        """The same tracks at another rate or channel count (what the output device accepts); it shares
        this mix's gains, so :meth:`set_levels` on either changes both."""
        if (sample_rate, channels) == (self.sample_rate, self.channels):
            return self
        other = Mix(self.clips, sample_rate=sample_rate, channels=channels)
        other.gains = self.gains
        return other

    def read_into(self, out: np.ndarray, start: int) -> None:
        """Write frames ``start .. start + len(out)`` of the mix into ``out`` (frames × channels, the
        layout sound devices use); beyond the end it is silence."""
        out[:] = 0.0
        frames = out.shape[0]
        if frames > self._scratch.shape[0]:
            self._scratch = np.zeros((frames, self.channels), dtype=np.float32)
        for track, gain in zip(self._tracks, self.gains):
            count = min(frames, track.shape[1] - start)
            if gain == 0.0 or count <= 0:
                continue
            scratch = self._scratch[:count, :track.shape[0]]
            np.multiply(track[:, start:start + count].T, gain, out=scratch)
            out[:count] += scratch  # one track channel is added to every output channel

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start..stop`` (clipped to the mix) as (channels, frames), the call clips answer too."""
        start = min(max(0, int(start)), self.frames)
        stop = max(start, min(self.frames, int(stop)))
        out = np.empty((stop - start, self.channels), dtype=np.float32)
        self.read_into(out, start)
        return out.T

    def render(self, name: str = "mix") -> Clip:
        """The whole mix as a clip."""
        return Clip(self.read(0, self.frames), self.sample_rate, name=name)
