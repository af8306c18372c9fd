"""Short-form windows from known line timings: the ALT paper's "concatenation" method.

Single lines are too short for Whisper (little context, many hallucinations); whole runs of lines grouped
into windows just under 30 s worked best in the paper. Steps: merge overlapping lines, pad each line
without entering its neighbours, split runs where the gap exceeds ``max_gap_s``, then cut each run into
consecutive groups shorter than the window maximising the shortest group (so no window is left tiny).
"""

from __future__ import annotations

import math

Interval = tuple[float, float]

MERGE_OVERLAP_S = 0.2    # lines overlapping by more than this are one line
NEIGHBOUR_BUFFER_S = 0.1  # padding stops this far from a neighbouring line


def merge_overlapping(lines: list[Interval]) -> list[Interval]:
    """Sorted lines with every chain of lines overlapping by more than 0.2 s merged into one."""
    merged: list[Interval] = []
    for start, end in sorted(lines):
        if merged and merged[-1][1] - start > MERGE_OVERLAP_S:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def pad_lines(lines: list[Interval], pad_s: float, duration: float) -> list[Interval]:
    """Each sorted line widened by up to ``pad_s`` on both sides, never closer than 0.1 s to a neighbour
    and never narrower than it was."""
    padded = []
    for k, (start, end) in enumerate(lines):
        low = lines[k - 1][1] + NEIGHBOUR_BUFFER_S if k > 0 else 0.0
        high = lines[k + 1][0] - NEIGHBOUR_BUFFER_S if k + 1 < len(lines) else duration
        padded.append((min(start, max(start - pad_s, low)), max(end, min(end + pad_s, high))))
    return padded


def split_runs(lines: list[Interval], max_gap_s: float) -> list[list[Interval]]:
    """Consecutive sorted lines cut wherever the silence between two lines is longer than ``max_gap_s``."""
    runs: list[list[Interval]] = []
    for line in lines:
        if runs and line[0] - runs[-1][-1][1] <= max_gap_s:
            runs[-1].append(line)
        else:
            runs.append([line])
    return runs


def best_partition(run: list[Interval], max_s: float) -> list[list[Interval]]:
    """Consecutive groups of ``run``, each spanning less than ``max_s``, with the shortest group as long as
    possible (dynamic programme over prefix lengths, O(n²))."""
    n = len(run)
    best = [-math.inf] * (n + 1)  # best[i]: largest achievable shortest-group span for the first i lines
    cut = [0] * (n + 1)
    best[0] = math.inf
    for i in range(1, n + 1):
        for j in range(i - 1, -1, -1):
            span = run[i - 1][1] - run[j][0]
            if span >= max_s:
                break
            score = min(best[j], span)
            if score > best[i]:
                best[i], cut[i] = score, j
    if best[n] == -math.inf:
        raise ValueError("a line is longer than the window")
    groups = []
    i = n
    while i > 0:
        groups.append(run[cut[i]:i])
        i = cut[i]
    return groups[::-1]


def concatenation_windows(lines: list[Interval], duration: float, *, window_s: float = 30.0,
                          max_gap_s: float = 7.0, pad_s: float = 0.5) -> list[Interval]:
    """Whisper windows ``(start_s, end_s)`` for the known ``lines`` of a song ``duration`` seconds long.
    Merged lines that alone are as long as the window are left out, as in the paper."""
    merged = merge_overlapping([(max(0.0, s), min(duration, e)) for s, e in lines if e > s])
    padded = [line for line in pad_lines(merged, pad_s, duration) if line[1] - line[0] < window_s]
    windows = []
    for run in split_runs(padded, max_gap_s):
        windows.extend((group[0][0], group[-1][1]) for group in best_partition(run, window_s))
    return windows
