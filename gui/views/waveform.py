"""The waveform view: one lane per channel showing min/max per pixel column, or the samples themselves
as a line when zoomed in far enough to see them; amplitudes on a linear or a dB scale (Audacity's
"Waveform (dB)": the centre line is :data:`DB_RANGE` below full scale, so quiet passages stay visible),
labelled along the left edge.

The min/max per column come from the clip's peak pyramid (built off the UI thread by the track for long
clips), so drawing an hour costs the same as drawing a second; they are rasterised into an image with one
vectorised mask per lane instead of thousands of line calls.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from engine.audio.clip import Clip
from engine.audio.peaks import PeakPyramid
from gui.views import style
from gui.views.base import TimelineView
from gui.views.timeline import SelectionModel, TimeAxis

SAMPLE_LINE_MAX_FRAMES_PER_PX = 1.0  # below this the samples are drawn as a connected line
SAMPLE_DOTS_MAX_FRAMES_PER_PX = 0.2  # below this each sample also gets a dot


AMPLITUDE_SCALES = ("linear", "db")
DB_RANGE = 60.0
"""On the dB scale a lane spans -DB_RANGE dBFS (its centre line) to 0 dBFS (its edges)."""
SCALE_LABELS = {"linear": (1.0, 0.5), "db": (0.0, -6.0, -12.0, -24.0, -48.0)}
LABEL_MIN_SPACING_PX = 12


def display_amplitude(values: np.ndarray, scale: str) -> np.ndarray:
    """Sample values as heights in [-1, 1] of half a lane: linear, or sign × (1 + dBFS / DB_RANGE) with
    anything at or below -DB_RANGE dBFS on the centre line. Both are monotonic, so the min/max envelope
    maps column by column."""
    clipped = np.clip(values, -1.0, 1.0)
    if scale == "linear":
        return clipped
    with np.errstate(divide="ignore"):
        decibels = 20.0 * np.log10(np.abs(clipped))
    return np.sign(clipped) * np.clip(1.0 + decibels / DB_RANGE, 0.0, 1.0)


def _label_height(level: float, scale: str) -> float:
    """Height (in half-lanes) of a scale label: a level in dBFS on the dB scale, an amplitude otherwise."""
    return level if scale == "linear" else float(display_amplitude(np.array([10 ** (level / 20)]), scale)[0])


BLOCKS_PER_COLUMN = 4
"""Columns are reduced from the coarsest pyramid level with at least this many blocks per column (or the
samples, zoomed in) by one ``reduceat``, column edges snapped to block edges: an error under a quarter
of a pixel, at a fraction of the cost of exact per-column extrema."""


def column_min_max(minima: np.ndarray, maxima: np.ndarray, block: int, edges: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (min, max) of block extrema ``(channels, blocks)`` of ``block`` frames each, column
    ``i`` covering frames ``edges[i]..edges[i + 1]`` (increasing, inside the data)."""
    blocks = minima.shape[1]
    starts = np.clip(edges[:-1] // block, 0, blocks - 1)
    last_blocks = np.clip(-(-edges[1:] // block) - 1, starts, blocks - 1)  # each column's last block
    # Only the covered slice goes to reduceat, so the last segment ends with the last column. Each
    # segment stops where the next column begins; fold in each column's own last block too, which the
    # next column shares when the edge falls inside it.
    low, high = starts[0], last_blocks[-1] + 1
    col_min = np.minimum(np.minimum.reduceat(minima[:, low:high], starts - low, axis=1), minima[:, last_blocks])
    col_max = np.maximum(np.maximum.reduceat(maxima[:, low:high], starts - low, axis=1), maxima[:, last_blocks])
    return col_min, col_max


def _argb(color) -> np.uint32:
    return np.uint32(color.rgba())


class WaveformView(TimelineView):
    """Draws a :class:`Clip` along the shared axis from its :class:`PeakPyramid` (``set_peaks``)."""

    def __init__(self, clip: Clip, axis: TimeAxis, selection: SelectionModel, parent: QWidget | None = None):
        super().__init__(axis, selection, parent)
        self.clip = clip
        self.peaks: PeakPyramid | None = None
        self.amplitude_scale = "linear"
        self.setMinimumHeight(80)

    def set_amplitude_scale(self, scale: str) -> None:
        """Show amplitudes on the ``"linear"`` or ``"db"`` scale."""
        if scale not in AMPLITUDE_SCALES:
            raise ValueError(f"amplitude scale must be one of {AMPLITUDE_SCALES}, not {scale!r}")
        if scale != self.amplitude_scale:
            self.amplitude_scale = scale
            self.invalidate()

    def set_clip(self, clip: Clip, peaks: PeakPyramid | None = None) -> None:
        """Show another clip (an edit or undo); ``peaks`` is its pyramid if already known."""
        self.clip = clip
        self.peaks = peaks
        self.invalidate()

    def set_peaks(self, peaks: PeakPyramid) -> None:
        self.peaks = peaks
        self.invalidate()

    def content_key(self) -> tuple:
        return (id(self.clip), id(self.peaks), self.amplitude_scale)

    def frames_per_pixel(self, width: int | None = None) -> float:
        return self.axis.span_s * self.clip.sample_rate / max(width or self.width(), 1)

    def render_content(self, width: int, height: int) -> QImage:
        pixels = np.full((height, width), _argb(style.BACKGROUND), dtype=np.uint32)
        channels = self.clip.channels
        lanes = [(round(c * height / channels), round((c + 1) * height / channels)) for c in range(channels)]
        for top, bottom in lanes[1:]:
            pixels[top, :] = _argb(style.LANE_SEPARATOR)
        for top, bottom in lanes:
            pixels[(top + bottom) // 2, :] = _argb(style.CENTRE_LINE)
        frames_per_px = self.frames_per_pixel(width)
        drawn_as_lines = frames_per_px < SAMPLE_LINE_MAX_FRAMES_PER_PX
        if not drawn_as_lines:
            envelope = self.column_extrema(width)
            if envelope is not None:
                minima, maxima, x0, x1 = envelope
                self._rasterise(pixels, lanes, display_amplitude(minima, self.amplitude_scale),
                                display_amplitude(maxima, self.amplitude_scale), x0, x1)
        image = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_RGB32).copy()
        if drawn_as_lines:
            self._draw_samples(image, lanes, frames_per_px)
        elif envelope is None:
            painter = QPainter(image)
            painter.setPen(style.RULER_TEXT)
            painter.drawText(image.rect(), Qt.AlignmentFlag.AlignCenter, "computing overview…")
            painter.end()
        self._draw_scale_labels(image, lanes)
        return image

    def scale_labels(self, lanes: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
        """(tick y, text baseline y, text) of the amplitude labels on the upper half of each lane, spaced
        so they never overlap (a short lane gets fewer); a label at a lane's top edge is written below
        its tick."""
        labels = []
        for top, bottom in lanes:
            half = (bottom - top) / 2
            last_text_y = float("-inf")
            for level in SCALE_LABELS[self.amplitude_scale]:  # from the top edge towards the centre line
                y = round(top + half - _label_height(level, self.amplitude_scale) * half * 0.95)
                text_y = max(y + 4, top + LABEL_MIN_SPACING_PX - 2)
                if text_y - last_text_y >= LABEL_MIN_SPACING_PX and text_y <= bottom:
                    text = f"{level:g} dB" if self.amplitude_scale == "db" else f"{level:g}"
                    labels.append((y, text_y, text))
                    last_text_y = text_y
        return labels

    def _draw_scale_labels(self, image: QImage, lanes: list[tuple[int, int]]) -> None:
        painter = QPainter(image)
        painter.setPen(style.RULER_TEXT)
        for tick_y, text_y, text in self.scale_labels(lanes):
            painter.drawLine(0, tick_y, 3, tick_y)
            painter.drawText(5, text_y, text)
        painter.end()

    def column_extrema(self, width: int) -> tuple[np.ndarray, np.ndarray, int, int] | None:
        """``(minima, maxima, x0, x1)`` for the pixel columns ``x0..x1`` that show audio (a shorter track
        on a longer axis leaves the rest empty), or None while the pyramid is still being computed."""
        if self.peaks is None:
            return None
        rate, frames = self.clip.sample_rate, self.clip.frames
        x0 = max(0, int(np.floor(self.axis.time_to_x(0.0, width))))
        x1 = min(width, int(np.ceil(self.axis.time_to_x(frames / rate, width))))
        x1 = max(x0, x1)
        first = int(np.floor(self.axis.x_to_time(x0, width) * rate))
        last = int(np.ceil(self.axis.x_to_time(x1, width) * rate))
        columns = x1 - x0
        if columns == 0:
            empty = np.zeros((self.clip.channels, 0), np.float32)
            return empty, empty, x0, x1
        frames_per_column = (last - first) / columns
        source = (self.clip.samples, self.clip.samples, 1)  # zoomed in: the samples themselves, exactly
        for level in self.peaks.levels:
            if level.block * BLOCKS_PER_COLUMN <= frames_per_column:
                source = (level.minima, level.maxima, level.block)
        edges = np.minimum(first + (np.arange(columns + 1) * (last - first)) // columns, frames)
        minima, maxima = column_min_max(*source, edges)
        return minima, maxima, x0, x1

    @staticmethod
    def _rasterise(pixels: np.ndarray, lanes: list[tuple[int, int]], minima: np.ndarray, maxima: np.ndarray,
                   x0: int, x1: int) -> None:
        """Fill each column between its heights (display units, -1..1 of half a lane)."""
        colour = _argb(style.WAVEFORM)
        for channel, (top, bottom) in enumerate(lanes):
            half = (bottom - top) / 2
            centre = top + half
            scale = half * 0.95
            upper = np.floor(centre - maxima[channel] * scale).astype(np.int32)
            lower = np.ceil(centre - minima[channel] * scale).astype(np.int32)
            lower = np.maximum(lower, upper + 1)  # silence still shows a one-pixel line
            rows = np.arange(top, bottom, dtype=np.int32)[:, None]
            mask = (rows >= upper[None, :]) & (rows < lower[None, :])
            pixels[top:bottom, x0:x1][mask] = colour

    def _draw_samples(self, image: QImage, lanes: list[tuple[int, int]], frames_per_px: float) -> None:
        """Zoomed in past one sample per pixel: connect the samples, and dot them when they are far apart."""
        rate = self.clip.sample_rate
        first = max(int(np.floor(self.axis.start_s * rate)) - 1, 0)
        last = min(int(np.ceil(self.axis.end_s * rate)) + 2, self.clip.frames)
        if last <= first:
            return
        xs = (np.arange(first, last) / rate - self.axis.start_s) / self.axis.span_s * image.width()
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for channel, (top, bottom) in enumerate(lanes):
            half = (bottom - top) / 2
            ys = top + half - display_amplitude(self.clip.samples[channel, first:last], self.amplitude_scale) * half * 0.95
            points = [QPointF(float(x), float(y)) for x, y in zip(xs, ys)]
            painter.setPen(QPen(style.WAVEFORM_SAMPLE, 1.2))
            painter.drawPolyline(QPolygonF(points))
            if frames_per_px < SAMPLE_DOTS_MAX_FRAMES_PER_PX:
                dot = QPen(style.WAVEFORM_SAMPLE, 4)
                dot.setCapStyle(Qt.PenCapStyle.RoundCap)
                painter.setPen(dot)
                painter.drawPoints(QPolygonF(points))
        painter.end()
