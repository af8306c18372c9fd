"""What waveform and spectrogram views have in common: mapping pixels to the shared time axis, mouse
selection, zoom and scroll gestures, and the overlays (selection, lyric regions, play head).

Subclasses only render their content for the visible range into a :class:`QImage`
(:meth:`TimelineView.render_content`); it is cached until the range, size or data change, so moving the
play head or the selection repaints a cached image plus thin overlays instead of recomputing anything.

Gestures (documented in the README):
    wheel                zoom in/out around the mouse
    shift+wheel, horizontal wheel, middle-button drag     scroll in time
    pinch (touchpads that send native gestures)           zoom around the fingers
    left drag            select; shift+click extends the selection; a plain click clears it and seeks
    + / -  0  ← →        zoom in/out, fit all, scroll by a tenth of the view
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (QImage, QKeyEvent, QMouseEvent, QNativeGestureEvent, QPainter, QPaintEvent,
                           QWheelEvent)
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.views import style
from gui.views.timeline import SelectionModel, TimeAxis

WHEEL_ZOOM_PER_NOTCH = 1.25
WHEEL_SCROLL_PAGES_PER_NOTCH = 0.1
KEY_ZOOM = 2.0
KEY_SCROLL_PAGES = 0.1
CLICK_SLOP_PX = 3  # a press and release closer than this is a click, not a drag


class TimelineView(QWidget):
    """A widget whose x axis is the shared :class:`TimeAxis`.

    Signals: ``pressed`` on any mouse press (the track becomes current), ``seekRequested(seconds)`` when a
    plain click asks to move the play head there.
    """

    pressed = Signal()
    seekRequested = Signal(float)

    def __init__(self, axis: TimeAxis, selection: SelectionModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.axis = axis
        self.selection = selection
        self.regions: list[tuple[float, float, str]] = []
        self._content: QImage | None = None
        self._content_key: tuple | None = None
        self._drag_anchor_s: float | None = None
        self._press_x = 0.0
        self._pan_origin: tuple[float, float] | None = None  # (press x, axis start) while middle-dragging
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(60)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        axis.rangeChanged.connect(self.update)
        axis.cursorChanged.connect(self._cursor_moved)
        selection.selectionChanged.connect(self.update)
        self._cursor_x = self._x_of(axis.cursor_s)

    # --- content -----------------------------------------------------------------------------------
    def render_content(self, width: int, height: int) -> QImage:
        """The view's picture of ``[axis.start_s, axis.end_s]`` at ``width`` × ``height`` pixels; here the
        empty background, which subclasses draw their data onto (or replace)."""
        image = QImage(max(1, width), max(1, height), QImage.Format.Format_RGB32)
        image.fill(style.BACKGROUND)
        return image

    def content_key(self) -> tuple:
        """Everything the content depends on besides range and size; a change forces a re-render."""
        return ()

    def _current_key(self) -> tuple:
        return (self.axis.start_s, self.axis.end_s, self.width(), self.height(), self.content_key())

    @property
    def up_to_date(self) -> bool:
        """Whether the cached picture shows the current range, size and data (a paint has caught up)."""
        return self._content is not None and self._content_key == self._current_key()

    def invalidate(self) -> None:
        """Drop the cached content (new data arrived) and repaint."""
        self._content_key = None
        self.update()

    def set_regions(self, regions: list[tuple[float, float, str]]) -> None:
        self.regions = [(float(a), float(b), str(label)) for a, b, label in regions]
        self.update()

    # --- painting ------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        width, height = self.width(), self.height()
        key = self._current_key()
        if key != self._content_key or self._content is None:
            self._content = self.render_content(width, height)
            self._content_key = key
        painter = QPainter(self)
        painter.setClipRect(event.rect())
        painter.drawImage(0, 0, self._content)
        self._draw_regions(painter, width, height)
        self._draw_selection(painter, width, height)
        self._draw_cursor(painter, height)
        painter.end()

    def _draw_regions(self, painter: QPainter, width: int, height: int) -> None:
        for start, end, label in self.regions:
            if end < self.axis.start_s or start > self.axis.end_s:
                continue
            x0, x1 = self._x_of(start), self._x_of(end)
            painter.fillRect(QRectF(x0, 0, x1 - x0, height), style.REGION_FILL)
            painter.setPen(style.REGION_EDGE)
            painter.drawLine(QPointF(x0, 0), QPointF(x0, height))
            if label:
                painter.setPen(style.REGION_TEXT)
                text_rect = QRectF(max(x0, 0) + 3, 2, max(x1 - max(x0, 0) - 6, 0), 16)
                painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, label)

    def _draw_selection(self, painter: QPainter, width: int, height: int) -> None:
        selected = self.selection.range
        if selected is None:
            return
        x0, x1 = self._x_of(selected[0]), self._x_of(selected[1])
        if x1 < 0 or x0 > width:
            return
        painter.fillRect(QRectF(x0, 0, max(x1 - x0, 1.0), height), style.SELECTION_FILL)
        painter.setPen(style.SELECTION_EDGE)
        painter.drawLine(QPointF(x0, 0), QPointF(x0, height))
        painter.drawLine(QPointF(x1, 0), QPointF(x1, height))

    def _draw_cursor(self, painter: QPainter, height: int) -> None:
        self._cursor_x = self._x_of(self.axis.cursor_s)  # where the next move must erase it
        painter.fillRect(QRectF(self._cursor_x - 1, 0, 2, height), style.CURSOR)

    def _cursor_moved(self, seconds: float) -> None:
        """Repaint only the strips under the old and new play head: the cached content makes this cheap
        enough to follow playback at the display rate."""
        for x in (self._cursor_x, self._x_of(seconds)):
            if -2 <= x <= self.width() + 2:
                self.update(QRect(int(x) - 2, 0, 5, self.height()))

    # --- mapping -------------------------------------------------------------------------------------
    def _x_of(self, seconds: float) -> float:
        return self.axis.time_to_x(seconds, self.width())

    def _time_at(self, x: float) -> float:
        return min(max(self.axis.x_to_time(x, self.width()), 0.0), self.axis.duration_s)

    # --- mouse ----------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.pressed.emit()
        x = event.position().x()
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_origin = (x, self.axis.start_s)
        elif event.button() == Qt.MouseButton.LeftButton:
            self._press_x = x
            clicked = self._time_at(x)
            selected = self.selection.range
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                if selected is None:
                    self.selection.set(self.axis.cursor_s, clicked)
                else:
                    self.selection.extend_to(clicked)
                selected = self.selection.range
                # Keep dragging the edge that moved: anchor at the edge that did not.
                self._drag_anchor_s = None if selected is None else (
                    selected[0] if abs(selected[1] - clicked) < abs(selected[0] - clicked) else selected[1])
            else:
                self._drag_anchor_s = clicked

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        if self._pan_origin is not None:
            press_x, start = self._pan_origin
            seconds_per_px = self.axis.span_s / max(self.width(), 1)
            self.axis.set_range(start - (x - press_x) * seconds_per_px,
                                start - (x - press_x) * seconds_per_px + self.axis.span_s)
        elif self._drag_anchor_s is not None and abs(x - self._press_x) >= CLICK_SLOP_PX:
            self.selection.set(self._drag_anchor_s, self._time_at(x))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        if event.button() == Qt.MouseButton.MiddleButton:
            self._pan_origin = None
        elif event.button() == Qt.MouseButton.LeftButton and self._drag_anchor_s is not None:
            if abs(x - self._press_x) < CLICK_SLOP_PX and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.selection.clear()
                self.seekRequested.emit(self._time_at(x))
            else:
                self.selection.set(self._drag_anchor_s, self._time_at(x))
            self._drag_anchor_s = None

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta()
        notches_y, notches_x = delta.y() / 120.0, delta.x() / 120.0
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            # Some platforms turn shift+wheel into a horizontal delta already.
            self.axis.scroll_pages(-(notches_y or notches_x) * WHEEL_SCROLL_PAGES_PER_NOTCH)
        elif notches_x and not notches_y:
            self.axis.scroll_pages(-notches_x * WHEEL_SCROLL_PAGES_PER_NOTCH)
        elif notches_y:
            self.axis.zoom(WHEEL_ZOOM_PER_NOTCH ** notches_y, self.axis.x_to_time(event.position().x(), self.width()))
        event.accept()

    def event(self, event: QEvent) -> bool:
        if isinstance(event, QNativeGestureEvent) and event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
            anchor = self.axis.x_to_time(event.position().x(), self.width())
            self.axis.zoom(1.0 + event.value(), anchor)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        cursor = self.axis.cursor_s
        anchor = cursor if self.axis.start_s <= cursor <= self.axis.end_s else None
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.axis.zoom(KEY_ZOOM, anchor)
        elif key == Qt.Key.Key_Minus:
            self.axis.zoom(1.0 / KEY_ZOOM, anchor)
        elif key == Qt.Key.Key_0:
            self.axis.fit_all()
        elif key == Qt.Key.Key_Left:
            self.axis.scroll_pages(-KEY_SCROLL_PAGES)
        elif key == Qt.Key.Key_Right:
            self.axis.scroll_pages(KEY_SCROLL_PAGES)
        else:
            super().keyPressEvent(event)
