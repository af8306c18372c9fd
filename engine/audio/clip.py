"""The audio clip: float32 samples shaped (channels, frames) at a sample rate, plus where it came from.

Clips are treated as immutable values: every operation returns a new clip, which is what makes undo in
the GUI a matter of keeping the previous clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np


@dataclass(frozen=True, eq=False)
class Clip:
    samples: np.ndarray  # float32, shape (channels, frames), C-contiguous
    sample_rate: int
    source: Path | None = None
    name: str = field(default="")

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.ndim == 1:
            samples = samples[None, :]
        if samples.ndim != 2:
            raise ValueError(f"clip samples must be (channels, frames), got shape {samples.shape}")
        if samples.dtype != np.float32 or not samples.flags.c_contiguous:
            samples = np.ascontiguousarray(samples, dtype=np.float32)
        object.__setattr__(self, "samples", samples)
        if int(self.sample_rate) <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        if not self.name and self.source is not None:
            object.__setattr__(self, "name", Path(self.source).stem)

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def frames(self) -> int:
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def with_samples(self, samples: np.ndarray, sample_rate: int | None = None) -> "Clip":
        """A new clip with other samples (and optionally rate), keeping source and name."""
        return replace(self, samples=samples, sample_rate=self.sample_rate if sample_rate is None else sample_rate)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start..stop`` (clipped to the clip) as a view; an open file answers the same call
        (``engine.audio.io.AudioStream.read``), so spectrogram tiles work on either."""
        start = min(max(0, int(start)), self.frames)
        return self.samples[:, start:max(start, min(self.frames, int(stop)))]

    def mono(self) -> np.ndarray:
        """The channel mean as a 1-D float32 array (what mono models take)."""
        return self.samples.mean(axis=0, dtype=np.float32) if self.channels > 1 else self.samples[0]
