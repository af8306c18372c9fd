"""The five JamendoLyrics songs (fr, es, de) through Whisper's native long-form and the default method with
the embedded Whisper base, run as bench/lyrics.py runs them (interleaved per song).

What is asserted holds with margin on any CPU rather than matching one machine's digits: the default is
at least as accurate as native on the corpus and no song is more than 5 points worse (the issue's target),
and each method stays within a band around the WER recorded in the README. Decoding is deterministic on
one machine (the sampling fallback runs on a freshly seeded model copy; CTranslate2's int8 kernels gave
the same tokens for 1 and 2 threads, any batch size and windows decoded side by side), so the band only has to absorb what another
CPU's instruction set may change: a few beam-search ties. Times are printed, not asserted."""

import dataclasses

import pytest

from bench.lyrics import NATIVE, load_songs, read_clip, run_interleaved, vocalis_method, evaluate
from engine.models.loading import load_catalog_or_local
from engine.tasks.lyrics import LyricsSettings, Segmentation
from tests.conftest import JAMENDO

DEFAULT = "auto (default)"
# Corpus WER measured by bench/lyrics.py (README, "Lyrics transcription").
MEASURED_WER = {NATIVE: 0.6741, DEFAULT: 0.5075}
BAND = 0.04
SONG_MARGIN = 0.05


@pytest.mark.slow
def test_default_is_at_least_as_accurate_as_native_long_form():
    songs = load_songs(JAMENDO)
    clips = {song["name"]: read_clip(song["audio"]) for song in songs}
    base = LyricsSettings(device="cpu")
    load_catalog_or_local("whisper-ct2", base.model, device=base.device, compute_type=base.compute_type)
    methods = {NATIVE: vocalis_method(dataclasses.replace(base, segmentation=Segmentation.NATIVE)),
               DEFAULT: vocalis_method(base)}
    results = run_interleaved(methods, songs, clips, repeats=1)
    reports = evaluate(results, songs)
    wer = {name: report.corpus.metrics["WER"] for name, report in reports.items()}
    for name in methods:
        print(f"{name}: WER {100 * wer[name]:.2f} %, {sum(map(sum, results[name]['seconds'])):.1f} s")
        assert abs(wer[name] - MEASURED_WER[name]) <= BAND, name
    assert wer[DEFAULT] <= wer[NATIVE]
    for native_row, default_row in zip(reports[NATIVE].songs, reports[DEFAULT].songs):
        assert default_row.metrics["WER"] <= native_row.metrics["WER"] + SONG_MARGIN, default_row.name
