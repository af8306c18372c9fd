"""Never lose work, the GUI side: the Save / Discard / Cancel question, the undoable close of a track,
autosave in the background, and the recovery offer after a crash (formats in :mod:`engine.project`)."""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine import project
from engine.jobs import Job
from gui.views.background import run_in_background

log = logging.getLogger("vocalis.gui.project")

AUTOSAVE_INTERVAL_MS = 30_000
PROJECT_FILTER = f"Vocalis projects (*{project.SUFFIX})"


class Answer(enum.Enum):
    SAVE = "save"
    DISCARD = "discard"
    CANCEL = "cancel"


def ask_save_discard_cancel(parent: QWidget, title: str, text: str) -> Answer:
    """The question every editor asks before unsaved work would be lost."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    box.setInformativeText("Your changes will be lost if you don't save them.")
    box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                           | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    chosen = box.exec()
    return {QMessageBox.StandardButton.Save: Answer.SAVE,
            QMessageBox.StandardButton.Discard: Answer.DISCARD}.get(QMessageBox.StandardButton(chosen), Answer.CANCEL)


def ask_recover(parent: QWidget, orphan: project.Orphan) -> bool:
    """Offer the snapshot a crashed or killed session left; False discards it."""
    names = ", ".join(orphan.track_names[:5]) + (" …" if len(orphan.track_names) > 5 else "")
    answer = QMessageBox.question(
        parent, "Recover unsaved work",
        f"Vocalis did not quit normally last time. Its autosave from {orphan.saved_at or 'then'} holds "
        f"{len(orphan.track_names)} track(s): {names}.\n\nRecover them? (No deletes the autosave.)",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
    return answer == QMessageBox.StandardButton.Yes


def ask_project_to_open(parent: QWidget, folder: str) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Open project", folder, PROJECT_FILTER)
    return Path(path) if path else None


def ask_project_to_save(parent: QWidget, suggested: Path) -> Path | None:
    path, _ = QFileDialog.getSaveFileName(parent, "Save project", str(suggested), PROJECT_FILTER)
    if not path:
        return None
    path = Path(path)
    return path if path.suffix == project.SUFFIX else path.with_name(path.name + project.SUFFIX)


class CloseTrackCommand(QUndoCommand):
    """Closing a track is an undoable step, as in Audacity: the track is hidden, not deleted, so the edits
    before it stay on the undo stack (undoing them first brings the track back) and nothing is lost."""

    def __init__(self, area, track, on_change: Callable[[], None]):
        super().__init__(f"Close {track.clip.name or 'track'}")
        self.area = area
        self.track = track
        self.index = area.tracks.index(track)
        self.on_change = on_change

    def redo(self) -> None:
        self.area.remove_track(self.track, keep=True)
        self.on_change()

    def undo(self) -> None:
        self.area.insert_track(self.track, self.index)
        self.on_change()


class Autosaver(QObject):
    """Every ``interval_ms``, if the session changed since the last snapshot, write a new one on a worker
    thread (one at a time; the UI only gathers clip references, which are immutable values)."""

    def __init__(self, state: Callable[[], project.ProjectState], signature: Callable[[], object],
                 interval_ms: int = AUTOSAVE_INTERVAL_MS, parent: QObject | None = None):
        super().__init__(parent)
        self._state = state
        self._signature = signature
        try:
            self.session: project.AutosaveSession | None = project.AutosaveSession()
        except OSError as exc:  # a read-only or full data folder must not keep the window from opening
            log.error("autosave is off: %s", exc)
            self.session = None
        self._written_signature: object = None
        self._job: Job | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    @property
    def writing(self) -> bool:
        return self._job is not None

    def save_now(self) -> Job | None:
        """Start a snapshot if something changed and none is being written; the job, or None."""
        if self.session is None:
            return None
        signature = self._signature()
        if self._job is not None or signature == self._written_signature:
            return None
        state = self._state()

        def written(_folder, signature=signature) -> None:
            self._job = None
            self._written_signature = signature

        def failed(job: Job) -> None:
            self._job = None
            log.error("autosave failed: %s", job.error_message)

        self._job = run_in_background(self.session.write, state, name="autosave", owner=self,
                                      on_result=written, on_error=failed)
        return self._job

    def flush(self, timeout_s: float = 60.0) -> None:
        """Write a snapshot now if anything changed and wait until it is on disk."""
        self.save_now()
        if self._job is not None:
            self._job.wait(timeout_s)

    def close(self) -> None:
        """A normal end: wait for a snapshot being written, then remove the session's folder."""
        self.timer.stop()
        if self._job is not None:
            self._job.wait(30)
        if self.session is not None:
            self.session.close()
