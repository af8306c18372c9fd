"""The Vocalis main window: tracks, transport, menus, status bar, and the API task panels use
(docs/architecture.md, "GUI extension point")."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterator

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from engine import __version__, paths, project
from engine.audio import io
from engine.audio.clip import Clip
from engine.audio.dsp import crop_seconds
from engine.errors import MissingModelError, VocalisError
from engine.jobs import Job
from gui import dialogs, edits
from gui import help as help_ui
from gui import project as project_ui
from gui.actions import WindowActions, open_models
from gui.jobs import JobRunner, JobStatusWidget, plain_task
from gui.tasks import install_all
from gui.track_area import TrackArea
from gui.transport import AudioSettings, PlaybackController, TransportBar
from gui.undo import ClipEditCommand
from gui.views import TrackView
from gui.views.ruler import format_time

log = logging.getLogger("vocalis.gui")

MAX_RECENT = 10
PANEL_HEIGHT = 240


def app_settings() -> QSettings:
    """Settings in an INI file in Vocalis's config folder (so VOCALIS_HOME isolates them, e.g. in tests)."""
    return QSettings(str(paths.config_dir() / "vocalis.ini"), QSettings.Format.IniFormat)


@contextlib.contextmanager
def _busy_cursor() -> Iterator[None]:
    """A wait cursor around a short synchronous write (saving while the window is being closed)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()


class MainWindow(QMainWindow):
    position_changed = Signal(float)
    current_track_changed = Signal(object)  # the new current track, or None
    tracks_changed = Signal()  # a track was opened, added or closed
    """The play head in seconds, while playing or when seeking (part of the task-panel API)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Vocalis")
        self.setAcceptDrops(True)
        self.settings = app_settings()
        self.undo_stack = QUndoStack(self)
        self._panels: list[QDockWidget] = []
        self._track_actions: list[QAction] = []
        self.jobs = JobRunner(self)
        self.track_area = TrackArea()
        self.transport = TransportBar()
        self.playback = PlaybackController(self._load_audio_settings(), self)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.track_area, 1)
        layout.addWidget(self.transport)
        self.setCentralWidget(central)
        self.job_status = JobStatusWidget(self.jobs)
        self.statusBar().addPermanentWidget(self.job_status)
        self.actions = WindowActions(self)
        self._init_work_safety()
        self._connect()
        help_ui.install_help(self, before=self.actions.help_menu.actions()[0])
        self.resize(1200, 800)
        self._restore_window_state()
        problems = install_all(self)
        if problems:
            self.show_message("Some task panels are unavailable: " + "; ".join(problems), 10000)

    def _connect(self) -> None:
        self.jobs.failed.connect(self._job_failed)
        self.jobs.cancelled.connect(lambda job: self.show_message(f"{job.name}: cancelled"))
        self.track_area.close_requested.connect(self.close_track)
        self.track_area.seek_requested.connect(self.seek)
        self.track_area.current_changed.connect(self._update_title)
        self.track_area.current_changed.connect(self._update_track_actions)
        self.track_area.current_changed.connect(self.current_track_changed)
        self.track_area.tracks_changed.connect(self.tracks_changed)
        self.track_area.selection.selectionChanged.connect(self._show_time)
        self.track_area.axis.cursorChanged.connect(self._show_time)
        self.track_area.selection.selectionChanged.connect(self._selection_changed)
        self.transport.play_pause_clicked.connect(self.toggle_play)
        self.transport.stop_clicked.connect(self.stop)
        self.transport.record_clicked.connect(self.toggle_record)
        self.transport.loop_toggled.connect(self._loop_toggled)
        self.playback.position_changed.connect(self._playback_moved)
        self.playback.state_changed.connect(self._playback_state_changed)
        self.playback.level_changed.connect(self.transport.meter.set_level)
        self.undo_stack.indexChanged.connect(self._update_title)
        # Crops, deletes and resamples change lengths, in either direction on undo/redo.
        self.undo_stack.indexChanged.connect(lambda _index: self.track_area.refresh_duration())

    # --- the task-panel API (docs/architecture.md) ----------------------------------------------------
    def add_task_action(self, action: QAction, needs_track: bool = False) -> None:
        self.actions.tasks_menu.addAction(action)
        self.actions.tasks_toolbar.addAction(action)
        self.actions.tasks_toolbar.setVisible(True)
        if needs_track:
            self.require_track(action)

    def add_panel(self, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"panel-{title}")
        dock.setWidget(widget)
        # Panels go below the tracks, as tabs of one area: the tracks keep the full width, which is
        # what time views need most.
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        if self._panels:
            self.tabifyDockWidget(self._panels[0], dock)
        else:
            self.resizeDocks([dock], [PANEL_HEIGHT], Qt.Orientation.Vertical)
        self._panels.append(dock)
        self.actions.view_menu.addAction(dock.toggleViewAction())
        dock.show()
        dock.raise_()
        return dock

    def tracks(self) -> list[TrackView]:
        """The open tracks, top to bottom (a copy: closing or adding one does not change it)."""
        return list(self.track_area.tracks)

    def current_track(self) -> TrackView | None:
        return self.track_area.current

    def current_selection(self) -> tuple[float, float] | None:
        return self.track_area.selection.range

    def selected_clip(self) -> Clip | None:
        """The current track's clip cropped to the selection, or the whole clip; None without tracks."""
        track = self.current_track()
        if track is None:
            return None
        selection = self.current_selection()
        if selection is None:
            return track.clip
        return crop_seconds(track.clip, selection[0], min(selection[1], track.clip.duration))

    def add_track(self, clip: Clip) -> TrackView:
        track = self.track_area.add_track(clip)
        self._update_title()
        return track

    def run_job(self, fn: Callable[..., Any], *args: Any, name: str = "",
                on_result: Callable[[Any], None] | None = None, owner: QWidget | None = None,
                **kwargs: Any) -> Job:
        """Run engine work off the UI thread: progress, ETA and Cancel in the status bar, failures in an
        error dialog, ``on_result(result)`` on the UI thread, skipped if ``owner`` (the panel or dialog
        that asked) has been deleted by then."""
        return self.jobs.run(fn, *args, name=name, on_result=on_result, owner=owner, **kwargs)

    def show_message(self, text: str, timeout_ms: int = 5000) -> None:
        """A short note in the status bar (a finished task's outcome), gone after ``timeout_ms``."""
        self.statusBar().showMessage(text, timeout_ms)

    def seek(self, seconds: float) -> None:
        """Move the play head (and playback, if playing) to ``seconds``."""
        seconds = max(0.0, seconds)
        if self.playback.playing and self.current_track() is not None:
            self._start_playback(seconds)
        self._move_cursor(seconds)

    # --- files ------------------------------------------------------------------------------------------
    def open_files(self, paths_to_open: list[str | Path]) -> list[Job]:
        return [self.open_file(path) for path in paths_to_open]

    def open_file(self, path: str | Path) -> Job:
        """Load ``path`` as a new track in a job, so a long file never freezes the window."""
        path = Path(path)
        self._remember_recent(path)
        return self.run_job(io.load, path, name=f"Opening {path.name}", on_result=self._add_opened_track)

    def export_clip(self, path: str | Path, subtype: str | None = None, selection_only: bool = False) -> Job | None:
        """Write the current track (or its selection) to ``path`` in a job; None without a track."""
        track = self.current_track()
        if track is None:
            self.report_error("Nothing to export", "Open or record a track first.")
            return None
        clip = self.selected_clip() if selection_only else track.clip
        path = Path(path)
        return self.run_job(plain_task(io.save, f"Exporting {path.name}"), clip, path, subtype=subtype,
                            name=f"Exporting {path.name}",
                            on_result=lambda written: self.show_message(f"Exported {written}"))

    def ask_export(self, selection_only: bool = False) -> None:
        track = self.current_track()
        if track is None:
            self.report_error("Nothing to export", "Open or record a track first.")
            return
        folder = Path(self.settings.value("last_folder", str(Path.home())))
        suffix = "_selection" if selection_only else ""
        chosen = dialogs.ask_export_path(self, folder / f"{track.clip.name or 'untitled'}{suffix}.wav")
        if chosen is not None:
            path, subtype = chosen
            self.settings.setValue("last_folder", str(path.parent))
            self.export_clip(path, subtype, selection_only)

    def ask_open(self) -> None:
        folder = str(self.settings.value("last_folder", str(Path.home())))
        chosen = dialogs.ask_open_paths(self, folder)
        if chosen:
            self.settings.setValue("last_folder", str(Path(chosen[0]).parent))
            self.open_files(chosen)

    def close_track(self, track: TrackView | None = None) -> bool:
        """Close ``track`` (or the current one) after asking to save it if it has unsaved changes; an
        undoable step that keeps every track's undo history. False if the user cancelled."""
        track = track or self.current_track()
        if track is None:
            return False
        if self.is_modified(track) and not self._settle_unsaved([track], f"Close {track.clip.name or 'track'}"):
            return False
        if self.playback.playing:
            self.stop()
        self.undo_stack.push(project_ui.CloseTrackCommand(self.track_area, track, self._update_title))
        return True

    def recent_files(self) -> list[str]:
        # type=list: an INI file cannot tell a one-item list from a string.
        return [str(p) for p in self.settings.value("recent_files", [], type=list) if p]

    def _remember_recent(self, path: Path) -> None:
        path = str(path.resolve())
        recent = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self.actions.rebuild_recent_menu()

    # --- edits ---------------------------------------------------------------------------------------------
    def apply_edit(self, operation: Callable[..., Clip], label: str, *args: Any) -> Job | None:
        """Run ``operation(clip, selection, *args)`` on the current track as a job and push the result
        on the undo stack."""
        track = self.current_track()
        if track is None:
            self.report_error(label, "Open or record a track first.")
            return None
        before = track.clip
        return self.run_job(plain_task(operation, label), before, self.current_selection(), *args, name=label,
                            on_result=lambda after: self._push_edit(track, before, after, label))

    def _push_edit(self, track: TrackView, before: Clip, after: Clip, label: str) -> None:
        if track not in self.tracks() or track.clip is not before:
            self.report_error(label, "The track changed while the edit ran; nothing was applied.")
            return
        self.undo_stack.push(ClipEditCommand(track, before, after, label))
        if after.duration != before.duration:
            self.track_area.selection.clear()  # the selected times no longer mean the same audio

    def edit_gain(self) -> None:
        db = dialogs.ask_float(self, self.titled("Gain"), "Gain in dB:", 0.0, -60.0, 60.0)
        if db is not None:
            self.apply_edit(edits.gain, f"Gain {db:+.1f} dB", db)

    def edit_normalize_peak(self) -> None:
        target = dialogs.ask_float(self, self.titled("Normalize peak"), "Peak level in dBFS:", -1.0, -60.0, 0.0)
        if target is not None:
            self.apply_edit(edits.normalize_peak, f"Normalize peak to {target:.1f} dBFS", target)

    def edit_normalize_loudness(self) -> None:
        target = dialogs.ask_float(self, self.titled("Normalize loudness"), "Integrated loudness in LUFS:", -23.0,
                                   -60.0, 0.0)
        if target is not None:
            self.apply_edit(edits.normalize_loudness, f"Normalize loudness to {target:.1f} LUFS", target)

    def edit_resample(self) -> None:
        track = self.current_track()
        if track is None:
            self.report_error("Resample", "Open or record a track first.")
            return
        rate = dialogs.ask_sample_rate(self, track.clip.sample_rate, self.titled("Resample"))
        if rate is not None:
            self.apply_edit(edits.resample, f"Resample to {rate} Hz", rate)

    def _selection_changed(self, selection) -> None:
        if self.playback.playing and self.transport.loop_button.isChecked() and selection is not None:
            self.playback.set_loop(*selection, enabled=True)

    # --- transport -------------------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.playback.recording:
            return
        if self.playback.playing:
            self.playback.pause()
        elif self.playback.paused:
            self.playback.resume()
        else:
            self._start_playback(None)

    def _start_playback(self, start_s: float | None) -> None:
        """Play the current track: the selection (looped if the loop button is on) or from the cursor."""
        track = self.current_track()
        if track is None:
            return
        selection = self.current_selection()
        loop = self.transport.loop_button.isChecked() and selection is not None
        if start_s is None:
            cursor = self.track_area.axis.cursor_s
            start_s = selection[0] if selection is not None else (cursor if cursor < track.clip.duration else 0.0)
        end_s = selection[1] if selection is not None and start_s < selection[1] else None
        try:
            self.playback.play(track.clip, start_s, end_s, loop)
        except VocalisError as exc:
            self.report_error("Cannot play", str(exc))

    def stop(self) -> None:
        self.playback.stop()

    def toggle_record(self, _checked: bool = False, wait: bool = False) -> None:
        """Start recording, or end it: the take becomes a new track once its last samples have arrived
        (on a worker thread, so the window never freezes; ``wait`` does it now, for quitting)."""
        try:
            if not self.playback.recording:
                self.playback.start_recording()
                self.transport.show_recording_time(0.0)
                return
            count = sum(1 for t in self.tracks() if t.clip.name.startswith("Recording"))
            name = f"Recording {count + 1}"
            if wait:
                recorder = self.playback.recorder
                self._add_recording(self.playback.stop_recording(name), recorder)
            else:
                self._finishing_recording = self.playback.stop_recording_in_background(
                    name, self._add_recording, lambda job: self.report_error("Recording failed", job.error_message))
        except VocalisError as exc:
            self.report_error("Recording failed", str(exc))

    def _add_recording(self, clip: Clip, recorder) -> None:
        if not clip.frames:
            self.report_error("Recording", "Nothing was recorded: the input delivered no audio.")
            return
        self.add_track(clip)
        if recorder.dropped_frames or recorder.overflows:
            lost = recorder.dropped_frames / clip.sample_rate
            self.report_error("Recording", f"The computer was too busy and the audio system lost input "
                                           f"({recorder.overflows} overflow(s), {lost:.2f} s filled with "
                                           "silence). The take was kept; try closing other programs.")
        self._show_time()

    def go_to_start(self) -> None:
        self.seek(0.0)
        self.track_area.axis.ensure_visible(0.0)

    def go_to_end(self) -> None:
        track = self.current_track()
        end = track.clip.duration if track is not None else self.track_area.axis.duration_s
        self.seek(end)
        self.track_area.axis.ensure_visible(end)

    def _loop_toggled(self, enabled: bool) -> None:
        selection = self.current_selection()
        if self.playback.playing and selection is not None:
            self.playback.set_loop(*selection, enabled=enabled)

    def _playback_moved(self, seconds: float) -> None:
        if self.playback.recording:
            self.transport.show_recording_time(seconds)
        else:
            self._move_cursor(seconds)

    def _move_cursor(self, seconds: float) -> None:
        track = self.current_track()
        if track is not None:
            track.set_cursor(seconds)
        else:
            self.track_area.axis.set_cursor(seconds)
        self.position_changed.emit(seconds)

    def _playback_state_changed(self) -> None:
        self.transport.show_state(self.playback.playing, self.playback.recording)
        if not self.playback.recording:
            self.transport.meter.set_level(-120.0, -120.0)

    def _show_time(self, *_args) -> None:
        self.transport.show_time(self.track_area.axis.cursor_s, self.current_selection())

    # --- what an action acts on -------------------------------------------------------------------------------
    def require_track(self, action: QAction) -> None:
        """Keep ``action`` disabled while no track is open, so that no form opens only to end in an error."""
        self._track_actions.append(action)
        action.setEnabled(self.current_track() is not None)

    def _update_track_actions(self, *_args) -> None:
        present = self.current_track() is not None
        for action in self._track_actions:
            action.setEnabled(present)

    def describe_target(self) -> str:
        """What a task started now acts on, for dialogs: “name”, and the selection when there is one."""
        track = self.current_track()
        if track is None:
            return ""
        name = f"“{track.clip.name or 'untitled'}”"
        selection = self.current_selection()
        if selection is None:
            return name
        return f"{name}, selection {format_time(selection[0])}–{format_time(min(selection[1], track.clip.duration))}"

    def titled(self, title: str) -> str:
        """A dialog title that names the track it acts on."""
        target = self.describe_target()
        return f"{title} — {target}" if target else title

    # --- errors, settings, window state ---------------------------------------------------------------------
    def report_error(self, title: str, message: str) -> QMessageBox:
        """Show ``message`` (a VocalisError's text: file name and reason) in a dialog and log it."""
        log.warning("%s: %s", title, message)
        return dialogs.show_error(self, title, message)

    def _job_failed(self, job: Job) -> None:
        """A job's failure in a dialog; a missing model gets one that leads to the Models window."""
        if isinstance(job.error, MissingModelError) and self._show_missing_model(job):
            return
        self.report_error(f"{job.name} failed", job.error_message)

    def _show_missing_model(self, job: Job) -> bool:
        from engine.models.store import default_store

        store = default_store()
        entries = dialogs.models_named_in(job.error_message, store.catalog)
        if not entries:
            return False
        log.warning("%s failed: %s", job.name, job.error_message)
        states = {entry.id: store.status(entry.id).state.value.replace("missing", "not installed")
                  for entry in entries}
        # The message may also name the model that asked for the missing ones (installed, or embedded and
        # installed on first use); only the missing ones matter.
        entries = [entry for entry in entries
                   if states[entry.id] != "installed" and entry.source.kind != "pypi"] or entries
        dialogs.show_missing_model(self, f"{job.name} failed", entries, states, self.show_models)
        return True

    def show_models(self, model_id: str | None = None) -> QWidget | None:
        """The Models window, with ``model_id`` selected."""
        dialog = self.open_optional_tool("gui.models_dialog", open_models, "Models")
        if dialog is not None and model_id is not None:
            dialog.select(model_id)
        return dialog

    def show_preferences(self) -> None:
        if self.playback.recording:
            self.toggle_record(wait=True)  # keep what was recorded; device changes need closed streams
        self.playback.stop()
        dialog = dialogs.PreferencesDialog(self.playback.settings, self)
        if dialog.exec():
            self.playback.settings = dialog.chosen()
            self._save_audio_settings(self.playback.settings)

    def show_about(self) -> None:
        QMessageBox.about(self, "About Vocalis",
                          f"<b>Vocalis {__version__}</b><p>A desktop studio for voice and song models: "
                          "see, edit, play and record audio; separate speakers; transcribe lyrics.</p>")

    def open_optional_tool(self, module_name: str, opener: Callable[[Any, "MainWindow"], QWidget],
                           title: str) -> QWidget | None:
        """Open a tool window that another part of Vocalis provides in ``module_name`` (imported only
        now), or say clearly that this installation lacks it."""
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            log.warning("%s is unavailable: %s", title, exc)
            self.report_error(title, f"{title} is not available in this installation ({exc}).")
            return None
        widget = opener(module, self)
        widget.show()
        widget.raise_()
        return widget

    def _load_audio_settings(self) -> AudioSettings:
        defaults = AudioSettings()
        return AudioSettings(
            output_device=self.settings.value("audio/output_device") or None,
            input_device=self.settings.value("audio/input_device") or None,
            record_rate=int(self.settings.value("audio/record_rate", defaults.record_rate)),
            record_channels=int(self.settings.value("audio/record_channels", defaults.record_channels)))

    def _save_audio_settings(self, audio: AudioSettings) -> None:
        self.settings.setValue("audio/output_device", audio.output_device or "")
        self.settings.setValue("audio/input_device", audio.input_device or "")
        self.settings.setValue("audio/record_rate", audio.record_rate)
        self.settings.setValue("audio/record_channels", audio.record_channels)

    def _restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def _update_title(self, *_args) -> None:
        track = self.current_track()
        name = track.clip.name if track is not None else ""
        modified = " •" if self.unsaved_tracks() else ""
        self.setWindowTitle(f"{name}{modified} — Vocalis" if name else "Vocalis")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.playback.stop()
        if self.playback.recording:
            self.toggle_record(wait=True)  # a recording in progress becomes a track, asked about below
        finishing = getattr(self, "_finishing_recording", None)
        if finishing is not None and finishing.wait(10):
            QApplication.processEvents()  # deliver the take that was just stopped, so it is asked about too
        if not self._settle_unsaved(self.unsaved_tracks(), "Quit Vocalis"):
            event.ignore()
            return
        self.jobs.cancel_all()
        self.autosaver.close()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        super().closeEvent(event)

    # --- never lose work: unsaved tracks, projects, autosave, recovery ------------------------------------------
    def _init_work_safety(self) -> None:
        self._saved_clips: dict[TrackView, Clip] = {}  # the clip each track's file (or the project) holds
        self._saved_extras: dict[TrackView, str] = {}  # its panel state (lyrics) as last saved, as JSON
        self._track_state: dict[str, tuple[Callable[[TrackView], Any], Callable[[TrackView, Any], None]]] = {}
        self.project_path: Path | None = None
        interval = int(self.settings.value("autosave/interval_ms", project_ui.AUTOSAVE_INTERVAL_MS))
        self.autosaver = project_ui.Autosaver(self.project_state, self._session_signature, interval, self)
        menu = self.actions.file_menu
        first = menu.actions()[0] if menu.actions() else None
        for text, slot, shortcut in (("Open &Project…", self.ask_open_project, "Ctrl+Shift+O"),
                                     ("Save P&roject", self.save_project_or_ask, "Ctrl+Alt+S"),
                                     ("Save Project &As…", self.ask_save_project, None)):
            action = QAction(text, self)
            if shortcut:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            menu.insertAction(first, action)
        if first is not None:
            menu.insertSeparator(first)

    def register_track_state(self, key: str, save: Callable[[TrackView], Any],
                             restore: Callable[[TrackView, Any], None]) -> None:
        """Let a task panel keep its per-track state (JSON-able, e.g. lyric lines) in projects and
        autosaves: ``save(track)`` gives it (None for nothing), ``restore(track, value)`` puts it back."""
        self._track_state[key] = (save, restore)

    def is_modified(self, track: TrackView) -> bool:
        """True if ``track`` is not saved anywhere as it is now (an edit since opening, a recording, a
        separated or generated track, lyrics not yet in a project)."""
        return self._saved_clips.get(track) is not track.clip or self._extras_unsaved(track)

    def unsaved_tracks(self) -> list[TrackView]:
        return [track for track in self.tracks() if self.is_modified(track)]

    def _track_extras(self, track: TrackView) -> dict[str, Any]:
        extras = {}
        for key, (save, _restore) in self._track_state.items():
            value = save(track)
            if value is not None:
                extras[key] = value
        return extras

    def _extras_unsaved(self, track: TrackView) -> bool:
        return json.dumps(self._track_extras(track), sort_keys=True) != self._saved_extras.get(track, "{}")

    def _mark_saved(self, track: TrackView, clip: Clip, extras: dict[str, Any] | None = None) -> None:
        """``clip`` (and, if given, ``extras``) is what a file or the project now holds for ``track``."""
        self._saved_clips[track] = clip
        if extras is not None:
            self._saved_extras[track] = json.dumps(extras, sort_keys=True)

    def _add_opened_track(self, clip: Clip) -> TrackView:
        track = self.add_track(clip)
        self._mark_saved(track, clip)
        self._update_title()
        return track

    def _settle_unsaved(self, tracks: list[TrackView], title: str) -> bool:
        """Ask Save / Discard / Cancel about unsaved work; True when it may go (saved or discarded). In a
        project, one question covers the project; otherwise each track is asked about in turn."""
        if not tracks:
            return True
        if self.project_path is not None:
            answer = project_ui.ask_save_discard_cancel(
                self, title, f"Save the changes to the project {self.project_path.name}?")
            return answer is project_ui.Answer.DISCARD or (
                answer is project_ui.Answer.SAVE and self.save_project(self.project_path))
        for track in tracks:
            name = track.clip.name or "untitled"
            if self._extras_unsaved(track):
                # Lyrics live in projects only: saving them saves the session, which covers every track.
                answer = project_ui.ask_save_discard_cancel(
                    self, title, f"The track “{name}” has lyrics that are not saved. Save the session as a "
                                 "project?")
                if answer is project_ui.Answer.SAVE:
                    return self.ask_save_project()
            else:
                what = "has unsaved changes" if track in self._saved_clips else "has never been saved"
                answer = project_ui.ask_save_discard_cancel(self, title, f"The track “{name}” {what}. Save it?")
                if answer is project_ui.Answer.SAVE and not self.save_track(track):
                    return False
            if answer is project_ui.Answer.CANCEL:
                return False
        return True

    def save_track(self, track: TrackView) -> bool:
        """Ask where to save ``track`` (its own file suggested) and write it now; False if cancelled or
        failed."""
        folder = Path(self.settings.value("last_folder", str(Path.home())))
        suggested = track.clip.source if track.clip.source else folder / f"{track.clip.name or 'untitled'}.wav"
        chosen = dialogs.ask_export_path(self, Path(suggested))
        if chosen is None:
            return False
        path, subtype = chosen
        try:
            with _busy_cursor():
                io.save(track.clip, path, subtype=subtype)
        except VocalisError as exc:
            self.report_error("Save track", str(exc))
            return False
        self._mark_saved(track, track.clip)
        self._update_title()
        return True

    def project_state(self) -> project.ProjectState:
        """The session as a value: tracks (clips are immutable, so this is cheap), regions, panel state
        and the view."""
        tracks = [project.TrackState(track.clip, list(track.waveform.regions), self._track_extras(track))
                  for track in self.tracks()]
        current = self.current_track()
        axis = self.track_area.axis
        return project.ProjectState(
            tracks, self.tracks().index(current) if current is not None else None,
            {"start_s": axis.start_s, "end_s": axis.end_s, "cursor_s": axis.cursor_s,
             "selection": list(self.current_selection()) if self.current_selection() else None})

    def _session_signature(self) -> object:
        """What an autosave must capture; a snapshot is written only when it changes."""
        state = self.project_state()
        return ([(id(t.clip), t.regions, repr(t.extras)) for t in state.tracks], state.current, repr(state.view))

    def restore_project(self, state: project.ProjectState, saved: bool) -> None:
        """Add the tracks of ``state`` and restore its view; ``saved`` marks them as saved (a project
        file) rather than unsaved (a recovered autosave)."""
        added = []
        for entry in state.tracks:
            track = self.add_track(entry.clip)
            if entry.regions:
                track.add_regions(entry.regions)
            for key, value in entry.extras.items():
                if key in self._track_state:
                    self._track_state[key][1](track, value)
            if saved:
                self._mark_saved(track, entry.clip, entry.extras)
            added.append(track)
        if state.current is not None and 0 <= state.current < len(added):
            self.track_area.set_current(added[state.current])
        view = state.view
        if "start_s" in view and "end_s" in view and view["end_s"] > view["start_s"]:
            self.track_area.axis.set_range(view["start_s"], view["end_s"])
        if view.get("cursor_s") is not None:
            self.track_area.axis.set_cursor(view["cursor_s"])
        if view.get("selection"):
            self.track_area.selection.set(*view["selection"])
        self._update_title()

    def open_project(self, path: str | Path) -> Job:
        """Read a project in a job and add its tracks; the window then saves to it."""
        path = Path(path)

        def opened(state: project.ProjectState) -> None:
            self.restore_project(state, saved=True)
            self.project_path = path

        return self.run_job(project.load_project, path, name=f"Opening {path.name}", on_result=opened)

    def save_project(self, path: str | Path) -> bool:
        """Write the session to ``path`` now (the quit prompt needs it done before the window goes)."""
        path = Path(path)
        state = self.project_state()
        try:
            with _busy_cursor():
                project.save_project(state, path)
        except VocalisError as exc:
            self.report_error("Save project", str(exc))
            return False
        self.project_path = path
        for track, entry in zip(self.tracks(), state.tracks):
            self._mark_saved(track, entry.clip, entry.extras)
        self._update_title()
        self.show_message(f"Saved {path}")
        return True

    def save_project_or_ask(self) -> bool:
        return self.save_project(self.project_path) if self.project_path else self.ask_save_project()

    def ask_save_project(self) -> bool:
        folder = Path(self.settings.value("last_folder", str(Path.home())))
        current = self.current_track()
        name = (self.project_path.stem if self.project_path else None) or (current.clip.name if current else "") or "project"
        path = project_ui.ask_project_to_save(self, folder / f"{name}{project.SUFFIX}")
        return path is not None and self.save_project(path)

    def ask_open_project(self) -> None:
        path = project_ui.ask_project_to_open(self, str(self.settings.value("last_folder", str(Path.home()))))
        if path is not None:
            self.open_project(path)

    def offer_recovery(self) -> int:
        """After a crash or kill: offer each autosave left behind; recovered tracks come back unsaved.
        Returns how many tracks were recovered."""
        recovered = 0
        for orphan in project.orphaned_sessions():
            lock = orphan.claim()
            if lock is None:
                continue  # another starting Vocalis is offering it
            try:
                if project_ui.ask_recover(self, orphan):
                    try:
                        state = project.load_project(orphan.folder)
                    except VocalisError as exc:
                        self.report_error("Recover unsaved work", str(exc))
                        continue
                    self.restore_project(state, saved=False)
                    recovered += len(state.tracks)
                    self.autosaver.flush()  # the recovered work is safe again before the old copy goes
            finally:
                lock.release()
            project.discard_orphan(orphan)
        return recovered

    # --- drag and drop ---------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_files(files)
