"""One track of the editor: a header (name, format, spectrogram scale, close) above the waveform and the spectrogram of
one clip, all following the window's shared time axis and selection."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QMouseEvent, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from engine.audio.clip import Clip
from engine.audio.peaks import PeakPyramid
from engine.jobs import CancelToken, Job, Progress
from gui.views import style
from gui.views.background import run_in_background
from gui.views.ruler import format_time
from gui.views.spectrogram import SpectrogramView
from gui.views.timeline import SelectionModel, TimeAxis
from gui.views.waveform import WaveformView


SYNC_PEAKS_MAX_SAMPLES = 1 << 22
"""Clips up to this many samples (all channels; ~50 s of 44.1 kHz stereo) get their peak pyramid on the
spot, in a few milliseconds; longer ones get it from a background job so opening never stalls the UI."""


def build_peaks(clip: Clip, progress: Progress, cancel: CancelToken) -> PeakPyramid:
    """Job body: the waveform pyramid of ``clip``."""
    progress(0.0, f"waveform overview of {clip.name or 'clip'}")
    return PeakPyramid.from_clip(clip)


class _Header(QFrame):
    """Name and format of the track, with the spectrogram scale and close buttons; a click on it selects
    the track."""

    pressed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAutoFillBackground(True)
        self.name_label = QLabel()
        bold = self.name_label.font()
        bold.setBold(True)
        self.name_label.setFont(bold)
        self.info_label = QLabel()
        self.mel_button = QToolButton()
        self.mel_button.setText("mel")
        self.mel_button.setCheckable(True)
        self.mel_button.setToolTip("Mel frequency scale for the spectrogram (off: linear)")
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close this track")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 2, 2)
        layout.addWidget(self.name_label)
        layout.addWidget(self.info_label, 1)
        layout.addWidget(self.mel_button)
        layout.addWidget(self.close_button)
        self.set_current(False)

    def set_current(self, current: bool) -> None:
        # A palette, not a style sheet: style sheets re-polish every child, tens of ms per track opened.
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, style.CURRENT_HEADER_BACKGROUND if current else style.HEADER_BACKGROUND)
        palette.setColor(QPalette.ColorRole.WindowText, style.HEADER_TEXT)
        self.setPalette(palette)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.pressed.emit()
        super().mousePressEvent(event)


class TrackView(QWidget):
    """Header + waveform + spectrogram of one :class:`Clip`.

    Signals: ``activated`` when the user clicks anywhere on the track (it becomes the current track),
    ``closeRequested`` from the close button, ``seekRequested(seconds)`` when a plain click in a view
    asks to move the play head.
    """

    activated = Signal()
    closeRequested = Signal()
    seekRequested = Signal(float)

    def __init__(self, clip: Clip, axis: TimeAxis, selection: SelectionModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.axis = axis
        self.selection = selection
        self.clip = clip
        self.follow_cursor = True  # page the view along when the play head leaves it
        self._peaks_job: Job | None = None
        self.header = _Header()
        self.waveform = WaveformView(clip, axis, selection)
        self.spectrogram = SpectrogramView(clip, axis, selection)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(1)
        layout.addWidget(self.header)
        layout.addWidget(self.waveform, 1)
        layout.addWidget(self.spectrogram, 1)
        self.header.pressed.connect(self.activated)
        self.header.close_button.clicked.connect(self.closeRequested)
        self.header.mel_button.toggled.connect(lambda mel: self.spectrogram.set_scale("mel" if mel else "linear"))
        for view in self.views:
            view.pressed.connect(self.activated)
            view.seekRequested.connect(self.seekRequested)
        self.set_clip(clip)

    @property
    def views(self) -> list:
        return [self.waveform, self.spectrogram]

    def set_clip(self, clip: Clip) -> None:
        """Show ``clip`` (a new recording, an edit, an undo); the views recompute in the background."""
        self.clip = clip
        self.header.name_label.setText(clip.name or "untitled")
        channels = {1: "mono", 2: "stereo"}.get(clip.channels, f"{clip.channels} ch")
        self.header.info_label.setText(
            f"{channels} · {clip.sample_rate} Hz · {format_time(clip.duration, 3, clip.duration >= 3600)}")
        self.header.setToolTip(str(clip.source) if clip.source else "")
        self.axis.include_duration(clip.duration)
        self.spectrogram.set_clip(clip)
        if self._peaks_job is not None:
            self._peaks_job.cancel()
            self._peaks_job = None
        if clip.samples.size <= SYNC_PEAKS_MAX_SAMPLES:
            self.waveform.set_clip(clip, PeakPyramid.from_clip(clip))
        else:
            self.waveform.set_clip(clip)
            self._peaks_job = run_in_background(build_peaks, clip, name="waveform overview", owner=self,
                                                on_result=lambda peaks, shown=clip: self._peaks_ready(shown, peaks))

    def _peaks_ready(self, clip: Clip, peaks: PeakPyramid) -> None:
        if clip is self.clip:  # an edit may have replaced the clip while its pyramid was computed
            self._peaks_job = None
            self.waveform.set_peaks(peaks)

    @property
    def busy(self) -> bool:
        """True while a view still waits for background work (the overview or spectrogram tiles)."""
        return self._peaks_job is not None or self.spectrogram.pending

    def set_cursor(self, seconds: float) -> None:
        """Move the play head (shared by all tracks on the axis); follows it off-screen if enabled."""
        self.axis.set_cursor(seconds)
        if self.follow_cursor:
            self.axis.ensure_visible(seconds)

    def set_current(self, current: bool) -> None:
        """Highlight the header of the current track."""
        self.header.set_current(current)

    def add_regions(self, regions: list[tuple[float, float, str]]) -> None:
        """Show more labelled time regions (lyric lines) over the views."""
        for view in self.views:
            view.set_regions(view.regions + list(regions))

    def clear_regions(self) -> None:
        for view in self.views:
            view.set_regions([])

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.activated.emit()
        super().mousePressEvent(event)
