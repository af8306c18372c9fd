"""The models every track view shares: the visible time range, the selection and the play head.

One :class:`TimeAxis` and one :class:`SelectionModel` are handed to every track, ruler and view of a
window, so zooming, scrolling, selecting and playing move all of them together without the views knowing
about each other.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

MIN_SPAN_S = 1e-3
"""The narrowest visible range: a millisecond is a few dozen samples at common rates, enough to see
single samples as points on a wide view."""


class TimeAxis(QObject):
    """The visible time range ``[start_s, end_s]`` within ``[0, duration_s]`` and the play head.

    All changes go through :meth:`set_range`, which clamps to the duration and emits
    ``rangeChanged(start_s, end_s)`` only when something moved, so views can redraw on every signal.
    """

    rangeChanged = Signal(float, float)
    durationChanged = Signal(float)
    cursorChanged = Signal(float)

    def __init__(self, duration_s: float = 0.0, parent: QObject | None = None):
        super().__init__(parent)
        self._duration = max(0.0, float(duration_s))
        self._start = 0.0
        self._end = self._duration if self._duration > 0 else 1.0
        self._cursor = 0.0

    @property
    def duration_s(self) -> float:
        return self._duration

    @property
    def start_s(self) -> float:
        return self._start

    @property
    def end_s(self) -> float:
        return self._end

    @property
    def span_s(self) -> float:
        return self._end - self._start

    @property
    def cursor_s(self) -> float:
        return self._cursor

    def set_duration(self, duration_s: float) -> None:
        """Set the total length (the longest track); a view showing everything keeps showing everything."""
        duration_s = max(0.0, float(duration_s))
        if duration_s == self._duration:
            return
        showed_all = self._start <= 0.0 and self._end >= self._duration
        self._duration = duration_s
        self.durationChanged.emit(duration_s)
        if showed_all:
            self.fit_all()
        else:
            self.set_range(self._start, self._end)

    def include_duration(self, duration_s: float) -> None:
        """Grow the total length to cover a newly shown track of ``duration_s`` seconds."""
        if duration_s > self._duration:
            self.set_duration(duration_s)

    def set_range(self, start_s: float, end_s: float) -> None:
        """Show ``[start_s, end_s]``, kept inside the duration and no narrower than :data:`MIN_SPAN_S`."""
        start_s, end_s = float(start_s), float(end_s)
        if end_s < start_s:
            start_s, end_s = end_s, start_s
        limit = self._duration if self._duration > 0 else max(end_s, MIN_SPAN_S)
        span = min(max(end_s - start_s, MIN_SPAN_S), max(limit, MIN_SPAN_S))
        start_s = min(max(start_s, 0.0), max(limit - span, 0.0))
        end_s = start_s + span
        if (start_s, end_s) == (self._start, self._end):
            return
        self._start, self._end = start_s, end_s
        self.rangeChanged.emit(start_s, end_s)

    def zoom(self, factor: float, anchor_s: float | None = None) -> None:
        """Zoom in by ``factor`` (> 1 narrows the range) keeping ``anchor_s`` at the same place on screen;
        without an anchor, around the centre."""
        if factor <= 0:
            raise ValueError(f"zoom factor must be positive, got {factor}")
        if anchor_s is None:
            anchor_s = (self._start + self._end) / 2
        new_span = self.span_s / factor
        fraction = (anchor_s - self._start) / self.span_s
        start = anchor_s - fraction * new_span
        self.set_range(start, start + new_span)

    def scroll(self, delta_s: float) -> None:
        """Move the visible range by ``delta_s`` seconds (positive = later), keeping its width."""
        self.set_range(self._start + delta_s, self._end + delta_s)

    def scroll_pages(self, pages: float) -> None:
        """Move by a fraction of the visible width (1.0 = one screen)."""
        self.scroll(pages * self.span_s)

    def fit_all(self) -> None:
        """Show the whole duration."""
        self.set_range(0.0, self._duration if self._duration > 0 else 1.0)

    def ensure_visible(self, seconds: float) -> None:
        """Page the range so ``seconds`` is on screen (used to follow the play head)."""
        if seconds < self._start or seconds > self._end:
            self.set_range(seconds, seconds + self.span_s)

    def set_cursor(self, seconds: float) -> None:
        seconds = max(0.0, float(seconds))
        if seconds != self._cursor:
            self._cursor = seconds
            self.cursorChanged.emit(seconds)

    # Pixel mapping shared by every view so they line up exactly.
    def time_to_x(self, seconds: float, width: int) -> float:
        return (seconds - self._start) / self.span_s * width

    def x_to_time(self, x: float, width: int) -> float:
        return self._start + x / max(width, 1) * self.span_s


class SelectionModel(QObject):
    """A time selection ``(start_s, end_s)`` or none, shared by all tracks of a window.

    ``selectionChanged`` carries the new ``(start_s, end_s)`` tuple or ``None``.
    """

    selectionChanged = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._range: tuple[float, float] | None = None

    @property
    def range(self) -> tuple[float, float] | None:
        return self._range

    @property
    def start_s(self) -> float | None:
        return None if self._range is None else self._range[0]

    @property
    def end_s(self) -> float | None:
        return None if self._range is None else self._range[1]

    def set(self, start_s: float, end_s: float) -> None:
        """Select between two times given in any order; an empty span clears the selection."""
        start_s, end_s = sorted((max(0.0, float(start_s)), max(0.0, float(end_s))))
        self._update(None if end_s <= start_s else (start_s, end_s))

    def extend_to(self, seconds: float) -> None:
        """Move the nearer edge of the selection to ``seconds`` (what shift-click does)."""
        if self._range is None:
            return
        start, end = self._range
        if abs(seconds - start) < abs(seconds - end):
            self.set(seconds, end)
        else:
            self.set(start, seconds)

    def clear(self) -> None:
        self._update(None)

    def _update(self, new: tuple[float, float] | None) -> None:
        if new != self._range:
            self._range = new
            self.selectionChanged.emit(new)
