"""The Speak panel and the Voices manager in the main window (pytest-qt, offscreen) with the tiny models:
speaking adds one track per variant and shows the job's tokens/s; a voice learned from the manager appears
in the panel's voice picker, can be renamed, deleted and heard as a sample track."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.tasks.learn_voice import LearnVoiceSettings
from engine.tasks.speak import SpeakSettings
from engine.voices import list_voices, rename_voice
from gui.main_window import MainWindow
from gui.tasks.speak import LEARNED, SpeakTask
from gui.voices_dialog import VoicesDialog
from tests.tiny_speech import install_tiny_speech_models


@pytest.fixture(scope="module")
def tiny_models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    install_tiny_speech_models(root / "models", root / "staging")
    return root / "models"


@pytest.fixture
def window(qtbot, tiny_models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("VOCALIS_MODELS", str(tiny_models_dir))
    monkeypatch.setenv("VOCALIS_VOICES", str(tmp_path / "voices"))
    torch.set_num_threads(1)
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    return window


def _speak_task(window) -> SpeakTask:
    installed = [child for child in window.children() if isinstance(child, SpeakTask)]
    assert installed, "the speak task module installed itself in the window"
    return installed[0]


def test_speaking_adds_a_track_per_variant_and_shows_the_speed(window, qtbot):
    task = _speak_task(window)
    assert "Speak text…" in [a.text() for a in window.actions.tasks_menu.actions()]
    task.panel.text.setPlainText("Hello from the panel.")
    task.panel.variants.setValue(2)
    task.panel.seed.setValue(5)
    job = task.speak(SpeakSettings(max_tokens=12, chunk_chars=100))
    qtbot.waitUntil(lambda: job.finished, timeout=120000)
    qtbot.waitUntil(lambda: len(window.tracks()) == 2, timeout=10000)
    assert all(0 < t.clip.frames <= 12 * 320 for t in window.tracks())  # a stop token may come earlier
    assert [t.clip.name for t in window.tracks()] == ["Hello from the panel. (1)", "Hello from the panel. (2)"]
    assert "tokens/s" in task.panel.speed.text()


def test_a_voice_learned_in_the_manager_is_offered_renamed_sampled_and_deleted(window, qtbot, tmp_path):
    folder = tmp_path / "speaker"
    folder.mkdir()
    t = np.arange(18000) / 24000
    for index, text in enumerate(("one clip here.", "and another one.")):
        wave = (0.3 * np.sin(2 * np.pi * (120 + 50 * index) * t)).astype(np.float32)
        audio_io.save(Clip(wave.reshape(1, -1), 24000), folder / f"c{index}.wav")
        (folder / f"c{index}.txt").write_text(text)
    task = _speak_task(window)
    dialog = VoicesDialog(window, task)
    qtbot.addWidget(dialog)
    job = dialog.learn(str(folder), "Panel Voice", LearnVoiceSettings(updates=3))
    qtbot.waitUntil(lambda: job.finished, timeout=120000)
    qtbot.waitUntil(lambda: dialog.list.count() == 1, timeout=10000)
    assert len(dialog.curve.values) == 3
    assert task.panel.index_of(LEARNED, "Panel Voice") >= 0

    rename_voice("Panel Voice", "Renamed")
    dialog.refresh(select="Renamed")
    sample = dialog.play_sample(SpeakSettings(max_tokens=10))
    qtbot.waitUntil(lambda: sample.finished, timeout=120000)
    qtbot.waitUntil(lambda: len(window.tracks()) == 1, timeout=10000)
    assert window.tracks()[0].clip.name.startswith("Renamed:")
    dialog.ask_delete(confirm=False)
    assert list_voices() == [] and dialog.list.count() == 0
