"""Help ▸ Keyboard shortcuts (read from the window's own actions, so the list is never out of date) and
Help ▸ Getting started."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QMenu, QMenuBar, QTableWidget,
                               QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget)

SHORTCUT_COLUMNS = ("Menu", "Command", "Shortcut")

GETTING_STARTED = """
<h2>Getting started with Vocalis</h2>
<ol>
<li><b>Open audio</b>: File ▸ Open… (Ctrl+O), drop files on the window, or press <b>R</b> to record
(R again stops; the take becomes a new track). Each file is a track: waveform above spectrogram.</li>
<li><b>Look and listen</b>: the mouse wheel zooms around the pointer, Shift+wheel scrolls, drag to select,
click to move the play head. The highlighted header marks the <b>current track</b>, which edits, playback
and tasks act on. <b>Space</b> plays the current track (or the selection; ⟲ loops it).</li>
<li><b>Edit</b>: crop, delete, gain, normalize, fades and resample work on the selection (or the whole
track). Everything can be undone (Ctrl+Z) and redone (Ctrl+Shift+Z), closing a track too.</li>
<li><b>Run a task</b>: the Tasks menu transcribes lyrics or separates speakers from the current track or
its selection; results come back as new tracks or in the Lyrics panel. Forms show the usual choices first,
expert ones under <i>Advanced</i>. Tools ▸ Models… installs the
models a task needs; Tools ▸ Batch… runs a task over a whole folder.</li>
<li><b>Keep your work</b>: File ▸ Export… (Ctrl+S) writes a track as WAV, FLAC, Ogg or MP3; File ▸ Save
Project (Ctrl+Alt+S) keeps the whole session (tracks, edits, lyrics, view) in one <tt>.vocalis</tt> file.
Vocalis asks before closing anything unsaved, autosaves in the background, and offers to recover your work
if it was killed or crashed.</li>
</ol>
<p>Help ▸ Keyboard shortcuts lists every shortcut. The command line (<tt>vocalis --help</tt>) runs every
task without the window.</p>
"""


def shortcut_rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu path, command, shortcut) of every menu action that has a shortcut, in menu order."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{path} ▸ {_plain(action.text())}")
            elif not action.isSeparator():
                keys = [key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts()]
                keys = [key for key in keys if key]
                if keys:
                    rows.append((path, _plain(action.text()), ", ".join(keys)))

    for action in menu_bar.actions():
        if action.menu() is not None:
            walk(action.menu(), _plain(action.text()))
    return rows


def _plain(text: str) -> str:
    """Menu text without its mnemonic ampersand (a doubled one is a literal &)."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _lay_out_with_close_button(dialog: QDialog, content: QWidget, width: int, height: int) -> None:
    """Both help dialogs: their content above a Close button, at a size that shows it without scrolling."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(content)
    layout.addWidget(buttons)
    dialog.resize(width, height)


class ShortcutsDialog(QDialog):
    def __init__(self, menu_bar: QMenuBar, extra: list[tuple[str, str, str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(menu_bar) + extra
        self.table = QTableWidget(len(rows), len(SHORTCUT_COLUMNS))
        self.table.setHorizontalHeaderLabels(SHORTCUT_COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        _lay_out_with_close_button(self, self.table, 560, 520)


class GettingStartedDialog(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Getting started")
        self.text = QTextBrowser()
        self.text.setHtml(GETTING_STARTED)
        _lay_out_with_close_button(self, self.text, 620, 480)


MOUSE_AND_KEYS = [
    ("Tracks", "Zoom around the pointer", "Mouse wheel / pinch"),
    ("Tracks", "Scroll in time", "Shift+wheel, middle-button drag"),
    ("Tracks", "Zoom in / out ×2", "+ / -"),
    ("Tracks", "Fit all", "0"),
    ("Tracks", "Scroll a tenth of the view", "← / →"),
    ("Tracks", "Select / extend the selection", "Drag / Shift+click"),
]
"""Gestures the window handles itself (not menu actions), listed after the actions' shortcuts."""


def show_shortcuts(window) -> ShortcutsDialog:
    dialog = ShortcutsDialog(window.menuBar(), MOUSE_AND_KEYS, window)
    dialog.show()
    return dialog


def show_getting_started(window) -> GettingStartedDialog:
    dialog = GettingStartedDialog(window)
    dialog.show()
    return dialog


def install_help(window, before: QAction | None) -> None:
    """Add the two Help entries to the window's Help menu, above ``before`` (About)."""
    menu = window.actions.help_menu
    for text, opener, shortcut in (("&Getting Started", show_getting_started, None),
                                   ("&Keyboard Shortcuts", show_shortcuts, "Ctrl+/")):
        action = QAction(text, window)
        if shortcut:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False, opener=opener: opener(window))
        menu.insertAction(before, action)
