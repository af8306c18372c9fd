"""The long-audio stitcher keeps every speaker on their own track across window seams, whatever order the
separator returns its sources in."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.stitch import best_permutation, crossfade_ramp, separate_long, window_starts
from tests.conftest import have
from tests.synth import speak

RATE = 16000


def si_snr(estimate: np.ndarray, reference: np.ndarray) -> float:
    estimate = estimate - estimate.mean()
    reference = reference - reference.mean()
    target = reference * np.dot(estimate, reference) / (np.dot(reference, reference) + 1e-12)
    noise = estimate - target
    return 10 * np.log10((np.dot(target, target) + 1e-12) / (np.dot(noise, noise) + 1e-12))


class PermutingOracle:
    """Test double for a separator: returns the true sources of each window (plus a little leakage of the
    other speakers, as a real model has), in a random order per window."""

    def __init__(self, sources: np.ndarray, starts: list[int], window: int, seed: int):
        self.sources, self.starts, self.window = sources, list(starts), window
        self.rng = np.random.default_rng(seed)
        self.orders: list[tuple[int, ...]] = []

    def __call__(self, mixture: np.ndarray) -> np.ndarray:
        start = self.starts[len(self.orders)]
        part = self.sources[:, start:start + mixture.shape[1]]
        leaked = 0.9 * part + 0.1 * (part.sum(axis=0, keepdims=True) - part)
        assert np.allclose(mixture[0], part.sum(axis=0), atol=1e-5), "windows must be read in order"
        order = tuple(int(i) for i in self.rng.permutation(len(part)))
        self.orders.append(order)
        return leaked[list(order)][None]


@pytest.fixture(scope="module")
def two_voices() -> np.ndarray:
    """About 18 s of two espeak-ng voices talking over each other with pauses: (2, samples)."""
    if not have("espeak-ng"):
        pytest.fail("espeak-ng is required (tools/setup.sh installs it)")
    lines = ["The quick brown fox jumps over the lazy dog near the river bank.",
             "Seven silver swans swam silently across the shimmering lake at dawn.",
             "Please remember to water the plants before you leave for the weekend.",
             "Numbers like forty two and nineteen eighty four appear in famous books."]
    first = np.concatenate([np.concatenate((speak(t, "en+m3", RATE), np.zeros(RATE // 2, np.float32)))
                            for t in lines])
    second = np.concatenate([np.concatenate((np.zeros(RATE // 3, np.float32), speak(t, "en-us+f3", RATE, pitch=70)))
                             for t in reversed(lines)])
    length = max(len(first), len(second))
    voices = np.zeros((2, length), np.float32)
    voices[0, :len(first)] = first
    voices[1, :len(second)] = second
    return voices / np.abs(voices).max() * 0.5


def test_window_plan_covers_the_signal_and_never_pads():
    assert window_starts(100, 40, 10) == [0, 30, 60]
    assert window_starts(95, 40, 10) == [0, 30, 55]
    assert window_starts(30, 40, 10) == [0]
    with pytest.raises(ValueError):
        window_starts(100, 40, 40)


def test_crossfade_ramps_sum_to_one():
    ramp = crossfade_ramp(1000)
    assert np.allclose(ramp + ramp[::-1], 1.0, atol=1e-6)
    assert ramp[0] < 1e-5 and ramp[-1] > 1 - 1e-5


def test_best_permutation_finds_the_swap_of_three_sources():
    rng = np.random.default_rng(1)
    previous = rng.standard_normal((3, 800))
    assert list(best_permutation(previous, previous[[2, 0, 1]])) == [1, 2, 0]


@pytest.mark.parametrize("window_s,overlap_s", [(2.0, 0.5), (3.0, 1.0)])
def test_speakers_stay_on_their_track_across_every_seam(two_voices, window_s, overlap_s):
    window, overlap = int(window_s * RATE), int(overlap_s * RATE)
    mixture = two_voices.sum(axis=0)
    starts = window_starts(len(mixture), window, overlap)
    oracle = PermutingOracle(two_voices, starts, window, seed=7)
    blocks = list(separate_long(lambda a, b: mixture[a:b], len(mixture), oracle, window, overlap))
    stitched = np.concatenate(blocks, axis=1)

    assert stitched.shape == two_voices.shape
    assert len(starts) >= 8 and len(set(oracle.orders)) == 2  # both orders really occurred
    # The first window fixes which track holds which speaker.
    track_of = {speaker: oracle.orders[0].index(speaker) for speaker in range(2)}
    seams = starts[1:]
    for seam in seams:
        span = slice(max(0, seam - RATE), min(len(mixture), seam + overlap + RATE))
        for speaker in range(2):
            reference = two_voices[speaker, span]
            if np.abs(reference).max() < 1e-3:
                continue  # this speaker is silent around this seam
            own = si_snr(stitched[track_of[speaker], span], reference)
            other = si_snr(stitched[1 - track_of[speaker], span], reference)
            assert own > 15.0 and own > other + 15.0, f"speaker {speaker} left its track at {seam / RATE:.2f} s"
    # Over the whole file, each track is its speaker (0.9/0.1 leakage bounds the SI-SNR near 19 dB).
    for speaker in range(2):
        assert si_snr(stitched[track_of[speaker]], two_voices[speaker]) > 15.0


def test_stitching_without_alignment_would_swap(two_voices):
    """Control: the same oracle with alignment defeated (identity matching) really does swap speakers,
    so the test above is able to fail."""
    window, overlap = 2 * RATE, RATE // 2
    mixture = two_voices.sum(axis=0)
    starts = window_starts(len(mixture), window, overlap)
    oracle = PermutingOracle(two_voices, starts, window, seed=7)
    naive = np.zeros_like(two_voices)
    for start in starts:
        naive[:, start:start + window] = oracle(mixture[None, start:start + window])[0]
    first_track = oracle.orders[0].index(0)
    assert si_snr(naive[first_track], two_voices[0]) < 5.0
