"""Help ▸ Keyboard shortcuts lists the shortcuts the window's actions really have; Help ▸ Getting
started opens."""

from __future__ import annotations

import os

import pytest
from PySide6.QtGui import QAction, QKeySequence

from gui import help as help_ui
from gui.main_window import MainWindow

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    return win


def menu_action(window, text: str) -> QAction:
    return next(a for a in window.actions.help_menu.actions() if a.text() == text)


def test_shortcuts_dialog_lists_the_actions_real_shortcuts(window):
    menu_action(window, "&Keyboard Shortcuts").trigger()
    dialog = window.findChild(help_ui.ShortcutsDialog)
    assert dialog is not None and dialog.isVisible()
    table = dialog.table
    rows = {tuple(table.item(r, c).text() for c in range(3)) for r in range(table.rowCount())}
    native = QKeySequence.SequenceFormat.NativeText
    for menu, command, keys in (("File", "Save Project", QKeySequence("Ctrl+Alt+S")),
                                ("Edit", "Undo", QKeySequence("Ctrl+Z")),
                                ("Transport", "Record", QKeySequence("R")),
                                ("Transport", "Play / Pause", QKeySequence("Space")),
                                ("Help", "Keyboard Shortcuts", QKeySequence("Ctrl+/"))):
        assert (menu, command, keys.toString(native)) in rows
    # Every menu action with a shortcut is listed (standard keys as this platform binds them) …
    menu_actions = [a for menu in window.menuBar().findChildren(type(window.actions.file_menu))
                    for a in menu.actions() if not a.isSeparator() and a.menu() is None]
    with_keys = {a.text().replace("&", "") for a in menu_actions if not a.shortcut().isEmpty()}
    assert len(with_keys) > 15 and with_keys <= {command for _menu, command, _keys in rows}
    # … and changing one changes the list.
    window.actions.record.setShortcut("Ctrl+R")
    assert ("Transport", "Record", "Ctrl+R") in help_ui.shortcut_rows(window.menuBar())


def test_getting_started_opens(window):
    menu_action(window, "&Getting Started").trigger()
    dialog = window.findChild(help_ui.GettingStartedDialog)
    assert dialog.isVisible()
    assert "Open audio" in dialog.text.toPlainText()
