"""Windowed rendering joined by crossfades (``crossfade_windows``), independent of any model."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.stitch import crossfade_windows


def aligned_renderer(channels: int, length: int, scale: int, seed: int):
    """A random signal, a renderer returning its true samples for any range, and the ranges it was asked."""
    signal = np.random.default_rng(seed).standard_normal((channels, length * scale)).astype(np.float32)
    windows = []

    def render(start, stop):
        windows.append((start, stop))
        return signal[:, start * scale:stop * scale]

    return signal, render, windows


def test_windows_of_an_aligned_renderer_rebuild_the_signal():
    """A renderer that returns the true output for any range must come back unchanged: the blocks tile
    the output exactly once and each crossfade's ramps sum to one."""
    scale, length = 4, 203
    signal, render, windows = aligned_renderer(2, length, scale, seed=0)
    reported = []
    blocks = list(crossfade_windows(render, length, window=50, overlap=20, fade=6, scale=scale,
                                    progress=lambda fraction, message: reported.append(fraction)))
    joined = np.concatenate(blocks, axis=-1)
    assert joined.shape == signal.shape
    np.testing.assert_allclose(joined, signal, rtol=0, atol=1e-6)
    assert windows[0] == (0, 50) and windows[-1] == (length - 50, length)
    assert reported[-1] == 1.0


def test_a_short_last_window_keeps_its_place_and_still_rebuilds_the_signal():
    """``short_last``: the last window is cut at the end instead of moved back (the VC chunks, as Seed-VC
    lays them out), and it still overlaps the one before by more than the overlap."""
    scale, length = 3, 130
    signal, render, windows = aligned_renderer(1, length, scale, seed=1)

    joined = np.concatenate(list(crossfade_windows(render, length, window=50, overlap=16, fade=16, scale=scale,
                                                   short_last=True)), axis=-1)
    np.testing.assert_allclose(joined, signal, rtol=0, atol=1e-6)
    assert windows == [(0, 50), (34, 84), (68, 118), (102, 130)]


def test_edges_are_discarded_and_faded_where_the_windows_disagree():
    """Each window's output is offset by its index: every sample must come from one window, or a blend of
    two neighbours inside a crossfade, never from within ``(overlap − fade) // 2`` units of an inner edge."""
    length, window, overlap, fade = 100, 40, 20, 4

    def render(start, stop):
        return np.full(stop - start, float(start), dtype=np.float32)

    out = np.concatenate(list(crossfade_windows(render, length, window, overlap, fade)))
    assert out.shape == (length,)
    assert np.all(out[:28] == 0.0) and np.all(out[32:48] == 20.0)
    assert np.all((out[28:32] > 0.0) & (out[28:32] < 20.0))


def test_inconsistent_sizes_are_refused():
    with pytest.raises(ValueError, match="fade"):
        list(crossfade_windows(lambda a, b: np.zeros(b - a), 100, window=30, overlap=20, fade=8))
    with pytest.raises(ValueError, match="fade"):
        list(crossfade_windows(lambda a, b: np.zeros(b - a), 100, window=60, overlap=10, fade=12))
