"""The spectrogram view: tiles from :class:`engine.audio.spectrogram.SpectrogramTiler`, computed by
background jobs, coloured through a magma lookup table and kept in an LRU cache of QImages.

Zoom levels double the hop (``BASE_HOP * 2**level``) so that the visible range always needs about one
STFT column per pixel, whatever its length: a one-hour file zoomed out costs about as many columns as a
second zoomed in. Tiles missing at the current level are requested (visible ones, centre first, at most
:data:`MAX_JOBS_IN_FLIGHT` at a time) and, until they arrive, the area shows whatever coarser level is
cached, so the picture appears at once and sharpens as tiles come in.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pyqtgraph
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

from engine.audio.clip import Clip
from engine.audio.spectrogram import SpectrogramSettings, SpectrogramTiler
from engine.jobs import CancelToken, Job, Progress
from gui.views import style
from gui.views.background import run_in_background
from gui.views.base import TimelineView
from gui.views.timeline import SelectionModel, TimeAxis

BASE_HOP = 64
TILE_COLUMNS = 256
MAX_TILE_FRAMES = 1 << 22
"""A tile reads every frame between its first and last window; at coarse levels (hop far above the
window) fewer columns per tile keep each job short, so tiles keep arriving at a steady pace."""
MIN_TILE_COLUMNS = 16
DISPLAY_ROWS = 256
"""Linear spectra (1025 bins) are max-pooled to this many rows when coloured, so a pure tone stays a
visible line at any widget height instead of falling between sampled rows."""
DISPLAY_RANGE_DB = (-100.0, 0.0)
CACHE_TILES = 256  # at most 256 × 256 × 4 bytes = 64 MiB of tile images
MAX_JOBS_IN_FLIGHT = 2
COLOUR_MAP = "magma"

TileKey = tuple[str, int, int]  # (scale, level, tile index)


def colour_table(name: str = COLOUR_MAP) -> np.ndarray:
    """256 opaque ARGB32 colours of a perceptual colour map (dark = quiet)."""
    rgb = pyqtgraph.colormap.get(name).getLookupTable(nPts=256, alpha=False).astype(np.uint32)
    return (0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]).astype(np.uint32)


def pool_rows(decibels: np.ndarray, rows: int) -> np.ndarray:
    """Max over groups of neighbouring bins, leaving at most ``rows`` rows (the loudest bin wins, so
    narrow peaks survive)."""
    bins = decibels.shape[0]
    if bins <= rows:
        return decibels
    edges = np.linspace(0, bins, rows + 1).astype(np.int64)
    return np.maximum.reduceat(decibels, edges[:-1], axis=0)


def colour_tile(decibels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """ARGB32 pixels ``(rows, columns)`` with the lowest frequency at the bottom."""
    low, high = DISPLAY_RANGE_DB
    pooled = pool_rows(decibels, DISPLAY_ROWS)
    index = np.clip((pooled - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(table[index[::-1]])


class TilerCache:
    """One :class:`SpectrogramTiler` per zoom level of a clip, created on first use by whichever thread
    needs it: building a mel tiler can import librosa (seconds), which must not happen on the UI thread."""

    def __init__(self, clip: Clip, settings: SpectrogramSettings):
        self.clip = clip
        self.settings = settings
        self._tilers: dict[int, SpectrogramTiler] = {}
        self._lock = threading.Lock()

    def hop(self, level: int) -> int:
        return BASE_HOP << level

    def columns(self, level: int) -> int:
        """Column ``c`` is centred on frame ``c * hop``, from frame 0 to the last frame."""
        return 1 + self.clip.frames // self.hop(level)

    def get(self, level: int) -> SpectrogramTiler:
        with self._lock:
            if level not in self._tilers:
                self._tilers[level] = SpectrogramTiler(self.clip, replace(self.settings, hop=self.hop(level)))
            return self._tilers[level]


def compute_tile(tilers: TilerCache, level: int, first_column: int, end_column: int, table: np.ndarray,
                 progress: Progress, cancel: CancelToken) -> np.ndarray:
    """Job body: one coloured tile."""
    cancel.check()
    return colour_tile(tilers.get(level).tile(first_column, end_column), table)


class SpectrogramView(TimelineView):
    """Spectrogram of a clip's channel mix along the shared axis. ``tileArrived`` fires on the UI thread
    each time a computed tile lands in the cache."""

    tileArrived = Signal()

    def __init__(self, clip: Clip, axis: TimeAxis, selection: SelectionModel, parent: QWidget | None = None,
                 settings: SpectrogramSettings = SpectrogramSettings()):
        super().__init__(axis, selection, parent)
        self.clip = clip
        self.settings = settings
        self._table = colour_table()
        self._tilers = TilerCache(clip, settings)
        self._cache: OrderedDict[TileKey, QImage] = OrderedDict()
        self._jobs: dict[TileKey, Job] = {}
        self._wanted: list[TileKey] = []
        self.setMinimumHeight(80)

    # --- data ----------------------------------------------------------------------------------------
    def set_clip(self, clip: Clip) -> None:
        """Show another clip: its tiles start over (in-flight ones are cancelled and ignored)."""
        self.clip = clip
        self._reset()

    def set_scale(self, scale: str) -> None:
        """Switch between ``"linear"`` and ``"mel"`` frequency axes."""
        if scale != self.settings.scale:
            self.settings = replace(self.settings, scale=scale)
            self._reset()

    def _reset(self) -> None:
        for job in self._jobs.values():
            job.cancel()
        self._jobs.clear()
        self._tilers = TilerCache(self.clip, self.settings)
        self._cache.clear()
        self._wanted = []
        self.invalidate()

    @property
    def pending(self) -> bool:
        """True until the view has painted the current range with every tile it needs."""
        return bool(self._jobs or self._wanted) or not self.up_to_date

    def level_for(self, width: int) -> int:
        """The coarsest level whose hop still gives at least one column per pixel."""
        frames_per_px = self.axis.span_s * self.clip.sample_rate / max(width, 1)
        return max(0, int(math.floor(math.log2(max(frames_per_px, 1.0) / BASE_HOP))))

    @staticmethod
    def tile_columns(level: int) -> int:
        return int(min(TILE_COLUMNS, max(MIN_TILE_COLUMNS, MAX_TILE_FRAMES // (BASE_HOP << level))))

    def row_of_frequency(self, hz: float, height: int) -> float:
        """The y (from the top) where ``hz`` is drawn in a view ``height`` pixels tall."""
        frequencies = self._tilers.get(0).frequencies()
        bin_position = float(np.interp(hz, frequencies, np.arange(len(frequencies))))
        return height * (1.0 - (bin_position + 0.5) / len(frequencies))

    # --- drawing --------------------------------------------------------------------------------------
    def content_key(self) -> tuple:
        return (id(self.clip), self.settings.scale)

    def render_content(self, width: int, height: int) -> QImage:
        image = QImage(width, height, QImage.Format.Format_ARGB32)
        image.fill(self._table[0].item())
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        level = self.level_for(width)
        for coarser in range(self._top_level(), level, -1):  # cached coarser tiles fill the gaps
            self._draw_level(painter, coarser, width, height, request=False)
        self._draw_level(painter, level, width, height, request=True)
        painter.end()
        return image

    def _top_level(self) -> int:
        return max((key[1] for key in self._cache if key[0] == self.settings.scale), default=0)

    def _visible_tiles(self, level: int) -> range:
        hop, rate, columns = self._tilers.hop(level), self.clip.sample_rate, self.tile_columns(level)
        first_column = max(0, int(self.axis.start_s * rate / hop - 0.5))
        last_column = min(self._tilers.columns(level) - 1, int(math.ceil(self.axis.end_s * rate / hop + 0.5)))
        if last_column < first_column:
            return range(0)
        return range(first_column // columns, last_column // columns + 1)

    def _draw_level(self, painter: QPainter, level: int, width: int, height: int, request: bool) -> None:
        hop, rate, columns = self._tilers.hop(level), self.clip.sample_rate, self.tile_columns(level)
        missing: list[TileKey] = []
        for index in self._visible_tiles(level):
            key = (self.settings.scale, level, index)
            tile = self._cache.get(key)
            if tile is None:
                missing.append(key)
                continue
            self._cache.move_to_end(key)
            # column c is the window centred on frame c * hop: it spans half a hop either side
            first = index * columns
            x0 = self.axis.time_to_x((first - 0.5) * hop / rate, width)
            x1 = self.axis.time_to_x((first + tile.width() - 0.5) * hop / rate, width)
            visible_x0, visible_x1 = max(x0, 0.0), min(x1, float(width))
            if visible_x1 <= visible_x0:
                continue
            per_px = tile.width() / (x1 - x0)
            source = QRectF((visible_x0 - x0) * per_px, 0, (visible_x1 - visible_x0) * per_px, tile.height())
            painter.drawImage(QRectF(visible_x0, 0, visible_x1 - visible_x0, height), tile, source)
        if request:
            centre = (len(missing) - 1) / 2
            self._wanted = [missing[i] for i in sorted(range(len(missing)), key=lambda i: abs(i - centre))]
            self._start_jobs()

    # --- background tiles ------------------------------------------------------------------------------
    def _start_jobs(self) -> None:
        while self._wanted and len(self._jobs) < MAX_JOBS_IN_FLIGHT:
            key = self._wanted.pop(0)
            if key in self._jobs or key in self._cache:
                continue
            scale, level, index = key
            columns = self.tile_columns(level)
            clip = self.clip
            self._jobs[key] = run_in_background(
                compute_tile, self._tilers, level, index * columns, (index + 1) * columns, self._table,
                name="spectrogram tile", owner=self,
                on_result=lambda pixels, key=key, clip=clip: self._tile_ready(key, clip, pixels),
                on_error=lambda job, key=key: self._tile_failed(key, job))

    def _tile_ready(self, key: TileKey, clip: Clip, pixels: np.ndarray) -> None:
        if clip is not self.clip or self._jobs.pop(key, None) is None:
            return  # a reset happened since: the tile belongs to another clip or scale
        rows, columns = pixels.shape
        self._cache[key] = QImage(pixels.data, columns, rows, columns * 4, QImage.Format.Format_ARGB32).copy()
        while len(self._cache) > CACHE_TILES:
            self._cache.popitem(last=False)
        self._start_jobs()
        self.invalidate()
        self.tileArrived.emit()

    def _tile_failed(self, key: TileKey, job: Job) -> None:
        self._jobs.pop(key, None)
        self._start_jobs()
        self.update()
