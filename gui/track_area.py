"""The tracks of a window: one shared time axis and selection, the ruler on top, a vertical scroll area of
:class:`~gui.views.TrackView` and a horizontal scroll bar for time, plus which track is current."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QScrollArea, QScrollBar, QVBoxLayout, QWidget

from engine.audio.clip import Clip
from gui.views import SelectionModel, TimeAxis, TimeRuler, TrackView

SCROLL_UNITS_PER_S = 1000  # the scroll bar counts milliseconds

TRACK_MIN_HEIGHT = 220


class TrackArea(QWidget):
    """Signals: ``current_changed(track or None)``, ``tracks_changed()`` when one is added or closed,
    ``close_requested(track)`` from a track's close button, ``seek_requested(seconds)`` from a click."""

    current_changed = Signal(object)
    tracks_changed = Signal()
    close_requested = Signal(object)
    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.axis = TimeAxis(0.0, self)
        self.selection = SelectionModel(self)
        self.ruler = TimeRuler(self.axis, self.selection)
        self.tracks: list[TrackView] = []
        self._current: TrackView | None = None
        self._column = QWidget()
        self._column_layout = QVBoxLayout(self._column)
        self._column_layout.setContentsMargins(0, 0, 0, 0)
        self._column_layout.setSpacing(2)
        self.placeholder = QLabel("Open (Ctrl+O), drop or record (R) audio to start.")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._column_layout.addWidget(self.placeholder, 1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(self._column)
        self.time_bar = QScrollBar(Qt.Orientation.Horizontal)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.ruler)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.time_bar)
        self.ruler.seekRequested.connect(self.seek_requested)
        self.axis.rangeChanged.connect(self._sync_time_bar)
        self.axis.durationChanged.connect(self._sync_time_bar)
        self.time_bar.valueChanged.connect(self._time_bar_moved)
        self._sync_time_bar()

    @property
    def current(self) -> TrackView | None:
        return self._current

    def add_track(self, clip: Clip) -> TrackView:
        track = TrackView(clip, self.axis, self.selection)
        track.setMinimumHeight(TRACK_MIN_HEIGHT)
        track.activated.connect(lambda: self.set_current(track))
        track.closeRequested.connect(lambda: self.close_requested.emit(track))
        track.seekRequested.connect(self.seek_requested)
        self.insert_track(track, len(self.tracks))
        return track

    def insert_track(self, track: TrackView, index: int) -> None:
        """Show ``track`` at ``index``: a new one, or one taken out with ``remove_track(keep=True)``."""
        self.tracks.insert(index, track)
        # Tracks share the height they are given (one track fills the window) down to their minimum,
        # below which the area scrolls.
        self._column_layout.insertWidget(index, track, 1)
        track.show()  # now, not when the layout next runs, so that callers can rely on it
        self.placeholder.setVisible(False)
        self.refresh_duration()
        self.set_current(track)
        self.tracks_changed.emit()

    def remove_track(self, track: TrackView, keep: bool = False) -> None:
        """Take ``track`` out; ``keep`` hides it instead of deleting it, so an undo can put it back."""
        self.tracks.remove(track)
        self._column_layout.removeWidget(track)
        if keep:
            track.hide()
        else:
            track.deleteLater()
        self.placeholder.setVisible(not self.tracks)
        self.refresh_duration()
        if track is self._current:
            self.set_current(self.tracks[-1] if self.tracks else None)
        self.tracks_changed.emit()

    def set_current(self, track: TrackView | None) -> None:
        if track is self._current:
            return
        self._current = track
        for other in self.tracks:
            other.set_current(other is track)
        if track is not None:
            self.scroll_area.ensureWidgetVisible(track)
        self.current_changed.emit(track)

    def refresh_duration(self) -> None:
        """Fit the axis to the longest track after an edit changed a length."""
        self.axis.set_duration(max((t.clip.duration for t in self.tracks), default=0.0))

    def _sync_time_bar(self, *_args) -> None:
        span = self.axis.span_s
        hidden = max(0.0, self.axis.duration_s - span)
        self.time_bar.blockSignals(True)
        self.time_bar.setRange(0, round(hidden * SCROLL_UNITS_PER_S))
        self.time_bar.setPageStep(max(1, round(span * SCROLL_UNITS_PER_S)))
        self.time_bar.setSingleStep(max(1, round(span * SCROLL_UNITS_PER_S / 20)))
        self.time_bar.setValue(round(self.axis.start_s * SCROLL_UNITS_PER_S))
        self.time_bar.blockSignals(False)

    def _time_bar_moved(self, value: int) -> None:
        start = value / SCROLL_UNITS_PER_S
        self.axis.set_range(start, start + self.axis.span_s)
