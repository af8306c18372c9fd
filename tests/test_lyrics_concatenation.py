"""The short-form "concatenation" windows: merging, padding, the 7 s split and the max-min partition (checked
against brute force)."""

import itertools
import random

import pytest

from engine.tasks.lyrics.concatenation import (best_partition, concatenation_windows, merge_overlapping,
                                               pad_lines, split_runs)


def flat(pairs):
    """Intervals as one flat list, for pytest.approx."""
    return [value for pair in pairs for value in pair]


def test_lines_overlapping_by_more_than_a_fifth_of_a_second_merge():
    lines = [(5.0, 8.0), (0.0, 2.0), (1.7, 3.0), (2.9, 4.0)]
    # 1.7 overlaps (0, 2) by 0.3 s: merged; 2.9 overlaps by only 0.1 s: kept apart
    assert merge_overlapping(lines) == [(0.0, 3.0), (2.9, 4.0), (5.0, 8.0)]


def test_padding_stops_short_of_neighbours():
    padded = pad_lines([(0.2, 1.0), (1.4, 2.0), (5.0, 6.0)], 0.5, 6.3)
    assert flat(padded) == pytest.approx(flat([(0.0, 1.3), (1.1, 2.5), (4.5, 6.3)]))


def test_runs_split_where_the_gap_exceeds_seven_seconds():
    lines = [(0.0, 2.0), (8.5, 9.0), (16.1, 17.0), (20.0, 21.0)]
    assert split_runs(lines, 7.0) == [[(0.0, 2.0), (8.5, 9.0)], [(16.1, 17.0), (20.0, 21.0)]]


def _brute_force_best(run, max_s):
    """The largest shortest-group span over every partition into consecutive groups shorter than max_s."""
    best = None
    for cuts in itertools.product((False, True), repeat=len(run) - 1):
        groups, start = [], 0
        for k, cut in enumerate(cuts, 1):
            if cut:
                groups.append(run[start:k])
                start = k
        groups.append(run[start:])
        spans = [g[-1][1] - g[0][0] for g in groups]
        if max(spans) < max_s:
            best = min(spans) if best is None else max(best, min(spans))
    return best


def test_partition_matches_brute_force_on_random_runs():
    rng = random.Random(7)
    for _ in range(300):
        t, run = 0.0, []
        for _ in range(rng.randint(1, 11)):
            t += rng.uniform(0.1, 3.0)
            length = rng.uniform(0.5, 9.0)
            run.append((t, t + length))
            t += length
        groups = best_partition(run, 30.0)
        assert [line for group in groups for line in group] == run  # consecutive and complete
        spans = [g[-1][1] - g[0][0] for g in groups]
        assert max(spans) < 30.0
        assert min(spans) == pytest.approx(_brute_force_best(run, 30.0))


def test_windows_for_a_song():
    lines = [(10.0, 14.0), (14.5, 18.0), (19.0, 24.0), (25.0, 29.0), (30.0, 35.0), (36.0, 40.0),
             (60.0, 63.0), (63.5, 66.0)]
    windows = concatenation_windows(lines, 70.0)
    # the 20 s gap starts a new run; the first run (9.5..40.5 s, over 30 s) is cut into two balanced groups
    assert flat(windows) == pytest.approx(flat([(9.5, 24.5), (24.5, 40.5), (59.5, 66.5)]))


def test_a_line_as_long_as_the_window_is_left_out():
    assert flat(concatenation_windows([(0.0, 31.0), (40.0, 42.0)], 50.0)) == pytest.approx([39.5, 42.5])
