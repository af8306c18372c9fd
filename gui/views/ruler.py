"""The time ruler above the tracks: ticks at round intervals with h:mm:ss.mmm labels, the selection band
and the play head, all following the shared :class:`~gui.views.timeline.TimeAxis`."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPolygonF
from PySide6.QtWidgets import QWidget

from gui.views import style
from gui.views.timeline import SelectionModel, TimeAxis

# Steps a person reads easily: sub-second decimals, then seconds and minutes that divide a clock face.
_CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MIN_LABEL_SPACING_PX = 90
LABEL_GAP_PX = 12
MAX_DECIMALS = 6
"""Labels go down to microseconds: at the narrowest zoom (a millisecond across the view) ticks are tens of
microseconds apart, and every label must still read differently from its neighbours."""
FINEST_STEP_S = 10.0 ** -MAX_DECIMALS


def tick_step(span_s: float, width_px: int, min_spacing_px: float = MIN_LABEL_SPACING_PX) -> float:
    """The smallest round interval (1-2-5 below a second, clock steps above) whose labels are at least
    ``min_spacing_px`` apart when ``span_s`` seconds fill ``width_px`` pixels; never finer than the labels'
    last decimal, so two labels never read the same."""
    if span_s <= 0 or width_px <= 0:
        return 1.0
    wanted = max(span_s * min_spacing_px / width_px, FINEST_STEP_S)
    if wanted >= 1.0:
        for step in _CLOCK_STEPS:
            if step >= wanted:
                return float(step)
        return 3600.0 * math.ceil(wanted / 3600.0)
    decade = 10.0 ** math.floor(math.log10(wanted) + 1e-9)
    for multiple in (1, 2, 5, 10):
        if multiple * decade >= wanted * (1 - 1e-9):
            return multiple * decade
    return 10 * decade


def decimals_for(step_s: float) -> int:
    """How many decimals of a second the labels need so that neighbouring ticks read differently."""
    if step_s >= 1.0:
        return 0
    return min(MAX_DECIMALS, max(1, -math.floor(math.log10(step_s) + 1e-9)))


def format_time(seconds: float, decimals: int = 3, hours: bool = True) -> str:
    """``h:mm:ss.mmm`` (``hours=False`` gives ``m:ss.mmm``), rounded to ``decimals``."""
    sign = "-" if seconds < 0 else ""
    scale = 10 ** decimals
    total = round(abs(seconds) * scale)
    whole, fraction = divmod(total, scale)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    text = f"{h}:{m:02d}:{s:02d}" if hours else f"{h * 60 + m}:{s:02d}"
    if decimals:
        text += f".{fraction:0{decimals}d}"
    return sign + text


class TimeRuler(QWidget):
    """Tick marks and labels for the visible range; clicking or dragging on it moves the play head
    (``seekRequested``)."""

    seekRequested = Signal(float)

    def __init__(self, axis: TimeAxis, selection: SelectionModel | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.axis = axis
        self.selection = selection
        self.setFixedHeight(26)
        axis.rangeChanged.connect(self.update)
        axis.durationChanged.connect(self.update)
        axis.cursorChanged.connect(self.update)
        if selection is not None:
            selection.selectionChanged.connect(self.update)

    def ticks(self) -> tuple[float, list[float]]:
        """The label step and the labelled tick times inside the visible range. The step leaves room for
        the widest label it produces (finer steps have longer labels, so this settles in a few rounds)."""
        spacing = float(MIN_LABEL_SPACING_PX)
        step = tick_step(self.axis.span_s, self.width(), spacing)
        for _ in range(4):
            needed = self._label_width(step) + LABEL_GAP_PX
            if needed <= spacing:
                break
            spacing = needed
            step = tick_step(self.axis.span_s, self.width(), spacing)
        first = math.ceil(self.axis.start_s / step - 1e-9)
        last = math.floor(self.axis.end_s / step + 1e-9)
        return step, [i * step for i in range(first, last + 1)]

    def labels(self) -> list[tuple[float, str]]:
        """Each labelled tick's time and text, as drawn."""
        step, times = self.ticks()
        decimals = decimals_for(step)
        return [(t, format_time(t, decimals)) for t in times]

    def _label_width(self, step: float) -> int:
        widest = format_time(max(abs(self.axis.end_s), abs(self.axis.start_s)), decimals_for(step))
        return self.fontMetrics().horizontalAdvance(widest.replace("1", "8"))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        width, height = self.width(), self.height()
        painter.fillRect(self.rect(), style.RULER_BACKGROUND)
        selected = self.selection.range if self.selection is not None else None
        if selected is not None:
            x0 = self.axis.time_to_x(selected[0], width)
            x1 = self.axis.time_to_x(selected[1], width)
            painter.fillRect(QRectF(x0, 0, x1 - x0, height), style.SELECTION_FILL)
        step, _times = self.ticks()
        minor = step / 5 if step in (1.0, 5.0) or step < 1 else step / 2
        painter.setPen(style.RULER_MINOR)
        first_minor = math.ceil(self.axis.start_s / minor)
        for i in range(first_minor, int(self.axis.end_s / minor) + 1):
            x = round(self.axis.time_to_x(i * minor, width))
            painter.drawLine(x, height - 4, x, height)
        painter.setPen(style.RULER_TEXT)
        for t, text in self.labels():
            x = round(self.axis.time_to_x(t, width))
            painter.drawLine(x, height - 10, x, height)
            painter.drawText(x + 3, height - 12, text)
        self._draw_play_head(painter, width, height)
        painter.end()

    def _draw_play_head(self, painter: QPainter, width: int, height: int) -> None:
        x = self.axis.time_to_x(self.axis.cursor_s, width)
        if -6 <= x <= width + 6:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(style.CURSOR))
            painter.drawPolygon(QPolygonF([QPointF(x - 5, 0), QPointF(x + 5, 0), QPointF(x, 8)]))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.seekRequested.emit(self.axis.x_to_time(event.position().x(), self.width()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            x = min(max(event.position().x(), 0.0), float(self.width()))
            self.seekRequested.emit(self.axis.x_to_time(x, self.width()))
