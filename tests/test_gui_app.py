"""The main window, offscreen: open, view, select, zoom, edit with undo/redo, export, errors, playback,
persisted settings, drag and drop and the task-panel API."""

from __future__ import annotations

import os

import time

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent
from PySide6.QtWidgets import QLabel, QMessageBox

from engine.audio import dsp, io
from engine.audio.clip import Clip
from engine.errors import BadInputError
from gui import dialogs, edits
from gui.dialogs import PreferencesDialog
from gui.main_window import MainWindow
from gui.transport import AudioSettings
from gui.views import style
from gui.views.ruler import format_time
from tests.gui_helpers import open_and_wait, wait_for_jobs
from tests.pulse import ensure_null_sink_pulseaudio
from tests.synth import tone

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # set before the QApplication exists

RATE = 16000


@pytest.fixture
def song_path(tmp_path):
    """Two seconds of stereo: a 440 Hz tone left, 660 Hz right, then a quieter second."""
    left = np.concatenate([tone(440, 1.0, RATE, 0.5), tone(440, 1.0, RATE, 0.1)])
    right = np.concatenate([tone(660, 1.0, RATE, 0.4), tone(660, 1.0, RATE, 0.2)])
    path = tmp_path / "song.wav"
    sf.write(path, np.stack([left, right], axis=1), RATE, subtype="FLOAT")
    return path


def error_boxes(window: MainWindow) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


def test_open_shows_the_file_as_a_track_with_its_samples(qtbot, window, song_path):
    open_and_wait(qtbot, window, song_path)
    track = window.current_track()
    expected, rate = sf.read(song_path, dtype="float32", always_2d=True)
    assert rate == RATE and np.array_equal(track.clip.samples, expected.T)
    assert track.isVisible() and track.waveform.isVisible()
    image = track.waveform.grab().toImage()

    def drawn_rows(x: int) -> int:
        return sum(1 for y in range(image.height()) if image.pixelColor(x, y) == style.WAVEFORM)

    # The first second has peaks 0.5 + 0.4 over both lanes, the second 0.1 + 0.2: three times taller.
    loud, quiet = drawn_rows(image.width() // 4), drawn_rows(3 * image.width() // 4)
    assert quiet > 5 and loud / quiet == pytest.approx(3.0, rel=0.2)
    assert "stereo" in track.header.info_label.text() and "16000 Hz" in track.header.info_label.text()
    assert window.windowTitle() == "song — Vocalis"
    assert window.track_area.axis.duration_s == pytest.approx(2.0)
    assert not window.track_area.placeholder.isVisible()
    assert window.recent_files() == [str(song_path.resolve())]


def test_mouse_drag_selects_and_zoom_actions_change_the_visible_range(qtbot, window, song_path):
    open_and_wait(qtbot, window, song_path)
    view = window.current_track().waveform
    width = view.width()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(width // 4, 20))
    qtbot.mouseMove(view, QPoint(width // 2, 20))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(width // 2, 20))
    start, end = window.current_selection()
    assert start == pytest.approx(0.5, abs=2.0 / width * 2) and end == pytest.approx(1.0, abs=2.0 / width * 2)
    assert f"Selection {format_time(start)} – {format_time(end)}" in window.transport.time_label.text()
    axis = window.track_area.axis
    assert (axis.start_s, axis.end_s) == (0.0, pytest.approx(2.0))
    actions = {a.text(): a for a in window.actions.view_menu.actions()}
    actions["Zoom &In"].trigger()
    assert axis.span_s == pytest.approx(1.0)
    actions["Zoom to &Selection"].trigger()
    assert (axis.start_s, axis.end_s) == (pytest.approx(start), pytest.approx(end))
    assert window.track_area.time_bar.maximum() == round((2.0 - axis.span_s) * 1000)
    window.track_area.time_bar.setValue(window.track_area.time_bar.maximum())
    assert axis.end_s == pytest.approx(2.0, abs=1e-3)
    actions["&Fit All"].trigger()
    assert (axis.start_s, axis.end_s) == (0.0, pytest.approx(2.0))


@pytest.mark.parametrize("operation, args, label", [
    (edits.gain, (-6.0,), "Gain"),
    (edits.normalize_peak, (-1.0,), "Normalize peak"),
    (edits.normalize_loudness, (-23.0,), "Normalize loudness"),
    (edits.fade, (True,), "Fade in"),
    (edits.crop_to_selection, (), "Crop"),
    (edits.delete_selection, (), "Delete"),
    (edits.resample, (8000,), "Resample"),
])
def test_each_edit_applies_and_undo_redo_restore_exactly(qtbot, window, song_path, operation, args, label):
    open_and_wait(qtbot, window, song_path)
    track = window.current_track()
    original = track.clip.samples.copy()
    window.track_area.selection.set(0.25, 0.75)
    window.apply_edit(operation, label, *args)
    wait_for_jobs(qtbot, window)
    edited = track.clip.samples.copy()
    assert np.array_equal(edited, operation(Clip(original, RATE), (0.25, 0.75), *args).samples)
    assert not np.array_equal(edited, original) or edited.shape != original.shape
    assert window.undo_stack.undoText() == label
    length_changed = track.clip.duration != 2.0  # crop and delete; a resample keeps the duration
    assert window.current_selection() == (None if length_changed else (0.25, 0.75))
    assert window.track_area.axis.duration_s == pytest.approx(track.clip.duration)
    window.actions.undo.trigger()
    assert np.array_equal(track.clip.samples, original) and track.clip.sample_rate == RATE
    assert window.track_area.axis.duration_s == pytest.approx(2.0)
    window.actions.redo.trigger()
    assert np.array_equal(track.clip.samples, edited)
    assert window.track_area.axis.duration_s == pytest.approx(track.clip.duration)
    assert window.windowTitle() == "song • — Vocalis"


def test_edit_outside_a_selection_leaves_the_rest_untouched(qtbot, window, song_path):
    open_and_wait(qtbot, window, song_path)
    track = window.current_track()
    original = track.clip.samples.copy()
    window.track_area.selection.set(1.0, 1.5)
    window.apply_edit(edits.gain, "Gain", 6.0)
    wait_for_jobs(qtbot, window)
    after = track.clip.samples
    assert np.array_equal(after[:, :RATE], original[:, :RATE])
    assert np.array_equal(after[:, 3 * RATE // 2:], original[:, 3 * RATE // 2:])
    np.testing.assert_allclose(after[:, RATE:3 * RATE // 2], original[:, RATE:3 * RATE // 2] * 10 ** (6 / 20),
                               rtol=1e-6)


def test_crop_without_a_selection_is_a_clear_error_not_a_crash(qtbot, window, song_path):
    open_and_wait(qtbot, window, song_path)
    window.actions.crop.trigger()
    qtbot.waitUntil(lambda: bool(error_boxes(window)), timeout=5000)
    assert "select a range first" in error_boxes(window)[0].text()
    assert window.undo_stack.count() == 0


def test_export_writes_a_file_that_loads_back_equal(qtbot, window, song_path, tmp_path):
    open_and_wait(qtbot, window, song_path)
    target = tmp_path / "out" / "exported.wav"
    window.export_clip(target, "FLOAT")
    wait_for_jobs(qtbot, window)
    assert np.array_equal(io.load(target).samples, window.current_track().clip.samples)
    window.track_area.selection.set(0.5, 1.0)
    flac = tmp_path / "out" / "part.flac"
    window.export_clip(flac, selection_only=True)
    wait_for_jobs(qtbot, window)
    part = io.load(flac)
    expected = dsp.crop(window.current_track().clip, RATE // 2, RATE)
    assert part.frames == RATE // 2
    np.testing.assert_allclose(part.samples, expected.samples, atol=1 / 2 ** 15)  # 16-bit flac
    assert sorted(p.name for p in target.parent.iterdir()) == ["exported.wav", "part.flac"]  # no partial files


def test_corrupt_file_shows_an_error_dialog_naming_the_file(qtbot, window, tmp_path):
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt this is not audio")
    window.open_file(corrupt)
    qtbot.waitUntil(lambda: bool(error_boxes(window)), timeout=10000)
    box = error_boxes(window)[0]
    assert str(corrupt) in box.text()
    assert "Traceback" not in box.text() and box.windowTitle() == "Opening broken.wav failed"
    assert window.tracks() == []
    assert corrupt.read_bytes().startswith(b"RIFF")  # the input is untouched


def test_unexpected_job_error_is_logged_with_its_traceback_and_shown_briefly(qtbot, window):
    import logging

    def broken(progress, cancel):
        raise ZeroDivisionError("division by zero")

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("vocalis").addHandler(handler)
    try:
        window.run_job(broken, name="Broken job")
        qtbot.waitUntil(lambda: bool(error_boxes(window)), timeout=5000)
    finally:
        logging.getLogger("vocalis").removeHandler(handler)
    assert error_boxes(window)[0].text() == "division by zero"
    assert any("Traceback" in record.getMessage() for record in records)


def test_status_bar_shows_progress_and_cancel_stops_the_job(qtbot, window):
    def slow(progress, cancel):
        for step in range(200):
            cancel.check()
            progress(step / 200, f"step {step}")
            time.sleep(0.01)
        return "finished"

    results = []
    job = window.run_job(slow, name="Slow job", on_result=results.append)
    status = window.job_status
    qtbot.waitUntil(lambda: status.isVisible() and status.message.text().startswith("step"), timeout=5000)
    qtbot.waitUntil(lambda: status.bar.value() > 0 and "left" in status.eta.text(), timeout=5000)
    qtbot.mouseClick(status.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.finished and not status.isVisible(), timeout=5000)
    assert job.state.value == "cancelled" and results == []
    assert not error_boxes(window)


def test_dropping_files_opens_them(qtbot, window, song_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(song_path))])
    drop = QDropEvent(QPointF(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: len(window.tracks()) == 1, timeout=10000)
    assert window.current_track().clip.source == song_path


def test_recent_files_and_window_geometry_persist_across_windows(qtbot, song_path, vocalis_home):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    open_and_wait(qtbot, first, song_path)
    first.resize(900, 640)
    size = (first.width(), first.height())
    first.close()
    assert (vocalis_home / "config" / "vocalis.ini").is_file()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.recent_files() == [str(song_path.resolve())]
    assert [a.text() for a in second.actions.recent_menu.actions()] == [str(song_path.resolve())]
    assert second.settings.value("window/geometry") is not None
    # The offscreen screen is 800 px wide, so restoreGeometry may narrow the window; the height survives.
    assert second.height() == size[1] != 800


def test_task_panel_api(qtbot, window, song_path):
    action = QAction("Do something", window)
    window.add_task_action(action)
    assert action in window.actions.tasks_menu.actions()
    dock = window.add_panel("Test panel", QLabel("panel"))
    assert dock.isVisible() and dock.windowTitle() == "Test panel"
    assert window.current_track() is None and window.selected_clip() is None
    open_and_wait(qtbot, window, song_path)
    assert window.selected_clip() is window.current_track().clip
    window.track_area.selection.set(0.5, 1.5)
    assert window.current_selection() == (0.5, 1.5)
    assert window.selected_clip().frames == RATE
    second = window.add_track(Clip(tone(220, 3.0, RATE), RATE, name="added"))
    assert window.current_track() is second and window.track_area.axis.duration_s == pytest.approx(3.0)
    positions = []
    window.position_changed.connect(positions.append)
    window.seek(1.25)
    assert positions == [1.25] and window.track_area.axis.cursor_s == 1.25
    assert "Cursor 0:00:01.250" in window.transport.time_label.text()
    window.close_track(second)
    assert window.tracks() and window.track_area.axis.duration_s == pytest.approx(2.0)


def test_bad_sample_rate_is_rejected_by_the_engine_edit():
    with pytest.raises(BadInputError):
        edits.resample(Clip(tone(440, 0.1, RATE), RATE), None, 0)


@pytest.mark.audio
def test_play_moves_the_cursor_and_stop_ends_playback(qtbot, window, song_path):
    ensure_null_sink_pulseaudio()
    open_and_wait(qtbot, window, song_path)
    positions = []
    window.position_changed.connect(positions.append)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.playback.playing and window.transport.play_button.text() == "❚❚"
    qtbot.waitUntil(lambda: bool(positions) and positions[-1] > 0.5, timeout=8000)
    assert positions == sorted(positions) and len(positions) >= 5
    assert window.track_area.axis.cursor_s == positions[-1]
    qtbot.keyClick(window, Qt.Key.Key_Space)  # pause
    assert window.playback.paused and not window.playback.playing
    window.stop()
    assert not window.playback.playing and window.transport.play_button.text() == "▶"
    window.track_area.selection.set(1.5, 1.8)
    positions.clear()
    window.actions.play.trigger()  # plays the selection to its end, then stops by itself
    qtbot.waitUntil(lambda: not window.playback.playing, timeout=8000)
    assert len(positions) > 3 and 1.5 <= min(positions) and max(positions) <= 1.8 + 1e-9


def test_tools_menu_opens_models_devices_and_batch(qtbot, window):
    from PySide6.QtWidgets import QDialog, QDockWidget

    for action in window.actions.tools_menu.actions():
        action.trigger()
    assert not error_boxes(window)
    models = [d for d in window.findChildren(QDialog) if d.windowTitle() == "Models" and d.isVisible()]
    docks = {d.windowTitle() for d in window.findChildren(QDockWidget) if d.isVisible()}
    assert len(models) == 1 and {"Devices", "Batch"} <= docks
    window.actions.tools_menu.actions()[1].trigger()  # a second time raises the same dock
    assert sum(1 for d in window.findChildren(QDockWidget) if d.windowTitle() == "Devices") == 1


def test_a_missing_tool_module_is_reported_not_raised(qtbot, window):
    assert window.open_optional_tool("gui.no_such_tool", lambda module, win: module.Panel(), "Karaoke") is None
    assert "Karaoke is not available" in error_boxes(window)[0].text()


def test_the_vocalis_gui_command_opens_the_files_given(qtbot, song_path, tmp_path, vocalis_home):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from engine.cli import main as vocalis

    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"not audio at all")
    seen = {}

    def inspect_then_close():
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible())
        if window.jobs.running or not error_boxes(window):
            QTimer.singleShot(50, inspect_then_close)
            return
        seen["tracks"] = [t.clip.name for t in window.tracks()]
        seen["error"] = error_boxes(window)[0].text()
        window.close()

    QTimer.singleShot(50, inspect_then_close)
    assert vocalis(["gui", str(song_path), str(corrupt)]) == 0
    assert seen["tracks"] == ["song"] and str(corrupt) in seen["error"]
    log_text = (vocalis_home / "data" / "vocalis.log").read_text()
    assert "broken.wav" in log_text  # the reason is logged as well as shown


@pytest.mark.audio
def test_preferences_choose_devices_and_recording_format_and_persist(qtbot, window):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    ensure_null_sink_pulseaudio()

    def choose_and_accept():
        dialog = QApplication.activeModalWidget()
        dialog.output_combo.setCurrentIndex(dialog.output_combo.findData("pulse"))
        dialog.input_combo.setCurrentIndex(dialog.input_combo.findData("pulse"))
        dialog.rate_combo.setCurrentIndex(dialog.rate_combo.findData(44100))
        dialog.channels_spin.setValue(2)
        dialog.rescan()  # enumerating again keeps the choices
        dialog.accept()

    QTimer.singleShot(0, choose_and_accept)
    window.actions.preferences.trigger()
    chosen = AudioSettings(output_device="pulse", input_device="pulse", record_rate=44100, record_channels=2)
    assert window.playback.settings == chosen
    window.close()
    reopened = MainWindow()
    qtbot.addWidget(reopened)
    assert reopened.playback.settings == chosen
    assert PreferencesDialog(chosen).chosen() == chosen
    assert PreferencesDialog(AudioSettings()).chosen() == AudioSettings()  # "System default" is None


def test_keyboard_shortcuts_reach_the_window(qtbot, window, song_path):
    open_and_wait(qtbot, window, song_path)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=3000)
    track = window.current_track()
    original = track.clip.samples.copy()
    window.track_area.selection.set(0.5, 1.0)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # crop to selection
    wait_for_jobs(qtbot, window)
    assert track.clip.frames == RATE // 2
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(track.clip.samples, original)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert track.clip.frames == RATE // 2
    qtbot.keyClick(window, Qt.Key.Key_End)
    assert window.track_area.axis.cursor_s == pytest.approx(0.5)
    qtbot.keyClick(window, Qt.Key.Key_Home)
    assert window.track_area.axis.cursor_s == 0.0


def test_fades_without_a_selection_cover_the_first_or_last_second(qtbot, window, song_path):
    open_and_wait(qtbot, window, song_path)
    track = window.current_track()
    original = track.clip.samples.copy()
    window.apply_edit(edits.fade, "Fade in", True)
    wait_for_jobs(qtbot, window)
    window.apply_edit(edits.fade, "Fade out", False)
    wait_for_jobs(qtbot, window)
    faded = track.clip.samples
    ramp = dsp.fade_curve(RATE)
    np.testing.assert_allclose(faded[:, :RATE], original[:, :RATE] * ramp, atol=1e-7)
    np.testing.assert_allclose(faded[:, RATE:], original[:, RATE:] * ramp[::-1], atol=1e-7)
    assert window.undo_stack.count() == 2


@pytest.mark.parametrize("typed, chosen_filter, expected_name, expected_subtype", [
    ("take", "FLAC (*.flac)", "take.flac", None),
    ("take.wav", "WAV 24-bit (*.wav)", "take.wav", "PCM_24"),
    ("take.mp3", "WAV 16-bit (*.wav)", "take.mp3", None),  # a typed suffix wins over the filter
])
def test_export_dialog_choice_becomes_a_file_in_that_format(qtbot, window, song_path, tmp_path, monkeypatch,
                                                           typed, chosen_filter, expected_name, expected_subtype):
    from PySide6.QtWidgets import QFileDialog

    open_and_wait(qtbot, window, song_path)
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(tmp_path / typed), chosen_filter)))
    assert dialogs.ask_export_path(window, tmp_path / "x.wav") == (tmp_path / expected_name, expected_subtype)
    window.ask_export()
    wait_for_jobs(qtbot, window)
    written = sf.info(tmp_path / expected_name)
    assert written.frames >= 2 * RATE and written.samplerate == RATE and written.channels == 2
    if expected_subtype:
        assert written.subtype == expected_subtype
