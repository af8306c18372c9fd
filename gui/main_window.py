"""The Vocalis main window: tracks, transport, menus, status bar, and the API task panels use
(docs/architecture.md, "GUI extension point")."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QUndoStack
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QVBoxLayout, QWidget

from engine import __version__, paths
from engine.audio import io
from engine.audio.clip import Clip
from engine.audio.dsp import crop_seconds
from engine.errors import MissingModelError, VocalisError
from engine.jobs import Job
from gui import dialogs, edits
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


class MainWindow(QMainWindow):
    position_changed = Signal(float)
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
        self.tracks = TrackArea()
        self.transport = TransportBar()
        self.playback = PlaybackController(self._load_audio_settings(), self)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.tracks, 1)
        layout.addWidget(self.transport)
        self.setCentralWidget(central)
        self.job_status = JobStatusWidget(self.jobs)
        self.statusBar().addPermanentWidget(self.job_status)
        self.actions = WindowActions(self)
        self._connect()
        self.resize(1200, 800)
        self._restore_window_state()
        problems = install_all(self)
        if problems:
            self.statusBar().showMessage("Some task panels are unavailable: " + "; ".join(problems), 10000)

    def _connect(self) -> None:
        self.jobs.failed.connect(self._job_failed)
        self.jobs.cancelled.connect(lambda job: self.statusBar().showMessage(f"{job.name}: cancelled", 5000))
        self.tracks.close_requested.connect(self.close_track)
        self.tracks.seek_requested.connect(self.seek)
        self.tracks.current_changed.connect(self._update_title)
        self.tracks.current_changed.connect(self._update_track_actions)
        self.tracks.selection.selectionChanged.connect(self._show_time)
        self.tracks.axis.cursorChanged.connect(self._show_time)
        self.tracks.selection.selectionChanged.connect(self._selection_changed)
        self.transport.play_pause_clicked.connect(self.toggle_play)
        self.transport.stop_clicked.connect(self.stop)
        self.transport.record_clicked.connect(self.toggle_record)
        self.transport.loop_toggled.connect(self._loop_toggled)
        self.playback.position_changed.connect(self._playback_moved)
        self.playback.state_changed.connect(self._playback_state_changed)
        self.playback.level_changed.connect(self.transport.meter.set_level)
        self.undo_stack.cleanChanged.connect(self._update_title)
        # Crops, deletes and resamples change lengths, in either direction on undo/redo.
        self.undo_stack.indexChanged.connect(lambda _index: self.tracks.refresh_duration())

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

    def current_track(self) -> TrackView | None:
        return self.tracks.current

    def current_selection(self) -> tuple[float, float] | None:
        return self.tracks.selection.range

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
        track = self.tracks.add_track(clip)
        self._update_title()
        return track

    def run_job(self, fn: Callable[..., Any], *args: Any, name: str = "",
                on_result: Callable[[Any], None] | None = None, **kwargs: Any) -> Job:
        """Run engine work off the UI thread: progress, ETA and Cancel in the status bar, failures in an
        error dialog, ``on_result(result)`` on the UI thread."""
        return self.jobs.run(fn, *args, name=name, on_result=on_result, **kwargs)

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
        return self.run_job(io.load, path, name=f"Opening {path.name}", on_result=self.add_track)

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
                            on_result=lambda written: self.statusBar().showMessage(f"Exported {written}", 5000))

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

    def close_track(self, track: TrackView | None = None) -> None:
        track = track or self.current_track()
        if track is None:
            return
        if self.playback.playing:
            self.stop()
        # Undo entries refer to the track's widget; they cannot outlive it.
        self.undo_stack.clear()
        self.tracks.remove_track(track)
        self._update_title()

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
        if track not in self.tracks.tracks or track.clip is not before:
            self.report_error(label, "The track changed while the edit ran; nothing was applied.")
            return
        self.undo_stack.push(ClipEditCommand(track, before, after, label))
        if after.duration != before.duration:
            self.tracks.selection.clear()  # the selected times no longer mean the same audio

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
            cursor = self.tracks.axis.cursor_s
            start_s = selection[0] if selection is not None else (cursor if cursor < track.clip.duration else 0.0)
        end_s = selection[1] if selection is not None and start_s < selection[1] else None
        try:
            self.playback.play(track.clip, start_s, end_s, loop)
        except VocalisError as exc:
            self.report_error("Cannot play", str(exc))

    def stop(self) -> None:
        self.playback.stop()

    def toggle_record(self) -> None:
        try:
            if self.playback.recording:
                count = sum(1 for t in self.tracks.tracks if t.clip.name.startswith("Recording"))
                clip = self.playback.stop_recording(f"Recording {count + 1}")
                if clip.frames:
                    self.add_track(clip)
                else:
                    self.report_error("Recording", "Nothing was recorded: the input delivered no audio.")
            else:
                self.playback.start_recording()
        except VocalisError as exc:
            self.report_error("Recording failed", str(exc))

    def go_to_start(self) -> None:
        self.seek(0.0)
        self.tracks.axis.ensure_visible(0.0)

    def go_to_end(self) -> None:
        track = self.current_track()
        end = track.clip.duration if track is not None else self.tracks.axis.duration_s
        self.seek(end)
        self.tracks.axis.ensure_visible(end)

    def _loop_toggled(self, enabled: bool) -> None:
        selection = self.current_selection()
        if self.playback.playing and selection is not None:
            self.playback.set_loop(*selection, enabled=enabled)

    def _playback_moved(self, seconds: float) -> None:
        if not self.playback.recording:
            self._move_cursor(seconds)

    def _move_cursor(self, seconds: float) -> None:
        track = self.current_track()
        if track is not None:
            track.set_cursor(seconds)
        else:
            self.tracks.axis.set_cursor(seconds)
        self.position_changed.emit(seconds)

    def _playback_state_changed(self) -> None:
        self.transport.show_state(self.playback.playing, self.playback.recording)
        if not self.playback.recording:
            self.transport.meter.set_level(-120.0, -120.0)

    def _show_time(self, *_args) -> None:
        self.transport.show_time(self.tracks.axis.cursor_s, self.current_selection())

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
            self.toggle_record()  # keep what was recorded; device changes need closed streams
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
        modified = "" if self.undo_stack.isClean() else " •"
        self.setWindowTitle(f"{name}{modified} — Vocalis" if name else "Vocalis")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.playback.stop()
        if self.playback.recording:
            self.playback.stop_recording("discarded")
        self.jobs.cancel_all()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()
        super().closeEvent(event)

    # --- drag and drop ---------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_files(files)
