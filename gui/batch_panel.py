"""The Batch panel: run any file task over a folder tree (the GUI face of ``vocalis batch``).

The panel only collects choices and shows results; the walk, the manifest, resume and the report are
:func:`engine.batch.run_batch`, run through the window's :class:`~gui.jobs.JobRunner`.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QScrollArea, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.errors import VocalisError
from engine.jobs import Job, ProgressUpdate
from engine.batch import REPORT_NAME, TEMPLATE_FIELDS, BatchReport, BatchRequest, FileResult, run_batch
from engine.batch import ray_executor
from engine.tasks import registry
from gui.jobs import JobRunner, format_eta, to_ui_thread
from gui.settings_form import SettingsForm

RESULT_COLUMNS = ("File", "Status", "Seconds", "Problem")
RESULTS_MIN_HEIGHT = 60


def _globs(text: str) -> tuple[str, ...]:
    """Globs typed with spaces or commas between them; quotes keep a glob with spaces whole."""
    return tuple(shlex.split(text.replace(",", " ")))


class BatchPanel(QWidget):
    """Task, folders, filters, naming and the task's own settings; Start/Cancel, overall progress with ETA,
    and one table row per finished file. ``finished(report or None)`` is emitted when a run ends."""

    finished = Signal(object)

    def __init__(self, runner: JobRunner | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner or JobRunner(self)
        self._job: Job | None = None
        self._file_done = to_ui_thread(self._add_result, owner=self)  # per-file results from the worker
        self.tasks = registry.all_tasks()

        self.task_combo = QComboBox()
        for name, task in self.tasks.items():
            self.task_combo.addItem(name, name)
            self.task_combo.setItemData(self.task_combo.count() - 1, task.help, Qt.ItemDataRole.ToolTipRole)
        self.input_edit, input_row = self._folder_row("Folder whose audio files are processed (with subfolders)")
        self.output_edit, output_row = self._folder_row("Folder that mirrors the input tree and holds the manifest")
        self.include_edit = QLineEdit()
        self.include_edit.setPlaceholderText("audio files")
        self.include_edit.setToolTip("Globs of files to process, e.g. *.wav *.flac (empty: every audio file)")
        self.exclude_edit = QLineEdit()
        self.exclude_edit.setToolTip("Globs of files to leave out, e.g. */drafts/*")
        self.template_edit = QLineEdit("{stem}")
        self.template_edit.setToolTip("Output name without extension; fields: "
                                      + " ".join("{" + f + "}" for f in TEMPLATE_FIELDS))
        self.redo_box = QCheckBox("Process files again even if their outputs are complete")

        form = QFormLayout()
        form.addRow("Task", self.task_combo)
        form.addRow("Input folder", input_row)
        form.addRow("Output folder", output_row)
        form.addRow("Include", self.include_edit)
        form.addRow("Exclude", self.exclude_edit)
        form.addRow("Output name", self.template_edit)
        form.addRow("", self.redo_box)

        self.settings_box = QGroupBox("Task settings")
        self.settings_layout = QVBoxLayout(self.settings_box)
        self.settings_form: SettingsForm | None = None

        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop after the current step; finished files stay, a rerun does the rest")
        self.open_button = QPushButton("Open output folder")
        buttons = QHBoxLayout()
        for button in (self.start_button, self.cancel_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.results = QTableWidget(0, len(RESULT_COLUMNS))
        self.results.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.results.horizontalHeader().setSectionResizeMode(len(RESULT_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)

        self.backend_group = BackendGroup(self.runner)
        self._lay_out(form, buttons)

        self.task_combo.currentIndexChanged.connect(self._show_task_settings)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self._open_output)
        self.runner.progressed.connect(self._progress)
        self.runner.ended.connect(self._ended)
        self._show_task_settings()

    def _lay_out(self, form: QFormLayout, buttons: QHBoxLayout) -> None:
        """Choices (scrolling) on the left, Start/Cancel, progress and results on the right: side by side, the
        panel needs little height, which is what a dock under the tracks has least of."""
        self.choices = QWidget()
        choices_layout = QVBoxLayout(self.choices)
        choices_layout.setContentsMargins(0, 0, 0, 0)
        choices_layout.addLayout(form)
        choices_layout.addWidget(self.settings_box)
        choices_layout.addWidget(self.backend_group)
        choices_layout.addStretch(1)
        # However long a task's settings are, they scroll: the panel must fit a 1366×768 screen with
        # Start in view (the lyrics settings once pushed the window past the screen).
        self.choices_scroll = QScrollArea()
        self.choices_scroll.setWidgetResizable(True)
        self.choices_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.choices_scroll.setWidget(self.choices)
        run = QWidget()
        run_layout = QVBoxLayout(run)
        run_layout.setContentsMargins(0, 0, 0, 0)
        run_layout.addLayout(buttons)
        run_layout.addWidget(self.progress_bar)
        run_layout.addWidget(self.status_label)
        run_layout.addWidget(self.results, 1)
        run_layout.addWidget(self.summary_label)
        self.results.setMinimumHeight(RESULTS_MIN_HEIGHT)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.choices_scroll)
        self.splitter.addWidget(run)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

    def _folder_row(self, tip: str) -> tuple[QLineEdit, QWidget]:
        edit = QLineEdit()
        edit.setToolTip(tip)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(edit))
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(edit, 1)
        box.addWidget(browse)
        return edit, row

    def _browse(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    @property
    def task_name(self) -> str:
        return self.task_combo.currentData()

    def _show_task_settings(self) -> None:
        if self.settings_form is not None:
            self.settings_layout.removeWidget(self.settings_form)
            self.settings_form.deleteLater()
        self.settings_form = SettingsForm(self.tasks[self.task_name].settings_type())
        self.settings_layout.addWidget(self.settings_form)

    def request(self) -> BatchRequest:
        """The run the panel describes; a :class:`VocalisError` says what is missing."""
        if not self.input_edit.text().strip() or not self.output_edit.text().strip():
            raise VocalisError("choose an input folder and an output folder")
        return BatchRequest(self.task_name, Path(self.input_edit.text().strip()).expanduser(),
                            Path(self.output_edit.text().strip()).expanduser(), _globs(self.include_edit.text()),
                            _globs(self.exclude_edit.text()), self.template_edit.text().strip() or "{stem}",
                            self.redo_box.isChecked())

    def start(self) -> None:
        if self._job is not None:
            return
        try:
            request = self.request()
            settings = self.settings_form.settings()
            executor = self.backend_group.executor()
        except (VocalisError, ValueError) as exc:
            self.status_label.setText(str(exc))
            return
        self.results.setRowCount(0)
        self.summary_label.clear()
        self.progress_bar.setValue(0)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._job = self.runner.run(run_batch, request, settings, name=f"batch {request.task}",
                                    on_result=self._show_report, on_file=self._file_done, owner=self,
                                    executor=executor)

    def cancel(self) -> None:
        if self._job is not None:
            self.cancel_button.setEnabled(False)
            self.status_label.setText("cancelling after the current step…")
            self._job.cancel()

    def _progress(self, job: Job, update: ProgressUpdate) -> None:
        if job is self._job:
            self.progress_bar.setValue(round(update.fraction * 1000))
            eta = format_eta(update.eta_s)
            self.status_label.setText(f"{update.message} — {eta}" if eta else update.message)

    def _add_result(self, result: FileResult) -> None:
        row = self.results.rowCount()
        self.results.insertRow(row)
        values = (result.item.relative, result.status, f"{sum(result.timings.values()):.2f}", result.error)
        for column, value in enumerate(values):
            self.results.setItem(row, column, QTableWidgetItem(value))

    def _show_report(self, report: BatchReport) -> None:
        counts = report.counts
        self.summary_label.setText(
            f"{counts['ok']} done, {counts['skipped']} already complete, {counts['failed']} failed — "
            f"{report.audio_hours * 60:.1f} min of audio in {report.wall_s:.1f} s. "
            f"Report: {Path(report.output_dir) / REPORT_NAME}")
        self.finished.emit(report)

    def _ended(self, job: Job) -> None:
        if job is not self._job:
            return
        self._job = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if job.error is not None:
            self.status_label.setText(job.error_message)
            self.finished.emit(None)

    def _open_output(self) -> None:
        if self.output_edit.text().strip():
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.output_edit.text().strip()))


class BackendGroup(QGroupBox):
    """Where the files run: here (the local executor) or on a Ray cluster (address; a line with the
    cluster's nodes and resources). The Ray executor is kept between runs, so its workers keep their models
    loaded; it is made again when the address changes."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__("Where files run", parent)
        self.runner = runner
        self._executor: ray_executor.RayExecutor | None = None
        self.backend_combo = QComboBox()
        self.backend_combo.addItem("This computer", "local")
        self.backend_combo.addItem("Ray cluster", "ray")
        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText("empty: start Ray on this computer")
        self.address_edit.setToolTip("auto joins the cluster this computer belongs to; HOST:PORT joins that head")
        self.nodes_button = QPushButton("Show nodes")
        self.nodes_label = QLabel()
        self.nodes_label.setWordWrap(True)
        self.nodes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(self.backend_combo)
        row.addWidget(self.address_edit, 1)
        row.addWidget(self.nodes_button)
        box = QVBoxLayout(self)
        box.addLayout(row)
        box.addWidget(self.nodes_label)
        self.backend_combo.currentIndexChanged.connect(self._backend_changed)
        self.nodes_button.clicked.connect(self.show_nodes)
        self._backend_changed()

    @property
    def address(self) -> str | None:
        return self.address_edit.text().strip() or None

    def _backend_changed(self) -> None:
        on_ray = self.backend_combo.currentData() == "ray"
        self.address_edit.setEnabled(on_ray)
        self.nodes_button.setEnabled(on_ray and ray_executor.ray_available())
        if not on_ray:
            self.nodes_label.clear()
        elif not ray_executor.ray_available():
            self.nodes_label.setText(ray_executor.INSTALL_HINT)

    def executor(self) -> ray_executor.RayExecutor | None:
        """The chosen executor (None: the local one); a :class:`VocalisError` when Ray is missing."""
        if self.backend_combo.currentData() != "ray":
            return None
        ray_executor.require_ray()
        if self._executor is None or self._executor.address != self.address:
            if self._executor is not None:
                self._executor.close()
            self._executor = ray_executor.RayExecutor(self.address)
        return self._executor

    def show_nodes(self) -> None:
        """Join the cluster (off the UI thread) and list its nodes with their CPUs, GPUs and memory."""
        address = self.address
        if address is None and not ray_executor.ray_connected():
            self.nodes_label.setText("Ray starts on this computer when the batch starts")
            return
        self.nodes_label.setText("joining the cluster…")
        self.runner.run(lambda progress, cancel: _nodes_text(address), name="Ray cluster",
                        on_result=self.nodes_label.setText)


def _nodes_text(address: str | None) -> str:
    """The cluster's nodes, or why it cannot be joined (shown in the panel, not as a failed job)."""
    try:
        return ray_executor.describe_cluster(address)
    except Exception as exc:  # noqa: BLE001 - Ray raises connection errors of several kinds
        return f"cannot join the Ray cluster at {address}: {exc}"


def open_batch_panel(window) -> QWidget:
    """Tools ▸ Batch…: one Batch dock per window, running on the window's job runner (status bar, errors)."""
    dock = window.findChild(QDockWidget, "panel-Batch")
    if dock is None:
        dock = window.add_panel("Batch", BatchPanel(window.jobs))
    return dock
