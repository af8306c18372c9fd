"""Cut, copy, paste and duplicate (pytest-qt, offscreen): within a track and between tracks of different
rates and channel counts, through the Edit menu's shortcuts, each undone and redone exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QKeySequence

from engine.audio.clip import Clip
from gui import edits
from gui.main_window import MainWindow
from tests.gui_helpers import wait_for_jobs

RATE = 1000  # one sample per millisecond keeps the frame arithmetic readable


def ramp(frames: int, channels: int = 1, rate: int = RATE, name: str = "ramp") -> Clip:
    values = np.arange(frames, dtype=np.float32) / frames
    return Clip(np.tile(values, (channels, 1)), rate, name=name)


def press(qtbot, window: MainWindow, sequence: QKeySequence.StandardKey | str) -> None:
    """Type the shortcut of ``sequence`` on the window, as a person would."""
    combination = QKeySequence(sequence)[0]
    qtbot.keyClick(window, combination.key(), combination.keyboardModifiers())


def test_edit_menu_has_the_standard_shortcuts(window):
    actions = window.actions
    assert actions.cut.shortcut() == QKeySequence(QKeySequence.StandardKey.Cut)
    assert actions.copy.shortcut() == QKeySequence(QKeySequence.StandardKey.Copy)
    assert actions.paste.shortcut() == QKeySequence(QKeySequence.StandardKey.Paste)
    assert actions.duplicate.shortcut() == QKeySequence("Ctrl+D")
    assert {actions.cut, actions.copy, actions.paste, actions.duplicate} <= set(actions.edit_menu.actions())


def test_cut_then_paste_elsewhere_in_the_track_with_undo(qtbot, window):
    original = ramp(1000)
    track = window.add_track(original)
    window.track_area.selection.set(0.1, 0.3)
    press(qtbot, window, QKeySequence.StandardKey.Cut)
    wait_for_jobs(qtbot, window)
    assert track.clip.frames == 800
    np.testing.assert_array_equal(window.clipboard.samples, original.samples[:, 100:300])
    np.testing.assert_array_equal(track.clip.samples, np.concatenate(
        (original.samples[:, :100], original.samples[:, 300:]), axis=1))

    window.track_area.axis.set_cursor(0.5)  # paste at the cursor (nothing selected after the cut)
    assert window.current_selection() is None
    press(qtbot, window, QKeySequence.StandardKey.Paste)
    wait_for_jobs(qtbot, window)
    cut_part = original.samples[:, 100:300]
    expected = np.concatenate((original.samples[:, :100], original.samples[:, 300:700], cut_part,
                               original.samples[:, 700:]), axis=1)
    np.testing.assert_array_equal(track.clip.samples, expected)
    assert window.current_selection() == pytest.approx((0.5, 0.7))  # the pasted audio is selected

    window.undo_stack.undo()
    window.undo_stack.undo()
    assert track.clip is original
    window.undo_stack.redo()
    window.undo_stack.redo()
    np.testing.assert_array_equal(track.clip.samples, expected)


def test_copy_and_paste_over_a_selection_of_another_track_converts_rate_and_channels(qtbot, window):
    source = window.add_track(ramp(500, channels=1, rate=RATE, name="mono 1k"))
    window.track_area.selection.set(0.0, 0.2)
    press(qtbot, window, QKeySequence.StandardKey.Copy)
    assert source.clip.frames == 500  # copy leaves the track alone
    target_clip = Clip(np.zeros((2, 4000), np.float32), 2 * RATE, name="stereo 2k")
    target = window.add_track(target_clip)
    window.track_area.selection.set(1.0, 1.5)  # 1000 frames replaced by 0.2 s at 2 kHz = 400 frames
    press(qtbot, window, QKeySequence.StandardKey.Paste)
    wait_for_jobs(qtbot, window)
    assert target.clip.sample_rate == 2 * RATE and target.clip.samples.shape == (2, 4000 - 1000 + 400)
    pasted = target.clip.samples[:, 2000:2400]
    np.testing.assert_array_equal(pasted[0], pasted[1])  # mono spread to both channels
    expected = edits.conform(ramp(500).with_samples(ramp(500).samples[:, :200]), target_clip).samples
    np.testing.assert_allclose(pasted, expected, atol=1e-6)
    assert np.abs(pasted[0, 50:350] - np.arange(50, 350) / 2 / 500).max() < 0.01  # still the ramp, resampled
    window.undo_stack.undo()
    assert target.clip is target_clip


def test_duplicate_makes_a_time_aligned_track_and_undo_removes_it(qtbot, window):
    original = ramp(1000, channels=2)
    window.add_track(original)
    window.track_area.selection.set(0.25, 0.5)
    press(qtbot, window, "Ctrl+D")
    assert len(window.track_area.tracks) == 2
    copy = window.track_area.tracks[1]
    assert window.current_track() is copy and copy.clip.name == "ramp copy"
    assert copy.clip.samples.shape == (2, 500)
    assert not copy.clip.samples[:, :250].any()  # silence up to the selection keeps it in time
    np.testing.assert_array_equal(copy.clip.samples[:, 250:], original.samples[:, 250:500])

    window.undo_stack.undo()
    assert window.track_area.tracks == [window.track_area.tracks[0]] and copy.isHidden()
    window.undo_stack.redo()
    assert window.track_area.tracks[1] is copy and copy.isVisible()


def test_clipboard_errors_are_reported(qtbot, window, monkeypatch):
    reported = []
    monkeypatch.setattr(window, "report_error", lambda title, message: reported.append((title, message)))
    window.paste()
    window.add_track(ramp(100))
    window.copy_selection()
    assert reported == [("Paste", "Nothing to paste: copy or cut a selection first."),
                        ("Copy", "select a range first")]
    assert window.clipboard is None
