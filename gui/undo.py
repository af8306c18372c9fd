"""Undoable edits. Clips are immutable values, so an edit is just the track's clip before and after it:
undo shows the old value again and redo the new one, exactly, with no inverse operation to get wrong."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from engine.audio.clip import Clip


class ClipEditCommand(QUndoCommand):
    """Replace the clip of ``track`` (anything with ``clip`` and ``set_clip``) by ``after``."""

    def __init__(self, track, before: Clip, after: Clip, text: str):
        super().__init__(text)
        self.track = track
        self.before = before
        self.after = after

    def redo(self) -> None:
        self.track.set_clip(self.after)

    def undo(self) -> None:
        self.track.set_clip(self.before)
