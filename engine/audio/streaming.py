"""Helpers for processing signals longer than memory should hold: a disk-backed spool with random reads,
and regrouping of block streams. Separation streams its input through them; chunked vocoding and long-text
synthesis write their windows into a :class:`Spool` the same way. Resampling a stream:
:func:`engine.audio.resample.resample_blocks`; windows and crossfades: :mod:`engine.audio.stitch`."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np


class Spool:
    """Append-only mono float32 signal in a file with random reads, so long signals stay off the heap; keeps
    the running sum of squares (its RMS) as it grows."""

    def __init__(self, folder: str | Path, name: str):
        self.path = Path(folder) / f"{name}.f32"
        self._handle = self.path.open("w+b")
        self.length = 0
        self.sum_squares = 0.0

    def append(self, samples: np.ndarray) -> None:
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        self._handle.seek(0, 2)
        self._handle.write(samples.tobytes())
        self.length += samples.shape[0]
        self.sum_squares += float(np.dot(samples, samples))

    def read(self, start: int, stop: int) -> np.ndarray:
        self._handle.seek(4 * start)
        return np.frombuffer(self._handle.read(4 * (stop - start)), dtype=np.float32).copy()

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.length, size):
            yield self.read(start, min(self.length, start + size))

    @property
    def rms(self) -> float:
        return (self.sum_squares / max(1, self.length)) ** 0.5

    def close(self) -> None:
        self._handle.close()


def scaled(blocks: Iterable[np.ndarray], scale: float) -> Iterator[np.ndarray]:
    for samples in blocks:
        yield samples * scale


def fit_length(blocks: Iterable[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """Trim or zero-pad a stream of ``(channels, n)`` blocks to exactly ``length`` frames."""
    done = 0
    channels = 1
    for block in blocks:
        channels = block.shape[0]
        block = block[:, :length - done]
        done += block.shape[1]
        if block.shape[1]:
            yield block
    if done < length:
        yield np.zeros((channels, length - done), dtype=np.float32)


def zip_equal_blocks(streams: list[Iterator[np.ndarray]]) -> Iterator[list[np.ndarray]]:
    """Regroup parallel 1-D streams (same total length, different block sizes) into equal-length tuples."""
    buffers = [np.zeros(0, dtype=np.float32) for _ in streams]
    exhausted = False
    while not exhausted:
        exhausted = True
        for i, stream in enumerate(streams):
            piece = next(stream, None)
            if piece is not None:
                exhausted = False
                buffers[i] = np.concatenate((buffers[i], piece))
        ready = min(len(b) for b in buffers)
        if ready or exhausted:
            yield [b[:ready] for b in buffers]
            buffers = [b[ready:] for b in buffers]
