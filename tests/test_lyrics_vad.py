"""RMS-VAD rules (the ALT paper's defaults), Silero VAD and window packing, on signals with known times."""

import numpy as np
import pytest

from engine.tasks.lyrics.packing import pack_spans
from engine.tasks.lyrics.vad import (FRAME_LENGTH, HOP_LENGTH, SAMPLE_RATE, VadParameters, hysteresis_spans,
                                     pad_spans, rms_probabilities, rms_vad, silero_vad)
from tests.synth import speak, tone

SR = SAMPLE_RATE
PAD = 200 * SR // 1000  # the default speech pad in samples


def probs_from_runs(*runs: tuple[float, int]) -> np.ndarray:
    """Per-hop probabilities made of (value, number of frames) runs."""
    return np.concatenate([np.full(frames, value) for value, frames in runs])


def test_rms_vad_finds_a_tone_within_one_hop():
    audio = np.zeros(10 * SR, np.float32)
    audio[2 * SR:5 * SR] = tone(220, 3.0)
    [(start, end)] = rms_vad(audio)
    # centred 2048-sample frames see the tone half a frame early and late; then 200 ms of padding
    assert abs(start - (2 * SR - FRAME_LENGTH // 2 - PAD)) <= HOP_LENGTH
    assert abs(end - (5 * SR + FRAME_LENGTH // 2 + PAD)) <= HOP_LENGTH


def test_rms_probabilities_are_normalised_by_the_peak():
    audio = np.concatenate([tone(220, 1.0, amplitude=0.5), tone(220, 1.0, amplitude=0.05)])
    probs = rms_probabilities(audio)
    assert probs.max() == pytest.approx(1.0)
    assert np.median(probs[40:60]) == pytest.approx(0.1, rel=0.02)  # a tenth of the amplitude


def test_hysteresis_starts_and_ends_on_exact_frames():
    probs = probs_from_runs((0.0, 10), (0.8, 50), (0.0, 100))
    assert hysteresis_spans(probs, len(probs) * HOP_LENGTH, VadParameters()) == [(10 * HOP_LENGTH, 60 * HOP_LENGTH)]


def test_onset_and_offset_thresholds_form_a_hysteresis():
    probs = probs_from_runs((0.0, 5), (0.05, 5), (0.5, 20), (0.3, 10), (0.0, 100))
    spans = hysteresis_spans(probs, len(probs) * HOP_LENGTH, VadParameters(onset=0.4, offset=0.2))
    assert spans == [(10 * HOP_LENGTH, 40 * HOP_LENGTH)]  # 0.05 never starts speech, 0.3 does not end it


@pytest.mark.parametrize("quiet_frames, expected_spans", [(32, 1), (33, 2)])
def test_a_silence_must_last_min_silence_to_split(quiet_frames, expected_spans):
    # 1000 ms = 16000 samples: 32 quiet hops (16384 samples) reach it only at the 33rd frame
    probs = probs_from_runs((0.9, 20), (0.0, quiet_frames), (0.9, 20), (0.0, 200))
    spans = hysteresis_spans(probs, len(probs) * HOP_LENGTH, VadParameters())
    assert len(spans) == expected_spans
    assert spans[0][0] == 0
    if expected_spans == 2:
        assert spans[0][1] == 20 * HOP_LENGTH and spans[1][0] == (20 + quiet_frames) * HOP_LENGTH


def test_speech_running_to_the_end_is_closed_at_the_last_sample():
    probs = probs_from_runs((0.0, 4), (1.0, 10))
    assert hysteresis_spans(probs, 7000, VadParameters()) == [(4 * HOP_LENGTH, 7000)]


def test_padding_splits_narrow_gaps_evenly_and_pads_wide_ones():
    narrow = pad_spans([(10_000, 20_000), (24_000, 30_000)], 100_000, 200)  # gap 4000 < 2 * 3200
    assert narrow == [(10_000 - PAD, 22_000), (22_000, 30_000 + PAD)]
    wide = pad_spans([(10_000, 20_000), (30_000, 40_000)], 100_000, 200)
    assert wide == [(10_000 - PAD, 20_000 + PAD), (30_000 - PAD, 40_000 + PAD)]
    clamped = pad_spans([(1_000, 5_000)], 6_000, 200)
    assert clamped == [(0, 6_000)]


def _max_frames(params: VadParameters) -> int:
    """The first frame index at which a span starting at 0 exceeds the effective maximum length."""
    max_samples = SR * params.max_segment_s - HOP_LENGTH - 2 * SR * params.speech_pad_ms / 1000
    return int(max_samples // HOP_LENGTH) + 1


def test_over_long_speech_is_split_at_the_last_long_enough_silence():
    params = VadParameters()
    # speech with a 0.3 s pause at ~20 s and a 0.05 s pause at ~25 s, 40 s in all
    probs = probs_from_runs((1.0, 625), (0.0, 10), (1.0, 150), (0.0, 2), (1.0, 465), (0.0, 100))
    spans = hysteresis_spans(probs, len(probs) * HOP_LENGTH, params)
    assert spans[0] == (0, 625 * HOP_LENGTH)          # cut where the 0.3 s silence began
    assert spans[1][0] == 635 * HOP_LENGTH            # resumed where the singing did
    assert all(end - start <= params.max_segment_s * SR for start, end in spans)


def test_over_long_speech_without_silence_is_cut_at_the_quietest_frame_of_its_second_half():
    params = VadParameters()
    last = _max_frames(params)
    probs = np.ones(last + 400)
    probs[100] = 0.2          # quieter, but in the first half: ignored
    probs[700] = 0.5          # the quietest frame of the second half
    spans = hysteresis_spans(probs, len(probs) * HOP_LENGTH, params)
    assert spans[0] == (0, 700 * HOP_LENGTH)
    assert spans[1][0] == 700 * HOP_LENGTH


def test_no_segment_exceeds_the_maximum_on_a_long_loud_signal():
    audio = tone(330, 95.0)
    spans = rms_vad(audio)
    assert len(spans) >= 4
    assert all(end - start <= 30 * SR for start, end in spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # hard cuts leave no gap


def test_silent_audio_has_no_speech():
    assert rms_vad(np.zeros(5 * SR, np.float32)) == []


def test_packing_is_greedy_and_respects_the_window():
    spans = [(0, 10 * SR), (12 * SR, 25 * SR), (26 * SR, 31 * SR), (40 * SR, 45 * SR), (80 * SR, 90 * SR)]
    assert pack_spans(spans, 30 * SR) == [(0, 25 * SR), (26 * SR, 45 * SR), (80 * SR, 90 * SR)]


def test_packing_random_spans_covers_every_span_in_order():
    rng = np.random.default_rng(5)
    for _ in range(50):
        edges = np.sort(rng.choice(200 * SR, size=2 * rng.integers(1, 15), replace=False))
        spans = [(int(a), int(b)) for a, b in edges.reshape(-1, 2) if b - a <= 30 * SR]
        windows = pack_spans(spans, 30 * SR)
        for (start, _), (_, next_end) in zip(windows, windows[1:]):
            assert next_end - start > 30 * SR  # the next span would not have fitted: greedy
        assert all(end - start <= 30 * SR for start, end in windows)
        assert sum(any(ws <= s and e <= we for ws, we in windows) for s, e in spans) == len(spans)


def test_silero_vad_finds_speech_between_silences():
    speech = speak("the quick brown fox jumps over the lazy dog")
    audio = np.concatenate([np.zeros(2 * SR, np.float32), speech, np.zeros(3 * SR, np.float32)])
    spans = silero_vad(audio)
    assert spans, "no speech found"
    assert abs(spans[0][0] - 2 * SR) < 0.4 * SR
    assert abs(spans[-1][1] - (2 * SR + len(speech))) < 0.5 * SR
