"""Lyrics files: exact renderings of each format, round trips, and import of LRC/CSV line timings."""

import pytest

from engine.errors import BadInputError
from engine.tasks.lyrics import LyricLine, Lyrics, Word
from engine.tasks.lyrics.formats import (cue_text, parse_lrc, read_line_timings, read_lyrics, to_lrc, to_srt, to_txt,
                                         to_vtt, write_lyrics)
from tests.conftest import JAMENDO

LYRICS = Lyrics(
    [LyricLine(1.5, 3.25, "Hello bright world",
               [Word(1.5, 1.9, "Hello", 0.9), Word(2.0, 2.6, "bright", 0.8), Word(2.7, 3.25, "world", 0.95)]),
     LyricLine(63.04, 65.5, "second line", [Word(63.04, 64.0, "second", 0.7), Word(64.1, 65.5, "line", 0.6)])],
    language="en", model_id="whisper-base", method="rms-vad on mix")


def test_lrc_line_and_enhanced_word_tags():
    assert to_lrc(LYRICS, word_tags=False) == \
        "[re:Vocalis]\n[la:en]\n[00:01.50]Hello bright world\n[01:03.04]second line\n"
    assert to_lrc(LYRICS).splitlines()[2] == "[00:01.50]<00:01.50>Hello <00:02.00>bright <00:02.70>world <00:03.25>"


def test_srt_and_vtt():
    assert to_srt(LYRICS) == ("1\n00:00:01,500 --> 00:00:03,250\nHello bright world\n\n"
                              "2\n00:01:03,040 --> 00:01:05,500\nsecond line\n")
    assert to_vtt(LYRICS) == ("WEBVTT\n\n00:00:01.500 --> 00:00:03.250\nHello bright world\n\n"
                              "00:01:03.040 --> 00:01:05.500\nsecond line\n")
    assert to_txt(LYRICS) == "Hello bright world\nsecond line\n"


def test_enhanced_lrc_round_trip_keeps_lines_and_word_starts():
    back = parse_lrc(to_lrc(LYRICS))
    assert back.language == "en"
    assert [(l.start, l.end, l.text) for l in back.lines] == [(1.5, 3.25, "Hello bright world"),
                                                              (63.04, 65.5, "second line")]
    assert [(w.start, w.text) for w in back.lines[0].words] == [(1.5, "Hello"), (2.0, "bright"), (2.7, "world")]
    assert back.lines[0].words[-1].end == 3.25


def test_plain_lrc_lines_end_where_the_next_begins():
    back = parse_lrc("[ti:song]\n[00:10.00]one\n[00:12.50][00:20.00]chorus\n")
    assert [(l.start, l.end, l.text) for l in back.lines] == [(10.0, 12.5, "one"), (12.5, 20.0, "chorus"),
                                                              (20.0, 23.0, "chorus")]


def test_every_format_is_written_and_json_round_trips(tmp_path):
    paths = write_lyrics(LYRICS, tmp_path / "song", ["lrc", "srt", "vtt", "txt", "json"])
    assert [p.name for p in paths] == ["song.lrc", "song.srt", "song.vtt", "song.txt", "song.json"]
    assert read_lyrics(tmp_path / "song.json") == LYRICS
    assert not list(tmp_path.glob("*partial*"))


def test_jamendo_line_csv_is_read():
    timings = read_line_timings(JAMENDO / "lines" / "Fantasma_-_Los_Rombos.csv")
    assert timings[0] == pytest.approx((17.632653061, 21.420408163))
    assert all(start < end for start, end in timings)


def test_bad_lyrics_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(BadInputError, match="broken.json"):
        read_lyrics(bad)
    with pytest.raises(BadInputError, match="unsupported"):
        read_lyrics(tmp_path / "lyrics.docx")
    empty = tmp_path / "empty.lrc"
    empty.write_text("[ti:nothing]\n")
    with pytest.raises(BadInputError, match="no timed lines"):
        read_lyrics(empty)
    with pytest.raises(BadInputError, match="unknown lyrics format"):
        write_lyrics(LYRICS, tmp_path / "x", ["doc"])


FRENCH = Lyrics([LyricLine(0.5, 2.0, "J'en veux", [Word(0.5, 0.8, "J", 0.9), Word(0.8, 1.2, "'en", 0.9, False),
                                                   Word(1.3, 2.0, "veux", 0.9)])], language="fr")


def test_words_keep_whisper_spacing_through_lrc_and_json(tmp_path):
    assert to_lrc(FRENCH).splitlines()[2] == "[00:00.50]<00:00.50>J<00:00.80>'en <00:01.30>veux <00:02.00>"
    back = parse_lrc(to_lrc(FRENCH))
    assert back.lines[0].text == "J'en veux"
    assert [(w.text, w.space_before) for w in back.lines[0].words] == [("J", True), ("'en", False), ("veux", True)]
    write_lyrics(FRENCH, tmp_path / "fr", ["json"])
    assert read_lyrics(tmp_path / "fr.json") == FRENCH


def test_long_lines_become_two_line_subtitle_cues():
    long_text = "je marche seul dans la rue et je pense à toi encore ce soir"  # 58 characters
    assert cue_text(long_text) == "je marche seul dans la rue et\nje pense à toi encore ce soir"
    assert cue_text("short line") == "short line"
    assert cue_text("我爱你" * 20) == "我爱你" * 20  # no space to break at
    srt = to_srt(Lyrics([LyricLine(0.0, 5.0, long_text)]))
    assert all(len(line) <= 42 for line in srt.splitlines())
