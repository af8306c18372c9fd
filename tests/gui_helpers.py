"""Helpers shared by the GUI tests (pytest-qt, offscreen); the ``window`` fixture lives in conftest.py."""

from __future__ import annotations

from PySide6.QtGui import QUndoStack

from engine.audio.clip import Clip
from engine.tasks.lyrics import Lyrics
from gui.lyrics_panel import LyricsPanel
from gui.main_window import MainWindow
from gui.views import SelectionModel, TimeAxis, TrackView


def open_and_wait(qtbot, window: MainWindow, path):
    """Open ``path`` in the window (a background job) and return its new track once it is there."""
    count = len(window.tracks())
    window.open_file(path)
    qtbot.waitUntil(lambda: len(window.tracks()) == count + 1, timeout=10000)
    return window.tracks()[-1]


def wait_for_jobs(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=10000)


def make_track(qtbot, clip: Clip, width: int, height: int) -> TrackView:
    """A lone track view of ``clip``, shown and exposed so that it has been drawn."""
    track = TrackView(clip, TimeAxis(), SelectionModel())
    qtbot.addWidget(track)
    track.resize(width, height)
    track.show()
    qtbot.waitExposed(track)
    return track


def lyrics_panel(qtbot, lyrics: Lyrics) -> LyricsPanel:
    """A shown Lyrics panel (with its own undo stack) holding ``lyrics``."""
    panel = LyricsPanel(QUndoStack())
    qtbot.addWidget(panel)
    panel.resize(700, 300)
    panel.show()
    panel.set_lyrics(lyrics)
    return panel
