"""Never lose work: the Save / Discard / Cancel question on quit and on closing a track, closing as an
undoable step, the project round trip, autosave, and recovery after the app is killed mid-edit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine import paths, project
from engine.audio import dsp, io
from engine.audio.clip import Clip
from gui import dialogs, edits
from gui import project as project_ui
from engine.tasks.lyrics import LyricLine, Word
from gui.main_window import MainWindow
from gui.tasks.lyrics import LyricsTask
from tests.gui_helpers import open_and_wait
from tests.synth import tone

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RATE = 16000
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def song_path(tmp_path):
    path = tmp_path / "song.wav"
    sf.write(path, tone(440, 1.0, RATE, 0.4), RATE, subtype="FLOAT")
    return path


@pytest.fixture
def answers(monkeypatch):
    """Record each Save / Discard / Cancel question and answer from a queue (then Discard, so that the
    window closes at teardown)."""
    asked: list[str] = []
    queue: list[project_ui.Answer] = []

    def ask(_parent, _title, text):
        asked.append(text)
        return queue.pop(0) if queue else project_ui.Answer.DISCARD

    monkeypatch.setattr(project_ui, "ask_save_discard_cancel", ask)
    return asked, queue


def edit_and_wait(qtbot, window, operation, label, *args):
    before = window.undo_stack.count()
    window.apply_edit(operation, label, *args)
    qtbot.waitUntil(lambda: window.undo_stack.count() == before + 1, timeout=10000)


def generated(name: str, seconds: float = 0.5) -> Clip:
    return Clip(tone(220, seconds, RATE, 0.3)[None, :], RATE, name=name)


def test_quit_asks_about_every_unsaved_track_and_cancel_keeps_the_window(qtbot, window, song_path, answers):
    asked, queue = answers
    opened = open_and_wait(qtbot, window, song_path)
    assert not window.is_modified(opened)
    edit_and_wait(qtbot, window, edits.gain, "Gain", -6.0)
    window.add_track(generated("Recording 1"))
    window.add_track(generated("Speaker 1"))
    assert len(window.unsaved_tracks()) == 3
    queue[:] = [project_ui.Answer.DISCARD, project_ui.Answer.CANCEL]
    window.close()
    assert window.isVisible()  # cancelled: nothing closed
    assert len(asked) == 2 and "song" in asked[0] and "Recording 1" in asked[1]
    asked.clear()
    queue[:] = [project_ui.Answer.DISCARD] * 3
    window.close()
    assert not window.isVisible()
    assert len(asked) == 3 and "never been saved" in asked[2]


def test_save_in_the_quit_question_writes_the_track(qtbot, window, tmp_path, answers, monkeypatch):
    asked, queue = answers
    window.add_track(generated("Recording 1"))
    target = tmp_path / "kept.wav"
    monkeypatch.setattr(dialogs, "ask_export_path", lambda _parent, _suggested: (target, "FLOAT"))
    queue[:] = [project_ui.Answer.SAVE]
    window.close()
    assert not window.isVisible()
    saved = io.load(target)
    np.testing.assert_array_equal(saved.samples, window.tracks()[0].clip.samples)


def test_a_saved_track_quits_without_asking(qtbot, window, song_path, answers):
    asked, _queue = answers
    open_and_wait(qtbot, window, song_path)
    window.close()
    assert not window.isVisible() and asked == []


def test_closing_a_modified_track_asks_and_keeps_other_tracks_history(qtbot, window, song_path, answers):
    asked, queue = answers
    first = open_and_wait(qtbot, window, song_path)
    edit_and_wait(qtbot, window, edits.gain, "Gain", -6.0)
    edited_first = first.clip
    second = window.add_track(generated("Speaker 1"))
    queue[:] = [project_ui.Answer.CANCEL]
    assert window.close_track(second) is False
    assert second in window.tracks()
    queue[:] = [project_ui.Answer.DISCARD]
    assert window.close_track(second) is True
    assert window.tracks() == [first] and len(asked) == 2
    # The other track's edit is still undoable, and the close itself is undone first.
    window.undo_stack.undo()
    assert window.tracks() == [first, second]
    window.undo_stack.undo()
    assert first.clip is not edited_first and window.undo_stack.canRedo()
    window.undo_stack.redo()
    assert first.clip is edited_first


def test_project_round_trip(qtbot, window, song_path, tmp_path):
    opened = open_and_wait(qtbot, window, song_path)
    edit_and_wait(qtbot, window, edits.gain, "Gain", 9.0)  # above full scale: must come back exactly
    speaker = window.add_track(generated("Speaker 1", 0.7))
    lyrics = window.findChild(LyricsTask)
    lines = [LyricLine(0.1, 0.3, "hello", [Word(0.1, 0.3, "hello", 0.9)]), LyricLine(0.4, 0.6, "world")]
    lyrics.panel.show_lines(lines, owner=speaker)  # the lyrics task draws them as the track's regions
    window.track_area.set_current(opened)
    window.track_area.axis.set_range(0.2, 0.6)
    window.track_area.selection.set(0.25, 0.5)
    path = tmp_path / "session.vocalis"
    assert window.save_project(path)
    assert window.unsaved_tracks() == []

    other = MainWindow()
    qtbot.addWidget(other)
    job = other.open_project(path)
    qtbot.waitUntil(lambda: len(other.tracks()) == 2, timeout=10000)
    assert job.wait(5)
    for original, restored in zip(window.tracks(), other.tracks()):
        np.testing.assert_array_equal(restored.clip.samples, original.clip.samples)
        assert restored.clip.sample_rate == original.clip.sample_rate
        assert restored.clip.name == original.clip.name
    assert other.tracks()[1].waveform.regions == [(0.1, 0.3, "hello"), (0.4, 0.6, "world")]
    other_lyrics = other.findChild(LyricsTask)
    assert other_lyrics.panel.lyrics_of(other.tracks()[1]).lines == lines
    assert other_lyrics.panel.lyrics_of(other.tracks()[0]).lines == []
    assert other.current_track() is other.tracks()[0]
    assert other.track_area.axis.start_s == pytest.approx(0.2)
    assert other.track_area.axis.end_s == pytest.approx(0.6)
    assert other.current_selection() == pytest.approx((0.25, 0.5))
    assert other.unsaved_tracks() == [] and other.project_path == path


def test_a_damaged_project_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.vocalis"
    bad.write_text("not a zip")
    with pytest.raises(Exception, match="not a Vocalis project"):
        project.load_project(bad)


def test_autosave_writes_only_when_something_changed(qtbot, window, song_path):
    open_and_wait(qtbot, window, song_path)
    job = window.autosaver.save_now()
    assert job is not None and job.wait(10)
    qtbot.waitUntil(lambda: not window.autosaver.writing, timeout=5000)
    assert window.autosaver.save_now() is None  # nothing changed
    audio_files = sorted((window.autosaver.session.folder / "audio").iterdir())
    window.add_track(generated("Speaker 1"))
    job = window.autosaver.save_now()
    assert job is not None and job.wait(10)
    after = sorted((window.autosaver.session.folder / "audio").iterdir())
    assert len(after) == 2 and set(audio_files) < set(after)  # the unchanged track was not rewritten
    # A live session is never offered for recovery.
    assert project.orphaned_sessions() == []


DRIVER = r"""
import sys
from PySide6.QtCore import QTimer
from gui.app import create_app
from engine.tasks.lyrics import LyricLine, Word
from gui.main_window import MainWindow
from gui.tasks.lyrics import LyricsTask
from gui import edits

app = create_app()
window = MainWindow()
window.show()

def edit_once():
    if len(window.tracks()) == 1:
        QTimer.singleShot(0, lambda: window.apply_edit(edits.gain, "Gain +6 dB", 6.0))

window.track_area.tracks_changed.connect(edit_once)
window.open_file(sys.argv[1])
app.exec()
"""


def test_work_is_recovered_after_the_app_is_killed_mid_edit(qtbot, song_path, monkeypatch):
    config = paths.config_dir() / "vocalis.ini"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[autosave]\ninterval_ms=200\n")
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    app = subprocess.Popen([sys.executable, "-c", DRIVER, str(song_path)], env=env, cwd=REPO)
    expected = dsp.gain_db(io.load(song_path), 6.0).samples
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and app.poll() is None:
            if _autosaved(expected):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the app never autosaved its edit (exit code {app.poll()})")
    finally:
        app.send_signal(signal.SIGKILL)
        app.wait()

    offered = []
    monkeypatch.setattr(project_ui, "ask_recover", lambda _parent, orphan: offered.append(orphan) or True)
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.offer_recovery() == 1
    assert offered[0].track_names == ["song"]
    [track] = window.tracks()
    np.testing.assert_allclose(track.clip.samples, expected, rtol=1e-6, atol=1e-7)
    assert window.is_modified(track)  # recovered work is unsaved until the user saves it
    assert not offered[0].folder.exists()
    assert project.orphaned_sessions() == []


def _autosaved(expected: np.ndarray) -> bool:
    """True once some snapshot holds the edited audio."""
    root = project.autosave_root()
    if not root.is_dir():
        return False
    for folder in root.iterdir():
        try:
            state = project.load_project(folder)
        except Exception:  # noqa: BLE001 - a snapshot still being created
            continue
        if state.tracks and np.allclose(state.tracks[0].clip.samples, expected, atol=1e-6):
            return True
    return False


def test_unsaved_lyrics_make_quit_offer_a_project(qtbot, window, song_path, tmp_path, answers, monkeypatch):
    asked, queue = answers
    track = open_and_wait(qtbot, window, song_path)
    assert window.unsaved_tracks() == []
    lyrics = window.findChild(LyricsTask)
    lyrics.panel.replace_lines([LyricLine(0.1, 0.5, "la la")], "Transcribe lyrics", owner=track)
    assert window.unsaved_tracks() == [track]  # the audio is saved, its lyrics are not
    target = tmp_path / "with lyrics.vocalis"
    monkeypatch.setattr(project_ui, "ask_project_to_save", lambda _parent, _suggested: target)
    queue[:] = [project_ui.Answer.SAVE]
    window.close()
    assert not window.isVisible() and "lyrics" in asked[0]
    [saved] = project.load_project(target).tracks
    assert saved.extras["lyrics"][0]["text"] == "la la"
