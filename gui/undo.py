"""Undoable edits. Clips are immutable values, so an edit is just the track's clip before and after it:
undo shows the old value again and redo the new one, exactly, with no inverse operation to get wrong.
A new track (Duplicate) is undone by taking its widget out of the window and redone by putting the same
widget back."""

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


class AddTrackCommand(QUndoCommand):
    """Add a track showing ``clip`` to ``area`` (a :class:`~gui.track_area.TrackArea`); undo takes it out,
    redo puts the same track back where it was."""

    def __init__(self, area, clip: Clip, text: str):
        super().__init__(text)
        self.area = area
        self.clip = clip
        self.track = None
        self._index = 0

    def redo(self) -> None:
        if self.track is None:
            self.track = self.area.add_track(self.clip)
        else:
            self.area.insert_track(self.track, self._index)

    def undo(self) -> None:
        self._index = self.area.tracks.index(self.track)
        self.area.remove_track(self.track, keep=True)
