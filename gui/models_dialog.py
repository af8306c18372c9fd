"""The Models dialog: the catalog with each model's state, size, licence and the models it requires, and
the store's actions (install with the missing models it requires after accepting their licences, import a
file or folder, verify, delete, show the folder). Every action that touches files runs as a job, with
progress and Cancel under the table."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.jobs import Job
from engine.models import install
from engine.models.catalog import CatalogEntry
from engine.models.install.importer import import_path
from engine.models.store import ModelState, ModelStatus, ModelStore, default_store
from gui.dialogs import show_error
from gui.jobs import JobRunner, JobStatusWidget

COLUMNS = ("Model", "Task", "State", "Size", "Licence", "Source", "Requires")


def _size(num_bytes: int) -> str:
    if num_bytes >= 1e9:
        return f"{num_bytes / 1e9:.1f} GB"
    return f"{num_bytes / 1e6:.0f} MB" if num_bytes >= 1e6 else f"{num_bytes / 1e3:.0f} KB"


class ModelsDialog(QDialog):
    def __init__(self, store: ModelStore | None = None, runner: JobRunner | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(980, 460)
        self.store = store or default_store()
        self.runner = runner or JobRunner(self)
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.buttons = {}
        row = QHBoxLayout()
        for key, text, tip, slot in (
            ("download", "Install…", "Download the model and the models it requires (shows their licences first)",
             self.download_selected),
            ("import_file", "Import file…", "Install from a checkpoint file on this computer", self._choose_file),
            ("import_folder", "Import folder…", "Install from a folder holding the model's files", self._choose_folder),
            ("verify", "Verify", "Rehash the files and compare them with the catalog", self.verify_selected),
            ("delete", "Delete", "Remove the model from the models folder", self._confirm_delete),
            ("show_folder", "Show folder", "Open the models folder in the file manager", self.show_folder),
        ):
            button = QPushButton(text)
            button.setObjectName(key)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.buttons[key] = button
            row.addWidget(button)
        row.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        row.addWidget(close)
        self.status_widget = JobStatusWidget(self.runner, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(row)
        layout.addWidget(self.status_widget)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        if runner is None:  # a shared runner's owner (the main window) already reports its failures: once
            self.runner.failed.connect(lambda job: show_error(self, "Models", job.error_message))
        self.runner.ended.connect(lambda job: self.refresh())
        self.refresh()

    # -- view -----------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read every model's state (cheap: sizes and markers, no hashing)."""
        selected = self.selected_id()
        self.folder_label.setText(f"Models folder: {self.store.root}")
        entries = list(self.store.catalog)
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            status = self.store.status(entry.id)
            cells = (entry.name, entry.task, status.state.value, _size(entry.size), entry.licence,
                     entry.source.describe(), ", ".join(entry.requires))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                if column == 2 and status.problem:
                    item.setToolTip(status.problem)
                self.table.setItem(row, column, item)
            if entry.id == selected:
                self.table.selectRow(row)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def selected_id(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def select(self, model_id: str) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == model_id:
                self.table.selectRow(row)
                return
        raise KeyError(model_id)

    def state_shown(self, model_id: str) -> str:
        self.select(model_id)
        return self.table.item(self.table.currentRow(), 2).text()

    def _update_buttons(self) -> None:
        model_id = self.selected_id()
        busy = bool(self.runner.running)
        status = self.store.status(model_id) if model_id else None
        entry = self.store.catalog[model_id] if model_id else None
        present = status is not None and status.state is not ModelState.MISSING
        self.buttons["download"].setEnabled(bool(entry and entry.downloadable) and not busy
                                            and bool(install.missing(self.store, entry.id)))
        self.buttons["import_file"].setEnabled(entry is not None and len(entry.files) == 1 and not busy)
        self.buttons["import_folder"].setEnabled(entry is not None and not busy)
        self.buttons["verify"].setEnabled(present and not busy)
        self.buttons["delete"].setEnabled(present and not busy)
        self.details.setText("" if entry is None else self._describe(entry, status))

    def _describe(self, entry: CatalogEntry, status: ModelStatus) -> str:
        problem = f" — {status.problem}" if status.problem else ""
        requires = ""
        if entry.requires:
            states = [f"{dep} ({self.store.status(dep).state.value})" for dep in entry.requires]
            requires = f"<br>Requires: {', '.join(states)}"
        return (f"<b>{entry.name}</b> ({entry.id}): {status.state.value}{problem}<br>{entry.description}<br>"
                f"{entry.sample_rate} Hz, about {entry.memory_mb} MB of memory; licence: {entry.licence}{requires}")

    # -- actions --------------------------------------------------------------------------------------

    def ask_licences(self, entries: list[CatalogEntry]) -> bool:
        """Show the licence of every model to be downloaded and ask the user to accept them first."""
        listing = "\n\n".join(f"{entry.name} ({entry.id}, {_size(entry.size)}, {entry.source.describe()}):\n"
                               f"{entry.licence}" for entry in entries)
        answer = QMessageBox.question(
            self, "Licences" if len(entries) > 1 else f"Licence of {entries[0].name}",
            f"{'These models are' if len(entries) > 1 else 'This model is'} distributed under:\n\n{listing}\n\n"
            f"Total: {_size(sum(e.size for e in entries))}. Accept and download?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def download_selected(self) -> Job | None:
        """Install the selected model with the missing models it requires, dependencies first."""
        model_id = self.selected_id()
        if model_id is None:
            return None
        todo = [self.store.catalog[current] for current in install.missing(self.store, model_id)]
        if not todo or not self.ask_licences(todo):
            return None
        return self._run(install.install, self.store, model_id, name=f"install {model_id}")

    def import_path(self, path: str | Path) -> Job | None:
        model_id = self.selected_id()
        if model_id is None:
            return None
        return self._run(import_path, self.store, model_id, Path(path), name=f"import {model_id}")

    def verify_selected(self) -> Job | None:
        model_id = self.selected_id()
        if model_id is None:
            return None
        return self._run(self.store.verify, model_id, name=f"verify {model_id}",
                         on_result=self._report_verification)

    def delete_selected(self) -> None:
        model_id = self.selected_id()
        if model_id is not None:
            self.store.delete(model_id)
            self.refresh()

    def show_folder(self) -> bool:
        model_id = self.selected_id()
        folder = self.store.folder(model_id) if model_id else self.store.root
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder if folder.exists() else self.store.root)))

    def _run(self, fn, *args, name: str, on_result=None) -> Job:
        job = self.runner.run(fn, *args, name=name, on_result=on_result)
        self._update_buttons()
        return job

    def _report_verification(self, status: ModelStatus) -> None:
        if status.state is not ModelState.INSTALLED:
            show_error(self, "Models", f"{status.model_id}: {status.problem or status.state.value}")

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a model file", str(Path.home()),
                                              "Checkpoints (*.pt *.pth *.ckpt *.bin *.safetensors *.th);;All files (*)")
        if path:
            self.import_path(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a model folder", str(Path.home()))
        if path:
            self.import_path(path)

    def _confirm_delete(self) -> None:
        model_id = self.selected_id()
        if model_id and QMessageBox.question(self, "Delete model", f"Delete {model_id} from {self.store.root}?") \
                == QMessageBox.StandardButton.Yes:
            self.delete_selected()
