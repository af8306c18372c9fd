"""Lyrics evaluation with alt-eval: known error counts, folder pairing, the CLI."""

import json
import math

import pytest

from engine.cli import main
from engine.errors import BadInputError
from engine.tasks.lyrics import LyricLine, Lyrics
from engine.tasks.lyrics.formats import write_lyrics
from engine.tasks.lyrics_eval import evaluate_folders, evaluate_texts


def test_wer_counts_per_song_and_for_the_corpus():
    report = evaluate_texts(["a", "b"], ["one two three four", "five six"], ["one two tree four", "five six"],
                            ["en", "en"])
    assert report.songs[0].metrics["WER"] == pytest.approx(0.25)
    assert report.songs[1].metrics["WER"] == 0.0
    assert report.corpus.metrics["WER"] == pytest.approx(1 / 6)  # 1 error in 6 reference words
    assert "corpus" in report.table().splitlines()[-1]


def test_case_and_line_breaks_are_scored():
    report = evaluate_texts(["s"], ["Hello world\nGood night"], ["hello world good night"], ["en"])
    metrics = report.songs[0].metrics
    assert metrics["WER"] == 0.0
    assert metrics["WER_case"] > 0.0      # "hello" and "good" lost their capitals
    assert metrics["R_line"] == 0.0       # the line break was missed


def test_folders_pair_hypotheses_of_any_format_with_txt_references(tmp_path):
    refs, hyps = tmp_path / "refs", tmp_path / "hyps"
    refs.mkdir()
    (refs / "song1.txt").write_text("la la land\nsing along\n")
    (refs / "song2.txt").write_text("only reference\n")
    write_lyrics(Lyrics([LyricLine(0.0, 1.0, "la la land"), LyricLine(1.0, 2.0, "sing a song")]), hyps / "song1",
                 ["lrc"])
    report = evaluate_folders(hyps, refs)
    assert [row.name for row in report.songs] == ["song1"]
    assert report.corpus.metrics["WER"] == pytest.approx(2 / 5)  # "along" → "a song": 1 sub + 1 ins


def test_cli_prints_json_without_nan(tmp_path, capsys):
    refs, hyps = tmp_path / "refs", tmp_path / "hyps"
    refs.mkdir()
    hyps.mkdir()
    (refs / "x.txt").write_text("one two\n")
    (hyps / "x.txt").write_text("one two\n")
    assert main(["lyrics-eval", "--hyp", str(hyps), "--ref", str(refs), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["corpus"]["WER"] == 0.0
    assert document["corpus"]["F1_pare"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in document["corpus"].values())


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(BadInputError, match="nowhere"):
        evaluate_folders(tmp_path / "nowhere", tmp_path)
