"""The spectrogram view: tiles from :class:`engine.audio.spectrogram.SpectrogramTiler`, computed by
background jobs and kept in an LRU cache keyed by (scale, zoom level, tile index).

Tiles are cached as 8-bit colour indices rather than QImages: a frame is composed in numpy (gather the
visible columns, max-pool the rows to the view's height) and coloured as one indexed QImage with a
magma colour table, a few milliseconds per frame where scaling a dozen QImages with QPainter cost tens;
and max-pooling at draw time keeps a pure tone visible as a line at any height, where sampled rows
would drop it.

Zoom levels double the hop (``BASE_HOP * 2**level``) so that the visible range always needs about one
STFT column per pixel, whatever its length: a one-hour file zoomed out costs about as many columns as a
second zoomed in. Tiles missing at the current level are requested (visible ones, centre first, at most
:data:`MAX_TILES_IN_FLIGHT` at a time, by long-lived :class:`TileServers`) and, until they arrive, the area shows whatever coarser level is
cached, so the picture appears at once and sharpens as tiles come in.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Callable

import numpy as np
import pyqtgraph
from PySide6.QtCore import Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

from engine.audio.clip import Clip
from engine.audio.spectrogram import SpectrogramSettings, SpectrogramTiler
from engine.jobs import CancelToken, Progress, submit
from gui.jobs import to_ui_thread
from gui.views import style
from gui.views.base import TimelineView
from gui.views.timeline import SelectionModel, TimeAxis

BASE_HOP = 64
TILE_COLUMNS = 256
TILE_ROWS = 512
"""Linear spectra (1025 bins) are max-pooled to at most this many rows in a tile: more than a view is
tall, a quarter of the memory."""
DISPLAY_RANGE_DB = (-100.0, 0.0)
CACHE_TILES = 512  # at most 512 tiles × 512 rows × 256 columns × 1 byte = 64 MiB
MAX_TILE_SERVERS = 2
MAX_TILES_IN_FLIGHT = 2  # queued at a time, so a zoom or scroll can re-prioritise everything else
SERVER_IDLE_EXIT_S = 2.0
COLOUR_MAP = "magma"
FREQUENCY_LABELS_HZ = (100, 200, 500, 1000, 2000, 5000, 10000, 20000)

TileKey = tuple[str, int, int]  # (scale, level, tile index)

log = logging.getLogger("vocalis.gui.views")


def colour_table(name: str = COLOUR_MAP) -> list[int]:
    """256 opaque ARGB32 colours of a perceptual colour map (dark = quiet), as QImage colour tables take."""
    rgb = pyqtgraph.colormap.get(name).getLookupTable(nPts=256, alpha=False).astype(np.uint32)
    return [int(c) for c in 0xFF000000 | (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]]


def fit_rows(values: np.ndarray, rows: int) -> np.ndarray:
    """``values`` resized to ``rows`` rows: the max over groups of neighbouring rows when shrinking (the
    loudest bin wins, so narrow peaks survive), repeated rows when growing.

    Shrinking takes the elementwise max of a few whole-row gathers (one per row of the largest group):
    far faster than ``maximum.reduceat`` along the first axis."""
    have = values.shape[0]
    if have <= rows:
        return values[(np.arange(rows) * have) // rows]
    edges = (np.arange(rows + 1) * have) // rows
    pooled = values[edges[:-1]]
    for offset in range(1, int(np.diff(edges).max())):
        pooled = np.maximum(pooled, values[np.minimum(edges[:-1] + offset, edges[1:] - 1)])
    return pooled


def colour_indices(decibels: np.ndarray) -> np.ndarray:
    """uint8 colour-table indices ``(rows, columns)``, the lowest frequency at the bottom."""
    low, high = DISPLAY_RANGE_DB
    pooled = fit_rows(decibels, min(TILE_ROWS, decibels.shape[0]))
    index = np.clip((pooled - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(index[::-1])


class TilerCache:
    """One :class:`SpectrogramTiler` per zoom level of a clip, created on first use by whichever thread
    needs it (usually a tile job, so window and mel bank are built off the UI thread)."""

    def __init__(self, clip: Clip, settings: SpectrogramSettings):
        self.clip = clip
        self.settings = settings
        self.frequencies: np.ndarray | None = None  # Hz of each row, known once a tiler exists
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
                self.frequencies = self._tilers[level].frequencies()
            return self._tilers[level]


class TileServers:
    """Up to :data:`MAX_TILE_SERVERS` long-running engine jobs that take tile requests from a queue and
    hand each finished tile to ``deliver(key, clip, indices)`` (``indices`` None if it failed), which
    returns False once the view is gone (a :class:`gui.jobs.UiRelay`).

    Starting a thread per tile made the UI thread wait for each new thread to be scheduled (tens of ms
    on busy cores); a server lives on while requests keep coming and ends after
    :data:`SERVER_IDLE_EXIT_S` without any, so closed views leave no threads behind.
    """

    def __init__(self, deliver: Callable[[TileKey, Clip, np.ndarray | None], bool]):
        self._deliver = deliver
        self._requests: queue.Queue = queue.Queue()
        self._lock = threading.Lock()  # guards the count against a server deciding to end meanwhile
        self._alive = 0

    def request(self, key: TileKey, clip: Clip, tilers: TilerCache, first_column: int, end_column: int) -> None:
        with self._lock:
            self._requests.put((key, clip, tilers, first_column, end_column))
            if self._alive < MAX_TILE_SERVERS:
                self._alive += 1
                submit(self._serve, name="spectrogram tiles")

    @property
    def running(self) -> int:
        """How many server jobs are alive."""
        return self._alive

    def drop_waiting(self) -> None:
        """Forget requests no server has taken yet (the view moved on)."""
        with self._lock:
            while not self._requests.empty():
                self._requests.get_nowait()

    def _serve(self, progress: Progress, cancel: CancelToken) -> None:
        while True:
            try:
                key, clip, tilers, first_column, end_column = self._requests.get(timeout=SERVER_IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    if self._requests.empty():
                        self._alive -= 1
                        return
                continue
            try:
                indices = colour_indices(tilers.get(key[1]).tile(first_column, end_column))
            except Exception:  # noqa: BLE001 - the view must hear of it, or it would wait for the tile forever
                log.exception("spectrogram tile %s failed", key)
                indices = None
            if not self._deliver(key, clip, indices):  # the view is gone: nobody wants more tiles
                with self._lock:
                    self._alive -= 1
                return


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
        self._cache: OrderedDict[TileKey, np.ndarray] = OrderedDict()
        self._in_flight: set[TileKey] = set()
        self._wanted: list[TileKey] = []
        self.tile_servers = TileServers(to_ui_thread(self._tile_ready, owner=self))
        self.setMinimumHeight(80)

    # --- data ----------------------------------------------------------------------------------------
    def set_clip(self, clip: Clip) -> None:
        """Show another clip: its tiles start over (queued requests are dropped, tiles still being
        computed for the old clip are ignored when they arrive)."""
        self.clip = clip
        self._reset()

    def set_scale(self, scale: str) -> None:
        """Switch between ``"linear"`` and ``"mel"`` frequency axes."""
        if scale != self.settings.scale:
            self.settings = replace(self.settings, scale=scale)
            self._reset()

    def _reset(self) -> None:
        self.tile_servers.drop_waiting()
        self._in_flight.clear()
        self._tilers = TilerCache(self.clip, self.settings)
        self._cache.clear()
        self._wanted = []
        self.invalidate()

    @property
    def pending(self) -> bool:
        """True until the view has painted the current range with every tile it needs."""
        return bool(self._in_flight or self._wanted) or not self.up_to_date

    def level_for(self, width: int) -> int:
        """The coarsest level whose hop still gives at least one column per pixel."""
        frames_per_px = self.axis.span_s * self.clip.sample_rate / max(width, 1)
        return max(0, int(math.floor(math.log2(max(frames_per_px, 1.0) / BASE_HOP))))

    def row_of_frequency(self, hz: float, height: int) -> float | None:
        """The y (from the top) where ``hz`` is drawn in a view ``height`` pixels tall; None until the
        first tile has been computed (the rows' frequencies come from its tiler, built off the UI thread)."""
        frequencies = self._tilers.frequencies
        if frequencies is None:
            return None
        bin_position = float(np.interp(hz, frequencies, np.arange(len(frequencies))))
        return height * (1.0 - (bin_position + 0.5) / len(frequencies))

    # --- drawing --------------------------------------------------------------------------------------
    def content_key(self) -> tuple:
        return (id(self.clip), self.settings.scale)

    def render_content(self, width: int, height: int) -> QImage:
        """Each pixel column shows the STFT column centred nearest to it, from the current level's tile
        or, while that is missing, from the finest coarser level cached."""
        level = self.level_for(width)
        rate = self.clip.sample_rate
        centres = self.axis.start_s + (np.arange(width) + 0.5) * (self.axis.span_s / width)
        unfilled = (centres >= 0) & (centres <= self.clip.duration)
        composite = np.zeros((height, width), np.uint8)  # index 0: the colour of silence
        missing: list[TileKey] = []
        for source_level in [level, *range(level + 1, self._top_level() + 1)]:
            if not unfilled.any():
                break
            per_tile = TILE_COLUMNS
            columns = np.rint(centres * rate / self._tilers.hop(source_level)).astype(np.int64)
            tile_of = columns // per_tile
            for index in np.unique(tile_of[unfilled]):
                key = (self.settings.scale, source_level, int(index))
                tile = self._cache.get(key)
                if tile is None:
                    if source_level == level:
                        missing.append(key)
                    continue
                self._cache.move_to_end(key)
                take = unfilled & (tile_of == index)
                pooled = fit_rows(tile, height)
                composite[:, take] = pooled[:, np.minimum(columns[take] - index * per_tile, tile.shape[1] - 1)]
                unfilled &= ~take
        centre = (len(missing) - 1) / 2
        self._wanted = [missing[i] for i in sorted(range(len(missing)), key=lambda i: abs(i - centre))]
        self._request_tiles()
        # An indexed image takes the colour table as is; Qt's conversion applies it ten times faster than
        # a numpy lookup into 32-bit pixels.
        image = QImage(composite.data, width, height, width, QImage.Format.Format_Indexed8)
        image.setColorTable(self._table)
        image = image.convertToFormat(QImage.Format.Format_RGB32)
        self._draw_frequency_labels(image)
        return image

    def _draw_frequency_labels(self, image: QImage) -> None:
        """A few round frequencies along the left edge, spaced so that labels never overlap."""
        painter = QPainter(image)
        painter.setPen(style.RULER_TEXT)
        last_y = float("inf")
        for hz in FREQUENCY_LABELS_HZ:
            if hz >= self.clip.sample_rate / 2:
                break
            y = self.row_of_frequency(hz, image.height())
            if y is None:
                break
            if last_y - y >= 14 and 10 <= y <= image.height() - 5:
                painter.drawText(3, round(y) + 4, f"{hz // 1000}k" if hz >= 1000 else str(hz))
                painter.drawLine(0, round(y), 2, round(y))
                last_y = y
        painter.end()

    def _top_level(self) -> int:
        return max((key[1] for key in self._cache if key[0] == self.settings.scale), default=0)

    # --- background tiles ------------------------------------------------------------------------------
    def _request_tiles(self) -> None:
        while self._wanted and len(self._in_flight) < MAX_TILES_IN_FLIGHT:
            key = self._wanted.pop(0)
            if key in self._in_flight or key in self._cache:
                continue
            self._in_flight.add(key)
            self.tile_servers.request(key, self.clip, self._tilers, key[2] * TILE_COLUMNS, (key[2] + 1) * TILE_COLUMNS)

    def _tile_ready(self, key: TileKey, clip: Clip, indices: np.ndarray | None) -> None:
        if clip is not self.clip or key not in self._in_flight:
            return  # a reset happened since: the tile belongs to another clip or scale
        self._in_flight.discard(key)
        if indices is not None:
            self._cache[key] = indices
            while len(self._cache) > CACHE_TILES:
                self._cache.popitem(last=False)
        self._request_tiles()
        if indices is not None and key[1] == self.level_for(self.width()):
            self.invalidate()  # a millisecond-scale render; other levels wait for the next zoom or scroll
        self.tileArrived.emit()
