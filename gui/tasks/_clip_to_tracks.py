"""The shape several task panels share: one menu action, a settings dialog built from the task's settings
dataclass, the task run on the current track (or its selection) as a job, and each clip it returns added
as a new track. A module names its task and wording in a subclass of :class:`ClipToTracksTask`."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from engine.audio.clip import Clip
from engine.jobs import Job
from gui.settings_form import SettingsDialog


class ClipToTracksTask(QObject):
    """Keeps the settings of the last run so the dialog reopens with them.

    Subclasses set ``title`` (menu text and dialog title, without "…"), ``tooltip``, ``running`` (the job
    name, formatted with ``{name}``: the clip's), ``added`` (the status message, with ``{count}``),
    ``settings_type`` and ``run`` (a staticmethod ``run(clip, settings, progress, cancel) -> list[Clip]``);
    ``hidden`` names settings that only concern files (an output format), left out of the dialog."""

    hidden: tuple[str, ...] = ()
    title: str
    tooltip: str
    running: str
    added: str
    settings_type: type
    run: Callable[..., list[Clip]]

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.settings: Any = self.settings_type()
        self.action = QAction(f"{self.title}…", window)
        self.action.setToolTip(self.tooltip)
        self.action.triggered.connect(self.ask_and_run)
        window.add_task_action(self.action, needs_track=True)

    def ask_and_run(self) -> Job | None:
        settings = SettingsDialog(self.title, self.settings, self.window, hidden=self.hidden,
                                  target=self.window.describe_target()).ask(self.window)
        if settings is None:
            return None
        self.settings = settings
        return self.start()

    def start(self, settings: Any = None) -> Job | None:
        """Run the task on the selection (or the whole current track) with ``settings`` (the last ones
        when None)."""
        clip = self.window.selected_clip()
        if clip is None:
            self.window.report_error(self.title, "Open or record a track first.")
            return None
        return self.window.run_job(self.run, clip, settings or self.settings,
                                   name=self.running.format(name=clip.name or "the track"),
                                   on_result=self._add_tracks)

    def _add_tracks(self, clips: list[Clip]) -> None:
        for clip in clips:
            self.window.add_track(clip)
        self.window.show_message(self.added.format(count=len(clips)))
