"""The three JamendoLyrics songs (fr, es) through native long-form and the VAD-segmented paths with the
embedded Whisper base: WER must not regress from the numbers measured by bench/lyrics.py (README,
"Lyrics transcription"). Times are printed, not asserted: speed is bench/lyrics.py's job."""

import dataclasses

import pytest

from bench.lyrics import load_songs, read_clip, run_method
from engine.models.loading import load_catalog_or_local
from engine.tasks.lyrics import LyricsSettings, Segmentation
from tests.conftest import JAMENDO

# Corpus WER measured with this code (seeded temperature fallback, so runs repeat); 2 points of margin
# for CTranslate2 versions and CPU instruction sets that change a few beam-search ties.
MEASURED_WER = {"native": 0.6132, "rms-vad on mix": 0.5972, "auto (silero-vad on mix)": 0.5962}
WER_MARGIN = 0.02


@pytest.mark.slow
def test_real_songs_do_not_regress():
    songs = load_songs(JAMENDO)
    clips = {song["name"]: read_clip(song["audio"]) for song in songs}
    base = LyricsSettings(device="cpu")
    load_catalog_or_local("whisper-ct2", base.model, device=base.device, compute_type=base.compute_type)
    results = {label: run_method(label, dataclasses.replace(base, segmentation=method), songs, clips, None)
               for label, method in [("native", Segmentation.NATIVE), ("rms-vad on mix", Segmentation.RMS_VAD),
                                     ("auto (silero-vad on mix)", Segmentation.AUTO)]}
    for label, result in results.items():
        wer = result["report"].corpus.metrics["WER"]
        print(f"{label}: WER {100 * wer:.2f} %, {result['seconds']:.1f} s")
        assert wer <= MEASURED_WER[label] + WER_MARGIN, label
