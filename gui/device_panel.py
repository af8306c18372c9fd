"""The Device panel: the devices models can run on with their free memory, the device and precision
Vocalis picks, why a GPU is not used, and the runtime settings (device, precision, CPU threads) that the
CLI and every task read."""

from __future__ import annotations

from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from engine.errors import VocalisError
from engine.models import devices
from engine.models.runtime import RuntimeSettings, load_runtime_settings, save_runtime_settings
from gui.dialogs import show_error
from gui.settings_form import SettingsForm

COLUMNS = ("Device", "Name", "Free", "Total", "Precision")


def _gib(num_bytes: int | None) -> str:
    return "?" if num_bytes is None else f"{num_bytes / 2**30:.1f} GiB"


class DevicePanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.form = SettingsForm(load_runtime_settings(), self, hidden=("models_folder",))
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read free memory again")
        self.refresh_button.clicked.connect(self.refresh)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Save the device, precision and thread count for every task")
        self.apply_button.clicked.connect(self.apply)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        buttons.addWidget(self.apply_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.form)
        layout.addLayout(buttons)
        self.refresh()

    def refresh(self) -> None:
        report = devices.describe_devices()
        settings = load_runtime_settings()
        chosen = report.chosen
        dtype = "" if chosen.startswith("cpu (") else str(devices.choose_dtype(chosen, settings.precision)).split(".")[-1]
        lines = [f"Models run on <b>{chosen}</b> {f'in {dtype}' if dtype else ''}; "
                 f"CPU threads: {report.cpu_threads}.",
                 f"torch {report.torch_version}, CUDA {report.cuda_version or 'none'}."]
        if report.gpu_note:
            lines.append(f"No GPU used: {report.gpu_note}.")
        self.summary.setText("<br>".join(lines))
        self.table.setRowCount(len(report.devices))
        for row, info in enumerate(report.devices):
            for column, text in enumerate((info.id, info.name, _gib(info.free_bytes), _gib(info.total_bytes),
                                           info.dtype)):
                item = QTableWidgetItem(text)
                if info.note:
                    item.setToolTip(info.note)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()

    def apply(self) -> RuntimeSettings | None:
        """Check the chosen device is usable here, then save the settings and set the thread count."""
        try:
            chosen: RuntimeSettings = self.form.settings()
            device = devices.resolve(chosen.device)
            devices.choose_dtype(device, chosen.precision)
        except VocalisError as exc:
            show_error(self, "Device", str(exc))
            return None
        chosen.models_folder = load_runtime_settings().models_folder
        save_runtime_settings(chosen)
        devices.apply_cpu_threads(chosen)
        self.refresh()
        return chosen
