"""The lyrics task's checks and helpers that need no model: typed errors before any work, snapping line
starts to the voice, settings, the file-task registration and the CLI wiring."""

import pytest

from engine.audio.clip import Clip
from engine.cli import build_parser
from engine.errors import BadInputError, MissingModelError
from engine.jobs import CancelToken, null_progress
from engine.models.loading import load_catalog_or_local
from engine.models.whisper_ct2.loader import compute_type_for
from engine.settings import from_dict, to_dict
from engine.tasks import registry
from engine.tasks.lyrics import LyricLine, LyricsSettings, Segmentation, TranscribeFrom, Word, transcribe_lyrics
from engine.tasks.separators import available_separators, separate_vocals
from engine.tasks.lyrics.lines import lyric_lines, snap_to_speech, split_line
from tests.synth import tone

CLIP = Clip(tone(220, 2.0), 16000, name="beep")


def test_words_starting_in_a_silence_move_to_where_the_voice_resumes():
    line = LyricLine(4.0, 7.0, "we sing", [Word(4.0, 6.6, "we"), Word(6.6, 7.0, "sing")])
    snapped = snap_to_speech(line, [(0.8, 3.1), (6.3, 8.6)])
    assert snapped.start == 6.3
    assert [(w.start, w.end) for w in snapped.words] == [(6.3, 6.6), (6.6, 7.0)]


def test_words_inside_speech_or_before_no_later_voice_stay():
    line = LyricLine(1.0, 2.0, "la", [Word(1.0, 2.0, "la")])
    assert snap_to_speech(line, [(0.5, 3.0)]) == line
    assert snap_to_speech(line, [(5.0, 6.0)]) == line  # the next voice starts after the word ends
    assert snap_to_speech(line, []) == line


def words(*timed):
    return [Word(start, end, text) for start, end, text in timed]


def test_a_window_is_broken_into_lines_at_silences_sentence_ends_and_long_pauses():
    line = LyricLine(0.0, 12.0, "la", words((0.0, 0.5, "one"), (0.5, 1.0, "two"), (3.0, 3.5, "three"),
                                             (3.5, 4.0, "four."), (4.1, 4.5, "five"), (6.0, 6.5, "six")))
    lines = split_line(line, [(1.2, 2.8)])
    assert [(l.start, l.end, l.text) for l in lines] == [(0.0, 1.0, "one two"), (3.0, 4.0, "three four."),
                                                          (4.1, 4.5, "five"), (6.0, 6.5, "six")]
    assert split_line(LyricLine(0.0, 1.0, "no words"), [(0.2, 0.4)]) == [LyricLine(0.0, 1.0, "no words")]


def test_a_long_line_is_halved_at_its_longest_pause():
    sung = words(*[(t, t + 0.4, f"w{k}") for k, t in enumerate([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5,
                                                                  4.6, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0])])
    lines = split_line(LyricLine(0.0, 8.4, "sung", sung), [])
    assert [(l.start, l.end) for l in lines] == [(0.0, 3.9), (4.6, 8.4)]  # the 0.7 s pause after w7


class FakeSegment:
    """The fields of faster-whisper's Segment that lyric_lines reads (its real type needs a model run)."""

    def __init__(self, start, end, text, words=None):
        self.start, self.end, self.text, self.words = start, end, text, words


class FakeWord:
    def __init__(self, start, end, word):
        self.start, self.end, self.word, self.probability = start, end, word, 0.9


def test_words_are_joined_with_whisper_spacing():
    french = [FakeWord(0.0, 0.3, " J"), FakeWord(0.3, 0.6, "'en"), FakeWord(0.6, 1.0, " ai"),
              FakeWord(1.0, 1.4, " marre,"), FakeWord(1.5, 1.9, " c'est"), FakeWord(1.9, 2.5, " l'intérêt")]
    [line] = lyric_lines([FakeSegment(0.0, 2.5, " J'en ai marre, c'est l'intérêt", french)], [])
    assert line.text == "J'en ai marre, c'est l'intérêt"
    chinese = [FakeWord(0.0, 0.4, "我"), FakeWord(0.4, 0.8, "爱"), FakeWord(0.8, 1.2, "你"), FakeWord(3.0, 3.5, "们")]
    lines = lyric_lines([FakeSegment(0.0, 3.5, "我爱你们", chinese)], [(0.0, 1.3), (2.9, 3.6)])
    assert [l.text for l in lines] == ["我爱你", "们"]  # split at the silence, never spaced


def test_lines_fit_a_subtitle_cue():
    # 24 words of 5 characters in 6 s: one unbroken phrase, but 143 characters is more than two cue lines
    sung = words(*[(0.25 * k, 0.25 * k + 0.2, f"mot{k:02d}") for k in range(24)])
    lines = split_line(LyricLine(0.0, 6.0, "sung", sung), [])
    assert len(lines) > 1
    assert all(len(l.text) <= 84 and l.end - l.start <= 7.0 for l in lines)
    assert " ".join(l.text for l in lines) == " ".join(w.text for w in sung)


def test_punctuation_only_segments_are_not_lines():
    lines = lyric_lines([FakeSegment(0.0, 5.0, " ..."), FakeSegment(5.0, 8.0, " la la")], [])
    assert [l.text for l in lines] == ["la la"]


def test_a_selection_transcript_is_shifted_back_into_track_time():
    line = LyricLine(1.0, 2.0, "la", [Word(1.0, 2.0, "la", 0.5)]).shifted(30.0)
    assert line == LyricLine(31.0, 32.0, "la", [Word(31.0, 32.0, "la", 0.5)])


def test_concatenation_without_line_timings_is_a_clear_error():
    with pytest.raises(BadInputError, match="needs line timings"):
        transcribe_lyrics(CLIP, LyricsSettings(segmentation=Segmentation.CONCATENATION))


def test_transcribing_vocals_needs_a_separator():
    with pytest.raises(BadInputError, match="needs a separator"):
        transcribe_lyrics(CLIP, LyricsSettings(transcribe_from=TranscribeFrom.VOCALS))


def test_empty_audio_is_rejected():
    with pytest.raises(BadInputError, match="empty"):
        transcribe_lyrics(Clip([[]], 16000), LyricsSettings())


def test_unknown_models_and_incomplete_model_folders_are_clear_errors(tmp_path):
    with pytest.raises(MissingModelError, match="unknown model 'whisper-huge'"):
        load_catalog_or_local("whisper-ct2", "whisper-huge")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(MissingModelError, match="missing model.bin"):
        load_catalog_or_local("whisper-ct2", str(tmp_path))


def test_compute_type_follows_the_device():
    assert compute_type_for("cpu", "auto") == "int8"
    assert compute_type_for("cuda", "auto") == "float16"
    assert compute_type_for("cuda", "bfloat16") == "bfloat16"
    assert compute_type_for("cpu", "auto", {"compute_type_cpu": "int8_float32"}) == "int8_float32"


def test_separator_names_are_checked(tmp_path):
    assert available_separators()[0] == "none"
    assert separate_vocals("none", CLIP, null_progress(), CancelToken()) is None
    with pytest.raises(BadInputError, match="unknown vocal separator 'magic'"):
        separate_vocals("magic", CLIP, null_progress(), CancelToken())
    with pytest.raises(BadInputError, match="vocal stem file not found"):
        separate_vocals(f"stem:{tmp_path / 'nope.wav'}", CLIP, null_progress(), CancelToken())


def test_settings_reject_unknown_formats_and_survive_a_manifest():
    with pytest.raises(ValueError, match="doc"):
        LyricsSettings(format=["lrc", "doc"])
    settings = LyricsSettings(segmentation=Segmentation.SILERO_VAD, format=["srt"], language="fr")
    assert from_dict(LyricsSettings, to_dict(settings)) == settings


def test_lyrics_is_a_file_task_with_cli_flags(tmp_path):
    task = registry.get("lyrics")
    assert task.output_names(tmp_path / "song", LyricsSettings(format=["lrc", "json"])) == \
        [tmp_path / "song.lrc", tmp_path / "song.json"]
    args = build_parser().parse_args(["lyrics", "a.mp3", "--out", str(tmp_path), "--separator", "none",
                                      "--model", "whisper-base", "--format", "lrc,srt", "--language", "fr",
                                      "--segmentation", "silero-vad"])
    assert (args.format, args.language, args.segmentation) == (["lrc", "srt"], "fr", Segmentation.SILERO_VAD)
