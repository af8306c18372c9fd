"""Run a windowed model over input longer than it should see at once, joining the windows with crossfades.

The shared pieces: :func:`window_starts` (the one window/segment planner), :func:`crossfade_ramp` and
:func:`crossfade` (the one overlap-add: complementary gains that sum to one, so wherever two windows agree
the result is exactly their value).

:func:`crossfade_windows` serves models whose output is time-aligned with their input (a vocoder: mel
frames → samples; a music separator: samples → stems) and differs from a single pass only near window
edges, where convolutions see padding.

:func:`separate_long` serves source separators, which must also not swap speakers. A separator returns its sources in an arbitrary order that can change from one window to the next
(permutation ambiguity). Windows overlap; on each overlap the new window's sources are matched to the
already-stitched ones by the assignment that maximises the summed normalised correlation, reordered, and
crossfaded in with complementary sin²/cos² ramps. Works with any separator ``(batch, samples) →
(batch, sources, samples)`` and holds only one window (plus one overlap) of output at a time, so memory is
bounded by the window, not by the length of the audio.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
from scipy.optimize import linear_sum_assignment

from engine.jobs import CancelToken, Progress

Separator = Callable[[np.ndarray], np.ndarray]  # (batch, samples) -> (batch, sources, samples)
Reader = Callable[[int, int], np.ndarray]  # (start, stop) -> mono float32 samples start..stop


def window_starts(length: int, window: int, overlap: int, *, short_last: bool = False) -> list[int]:
    """Start of every window; the last one is moved back to end at ``length`` so no window is padded, or with
    ``short_last`` it keeps its place and is cut at ``length`` (less work when the model's cost grows with
    the window, as a DiT's does; it still overlaps the previous window by more than ``overlap``)."""
    if not 0 <= overlap < window:
        raise ValueError(f"overlap must be in [0, window), got {overlap} for a window of {window}")
    if length <= window:
        return [0]
    hop = window - overlap
    if short_last:
        return list(range(0, length - overlap, hop))
    starts = list(range(0, length - window, hop))
    starts.append(length - window)
    return starts


def best_permutation(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Order of ``current``'s sources that best matches ``previous`` (both ``(sources, n)``) by correlation.

    Returns ``order`` with ``current[order]`` aligned to ``previous``.
    """
    def unit(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64) - x.mean(axis=-1, keepdims=True)
        return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-12)

    similarity = unit(previous) @ unit(current).T  # [previous source, current source]
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return cols[np.argsort(rows)]


RAMP_SHAPES = ("sine", "linear")


def crossfade_ramp(length: int, shape: str = "sine") -> np.ndarray:
    """Fade-in ramp whose complement (1 − ramp) is the fade-out, strictly between 0 and 1: sin² (smooth
    ends) or linear (``(i + 1) / (length + 1)``)."""
    if shape == "linear":
        return (np.arange(1, length + 1) / (length + 1)).astype(np.float32)
    if shape != "sine":
        raise ValueError(f"ramp shape must be one of {RAMP_SHAPES}, got {shape!r}")
    return (np.sin(0.5 * np.pi * (np.arange(length) + 0.5) / max(1, length)) ** 2).astype(np.float32)


def crossfade(tail: np.ndarray, head: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """The overlap of two windows: the earlier one's ``tail`` fading out while the later one's ``head``
    fades in (``ramp`` along the last axis)."""
    return tail * (1.0 - ramp) + head * ramp


def separate_long(read: Reader, length: int, separate: Separator, window: int, overlap: int, *,
                  progress: Progress | None = None, cancel: CancelToken | None = None) -> Iterator[np.ndarray]:
    """Yield the stitched sources as consecutive ``(sources, n)`` blocks covering ``0..length``.

    ``read(start, stop)`` supplies the mixture on demand, so the caller can stream it from disk.
    """
    starts = window_starts(length, window, overlap)
    emitted = 0
    tail: np.ndarray | None = None  # aligned output of the previous window from ``emitted`` to its end
    for index, start in enumerate(starts):
        if cancel is not None:
            cancel.check()
        stop = min(length, start + window)
        current = np.asarray(separate(read(start, stop)[None, :])[0], dtype=np.float32)
        if tail is not None:
            shared = tail.shape[1]  # the previous window reaches ``shared`` samples into this one
            current = current[best_permutation(tail, current[:, :shared])]
            current[:, :shared] = crossfade(tail, current[:, :shared], crossfade_ramp(shared))
        keep_until = starts[index + 1] if index + 1 < len(starts) else stop
        yield current[:, :keep_until - start]
        tail = current[:, keep_until - start:]
        emitted = keep_until
        if progress is not None:
            progress(emitted / length, f"separated {emitted / length:.0%}")


Renderer = Callable[[int, int], np.ndarray]  # (start, stop) input units -> (..., (stop - start) * scale) samples


def crossfade_windows(render: Renderer, length: int, window: int, overlap: int, fade: int, *, scale: int = 1,
                      ramp_shape: str = "sine", short_last: bool = False, progress: Progress | None = None,
                      cancel: CancelToken | None = None) -> Iterator[np.ndarray]:
    """Yield ``render``'s output for input units ``0..length`` as consecutive ``(..., n)`` blocks, computed
    one window at a time (memory bounded by the window).

    ``render(start, stop)`` returns ``(stop − start) · scale`` output samples aligned with its input. Windows
    of ``window`` units overlap by at least ``overlap``; each join is a crossfade over ``fade`` units centred in
    the overlap, so at least ``(overlap − fade) // 2`` units next to every inner window edge are discarded.
    When that margin covers the model's receptive field, the result equals a single pass up to rounding.
    ``fade = 0`` cuts between windows without a crossfade. ``short_last``: see :func:`window_starts`.
    """
    if not 0 <= fade <= overlap or window < overlap + 2 * fade:
        raise ValueError(f"need 0 <= fade <= overlap and window >= overlap + 2·fade, got window {window}, "
                         f"overlap {overlap}, fade {fade}")
    starts = window_starts(length, window, overlap, short_last=short_last)
    ramp = crossfade_ramp(fade * scale, ramp_shape)
    tail: np.ndarray | None = None  # the previous window's output over the coming crossfade
    seam = 0  # absolute output sample where the coming crossfade starts
    for index, start in enumerate(starts):
        if cancel is not None:
            cancel.check()
        stop = min(length, start + window)
        current = np.array(render(start, stop), dtype=np.float32)
        begin = seam - start * scale
        if tail is not None:
            current[..., begin:begin + ramp.size] = crossfade(tail, current[..., begin:begin + ramp.size], ramp)
        if index + 1 == len(starts):
            yield current[..., begin:]
            break
        following = starts[index + 1]
        seam = (following + (stop - following - fade) // 2) * scale
        end = seam - start * scale
        yield current[..., begin:end]
        tail = current[..., end:end + ramp.size]
        if progress is not None:
            progress(stop / length, f"{stop / length:.0%}")
    if progress is not None:
        progress(1.0, "100%")
