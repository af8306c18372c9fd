"""The window's menus, toolbar and keyboard shortcuts, wired to :class:`~gui.main_window.MainWindow`
methods. Kept apart from the window so that the window holds behaviour and this file holds the
catalogue of commands a person sees."""

from __future__ import annotations

from functools import partial
from typing import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu

from gui import edits

ZOOM_STEP = 2.0

def open_models(module, window):
    """One Models window per main window, showing fresh states each time it is opened."""
    dialog = window.findChild(module.ModelsDialog)
    if dialog is None:
        return module.ModelsDialog(runner=window.jobs, parent=window)
    dialog.refresh()
    return dialog


def _open_devices(module, window):
    """One Devices dock per window, like the other panels."""
    dock = window.findChild(QDockWidget, "panel-Devices")
    return dock if dock is not None else window.add_panel("Devices", module.DevicePanel())


def _open_batch(module, window):
    return module.open_batch_panel(window)


TOOL_WINDOWS = (
    # (menu text, module another part of Vocalis provides, how to open it from the module, title)
    ("Models…", "gui.models_dialog", open_models, "Models"),
    ("Devices…", "gui.device_panel", _open_devices, "Devices"),
    ("Batch…", "gui.batch_panel", _open_batch, "Batch"),
)


class WindowActions:
    """Builds every menu of ``window`` and keeps the actions tests and task panels may need."""

    def __init__(self, window):
        self.window = window
        bar = window.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.edit_menu = bar.addMenu("&Edit")
        self.view_menu = bar.addMenu("&View")
        self.transport_menu = bar.addMenu("&Transport")
        self.tasks_menu = bar.addMenu("T&asks")
        self.tools_menu = bar.addMenu("T&ools")
        self.help_menu = bar.addMenu("&Help")
        self.tasks_toolbar = window.addToolBar("Tasks")
        self.tasks_toolbar.setObjectName("tasks-toolbar")
        self.tasks_toolbar.setVisible(False)
        self._build_file()
        self._build_edit()
        self._build_view()
        self._build_transport()
        self._build_tools()
        self._build_help()
        for action in self.track_actions:
            window.require_track(action)

    @property
    def track_actions(self) -> list[QAction]:
        """The commands that act on the current track: disabled while there is none."""
        return [self.export, self.export_selection, self.close_track, self.crop, self.delete, *self.level_edits,
                self.select_all, self.zoom_to_selection]

    def _action(self, text: str, slot: Callable, shortcut: QKeySequence | str | None = None) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_file(self) -> None:
        window, menu = self.window, self.file_menu
        menu.addAction(self._action("&Open…", window.ask_open, QKeySequence.StandardKey.Open))
        self.recent_menu = QMenu("Open &Recent", menu)
        menu.addMenu(self.recent_menu)
        self.rebuild_recent_menu()
        menu.addSeparator()
        self.export = self._action("&Export…", window.ask_export, "Ctrl+S")
        self.export_selection = self._action("Export &Selection…", partial(window.ask_export, True), "Ctrl+Shift+S")
        self.close_track = self._action("&Close Track", window.close_track, QKeySequence.StandardKey.Close)
        menu.addAction(self.export)
        menu.addAction(self.export_selection)
        menu.addSeparator()
        menu.addAction(self.close_track)
        menu.addAction(self._action("&Quit", window.close, QKeySequence.StandardKey.Quit))

    def rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.window.recent_files()
        for path in recent:
            self.recent_menu.addAction(self._action(path, partial(self.window.open_file, path)))
        self.recent_menu.setEnabled(bool(recent))

    def _build_edit(self) -> None:
        window, menu = self.window, self.edit_menu
        self.undo = window.undo_stack.createUndoAction(window, "&Undo")
        self.undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo = window.undo_stack.createRedoAction(window, "&Redo")
        self.redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        menu.addAction(self.undo)
        menu.addAction(self.redo)
        menu.addSeparator()
        self.crop = self._action("&Crop to Selection", partial(window.apply_edit, edits.crop_to_selection,
                                                               "Crop to selection"), "Ctrl+T")
        self.delete = self._action("&Delete Selection", partial(window.apply_edit, edits.delete_selection,
                                                                "Delete selection"), QKeySequence.StandardKey.Delete)
        menu.addAction(self.crop)
        menu.addAction(self.delete)
        menu.addSeparator()
        self.level_edits = [
            self._action("&Gain…", window.edit_gain),
            self._action("Normalize &Peak…", window.edit_normalize_peak),
            self._action("Normalize &Loudness…", window.edit_normalize_loudness),
            self._action("Fade &In", partial(window.apply_edit, edits.fade, "Fade in", True)),
            self._action("Fade &Out", partial(window.apply_edit, edits.fade, "Fade out", False)),
            self._action("&Resample…", window.edit_resample),
        ]
        for action in self.level_edits:
            menu.addAction(action)
        menu.addSeparator()
        self.select_all = self._action("Select &All", self._select_all, QKeySequence.StandardKey.SelectAll)
        menu.addAction(self.select_all)
        menu.addAction(self._action("Select &None", window.track_area.selection.clear, "Escape"))
        menu.addSeparator()
        self.preferences = self._action("&Preferences…", window.show_preferences, QKeySequence.StandardKey.Preferences)
        menu.addAction(self.preferences)

    def _select_all(self) -> None:
        track = self.window.current_track()
        if track is not None:
            self.window.track_area.selection.set(0.0, track.clip.duration)

    def _build_view(self) -> None:
        axis, menu = self.window.track_area.axis, self.view_menu
        menu.addAction(self._action("Zoom &In", partial(axis.zoom, ZOOM_STEP), QKeySequence.StandardKey.ZoomIn))
        menu.addAction(self._action("Zoom &Out", partial(axis.zoom, 1 / ZOOM_STEP), QKeySequence.StandardKey.ZoomOut))
        menu.addAction(self._action("&Fit All", axis.fit_all, "Ctrl+0"))
        self.zoom_to_selection = self._action("Zoom to &Selection", self._zoom_to_selection, "Ctrl+E")
        menu.addAction(self.zoom_to_selection)
        menu.addSeparator()

    def _zoom_to_selection(self) -> None:
        selection = self.window.current_selection()
        if selection is not None:
            self.window.track_area.axis.set_range(*selection)

    def _build_transport(self) -> None:
        window, menu = self.window, self.transport_menu
        self.play = self._action("&Play / Pause", window.toggle_play, "Space")
        self.record = self._action("&Record", window.toggle_record, "R")
        menu.addAction(self.play)
        menu.addAction(self._action("&Stop", window.stop))
        menu.addAction(self.record)
        menu.addSeparator()
        menu.addAction(self._action("Go to &Start", window.go_to_start, "Home"))
        menu.addAction(self._action("Go to &End", window.go_to_end, "End"))

    def _build_help(self) -> None:
        self.help_menu.addAction(self._action("&About Vocalis", self.window.show_about))

    def _build_tools(self) -> None:
        for text, module, opener, title in TOOL_WINDOWS:
            self.tools_menu.addAction(self._action(text, partial(self.window.open_optional_tool, module, opener,
                                                                 title)))
