"""The "Separate speakers" action in the main window (pytest-qt, offscreen): the selection is separated
in a job and each speaker arrives as a new track named after the source."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from engine.tasks.separate import SeparateSettings
from gui.tasks.separate import SeparateTask
from tests.conftest import GOLDEN
from tests.gui_helpers import open_and_wait
from tests.synth import speak

TINY = GOLDEN / "mossformer2" / "tiny_0.safetensors"


def test_separating_the_selection_adds_one_track_per_speaker(qtbot, window, tmp_path):
    path = tmp_path / "meeting.wav"
    voice = speak("Good morning everyone, let us begin the meeting.", "en")
    sf.write(path, voice, 16000)
    open_and_wait(qtbot, window, path)
    window.track_area.selection.set(0.5, 1.5)

    assert "Separate speakers…" in [a.text() for a in window.actions.tasks_menu.actions()]
    installed = [child for child in window.children() if isinstance(child, SeparateTask)]
    assert installed, "the separate task module installed itself in the window"
    job = installed[0].separate(SeparateSettings(checkpoint=str(TINY), device="cpu", window=2.0))
    qtbot.waitUntil(lambda: job.finished, timeout=300000)
    qtbot.waitUntil(lambda: len(window.tracks()) == 3, timeout=10000)
    added = [track.clip for track in window.tracks()[1:]]
    assert [clip.name for clip in added] == ["meeting speaker 1", "meeting speaker 2"]
    assert all(clip.frames == 16000 and clip.sample_rate == 16000 for clip in added)
    assert all(np.abs(clip.samples).max() > 0 for clip in added)
