"""The Speak panel: text box, voice picker (the model's own voice, the current track's selection or another
open track as a prompt, or a learned voice), variants, seed, more settings; the job's speed in tokens/s;
each take arrives as a new track. "Voices…" opens the Voices manager (:mod:`gui.voices_dialog`)."""

from __future__ import annotations

from dataclasses import replace

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.audio.clip import Clip
from engine.errors import VocalisError
from engine.jobs import Job
from engine.tasks.speak import PromptVoice, SpeakSettings, speak
from engine.voices import get_voice, list_voices
from gui.settings_form import SettingsDialog

PANEL_TITLE = "Speak"
# What the panel edits itself; the settings dialog holds the rest.
PANEL_FIELDS = ("voice", "prompt_text", "variants", "seed", "format")
OWN_VOICE, SELECTION, TRACK, LEARNED = "own", "selection", "track", "learned"


class SpeakPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("Type the text to speak (English). Long texts are spoken sentence by sentence.")
        self.voice = QComboBox()
        self.voice.setToolTip("whose voice: a learned voice, or 3-10 s of a track to imitate")
        self.transcript = QLineEdit()
        self.transcript.setPlaceholderText("what the voice clip says (empty: Whisper transcribes it)")
        self.variants = QSpinBox()
        self.variants.setRange(1, 16)
        self.variants.setToolTip("takes of the same text, decoded together; each becomes a track")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("the same seed and settings give the same audio")
        self.speak_button = QPushButton("Speak")
        self.settings_button = QPushButton("Settings…")
        self.voices_button = QPushButton("Voices…")
        self.refresh_button = QPushButton("↻")
        self.refresh_button.setToolTip("refresh the voice list (tracks and learned voices)")
        self.speed = QLabel("")
        voice_row = QHBoxLayout()
        voice_row.addWidget(self.voice, 1)
        voice_row.addWidget(self.refresh_button)
        voice_row.addWidget(self.voices_button)
        form = QFormLayout()
        form.addRow("Voice", voice_row)
        form.addRow("Clip transcript", self.transcript)
        numbers = QHBoxLayout()
        numbers.addWidget(QLabel("Variants"))
        numbers.addWidget(self.variants)
        numbers.addWidget(QLabel("Seed"))
        numbers.addWidget(self.seed)
        numbers.addStretch(1)
        numbers.addWidget(self.settings_button)
        numbers.addWidget(self.speak_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addLayout(form)
        layout.addLayout(numbers)
        layout.addWidget(self.speed)
        self.voice.currentIndexChanged.connect(self._voice_changed)

    def set_voices(self, tracks: list, learned: list[str], keep: tuple | None = None) -> None:
        """Fill the picker: own voice, the current selection, each open track, each learned voice."""
        self.voice.blockSignals(True)
        self.voice.clear()
        self.voice.addItem("Model's own voice", (OWN_VOICE, None))
        self.voice.addItem("Selection of the current track (3-10 s)", (SELECTION, None))
        for track in tracks:
            self.voice.addItem(f"Track “{track.clip.name or 'untitled'}”", (TRACK, track))
        for name in learned:
            self.voice.addItem(f"Learned voice: {name}", (LEARNED, name))
        self.voice.setCurrentIndex(max(self.index_of(*keep) if keep else -1, 0))
        self.voice.blockSignals(False)
        self._voice_changed()

    def index_of(self, kind: str, value) -> int:
        """The picker row of (kind, value), or -1."""
        for row in range(self.voice.count()):
            data = self.voice.itemData(row)
            if data is not None and data[0] == kind and (data[1] is value or data[1] == value):
                return row
        return -1

    def _voice_changed(self, *_args) -> None:
        kind = (self.voice.currentData() or (OWN_VOICE, None))[0]
        self.transcript.setEnabled(kind in (SELECTION, TRACK))


class SpeakTask(QObject):
    """Connects the panel to the window; keeps the settings of the last run."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.settings = SpeakSettings()
        self.panel = SpeakPanel()
        window.add_panel(PANEL_TITLE, self.panel)
        self.action = QAction("Speak text…", window)
        self.action.setToolTip("Text to speech in a learned voice or the voice of a track (Lina-Speech)")
        self.action.triggered.connect(self.show_panel)
        window.add_task_action(self.action, needs_track=False)
        self.panel.speak_button.clicked.connect(self.speak)
        self.panel.settings_button.clicked.connect(self.ask_settings)
        self.panel.refresh_button.clicked.connect(self.refresh_voices)
        self.panel.voices_button.clicked.connect(self.open_voices)
        self.job: Job | None = None
        window.jobs.progressed.connect(self._show_speed)
        window.tracks_changed.connect(self.refresh_voices)
        self.refresh_voices()

    def refresh_voices(self, *_args) -> None:
        try:
            learned = [voice.name for voice in list_voices()]
        except VocalisError as exc:
            self.window.report_error("Voices", str(exc))
            learned = []
        self.panel.set_voices(self.window.tracks(), learned, keep=self.panel.voice.currentData())

    def show_panel(self) -> None:
        self.refresh_voices()
        self.panel.text.setFocus()

    def ask_settings(self) -> None:
        settings = SettingsDialog("Speak settings", self.settings, self.window, hidden=PANEL_FIELDS).ask(self.window)
        if settings is not None:
            self.settings = settings

    def open_voices(self) -> None:
        from gui.voices_dialog import VoicesDialog

        dialog = VoicesDialog(self.window, self)
        dialog.finished.connect(lambda _result: self.refresh_voices())
        dialog.show()

    def _voice(self):
        """The chosen voice, or raises with what the user must do."""
        kind, value = self.panel.voice.currentData() or (OWN_VOICE, None)
        transcript = self.panel.transcript.text().strip()
        if kind == SELECTION:
            clip = self.window.selected_clip()
            if clip is None:
                raise VocalisError("Open a track and select 3-10 s of the voice to imitate.")
            return PromptVoice(clip, transcript)
        if kind == TRACK:
            if not shiboken6.isValid(value):
                raise VocalisError("That track was closed; pick another voice.")
            return PromptVoice(value.clip, transcript)
        if kind == LEARNED:
            return get_voice(value)
        return None

    def speak(self, settings: SpeakSettings | None = None) -> Job | None:
        text = self.panel.text.toPlainText().strip()
        if not text:
            self.window.report_error("Speak", "Type the text to speak.")
            return None
        try:
            voice = self._voice()
        except VocalisError as exc:
            self.window.report_error("Speak", str(exc))
            return None
        settings = replace(settings or self.settings, variants=self.panel.variants.value(),
                           seed=self.panel.seed.value())
        self.panel.speed.setText("starting…")
        self.job = self.window.run_job(speak, text, voice, settings, name="Speaking", on_result=self._add_tracks,
                                       owner=self.panel)
        return self.job

    def _show_speed(self, job, update) -> None:
        """The job's speed (tokens/s per chunk), from its progress messages."""
        if job is self.job and "tokens/s" in update.message:
            self.panel.speed.setText(update.message)

    def _add_tracks(self, clips: list[Clip]) -> None:
        for clip in clips:
            self.window.add_track(clip)
        self.window.show_message(f"spoke {len(clips)} take(s): {self.panel.speed.text()}")


def install(window) -> SpeakTask:
    return SpeakTask(window)
