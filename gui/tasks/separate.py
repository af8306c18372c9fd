""""Separate speakers" in the window: a settings dialog (built from :class:`SeparateSettings`), the
separation of the selection or the whole track as a job, and one new track per speaker."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from engine.audio.clip import Clip
from engine.jobs import Job
from engine.tasks.separate import SeparateSettings, separate_speakers
from gui.settings_form import SettingsDialog


class SeparateTask(QObject):
    """Keeps the settings of the last run so the dialog reopens with them."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.settings = SeparateSettings()
        self.action = QAction("Separate speakers…", window)
        self.action.setToolTip("One new track per speaker from the current track or its selection (MossFormer2)")
        self.action.triggered.connect(self.ask_and_separate)
        window.add_task_action(self.action, needs_track=True)

    def ask_and_separate(self) -> Job | None:
        settings = SettingsDialog("Separate speakers", self.settings, self.window,
                                  target=self.window.describe_target()).ask(self.window)
        if settings is None:
            return None
        self.settings = settings
        return self.separate()

    def separate(self, settings: SeparateSettings | None = None) -> Job | None:
        clip = self.window.selected_clip()
        if clip is None:
            self.window.report_error("Separate speakers", "Open or record a track first.")
            return None
        return self.window.run_job(separate_speakers, clip, settings or self.settings,
                                   name=f"Separating the speakers of {clip.name or 'the track'}",
                                   on_result=self._add_tracks)

    def _add_tracks(self, speakers: list[Clip]) -> None:
        for clip in speakers:
            self.window.add_track(clip)
        self.window.show_message(f"{len(speakers)} speaker tracks added")


def install(window) -> SeparateTask:
    return SeparateTask(window)
