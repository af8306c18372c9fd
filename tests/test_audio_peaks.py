"""engine.audio.peaks: the pyramid answers exactly what a brute-force min/max per pixel column gives."""

from __future__ import annotations


import numpy as np
import pytest

from engine.audio.clip import Clip
from engine.audio.peaks import PeakPyramid


def _brute_force(samples: np.ndarray, start: int, end: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The documented column split, one numpy call per column."""
    bounds = [(start + i * (end - start) // columns, start + (i + 1) * (end - start) // columns) for i in range(columns)]
    bounds = [(min(low, end - 1), max(high, min(low, end - 1) + 1)) for low, high in bounds]
    minima = np.stack([[channel[low:high].min() for low, high in bounds] for channel in samples])
    maxima = np.stack([[channel[low:high].max() for low, high in bounds] for channel in samples])
    return minima, maxima


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(11).standard_normal((2, 1_000_003)).astype(np.float32)


@pytest.mark.parametrize("start, end, columns", [
    (0, 1_000_003, 800),          # whole clip: mostly coarse levels
    (12_345, 987_654, 1333),      # ragged edges at every level
    (999_000, 1_000_003, 7),      # the partial last blocks
    (100, 100 + 256 * 48, 3),     # block-aligned interior
    (5, 50, 100),                 # more columns than frames: samples repeat
    (500_000, 500_001, 4),        # a single frame
])
def test_peaks_equal_brute_force(noise, start, end, columns):
    pyramid = PeakPyramid(noise)
    minima, maxima = pyramid.peaks_for_range(start, end, columns)
    expected_min, expected_max = _brute_force(noise, start, end, columns)
    np.testing.assert_array_equal(minima, expected_min)
    np.testing.assert_array_equal(maxima, expected_max)


def test_levels_grow_by_the_factor_and_cover_every_frame(noise):
    pyramid = PeakPyramid.from_clip(Clip(noise, 44_100))
    assert [level.block for level in pyramid.levels] == [256 * 4 ** k for k in range(len(pyramid.levels))]
    assert pyramid.levels[0].minima.shape == (2, -(-1_000_003 // 256))
    assert pyramid.levels[-1].minima.shape[1] <= 4
    np.testing.assert_array_equal(pyramid.levels[-1].maxima.max(axis=1), noise.max(axis=1))


def test_range_is_clipped_to_the_clip(noise):
    pyramid = PeakPyramid(noise[:, :1000])
    minima, maxima = pyramid.peaks_for_range(-50, 5000, 10)
    expected_min, expected_max = _brute_force(noise[:, :1000], 0, 1000, 10)
    np.testing.assert_array_equal(minima, expected_min)
    np.testing.assert_array_equal(maxima, expected_max)
    empty_min, _ = pyramid.peaks_for_range(2000, 3000, 10)
    assert empty_min.shape == (2, 10) and not empty_min.any()


@pytest.mark.slow
def test_one_hour_of_stereo_keeps_every_extreme():
    """Exactness at the size the views must handle; its speed is measured by bench/ui_open_draw.py."""
    rate = 44_100
    second = np.stack([np.sin(np.linspace(0, 2 * np.pi * 440, rate)), np.cos(np.linspace(0, 2 * np.pi * 220, rate))])
    hour = np.tile(0.5 * second.astype(np.float32), 3600)
    hour[0, 1_234_567], hour[1, 98_765_432] = 0.9, -0.8  # one extreme per channel, deep inside
    minima, maxima = PeakPyramid(hour).peaks_for_range(0, hour.shape[1], 1920)
    np.testing.assert_array_equal(maxima.max(axis=1), hour.max(axis=1))
    np.testing.assert_array_equal(minima.min(axis=1), hour.min(axis=1))
    column = 1_234_567 * 1920 // hour.shape[1]
    assert maxima[0, column] == np.float32(0.9) and maxima[0, column + 1] < 0.51
    assert minima[1, 98_765_432 * 1920 // hour.shape[1]] == np.float32(-0.8)
