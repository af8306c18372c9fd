"""The Convert voice panel with trained StableVC runs (pytest-qt, offscreen): runs in the runs folder are in
the model list, choosing one makes the style reference live, and Convert passes the chosen style clip."""

from __future__ import annotations

import numpy as np

from engine.audio.clip import Clip
from engine.models.stablevc import TINY
from engine.models.stablevc.run import runs_folder
from gui.main_window import MainWindow
from gui.tasks.vc import STYLE_NOTE, STYLE_SAME, ConvertVoiceTask


def fake_run(name: str) -> str:
    """A folder that looks like a trained run (the panel reads no weights)."""
    folder = runs_folder() / name
    folder.mkdir(parents=True)
    TINY.save(folder / "config.json")
    (folder / "model.safetensors").write_bytes(b"")
    return str(folder)


def test_trained_runs_are_listed_and_make_the_style_reference_live(qtbot, monkeypatch):
    run = fake_run("my-voice-run")
    (runs_folder() / "not-a-run").mkdir()
    window = MainWindow()
    qtbot.addWidget(window)
    tone = np.sin(np.linspace(0, 400, 22050, dtype=np.float32))[None] * 0.3
    source = window.add_track(Clip(tone, 22050, name="source"))
    window.add_track(Clip(tone * 0.5, 22050, name="timbre"))
    style_track = window.add_track(Clip(tone * 0.2, 22050, name="style"))
    window.track_area.set_current(source)
    panel = next(c for c in window.children() if isinstance(c, ConvertVoiceTask)).show_panel()

    models = panel.model_list
    entries = [models.itemText(i) for i in range(models.count())]
    assert "StableVC run: my-voice-run" in entries and not any("not-a-run" in text for text in entries)
    assert panel.style.currentText() == STYLE_NOTE and not panel.style.isEnabled()
    assert panel.style_clip() is None

    models.setCurrentIndex(models.index_of(run))
    assert panel.style.isEnabled() and panel.style.currentText() == STYLE_SAME
    assert panel.style_clip() is None  # same as timbre
    panel.style.setCurrentIndex(next(i for i in range(panel.style.count()) if panel.style.itemData(i) is style_track))
    assert panel.style_clip() is style_track.clip

    calls = []
    monkeypatch.setattr(window, "run_job", lambda fn, *args, **kwargs: calls.append((fn, args, kwargs)))
    panel.convert()
    (fn, (clip, timbre, settings), kwargs), = calls
    assert settings.model == run and kwargs["style"] is style_track.clip

    # Back to Seed-VC: the style reference is fixed to the timbre again.
    assert models.index_of("seed-vc-v1") >= 0
    models.setCurrentIndex(models.index_of("seed-vc-v1"))
    assert not panel.style.isEnabled() and panel.style_clip() is None
