""""Separate music stems" in the window: a settings dialog (built from :class:`StemsSettings`), Hybrid
Demucs on the selection or the whole track as a job, and one new track per stem."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from engine.audio.clip import Clip
from engine.jobs import Job
from engine.tasks.stems import StemsSettings, separate_stems
from gui.settings_form import SettingsDialog


class StemsTask(QObject):
    """Keeps the settings of the last run so the dialog reopens with them."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.settings = StemsSettings()
        self.action = QAction("Separate music stems…", window)
        self.action.setToolTip("One new track per stem (vocals, drums, bass, other) of the current track or "
                               "its selection (Hybrid Demucs)")
        self.action.triggered.connect(self.ask_and_separate)
        window.add_task_action(self.action)

    def ask_and_separate(self) -> Job | None:
        settings = SettingsDialog("Separate music stems", self.settings, self.window).ask(self.window)
        if settings is None:
            return None
        self.settings = settings
        return self.separate()

    def separate(self, settings: StemsSettings | None = None) -> Job | None:
        clip = self.window.selected_clip()
        if clip is None:
            self.window.report_error("Separate music stems", "Open or record a track first.")
            return None
        return self.window.run_job(separate_stems, clip, settings or self.settings,
                                   name=f"Separating the stems of {clip.name or 'the track'}",
                                   on_result=self._add_tracks)

    def _add_tracks(self, stems: list[Clip]) -> None:
        for clip in stems:
            self.window.add_track(clip)
        self.window.statusBar().showMessage(f"{len(stems)} stem tracks added", 5000)


def install(window) -> StemsTask:
    return StemsTask(window)
