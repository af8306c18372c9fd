"""The Convert voice panel (pytest-qt, offscreen): the current track converted to the voice of another track,
as a new track with the similarity figure; a file as timbre reference."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from engine.audio.clip import Clip
from gui.main_window import MainWindow
from gui.tasks.vc import STYLE_NOTE, ConvertVoiceTask
from tests.test_vc import model_files, store, voices  # noqa: F401 - fixtures


def test_panel_converts_the_current_track_to_another_tracks_voice(qtbot, store, voices, tmp_path):  # noqa: F811
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    source = window.add_track(voices["source"])
    window.add_track(voices["timbre"])
    window.track_area.set_current(source)
    task = next(child for child in window.children() if isinstance(child, ConvertVoiceTask))
    assert "Convert voice…" in [a.text() for a in window.actions.tasks_menu.actions()]
    panel = task.show_panel()
    assert panel.style.currentText() == STYLE_NOTE
    assert panel.form.editor("model").currentText().startswith("Seed-VC v1 (pretrained")
    panel.form.editor("steps").setValue(2)
    panel.form.editor("device").setCurrentIndex(panel.form.editor("device").findData("cpu"))
    timbre_index = next(i for i in range(panel.timbre.count())
                        if panel.timbre.itemData(i) is not None and panel.timbre.itemData(i) is not window.current_track())
    panel.timbre.setCurrentIndex(timbre_index)
    source_clip = window.selected_clip()
    job = panel.convert()
    qtbot.waitUntil(lambda: job.finished, timeout=300000)
    qtbot.waitUntil(lambda: len(window.tracks()) == 3, timeout=10000)
    added = window.tracks()[-1].clip
    assert added.sample_rate == source_clip.sample_rate and added.frames == source_clip.frames
    assert np.isfinite(added.samples).all()
    assert "Voice similarity to the timbre" in panel.result.text()

    path = tmp_path / "reference.wav"
    sf.write(path, voices["timbre"].samples[0], 22050)
    panel.load_timbre_file(path)
    chosen = panel.timbre_clip()
    assert isinstance(chosen, Clip) and chosen.frames == voices["timbre"].frames
