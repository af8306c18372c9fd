"""The Voices manager: the learned voices of the voices folder with their loss curves; learn a new voice
from a folder of clips or from the open tracks (a job with progress, a live loss curve and cancel; running
it again with the same name resumes), rename, delete, and hear a sample sentence in a voice (a new track)."""

from __future__ import annotations

import re

import shiboken6
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout, QWidget)

from engine.audio.devices import Player
from engine.errors import VocalisError
from engine.tasks.learn_voice import LearnVoiceSettings, VoiceClip, learn_voice
from engine.tasks.speak import SpeakSettings, speak
from engine.voices import delete_voice, get_voice, list_voices, rename_voice, voices_dir
from gui.main_window import app_settings
from gui.settings_form import SettingsDialog

SAMPLE_TEXT = "Hello! This is a short sample of my voice, so you can hear how it sounds."
_LOSS = re.compile(r"loss (\d+(?:\.\d+)?)")


class LossCurve(QWidget):
    """A small plot of training losses (one point per update)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.values: list[float] = []
        self.setMinimumHeight(80)

    def set_values(self, values: list[float]) -> None:
        self.values = list(values)
        self.update()

    def append(self, value: float) -> None:
        self.values.append(value)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        if len(self.values) < 2:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no loss curve yet")
            return
        low, high = min(self.values), max(self.values)
        span = (high - low) or 1.0
        width, height = self.width() - 8, self.height() - 20
        points = [QPointF(4 + width * i / (len(self.values) - 1), 4 + height * (high - v) / span)
                  for i, v in enumerate(self.values)]
        painter.setPen(QPen(self.palette().highlight().color(), 1.5))
        painter.drawPolyline(QPolygonF(points))
        painter.setPen(self.palette().text().color())
        painter.drawText(4, self.height() - 3, f"loss {self.values[0]:.3f} → {self.values[-1]:.3f} "
                                               f"over {len(self.values)} updates")


class LearnDialog(SettingsDialog):
    """The learning settings plus the voice's name and where its recordings come from."""

    FOLDER, TRACKS = "folder", "tracks"

    def __init__(self, settings: LearnVoiceSettings, parent: QWidget | None = None):
        super().__init__("Learn a voice", settings, parent)
        self.name = QLineEdit()
        self.name.setPlaceholderText("the voice's name (a running or cancelled run of this name is resumed)")
        self.source = QComboBox()
        self.source.addItem("A folder of clips (3-15 min; <clip>.txt is a clip's transcript)…", self.FOLDER)
        self.source.addItem("The open tracks (transcribed with Whisper)", self.TRACKS)
        self.form.layout().insertRow(0, "Name", self.name)
        self.form.layout().insertRow(1, "Recordings", self.source)


class VoicesDialog(QDialog):
    def __init__(self, window, speak_task=None):
        super().__init__(window)
        self.window = window
        self.speak_task = speak_task
        self.learn_settings = LearnVoiceSettings()
        self.learning = None
        self.player = Player(app_settings().value("audio/output_device") or None)
        self.setWindowTitle("Voices")
        self.list = QListWidget()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.curve = LossCurve()
        self.learn_button = QPushButton("Learn…")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete")
        self.sample_button = QPushButton("Play sample")
        close = QPushButton("Close")
        buttons = QHBoxLayout()
        for button in (self.learn_button, self.rename_button, self.delete_button, self.sample_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Learned voices in {voices_dir()}"))
        layout.addWidget(self.list, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.curve)
        layout.addLayout(buttons)
        self.list.currentItemChanged.connect(self._show_current)
        self.learn_button.clicked.connect(self.ask_learn)
        self.rename_button.clicked.connect(self.ask_rename)
        self.delete_button.clicked.connect(self.ask_delete)
        self.sample_button.clicked.connect(self.play_sample)
        close.clicked.connect(self.accept)
        self.finished.connect(lambda _result: self.player.stop())
        window.jobs.progressed.connect(self._learning_progress)
        self.resize(560, 480)
        self.refresh()

    # --- list ------------------------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        self.list.clear()
        for voice in list_voices():
            item = QListWidgetItem(voice.name)
            item.setData(Qt.ItemDataRole.UserRole, voice.name)
            self.list.addItem(item)
            if voice.name == select:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._show_current()

    def current_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _show_current(self, *_args) -> None:
        name = self.current_name()
        for button in (self.rename_button, self.delete_button, self.sample_button):
            button.setEnabled(name is not None)
        if name is None:
            self.details.setText("No learned voice yet: Learn… one from a few minutes of a speaker.")
            self.curve.set_values([])
            return
        voice = get_voice(name)
        info = voice.info
        source = info.get("source", "?")
        source = ", ".join(source) if isinstance(source, list) else source
        self.details.setText(f"<b>{voice.name}</b> — created {info.get('created', '?')}, from {source}; "
                             f"{info.get('utterances', '?')} utterances ({info.get('speech_s', '?')} s), "
                             f"{info.get('updates', '?')} updates, loss {info.get('loss_before', '?')} → "
                             f"{info.get('loss_after', '?')}")
        self.curve.set_values(voice.loss_curve)

    # --- actions ---------------------------------------------------------------------------------------
    def ask_learn(self):
        dialog = LearnDialog(self.learn_settings, self)
        settings = dialog.ask(self.window)
        if settings is None:
            return None
        name = dialog.name.text().strip()
        if not name:
            self.window.report_error("Learn a voice", "Give the voice a name.")
            return None
        if dialog.source.currentData() == LearnDialog.FOLDER:
            folder = QFileDialog.getExistingDirectory(self, "Folder of clips of one speaker")
            if not folder:
                return None
            source = folder
        else:
            source = [VoiceClip(track.clip) for track in self.window.tracks()]
            if not source:
                self.window.report_error("Learn a voice", "Open or record some tracks of the speaker first.")
                return None
        self.learn_settings = settings
        return self.learn(source, name, settings)

    def learn(self, source, name: str, settings: LearnVoiceSettings):
        self.curve.set_values([])
        self.learning = self.window.run_job(learn_voice, source, name, settings, name=f"Learning voice {name}",
                                            on_result=lambda voice: self._learned(voice.name), owner=self)
        return self.learning

    def _learning_progress(self, job, update) -> None:
        if job is self.learning and shiboken6.isValid(self):
            match = _LOSS.search(update.message)
            if match and update.message.startswith("update"):
                self.curve.append(float(match.group(1)))

    def _learned(self, name: str) -> None:
        if shiboken6.isValid(self):
            self.refresh(select=name)
        if self.speak_task is not None:
            self.speak_task.refresh_voices()

    def ask_rename(self) -> None:
        name = self.current_name()
        new_name, ok = QInputDialog.getText(self, "Rename voice", "New name", text=name or "")
        if not ok or not new_name.strip() or new_name.strip() == name:
            return
        try:
            rename_voice(name, new_name)
        except VocalisError as exc:
            self.window.report_error("Rename voice", str(exc))
            return
        self.refresh(select=new_name.strip())

    def ask_delete(self, confirm: bool = True) -> None:
        name = self.current_name()
        if name is None:
            return
        if confirm and QMessageBox.question(self, "Delete voice", f"Delete the voice “{name}”?") != \
                QMessageBox.StandardButton.Yes:
            return
        delete_voice(name)
        self.refresh()

    def play_sample(self, settings: SpeakSettings | None = None):
        """Speak a sample sentence in the voice; it arrives as a new track and plays."""
        name = self.current_name()
        if name is None:
            return None
        return self.window.run_job(speak, SAMPLE_TEXT, get_voice(name), settings or SpeakSettings(),
                                   name=f"Sample of {name}", on_result=self._play, owner=self)

    def _play(self, clips) -> None:
        """Play the sample on the chosen output device, and keep it as a track to compare and export."""
        self.window.add_track(clips[0])
        try:
            self.player.stop()
            self.player.play(clips[0])
        except VocalisError as exc:
            self.window.show_message(f"cannot play the sample: {exc}")
