"""Tasks ▸ Separate music stems… (pytest-qt, offscreen): the selection goes through Hybrid Demucs in a job
and every stem arrives as a new track named after the source."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from engine.tasks.stems import StemsSettings
from gui.main_window import MainWindow
from gui.tasks.stems import StemsTask
from tests.gui_helpers import open_and_wait
from tests.synth import tone
from tests.test_stems_task import save_small_hdemucs


def test_separating_the_selection_adds_one_track_per_stem(qtbot, window, tmp_path):
    _, checkpoint = save_small_hdemucs(tmp_path)
    path = tmp_path / "band.wav"
    sf.write(path, np.stack([tone(330.0, 2.0, 22050, amplitude=0.3)] * 2, axis=1), 22050)
    open_and_wait(qtbot, window, path)
    window.track_area.selection.set(0.5, 1.5)

    assert "Separate music stems…" in [a.text() for a in window.actions.tasks_menu.actions()]
    installed = [child for child in window.children() if isinstance(child, StemsTask)]
    assert installed, "the stems task module installed itself in the window"
    job = installed[0].start(StemsSettings(checkpoint=str(checkpoint), device="cpu", segment=1.0, overlap=0.1))
    qtbot.waitUntil(lambda: job.finished, timeout=120000)
    qtbot.waitUntil(lambda: len(window.track_area.tracks) == 5, timeout=10000)
    added = [track.clip for track in window.track_area.tracks[1:]]
    assert [clip.name for clip in added] == ["band vocals", "band drums", "band bass", "band other"]
    assert all(clip.samples.shape == (2, 22050) and clip.sample_rate == 22050 for clip in added)
    assert all(np.isfinite(clip.samples).all() and np.abs(clip.samples).max() > 0 for clip in added)


def test_the_dialog_needs_a_track_names_it_and_leaves_out_the_file_format(qtbot, monkeypatch):
    from PySide6.QtWidgets import QWidget

    from engine.audio.clip import Clip
    from gui.settings_form import SettingsDialog

    window = MainWindow()
    qtbot.addWidget(window)
    task = next(child for child in window.children() if isinstance(child, StemsTask))
    assert not task.action.isEnabled()  # no track yet
    window.add_track(Clip(np.zeros((2, 22050), np.float32), 22050, name="band"))
    assert task.action.isEnabled()
    shown = []
    monkeypatch.setattr(SettingsDialog, "ask", lambda dialog, parent: shown.append(dialog))  # then cancelled
    assert task.ask_and_run() is None
    form = shown[0].form
    assert "band" in shown[0].windowTitle()
    assert form.findChild(QWidget, "format") is None  # stems become tracks: no file format to choose
    assert form.findChild(QWidget, "stems") is not None and not form.is_advanced("stems")
    assert form.is_advanced("segment") and form.is_advanced("checkpoint")
