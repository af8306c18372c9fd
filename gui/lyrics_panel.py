"""The Lyrics panel: timed lines in a table that follows playback (karaoke), seeks on click and edits with
undo. It shows and edits :class:`engine.tasks.lyrics.Lyrics` values; running transcriptions is the job of
:mod:`gui.tasks.lyrics`, which owns the panel.

Lyrics belong to a track (the panel's ``owner``): the panel keeps one document per owner and shows the
current track's, so switching tracks switches lyrics and an undo step changes the lyrics it was made on."""

from __future__ import annotations

import bisect
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QPalette, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView,
                               QPushButton, QTableView, QVBoxLayout, QWidget)

from engine.errors import BadInputError, VocalisError
from engine.tasks.lyrics import LyricLine, Lyrics
from engine.tasks.lyrics import formats
from engine.tasks.lyrics.types import LYRICS_FORMATS
from gui.dialogs import show_error

START, END, TEXT = range(3)
HEADERS = ("Start", "End", "Text")


def format_time(seconds: float) -> str:
    """``m:ss.cc`` — the precision of an LRC tag, which is what users correct against."""
    centis = round(max(seconds, 0.0) * 100)
    minutes, centis = divmod(centis, 6000)
    return f"{minutes}:{centis // 100:02d}.{centis % 100:02d}"


def parse_time(text: str) -> float:
    """Seconds from ``[h:]m:ss.cc`` or plain seconds; raises ValueError on anything else."""
    seconds = 0.0
    for part in text.strip().split(":"):
        seconds = seconds * 60 + float(part)
    if seconds < 0:
        raise ValueError(f"negative time {text!r}")
    return seconds


class ReplaceLinesCommand(QUndoCommand):
    """One undo step over one owner's lines. Lines are immutable values, so keeping the list before and
    after is cheap and undo needs no inverse operation."""

    def __init__(self, panel: "LyricsPanel", owner: object, before: list[LyricLine], after: list[LyricLine],
                 text: str):
        super().__init__(text)
        self._panel, self._owner, self._before, self._after = panel, owner, before, after

    def redo(self) -> None:
        self._panel.show_lines(self._after, self._owner)

    def undo(self) -> None:
        self._panel.show_lines(self._before, self._owner)


class LyricsTableModel(QAbstractTableModel):
    """Start, end and text of each line; the line being sung is drawn highlighted. Edits are not applied
    here but requested through ``editRequested(row, new_line)`` so that they go through the undo stack."""

    editRequested = Signal(int, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.lines: list[LyricLine] = []
        self.current_row: int | None = None

    def set_lines(self, lines: list[LyricLine]) -> None:
        self.beginResetModel()
        self.lines = list(lines)
        self.current_row = None
        self.endResetModel()

    def set_current_row(self, row: int | None) -> None:
        previous, self.current_row = self.current_row, row
        for changed in {previous, row} - {None}:
            self.dataChanged.emit(self.index(changed, 0), self.index(changed, len(HEADERS) - 1))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.lines)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def flags(self, index):
        return super().flags(index) | Qt.ItemFlag.ItemIsEditable

    def data(self, index, role: int = Qt.ItemDataRole.DisplayRole):
        line = self.lines[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return (format_time(line.start), format_time(line.end), line.text)[index.column()]
        if index.row() == self.current_row:
            if role == Qt.ItemDataRole.BackgroundRole:
                return QPalette().color(QPalette.ColorRole.Highlight)
            if role == Qt.ItemDataRole.ForegroundRole:
                return QPalette().color(QPalette.ColorRole.HighlightedText)
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
        return None

    def setData(self, index, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        """Validate an edit and request it; word timings are dropped because Whisper's words no longer
        describe a line a person has changed."""
        if role != Qt.ItemDataRole.EditRole:
            return False
        line = self.lines[index.row()]
        try:
            if index.column() == TEXT:
                edited = replace(line, text=str(value).strip(), words=[])
            elif index.column() == START:
                edited = replace(line, start=parse_time(str(value)), words=[])
            else:
                edited = replace(line, end=parse_time(str(value)), words=[])
        except ValueError:
            return False
        if edited.end <= edited.start or edited == line:
            return False
        self.editRequested.emit(index.row(), edited)
        return True


class LyricsPanel(QWidget):
    """Shows the lyrics of the current owner (a track). Signals: ``seekRequested(seconds)`` when a line is
    clicked, ``linesChanged(lines)`` after every change to the lines shown, ``ownerLinesChanged(owner,
    lines)`` after every change to any owner's lines (the waveform regions follow it), and the button
    requests ``transcribeRequested``, ``retranscribeRequested``, ``importTimingsRequested``,
    ``addVocalsRequested``."""

    seekRequested = Signal(float)
    linesChanged = Signal(list)
    ownerLinesChanged = Signal(object, list)
    transcribeRequested = Signal()
    retranscribeRequested = Signal()
    importTimingsRequested = Signal()
    addVocalsRequested = Signal()

    def __init__(self, undo_stack: QUndoStack, parent: QWidget | None = None):
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.owner: object | None = None
        self.export_path = Path("lyrics")  # without suffix: the format's suffix is added
        self._documents: dict[object, Lyrics] = {}
        self.model = LyricsTableModel(self)
        self.model.editRequested.connect(self._edit_line)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.horizontalHeader().setSectionResizeMode(TEXT, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.clicked.connect(lambda index: self.seekRequested.emit(self.model.lines[index.row()].start))

        self.transcribe_button = QPushButton("Transcribe…")
        self.retranscribe_button = QPushButton("Re-transcribe selection")
        self.import_button = QPushButton("Import timings…")
        self.vocals_button = QPushButton("Add vocals as track")
        self.vocals_button.setEnabled(False)
        self.export_format = QComboBox()
        self.export_format.addItems(list(LYRICS_FORMATS))
        self.export_button = QPushButton("Export…")
        self.transcribe_button.clicked.connect(self.transcribeRequested)
        self.retranscribe_button.clicked.connect(self.retranscribeRequested)
        self.import_button.clicked.connect(self.importTimingsRequested)
        self.vocals_button.clicked.connect(self.addVocalsRequested)
        self.export_button.clicked.connect(self._ask_export)

        buttons = QHBoxLayout()
        for widget in (self.transcribe_button, self.retranscribe_button, self.import_button, self.vocals_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(self.export_format)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        self._update_buttons()

    # --- whose lyrics --------------------------------------------------------------------------------
    def set_owner(self, owner: object | None, export_path: Path | None = None) -> None:
        """Show the lyrics of ``owner`` (None: no track, nothing to transcribe); ``export_path`` (no suffix)
        is what Export… suggests."""
        self.owner = owner
        self.export_path = export_path or Path("lyrics")
        self.model.set_lines(self.lyrics.lines)
        self.linesChanged.emit(self.lines)
        self._update_buttons()

    def owners(self) -> list[object]:
        """Every owner that has lyrics."""
        return [owner for owner in self._documents if owner is not None]

    def forget(self, owner: object) -> None:
        """Drop the lyrics of a closed track."""
        self._documents.pop(owner, None)
        if owner is self.owner:
            self.set_owner(None)

    def _update_buttons(self) -> None:
        has_track = self.owner is not None
        for button in (self.transcribe_button, self.retranscribe_button, self.import_button):
            button.setEnabled(has_track)
        self.export_button.setEnabled(bool(self.lyrics.lines))

    # --- the lines -----------------------------------------------------------------------------------
    @property
    def lyrics(self) -> Lyrics:
        return self.lyrics_of(self.owner)

    def lyrics_of(self, owner: object | None) -> Lyrics:
        return self._documents.get(owner) or Lyrics(lines=[])

    @property
    def lines(self) -> list[LyricLine]:
        return list(self.lyrics.lines)

    def show_lines(self, lines: list[LyricLine], owner: object | None = None) -> None:
        """Set the lines of ``owner`` (the shown one by default) without recording an undo step (undo and
        redo call this); displayed when ``owner`` is the one shown."""
        owner = self.owner if owner is None else owner
        ordered = sorted(lines, key=lambda line: (line.start, line.end))
        self._documents[owner] = replace(self.lyrics_of(owner), lines=ordered)
        self.ownerLinesChanged.emit(owner, list(ordered))
        if owner is self.owner:
            self.model.set_lines(ordered)
            self.linesChanged.emit(self.lines)
            self._update_buttons()

    def replace_lines(self, lines: list[LyricLine], description: str, owner: object | None = None) -> None:
        """Change the lines (of ``owner``, the shown one by default) as one undoable step."""
        owner = self.owner if owner is None else owner
        self.undo_stack.push(ReplaceLinesCommand(self, owner, list(self.lyrics_of(owner).lines), list(lines),
                                                 description))

    def set_lyrics(self, lyrics: Lyrics, description: str = "Transcribe lyrics", owner: object | None = None) -> None:
        """Give ``owner`` (the shown one by default) a new transcription (undoable), keeping its language,
        model and method for export."""
        owner = self.owner if owner is None else owner
        self._documents[owner] = replace(lyrics, lines=self.lyrics_of(owner).lines)
        self.replace_lines(lyrics.lines, description, owner)

    def replace_range(self, start_s: float, end_s: float, lines: list[LyricLine],
                      description: str = "Re-transcribe selection", owner: object | None = None) -> None:
        """Swap the lines that start inside ``[start_s, end_s)`` for ``lines`` (a re-transcribed selection)."""
        owner = self.owner if owner is None else owner
        kept = [line for line in self.lyrics_of(owner).lines if not start_s <= line.start < end_s]
        self.replace_lines(kept + list(lines), description, owner)

    def _edit_line(self, row: int, edited: LyricLine) -> None:
        lines = self.lines
        lines[row] = edited
        self.replace_lines(lines, f"Edit lyric line {row + 1}")

    # --- playback ------------------------------------------------------------------------------------
    def line_at(self, seconds: float) -> int | None:
        """Row of the line being sung at ``seconds``, or None between lines."""
        starts = [line.start for line in self.lyrics.lines]
        row = bisect.bisect_right(starts, seconds) - 1
        if row >= 0 and seconds < self.lyrics.lines[row].end:
            return row
        return None

    def set_position(self, seconds: float) -> None:
        """Highlight the line under the play head and keep it in view."""
        row = self.line_at(seconds)
        if row != self.model.current_row:
            self.model.set_current_row(row)
            if row is not None:
                self.table.scrollTo(self.model.index(row, TEXT))

    # --- files ---------------------------------------------------------------------------------------
    def export(self, path: str | Path, fmt: str) -> Path:
        """Write the lines in ``fmt`` (lrc, srt, vtt, txt, json) atomically; the suffix follows ``fmt``.
        Lyrics without lines are refused: an empty file would only look like a result."""
        if not self.lyrics.lines:
            raise BadInputError(None, "there are no lyric lines to export: transcribe or import some first")
        return formats.write_lyrics(self.lyrics, Path(path).with_suffix(""), [fmt])[0]

    def suggested_export_path(self, fmt: str) -> Path:
        return self.export_path.with_name(f"{self.export_path.name}.{fmt}")

    def _ask_export(self) -> None:
        if not self.lyrics.lines:
            show_error(self, "Export lyrics", "There are no lyric lines to export: transcribe or import some first.")
            return
        fmt = self.export_format.currentText()
        path, _ = QFileDialog.getSaveFileName(self, "Export lyrics", str(self.suggested_export_path(fmt)),
                                              f"{fmt.upper()} (*.{fmt})")
        if path:
            try:
                self.export(path, fmt)
            except VocalisError as exc:
                show_error(self, "Export lyrics", str(exc))
