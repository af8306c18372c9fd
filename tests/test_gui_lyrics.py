"""The Lyrics panel (pytest-qt, offscreen): lines from a Lyrics value, karaoke highlight, click to seek,
edits with undo/redo, re-transcribed ranges, export; and the settings form built from LyricsSettings."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from engine.tasks.lyrics import LyricLine, Lyrics, LyricsSettings, Segmentation, Word
from engine.tasks.lyrics.formats import read_lyrics
from gui.lyrics_panel import END, START, TEXT, format_time, parse_time
from gui.settings_form import SettingsForm
from tests.gui_helpers import lyrics_panel

SONG = Lyrics([
    LyricLine(1.0, 3.5, "Hello darkness my old friend",
              [Word(1.0, 1.6, "Hello"), Word(1.6, 2.4, "darkness"), Word(2.4, 2.8, "my"), Word(2.8, 3.0, "old"),
               Word(3.0, 3.5, "friend")]),
    LyricLine(4.0, 6.25, "I've come to talk with you again"),
    LyricLine(8.5, 10.0, "Because a vision softly creeping"),
], language="en", model_id="whisper-base", method="rms-vad on mix")


@pytest.fixture
def panel(qtbot):
    return lyrics_panel(qtbot, SONG)


def cell(panel, row, column):
    return panel.model.index(row, column).data()


def test_time_text_round_trips():
    assert format_time(65.437) == "1:05.44"
    assert parse_time("1:05.44") == pytest.approx(65.44)
    assert parse_time("1:01:05.5") == pytest.approx(3665.5)
    assert parse_time("12.5") == 12.5
    with pytest.raises(ValueError):
        parse_time("soon")


def test_panel_shows_the_lines_with_their_times(panel):
    assert panel.model.rowCount() == 3
    assert [cell(panel, 0, c) for c in (START, END, TEXT)] == ["0:01.00", "0:03.50", "Hello darkness my old friend"]
    assert cell(panel, 2, TEXT) == "Because a vision softly creeping"
    assert panel.lyrics.language == "en" and panel.lyrics.method == "rms-vad on mix"


def test_highlight_follows_the_play_position(panel):
    background = Qt.ItemDataRole.BackgroundRole
    expected = {0.5: None, 1.0: 0, 3.49: 0, 3.7: None, 5.0: 1, 9.9: 2, 10.0: None}
    for seconds, row in expected.items():
        panel.set_position(seconds)
        assert panel.model.current_row == row, seconds
        highlighted = [r for r in range(3) if panel.model.index(r, TEXT).data(background) is not None]
        assert highlighted == ([] if row is None else [row])


def test_clicking_a_line_seeks_to_its_start(panel, qtbot):
    rect = panel.table.visualRect(panel.model.index(1, TEXT))
    with qtbot.waitSignal(panel.seekRequested) as sought:
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert sought.args == [4.0]


def test_edit_text_and_times_with_undo_and_redo(panel):
    stack = panel.undo_stack
    assert panel.model.setData(panel.model.index(0, TEXT), "Hello sadness my old friend")
    assert cell(panel, 0, TEXT) == "Hello sadness my old friend"
    assert panel.lines[0].words == []  # Whisper's word times no longer describe an edited line
    assert panel.model.setData(panel.model.index(2, START), "0:07.25")
    assert panel.lines[2].start == pytest.approx(7.25)
    assert not panel.model.setData(panel.model.index(1, END), "0:03.00")  # would end before it starts
    assert not panel.model.setData(panel.model.index(1, END), "later")
    assert stack.count() == 3  # the transcription and two edits

    stack.undo()
    assert panel.lines[2].start == 8.5
    stack.undo()
    assert panel.lines[0] == SONG.lines[0]
    stack.redo()
    assert cell(panel, 0, TEXT) == "Hello sadness my old friend"
    stack.redo()
    assert cell(panel, 2, START) == "0:07.25"


def test_edited_start_keeps_lines_in_time_order(panel):
    assert panel.model.setData(panel.model.index(2, START), "0:00.50")
    assert [line.start for line in panel.lines] == [0.5, 1.0, 4.0]
    assert cell(panel, 0, TEXT) == "Because a vision softly creeping"


def test_retranscribed_selection_replaces_only_the_lines_inside_it(panel):
    new = [LyricLine(3.9, 5.0, "I have come"), LyricLine(5.0, 6.5, "to talk with you again")]
    panel.replace_range(3.8, 7.0, new)
    assert [line.text for line in panel.lines] == ["Hello darkness my old friend", "I have come",
                                                   "to talk with you again", "Because a vision softly creeping"]
    panel.undo_stack.undo()
    assert panel.lines == SONG.lines


def test_lines_changed_drives_the_waveform_regions(panel, qtbot):
    with qtbot.waitSignal(panel.linesChanged) as changed:
        panel.undo_stack.undo()
    assert changed.args == [[]]
    with qtbot.waitSignal(panel.linesChanged) as changed:
        panel.undo_stack.redo()
    assert [(line.start, line.end) for line in changed.args[0]] == [(1.0, 3.5), (4.0, 6.25), (8.5, 10.0)]


def test_export_writes_a_valid_lrc(panel, tmp_path):
    written = panel.export(tmp_path / "song.lrc", "lrc")
    assert written == tmp_path / "song.lrc"
    text = written.read_text(encoding="utf-8")
    assert "[00:04.00]I've come to talk with you again" in text
    back = read_lyrics(written)
    assert [line.text for line in back.lines] == [line.text for line in SONG.lines]
    assert [line.start for line in back.lines] == pytest.approx([1.0, 4.0, 8.5])
    assert [w.text for w in back.lines[0].words] == ["Hello", "darkness", "my", "old", "friend"]


def test_export_json_keeps_words(panel, tmp_path):
    data = json.loads(panel.export(tmp_path / "song", "json").read_text(encoding="utf-8"))
    assert data["lines"][0]["words"][1]["text"] == "darkness"


def test_settings_form_is_built_from_the_dataclass_and_returns_edited_settings(qtbot):
    form = SettingsForm(LyricsSettings())
    qtbot.addWidget(form)
    form.editor("beam_size").setValue(3)
    language = form.editor("language")
    language.setCurrentIndex(language.findData("fr"))
    assert language.currentText() == "French (fr)"
    segmentation = form.editor("segmentation")
    segmentation.setCurrentIndex(segmentation.findText("silero-vad"))
    form.editor("word_timestamps").setChecked(False)
    form.editor("temperatures").setText("0.0, 0.5")
    settings = form.settings()
    assert settings == LyricsSettings(beam_size=3, language="fr", segmentation=Segmentation.SILERO_VAD,
                                      word_timestamps=False, temperatures=[0.0, 0.5])
    assert form.editor("vad_onset").toolTip().startswith("RMS-VAD")


def test_settings_form_reports_values_the_settings_refuse(qtbot):
    from engine.errors import BadInputError

    form = SettingsForm(LyricsSettings())
    qtbot.addWidget(form)
    form.editor("format").boxes["lrc"].setChecked(False)
    form.editor("format").boxes["txt"].setChecked(False)
    with pytest.raises(BadInputError, match="none given"):
        form.settings()


# --- in the main window -------------------------------------------------------------------------------

@pytest.fixture
def window(qtbot):
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    return window


def lyrics_task(window):
    from gui.tasks.lyrics import LyricsTask

    return window.findChild(LyricsTask)


def test_window_has_the_action_and_the_panel(window):
    from PySide6.QtWidgets import QDockWidget

    assert "Lyrics" in [dock.windowTitle() for dock in window.findChildren(QDockWidget)]
    assert lyrics_task(window).action.text() == "Transcribe lyrics…"


def test_imported_timings_show_as_regions_follow_playback_and_seek(window, tmp_path, qtbot):
    import numpy as np

    from engine.audio.clip import Clip

    track = window.add_track(Clip(np.zeros((1, 12 * 16000), dtype=np.float32), 16000, name="song"))
    timings = tmp_path / "song.csv"
    timings.write_text("start_time,end_time,lyrics_line\n1.0,3.5,first line\n4.0,6.25,second line\n",
                       encoding="utf-8")
    task = lyrics_task(window)
    task.import_timings(timings)
    assert task.settings.segmentation is Segmentation.CONCATENATION
    assert [line.text for line in task.panel.lines] == ["first line", "second line"]
    assert track.views[0].regions == [(1.0, 3.5, "first line"), (4.0, 6.25, "second line")]

    window.seek(5.0)  # what playback does as it moves: position_changed drives the highlight
    assert task.panel.model.current_row == 1
    rect = task.panel.table.visualRect(task.panel.model.index(0, TEXT))
    qtbot.mouseClick(task.panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.track_area.axis.cursor_s == pytest.approx(1.0)
    assert task.panel.model.current_row == 0

    window.undo_stack.undo()
    assert task.panel.lines == [] and track.views[0].regions == []


@pytest.mark.slow
def test_transcribe_a_song_with_its_vocal_stem_fills_the_panel(window, qtbot, tmp_path):
    """End to end with the embedded Whisper base: two espeak-ng lines (the vocal stem, given as a file)
    over a sustained chord, transcribed from 1 s on; the lines appear in track time, the stem can be
    added as a track, and re-transcribing the second line's span replaces only that line."""
    import jiwer
    import numpy as np
    import soundfile as sf

    from engine.audio.clip import Clip
    from tests.synth import speak, tone

    rate = 16000
    first = speak("the sun is shining on the river", sample_rate=rate)
    second = speak("we are singing in the morning light", sample_rate=rate)
    pause = np.zeros(int(1.5 * rate), dtype=np.float32)
    vocals = np.concatenate([pause, first, pause, second, pause])
    seconds = len(vocals) / rate
    chord = sum(tone(f, seconds, rate, 0.05) for f in (220.0, 277.2, 329.6))[: len(vocals)]
    stem = tmp_path / "vocals.wav"
    sf.write(stem, vocals, rate)
    track = window.add_track(Clip((vocals + chord)[None, :], rate, name="song"))
    window.track_area.selection.set(1.0, seconds)
    task = lyrics_task(window)
    settings = LyricsSettings(language="en", beam_size=1, best_of=1, batch_size=2, separator=f"stem:{stem}")
    task.transcribe(settings)
    qtbot.waitUntil(lambda: task.panel.model.rowCount() > 0, timeout=180_000)

    lines = task.panel.lines
    text = jiwer.RemovePunctuation()(" ".join(line.text for line in lines).lower())
    assert jiwer.wer("the sun is shining on the river we are singing in the morning light", text) < 0.3, text
    second_start = (2 * len(pause) + len(first)) / rate
    assert lines[0].start == pytest.approx(1.5, abs=0.5)  # track time, not selection time
    assert any(abs(line.start - second_start) < 0.5 for line in lines), [(l.start, l.text) for l in lines]
    assert track.views[0].regions[0][0] == lines[0].start

    assert task.panel.vocals_button.isEnabled()
    task.panel.vocals_button.click()
    added = window.current_track()
    assert added is not track and added.clip.duration == pytest.approx(seconds - 1.0, abs=1e-3)

    window.track_area.set_current(track)
    window.track_area.selection.set(second_start - 0.5, seconds)
    before = [line for line in lines if line.start < second_start - 0.5]
    task.retranscribe_selection()
    qtbot.waitUntil(lambda: task.panel.undo_stack.undoText() == "Re-transcribe selection", timeout=180_000)
    after = task.panel.lines
    assert after[: len(before)] == before
    assert "morning" in " ".join(line.text for line in after[len(before):]).lower()


def test_dialog_offers_the_other_open_tracks_as_vocals(window, qtbot):
    import numpy as np

    from engine.audio.clip import Clip
    from gui.tasks.lyrics import TranscribeDialog

    silence = np.zeros((1, 16000), dtype=np.float32)
    vocals = window.add_track(Clip(silence, 16000, name="lead vocals"))
    window.add_track(Clip(silence, 16000, name="mix"))
    dialog = TranscribeDialog(LyricsSettings(separator="hdemucs"), [vocals], window)
    qtbot.addWidget(dialog)
    separator = dialog.form.editor("separator")
    choices = [separator.itemText(i) for i in range(separator.count())]
    assert choices == ["none: segment the mix", "hdemucs", "the track “lead vocals”", "a vocal stem file…"]
    assert separator.currentText() == "hdemucs" and dialog.stem_track is None
    separator.setCurrentIndex(separator.findText("the track “lead vocals”"))
    assert dialog.stem_track is vocals
    assert dialog.form.settings().separator == "hdemucs"  # the setting stays; the track is used instead
    again = TranscribeDialog(LyricsSettings(separator="hdemucs"), [vocals], window, stem_track=vocals)
    qtbot.addWidget(again)
    assert again.stem_track is vocals  # the next dialog remembers the vocal track
    assert again.form.editor("separator").count() == len(choices)
    with pytest.raises(KeyError):
        dialog.form.editor("format")  # output files are not the panel's business


@pytest.mark.slow
def test_transcribe_with_another_track_as_the_vocals(window, qtbot):
    """The vocals come from an open track (no separator, no file): its speech decides the windows."""
    import numpy as np

    from engine.audio.clip import Clip
    from tests.synth import speak, tone

    rate = 16000
    pause = np.zeros(rate, dtype=np.float32)
    vocals = np.concatenate([pause, speak("hold on to the dream tonight", sample_rate=rate), pause])
    chord = sum(tone(f, len(vocals) / rate, rate, 0.05) for f in (196.0, 246.9))[: len(vocals)]
    vocal_track = window.add_track(Clip(vocals[None, :], rate, name="vocals"))
    window.add_track(Clip((vocals + chord)[None, :], rate, name="mix"))
    task = lyrics_task(window)
    task.stem_track = vocal_track
    task.transcribe(LyricsSettings(language="en", beam_size=1, best_of=1))
    qtbot.waitUntil(lambda: task.panel.model.rowCount() > 0, timeout=180_000)
    assert "dream" in " ".join(line.text for line in task.panel.lines).lower()
    assert task.panel.lines[0].start == pytest.approx(1.0, abs=0.5)
    assert task.vocals.duration == pytest.approx(len(vocals) / rate)
    assert not task.panel.vocals_button.isEnabled()  # the vocals are already a track


def test_editing_in_the_table_by_keyboard_is_one_undo_step(panel, qtbot):
    from PySide6.QtWidgets import QLineEdit

    index = panel.model.index(1, TEXT)
    panel.table.setCurrentIndex(index)
    panel.table.edit(index)
    editor = panel.table.findChild(QLineEdit)
    assert editor is not None and editor.text() == "I've come to talk with you again"
    editor.setText("I've come to sing with you again")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: cell(panel, 1, TEXT) == "I've come to sing with you again")
    assert panel.undo_stack.undoText() == "Edit lyric line 2"
    panel.undo_stack.undo()
    assert cell(panel, 1, TEXT) == "I've come to talk with you again"
