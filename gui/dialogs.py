"""The window's dialogs: error reports, export target, preferences (audio devices), and the small value
prompts of the Edit menu."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QInputDialog,
                               QMessageBox, QSpinBox, QWidget)

from engine.audio.devices import AudioDeviceError, list_devices, rescan_devices
from gui.transport import AudioSettings

EXPORT_FORMATS = {
    "WAV 16-bit (*.wav)": ".wav:PCM_16",
    "WAV 24-bit (*.wav)": ".wav:PCM_24",
    "WAV 32-bit float (*.wav)": ".wav:FLOAT",
    "FLAC (*.flac)": ".flac:",
    "Ogg Vorbis (*.ogg)": ".ogg:",
    "MP3 (*.mp3)": ".mp3:",
}
"""Save-dialog filter → file suffix and sample format (empty: the format's default) for engine.audio.io.save."""

AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.oga *.opus *.mp3 *.aif *.aiff *.m4a *.aac *.wma *.webm);;All files (*)"

RECORD_RATES = (16000, 22050, 44100, 48000, 96000)


def show_error(parent: QWidget, title: str, message: str) -> QMessageBox:
    """A window-modal error box with the message a person can act on (never a traceback); returned
    open, so callers and tests do not block on it."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("vocalis-error")
    box.open()
    return box


def models_named_in(message: str, catalog) -> list:
    """The catalog entries whose id a message names (a MissingModelError names every model to install)."""
    return [entry for entry in catalog
            if re.search(rf"(?<![\w.-]){re.escape(entry.id)}(?![\w-])", message)]


def show_missing_model(parent: QWidget, title: str, entries: list, states: dict[str, str],
                       open_models: Callable[[str], object]) -> QMessageBox:
    """Say which models a task needs, in words, with a button that opens the Models window on the first
    of them (where it can be downloaded or imported); returned open, like :func:`show_error`."""
    needed = "\n".join(f"• {entry.name} ({entry.id}): {states.get(entry.id, 'not installed')}" for entry in entries)
    box = QMessageBox(QMessageBox.Icon.Warning, title,
                      f"This needs a model that is not ready:\n{needed}\n\n"
                      "Open the Models window to download it, or to import its files from this computer.",
                      QMessageBox.StandardButton.Close, parent)
    box.setObjectName("vocalis-missing-model")
    button = box.addButton("Open Models…", QMessageBox.ButtonRole.AcceptRole)
    button.setObjectName("open-models")
    box.setDefaultButton(button)
    button.clicked.connect(lambda: open_models(entries[0].id))
    box.open()
    return box


def ask_open_paths(parent: QWidget, folder: str) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Open audio", folder, AUDIO_FILTER)
    return paths


def ask_export_path(parent: QWidget, suggested: Path) -> tuple[Path, str | None] | None:
    """Where to export and in which sample format, or None when the user cancelled."""
    path, chosen = QFileDialog.getSaveFileName(parent, "Export audio", str(suggested), ";;".join(EXPORT_FORMATS),
                                               next(iter(EXPORT_FORMATS)))
    if not path:
        return None
    suffix, subtype = EXPORT_FORMATS.get(chosen, ".wav:PCM_16").split(":")
    path = Path(path)
    if path.suffix.lower() not in {s.split(":")[0] for s in EXPORT_FORMATS.values()}:
        path = path.with_suffix(suffix)
    elif path.suffix.lower() != suffix:
        subtype = ""  # the typed suffix wins over the filter; use its default format
    return path, subtype or None


def ask_float(parent: QWidget, title: str, label: str, value: float, low: float, high: float) -> float | None:
    number, accepted = QInputDialog.getDouble(parent, title, label, value, low, high, 1)
    return number if accepted else None


def ask_sample_rate(parent: QWidget, current: int, title: str = "Resample") -> int | None:
    rates = sorted({*RECORD_RATES, 8000, 32000, 88200, 192000})
    labels = [str(rate) for rate in rates]
    text, accepted = QInputDialog.getItem(parent, title, f"New sample rate (now {current} Hz):", labels,
                                          labels.index("44100"), False)
    return int(text) if accepted else None


class PreferencesDialog(QDialog):
    """Audio devices for playback and recording, and the recording format."""

    def __init__(self, settings: AudioSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.output_combo = QComboBox()
        self.input_combo = QComboBox()
        self.rate_combo = QComboBox()
        self.channels_spin = QSpinBox()
        self.channels_spin.setRange(1, 2)
        self.channels_spin.setValue(settings.record_channels)
        for rate in RECORD_RATES:
            self.rate_combo.addItem(f"{rate} Hz", rate)
        self.rate_combo.setCurrentIndex(max(0, self.rate_combo.findData(settings.record_rate)))
        self._fill_devices(settings.output_device, settings.input_device)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        rescan = buttons.addButton("Rescan devices", QDialogButtonBox.ButtonRole.ResetRole)
        rescan.setToolTip("Look for devices again (e.g. after plugging in a headset or starting a sound server)")
        rescan.clicked.connect(self.rescan)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Playback device", self.output_combo)
        form.addRow("Recording device", self.input_combo)
        form.addRow("Recording sample rate", self.rate_combo)
        form.addRow("Recording channels", self.channels_spin)
        form.addRow(buttons)

    def rescan(self) -> None:
        """Enumerate devices again; the window stops playback and recording before showing this dialog,
        so no stream is open."""
        rescan_devices()
        self._fill_devices(self.output_combo.currentData(), self.input_combo.currentData())

    def _fill_devices(self, output: str | None, source: str | None) -> None:
        try:
            outputs, inputs = list_devices("output"), list_devices("input")
        except AudioDeviceError:
            outputs, inputs = [], []
        self._fill(self.output_combo, [d.name for d in outputs], output)
        self._fill(self.input_combo, [d.name for d in inputs], source)

    @staticmethod
    def _fill(combo: QComboBox, names: list[str], current: str | None) -> None:
        combo.clear()
        combo.addItem("System default", None)
        for name in names:
            combo.addItem(name, name)
        if current is not None and combo.findData(current) < 0:
            combo.addItem(f"{current} (not connected)", current)
        combo.setCurrentIndex(0 if current is None else max(0, combo.findData(current)))

    def chosen(self) -> AudioSettings:
        return AudioSettings(output_device=self.output_combo.currentData(),
                             input_device=self.input_combo.currentData(),
                             record_rate=int(self.rate_combo.currentData()),
                             record_channels=self.channels_spin.value())
