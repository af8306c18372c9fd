"""The waveform view: one lane per channel showing min/max per pixel column, or the samples themselves
as a line when zoomed in far enough to see them.

Zoomed out, the min/max come from the peak pyramid (computed off the UI thread by the track), so drawing
an hour costs the same as drawing a second: a few thousand blocks reduced with ``numpy.minimum.reduceat``
and rasterised into an image with one vectorised mask per lane.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from engine.audio.clip import Clip
from gui.views import style
from gui.views.base import TimelineView
from gui.views.timeline import SelectionModel, TimeAxis

RAW_FRAMES_BUDGET = 1 << 22
"""Visible ranges up to this many frames are reduced straight from the samples (a few ms); longer ones
need the peak pyramid."""
SAMPLE_LINE_MAX_FRAMES_PER_PX = 1.0  # below this the samples are drawn as a connected line
SAMPLE_DOTS_MAX_FRAMES_PER_PX = 0.2  # below this each sample also gets a dot


def column_min_max(mins: np.ndarray, maxs: np.ndarray, block: int, first_frame: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduce per-block minima/maxima (``(channels, blocks)``, ``block`` frames each) to one min/max per
    pixel column, column ``i`` covering frames ``first_frame[i] .. first_frame[i + 1]``.

    Returns ``(col_min, col_max, valid)`` where ``valid`` marks columns that overlap the data.
    """
    blocks = mins.shape[1]
    columns = len(first_frame) - 1
    starts = np.floor_divide(first_frame[:-1], block)
    ends = -np.floor_divide(-first_frame[1:], block)  # ceil: a partly covered block still counts
    valid = (ends > 0) & (starts < blocks) & (blocks > 0)
    col_min = np.zeros((mins.shape[0], columns), np.float32)
    col_max = np.zeros_like(col_min)
    if not valid.any():
        return col_min, col_max, valid
    starts = np.clip(starts, 0, blocks - 1)
    # reduceat reduces [index_i, index_{i+1}); a column whose start equals the next start still gets
    # the block it sits in, which is the right value when a block is wider than a pixel.
    idx = starts[valid]
    col_min[:, valid] = np.minimum.reduceat(mins, idx, axis=1)
    col_max[:, valid] = np.maximum.reduceat(maxs, idx, axis=1)
    # reduceat runs each segment to the next index; the last valid column must stop at its own end.
    last = np.flatnonzero(valid)[-1]
    end = int(min(max(ends[last], starts[last] + 1), blocks))
    col_min[:, last] = mins[:, starts[last]:end].min(axis=1)
    col_max[:, last] = maxs[:, starts[last]:end].max(axis=1)
    return col_min, col_max, valid


def _argb(color) -> np.uint32:
    return np.uint32(color.rgba())


class WaveformView(TimelineView):
    """Draws a :class:`Clip` along the shared axis; ``set_peaks`` hands it the clip's peak pyramid."""

    def __init__(self, clip: Clip, axis: TimeAxis, selection: SelectionModel, parent: QWidget | None = None):
        super().__init__(axis, selection, parent)
        self.clip = clip
        self.peaks = None
        self.setMinimumHeight(80)

    def set_clip(self, clip: Clip, peaks=None) -> None:
        """Show another clip (an edit or undo); ``peaks`` is its pyramid if already known."""
        self.clip = clip
        self.peaks = peaks
        self.invalidate()

    def set_peaks(self, peaks) -> None:
        self.peaks = peaks
        self.invalidate()

    def content_key(self) -> tuple:
        return (id(self.clip), id(self.peaks))

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
            envelope = self._envelope(width)
            if envelope is not None:
                self._rasterise(pixels, lanes, *envelope)
        image = QImage(pixels.data, width, height, width * 4, QImage.Format.Format_ARGB32).copy()
        if drawn_as_lines:
            self._draw_samples(image, lanes, frames_per_px)
        elif envelope is None:
            painter = QPainter(image)
            painter.setPen(style.RULER_TEXT)
            painter.drawText(image.rect(), Qt.AlignmentFlag.AlignCenter, "computing overview…")
            painter.end()
        return image

    def _column_frames(self, width: int) -> np.ndarray:
        edges = self.axis.start_s + np.arange(width + 1) * (self.axis.span_s / width)
        return np.floor(edges * self.clip.sample_rate).astype(np.int64)

    def _envelope(self, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Per-column (min, max, valid) for the visible range, or None while the pyramid is pending."""
        edges = self._column_frames(width)
        visible_frames = int(min(edges[-1], self.clip.frames) - max(edges[0], 0))
        frames_per_px = max(1.0, self.frames_per_pixel(width))
        if visible_frames <= RAW_FRAMES_BUDGET:
            samples = self.clip.samples
            return column_min_max(samples, samples, 1, edges)
        if self.peaks is None:
            return None
        mins, maxs, block = self.peaks.level_for(frames_per_px)
        return column_min_max(mins, maxs, block, edges)

    @staticmethod
    def _rasterise(pixels: np.ndarray, lanes: list[tuple[int, int]], col_min: np.ndarray, col_max: np.ndarray,
                   valid: np.ndarray) -> None:
        colour = _argb(style.WAVEFORM)
        for channel, (top, bottom) in enumerate(lanes):
            half = (bottom - top) / 2
            centre = top + half
            scale = half * 0.95
            upper = np.floor(centre - np.clip(col_max[channel], -1, 1) * scale).astype(np.int32)
            lower = np.ceil(centre - np.clip(col_min[channel], -1, 1) * scale).astype(np.int32)
            lower = np.maximum(lower, upper + 1)  # silence still shows a one-pixel line
            rows = np.arange(top, bottom, dtype=np.int32)[:, None]
            mask = (rows >= upper[None, :]) & (rows < lower[None, :]) & valid[None, :]
            pixels[top:bottom][mask] = colour

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
            ys = top + half - np.clip(self.clip.samples[channel, first:last], -1, 1) * half * 0.95
            points = [QPointF(float(x), float(y)) for x, y in zip(xs, ys)]
            painter.setPen(QPen(style.WAVEFORM_SAMPLE, 1.2))
            painter.drawPolyline(QPolygonF(points))
            if frames_per_px < SAMPLE_DOTS_MAX_FRAMES_PER_PX:
                dot = QPen(style.WAVEFORM_SAMPLE, 4)
                dot.setCapStyle(Qt.PenCapStyle.RoundCap)
                painter.setPen(dot)
                painter.drawPoints(QPolygonF(points))
        painter.end()
