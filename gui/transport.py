"""Playback and recording in the window: a controller that drives :mod:`engine.audio.devices` and polls
the play position on a timer, the transport bar (play/pause, stop, loop, record, time display) and the
level meter shown while recording."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from typing import Callable

from engine.audio.clip import Clip
from engine.audio.devices import Player, Recorder
from engine.jobs import Job
from gui.views.background import run_in_background
from gui.views.ruler import format_time

POLL_MS = 30
"""How often the play head is moved: ~33 updates a second looks smooth without loading the UI thread."""

METER_FLOOR_DB = -60.0
METER_SCALE_DB = (-48, -36, -24, -12, -6, 0)
"""Tick marks labelled under the level meter."""


@dataclass
class AudioSettings:
    """The user's device choice (None: the system default) and recording format."""

    output_device: str | None = None
    input_device: str | None = None
    record_rate: int = 48000
    record_channels: int = 1


class PlaybackController(QObject):
    """Owns the player and the recorder and turns their state into signals for the UI.

    ``position_changed(seconds)`` fires every :data:`POLL_MS` while playing, ``state_changed()`` when
    playback or recording starts or stops, ``level_changed(peak_db, rms_db)`` while recording.
    """

    position_changed = Signal(float)
    state_changed = Signal()
    level_changed = Signal(float, float)

    def __init__(self, settings: AudioSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings
        self.player: Player | None = None
        self.recorder: Recorder | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def playing(self) -> bool:
        return self.player is not None and self.player.playing

    @property
    def paused(self) -> bool:
        return self.player is not None and self.player.paused

    @property
    def recording(self) -> bool:
        return self.recorder is not None and self.recorder.recording

    def play(self, clip: Clip, start_s: float, end_s: float | None, loop: bool) -> None:
        """Play ``clip`` from ``start_s`` (to ``end_s``, looping that range when ``loop``)."""
        self.stop()
        self.player = Player(self.settings.output_device)
        self.player.play(clip, start_s, end_s, loop)
        self._timer.start()
        self.state_changed.emit()

    def pause(self) -> None:
        if self.playing:
            self.player.pause()
            self._timer.stop()
            self.state_changed.emit()

    def resume(self) -> None:
        if self.paused:
            self.player.resume()
            self._timer.start()
            self.state_changed.emit()

    def set_loop(self, start_s: float, end_s: float, enabled: bool) -> None:
        if self.player is not None:
            self.player.set_loop(start_s, end_s, enabled)

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player = None
            if not self.recording:
                self._timer.stop()
            self.state_changed.emit()

    def start_recording(self) -> None:
        self.stop()
        self.recorder = Recorder(self.settings.input_device, self.settings.record_rate,
                                 self.settings.record_channels)
        self.recorder.start()
        self._timer.start()
        self.state_changed.emit()

    def stop_recording(self, name: str) -> Clip:
        """End the recording now and return it (waits until the audio captured so far has arrived)."""
        recorder = self._end_recording()
        return recorder.stop(name)

    def stop_recording_in_background(self, name: str, on_clip: Callable[[Clip, Recorder], None],
                                     on_error: Callable[[Job], None]) -> Job:
        """End the recording without freezing the window: the input is drained (up to its latency plus
        a margin) on a worker thread, then ``on_clip(clip, recorder)`` runs on the UI thread."""
        recorder = self._end_recording()

        def finish(progress, cancel) -> Clip:
            return recorder.stop(name)

        return run_in_background(finish, name="finishing the recording", owner=self,
                                 on_result=lambda clip: on_clip(clip, recorder), on_error=on_error)

    def _end_recording(self) -> Recorder:
        recorder, self.recorder = self.recorder, None
        self._timer.stop()
        self.state_changed.emit()
        return recorder

    def _poll(self) -> None:
        if self.recorder is not None:
            self.level_changed.emit(*self.recorder.level_db())
            self.position_changed.emit(self.recorder.seconds)
            return
        if self.player is None:
            return
        self.position_changed.emit(self.player.position)
        if not self.player.playing and not self.player.paused:
            self.player = None
            self._timer.stop()
            self.state_changed.emit()


class LevelMeter(QWidget):
    """A horizontal bar: RMS filled, peak as a line, on a dBFS scale from :data:`METER_FLOOR_DB` to 0,
    labelled underneath at :data:`METER_SCALE_DB`."""

    BAR_HEIGHT = 10

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedSize(180, 26)
        self.setToolTip("Input level (RMS bar, peak line), dBFS")
        self.peak_db = METER_FLOOR_DB
        self.rms_db = METER_FLOOR_DB

    def set_level(self, peak_db: float, rms_db: float) -> None:
        self.peak_db, self.rms_db = peak_db, rms_db
        self.update()

    def _x(self, db: float) -> float:
        return (min(0.0, max(METER_FLOOR_DB, db)) - METER_FLOOR_DB) / -METER_FLOOR_DB * self.width()

    def scale_marks(self) -> list[tuple[int, str]]:
        """(x, label) of each tick of the dB scale."""
        return [(round(min(self._x(db), self.width() - 1)), str(db)) for db in METER_SCALE_DB]

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        bar = self.BAR_HEIGHT
        painter.fillRect(QRectF(0, 0, self.width(), bar), QColor("#20232b"))
        colour = QColor("#d04040") if self.peak_db > -1.0 else QColor("#50c070")
        painter.fillRect(QRectF(0, 1, self._x(self.rms_db), bar - 2), colour)
        painter.setPen(QColor("#f0f0f0"))
        peak_x = self._x(self.peak_db)
        painter.drawLine(round(peak_x), 0, round(peak_x), bar)
        font = painter.font()
        font.setPixelSize(9)
        painter.setFont(font)
        painter.setPen(self.palette().windowText().color())
        metrics = painter.fontMetrics()
        for x, label in self.scale_marks():
            painter.drawLine(x, bar, x, bar + 3)
            width = metrics.horizontalAdvance(label)
            left = min(max(0, x - width // 2), self.width() - width)
            painter.drawText(left, self.height() - 2, label)


class TransportBar(QWidget):
    """Play/pause, stop, loop-selection toggle, record, the level meter and a time display; the buttons
    only emit signals, the window decides what they do."""

    play_pause_clicked = Signal()
    stop_clicked = Signal()
    record_clicked = Signal()
    loop_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.play_button = self._button("▶", "Play / pause (Space)", self.play_pause_clicked)
        self.stop_button = self._button("■", "Stop", self.stop_clicked)
        self.loop_button = self._button("⟲", "Loop the selection", None)
        self.loop_button.setCheckable(True)
        self.loop_button.toggled.connect(self.loop_toggled)
        self.record_button = self._button("●", "Record a new track (R)", self.record_clicked)
        self.record_button.setCheckable(True)
        self.record_button.setStyleSheet("QToolButton:checked { color: #e03030; }")
        self.meter = LevelMeter()
        self.meter.setVisible(False)
        self.time_label = QLabel()
        self.time_label.setStyleSheet("font-family: monospace; font-size: 13px")
        self.time_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for widget in (self.play_button, self.stop_button, self.loop_button, self.record_button, self.meter):
            layout.addWidget(widget)
        layout.addSpacing(12)
        layout.addWidget(self.time_label, 1)
        self.show_time(0.0, None)

    def _button(self, text: str, tip: str, signal) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setMinimumWidth(32)
        # Never take the keyboard focus: Space and R must reach the window's shortcuts, not "click" a button.
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        if signal is not None:
            button.clicked.connect(signal)
        return button

    def show_time(self, cursor_s: float, selection: tuple[float, float] | None) -> None:
        text = f"Cursor {format_time(cursor_s)}"
        if selection is not None:
            start, end = selection
            text += f"    Selection {format_time(start)} – {format_time(end)}  ({format_time(end - start)})"
        self.time_label.setText(text)

    def show_recording_time(self, seconds: float) -> None:
        """While recording, the time display shows how long the take is so far."""
        self.time_label.setText(f"● Recording {format_time(seconds)}")

    def show_state(self, playing: bool, recording: bool) -> None:
        self.play_button.setText("❚❚" if playing else "▶")
        self.record_button.setChecked(recording)
        self.meter.setVisible(recording)
