"""Waveform peak pyramid: min and max per block at several block sizes, so a view can draw any zoom level
from a few thousand numbers instead of millions of samples.

Level 0 holds one (min, max) pair per ``base_block`` frames, each further level one pair per ``factor``
blocks of the level below. :meth:`PeakPyramid.peaks_for_range` answers exactly (equal to a brute-force
min/max over the samples of each pixel column): it takes whole blocks from the coarsest level that fits
and the ragged column edges from finer levels, down to the raw samples, so each column costs a few
entries per level and never more than ``base_block`` raw samples on each side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.audio.clip import Clip

BASE_BLOCK = 256
FACTOR = 4


@dataclass(frozen=True)
class PeakLevel:
    block: int  # frames per entry
    minima: np.ndarray  # float32 (channels, entries); the last entry may cover a partial block
    maxima: np.ndarray


class PeakPyramid:
    """Min/max pyramid over a clip's samples (kept by reference, needed for the finest detail)."""

    def __init__(self, samples: np.ndarray, base_block: int = BASE_BLOCK, factor: int = FACTOR):
        self.samples = samples
        self.levels: list[PeakLevel] = []
        minima, maxima = _block_extrema(samples, samples, base_block)
        block = base_block
        while True:
            self.levels.append(PeakLevel(block, minima, maxima))
            if minima.shape[1] <= factor:
                break
            minima, maxima = _block_extrema(minima, maxima, factor)
            block *= factor

    @classmethod
    def from_clip(cls, clip: Clip, base_block: int = BASE_BLOCK, factor: int = FACTOR) -> "PeakPyramid":
        return cls(clip.samples, base_block, factor)

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def frames(self) -> int:
        return self.samples.shape[1]

    def peaks_for_range(self, start_frame: int, end_frame: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
        """(minima, maxima), each float32 ``(channels, columns)``, for ``columns`` equal slices of
        ``[start_frame, end_frame)``.

        Column ``i`` covers frames ``start + i*n // columns`` up to ``start + (i+1)*n // columns`` (n the
        range length), at least one frame, so zooming in past one frame per pixel repeats samples rather
        than leaving gaps. The range is clipped to the clip."""
        start = min(max(0, int(start_frame)), self.frames)
        end = min(max(start, int(end_frame)), self.frames)
        if columns <= 0 or end == start:
            empty = np.zeros((self.channels, max(0, columns)), dtype=np.float32)
            return empty, empty.copy()
        edges = start + (np.arange(columns + 1, dtype=np.int64) * (end - start)) // columns
        low = np.minimum(edges[:-1], end - 1)
        high = np.maximum(edges[1:], low + 1)
        return self._extrema(low, high)

    def _extrema(self, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Min/max over frames [low, high) per column, coarse to fine: each level adds the whole blocks
        that the coarser levels left uncovered (at most one piece on each side), raw samples last."""
        count = len(low)
        minima = np.full((self.channels, count), np.inf, dtype=np.float32)
        maxima = np.full((self.channels, count), -np.inf, dtype=np.float32)
        covered_start, covered_end = low.copy(), low.copy()
        raw = PeakLevel(1, self.samples, self.samples)
        for entry in [*reversed(self.levels), raw]:
            first = -(-low // entry.block)
            last = np.maximum(high // entry.block, first)
            nothing_yet = covered_start == covered_end
            left_end = np.where(nothing_yet, last, covered_start // entry.block)
            right_start = np.where(nothing_yet, last, covered_end // entry.block)
            piece_min, piece_max = _ranges_extrema(entry.minima, entry.maxima, np.concatenate([first, right_start]),
                                                   np.concatenate([left_end, last]))
            minima = np.minimum(minima, np.minimum(piece_min[:, :count], piece_min[:, count:]))
            maxima = np.maximum(maxima, np.maximum(piece_max[:, :count], piece_max[:, count:]))
            covered_start = np.where(first < last, first * entry.block, covered_start)
            covered_end = np.where(first < last, last * entry.block, covered_end)
        return minima, maxima


def _block_extrema(minima: np.ndarray, maxima: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Min of ``minima`` and max of ``maxima`` per ``block`` columns, the ragged end as one more block."""
    channels, length = minima.shape
    whole = length // block * block
    low = minima[:, :whole].reshape(channels, -1, block).min(axis=2)
    high = maxima[:, :whole].reshape(channels, -1, block).max(axis=2)
    if whole < length:
        low = np.concatenate([low, minima[:, whole:].min(axis=1, keepdims=True)], axis=1)
        high = np.concatenate([high, maxima[:, whole:].max(axis=1, keepdims=True)], axis=1)
    return low, high


def _ranges_extrema(minima: np.ndarray, maxima: np.ndarray, low: np.ndarray,
                    high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min/max over columns [low, high) of each range (short ranges: gathered, then reduced);
    empty ranges give +inf/-inf so they drop out of later comparisons."""
    lengths = np.maximum(high - low, 0)
    filled = lengths > 0
    channels = minima.shape[0]
    out_min = np.full((channels, len(low)), np.inf, dtype=np.float32)
    out_max = np.full((channels, len(low)), -np.inf, dtype=np.float32)
    if not filled.any():
        return out_min, out_max
    starts, counts = low[filled], lengths[filled]
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    index = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
    out_min[:, filled] = np.minimum.reduceat(minima[:, index], offsets, axis=1)
    out_max[:, filled] = np.maximum.reduceat(maxima[:, index], offsets, axis=1)
    return out_min, out_max
