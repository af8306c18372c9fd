"""Spectrograms in tiles: any range of STFT columns is computed on its own from just the samples it
covers, so a view can draw a one-hour file progressively, tile by tile, without an up-front pass.

Column ``c`` is the window centred on frame ``c * hop``; samples before the start and after the end of the
audio count as zeros. Because each column depends only on its own window, and the dB reference is a
fixed full scale (a full-scale sine peaks at 0 dB) rather than the loudest value seen, tiles placed side
by side equal the spectrogram of the whole file. Values are floored at ``floor_db``.

The cost is per column, not per second of audio: an overview of a long file uses a tiler whose ``hop`` is
about ``frames / pixels`` and computes just the columns on screen.

A source is anything with ``frames``, ``channels``, ``sample_rate`` and ``read(start, stop)``: a loaded
:class:`~engine.audio.clip.Clip` or an open :class:`~engine.audio.io.AudioStream`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
import torchaudio.functional

from engine.errors import BadInputError
from engine.jobs import CancelToken
from engine.settings import option

SCALES = ("linear", "mel")


class FrameSource(Protocol):
    frames: int
    channels: int
    sample_rate: int

    def read(self, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class SpectrogramSettings:
    scale: str = option("linear", "frequency axis: linear STFT bins or mel bands", choices=SCALES)
    n_fft: int = option(2048, "window length in samples (frequency resolution)", minimum=16, maximum=65536)
    hop: int = option(512, "samples between columns (time resolution)", minimum=1, maximum=65536)
    n_mels: int = option(128, "mel bands (mel scale only)", minimum=8, maximum=512)
    floor_db: float = option(-120.0, "lowest level shown, dB relative to full scale", maximum=-1.0)


class SpectrogramTiler:
    """Computes dB spectrogram tiles of one source (one channel, or the mix of all channels)."""

    def __init__(self, source: FrameSource, settings: SpectrogramSettings = SpectrogramSettings(),
                 channel: int | None = None):
        if settings.scale not in SCALES:
            raise BadInputError(None, f"spectrogram scale must be one of {SCALES}, got {settings.scale!r}")
        if channel is not None and not 0 <= channel < source.channels:
            raise BadInputError(None, f"channel {channel + 1} does not exist (the audio has {source.channels})")
        self.source = source
        self.settings = settings
        self.channel = channel
        self.columns = 1 + source.frames // settings.hop
        self._window = torch.hann_window(settings.n_fft, periodic=True, dtype=torch.float64).numpy()
        # A full-scale sine peaks at sum(window)/2 in its bin: scaled to 1, it reads 0 dB on the linear scale.
        self._full_scale = 2.0 / float(self._window.sum())
        # Its energy over all bins is n_fft * sum(window**2) / 4 (Parseval): scaled to 1, it reads 0 dB in a
        # mel band centred on it, whichever bins its window's main lobe spreads over.
        self._full_scale_energy = 4.0 / (settings.n_fft * float(np.square(self._window).sum()))
        self._mel = None
        if settings.scale == "mel":
            # HTK mel triangles of height 1 (no area normalisation), so a full-scale sine at a band centre
            # reads 0 dB. torchaudio's rather than librosa's: librosa's first call compiles for seconds.
            self._mel = torchaudio.functional.melscale_fbanks(
                settings.n_fft // 2 + 1, 0.0, source.sample_rate / 2, settings.n_mels, source.sample_rate,
                norm=None, mel_scale="htk").to(torch.float64).T.contiguous()

    @property
    def bins(self) -> int:
        return self.settings.n_mels if self._mel is not None else self.settings.n_fft // 2 + 1

    def frequencies(self) -> np.ndarray:
        """Centre frequency in Hz of each row (STFT bin, or mel band)."""
        rate = self.source.sample_rate
        if self._mel is None:
            return np.fft.rfftfreq(self.settings.n_fft, 1.0 / rate)
        # The HTK mel scale the filter bank uses: band edges equally spaced in mel from 0 to Nyquist.
        top_mel = 2595.0 * np.log10(1.0 + rate / 2 / 700.0)
        return 700.0 * (10.0 ** (np.linspace(0.0, top_mel, self.settings.n_mels + 2)[1:-1] / 2595.0) - 1.0)

    def column_frame(self, column: int) -> int:
        """The frame a column is centred on."""
        return column * self.settings.hop

    def column_at(self, frame: int) -> int:
        """The column whose window is centred nearest to ``frame``."""
        return min(self.columns - 1, max(0, int(round(frame / self.settings.hop))))

    def tile(self, first_column: int, end_column: int) -> np.ndarray:
        """dB values, float32 ``(bins, end_column - first_column)``, reading only the frames these
        columns' windows cover."""
        first_column, end_column = max(0, first_column), min(self.columns, end_column)
        if end_column <= first_column:
            return np.zeros((self.bins, 0), dtype=np.float32)
        with torch.inference_mode():
            windows = torch.from_numpy(self._windows(first_column, end_column) * self._window)
            spectrum = torch.fft.rfft(windows, dim=1).abs().T
            if self._mel is None:
                decibels = 20.0 * torch.log10((spectrum * self._full_scale).clamp_min(1e-30))
            else:
                energy = self._mel @ spectrum.square() * self._full_scale_energy
                decibels = 10.0 * torch.log10(energy.clamp_min(1e-60))
        return decibels.clamp_min(self.settings.floor_db).to(torch.float32).numpy()

    def _windows(self, first_column: int, end_column: int) -> np.ndarray:
        """The analysed samples, float64 ``(columns, n_fft)``. Overlapping windows come from one read;
        windows further apart than their length (overviews of long files) are read one by one, so the
        frames between them are never touched."""
        hop, n_fft = self.settings.hop, self.settings.n_fft
        start = first_column * hop - n_fft // 2
        if hop >= n_fft:
            return np.stack([self._signal(start + k * hop, start + k * hop + n_fft)
                             for k in range(end_column - first_column)])
        signal = self._signal(start, start + (end_column - 1 - first_column) * hop + n_fft)
        return np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop]

    def _signal(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start..stop`` of the analysed channel (or mix) as float64, zeros outside the audio."""
        block = self.source.read(max(0, start), min(self.source.frames, stop))
        signal = block.mean(axis=0) if self.channel is None else block[self.channel]
        before = max(0, -start)
        return np.pad(signal.astype(np.float64), (before, stop - start - len(signal) - before))

    def tiles(self, tile_columns: int = 1024, first_column: int = 0,
              end_column: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(first column, tile)`` pairs covering a column range, for progressive drawing."""
        end_column = self.columns if end_column is None else min(self.columns, end_column)
        for first in range(first_column, end_column, tile_columns):
            yield first, self.tile(first, min(end_column, first + tile_columns))


def spectrogram(source: FrameSource, settings: SpectrogramSettings = SpectrogramSettings(), *,
                channel: int | None = None, tile_columns: int = 1024,
                progress: Callable[[float, str], None] | None = None,
                cancel: CancelToken | None = None) -> np.ndarray:
    """The whole dB spectrogram ``(bins, columns)``, computed tile by tile (cancellable between tiles)."""
    tiler = SpectrogramTiler(source, settings, channel)
    out = np.empty((tiler.bins, tiler.columns), dtype=np.float32)
    for first, tile in tiler.tiles(tile_columns):
        if cancel is not None:
            cancel.check()
        out[:, first:first + tile.shape[1]] = tile
        if progress is not None:
            progress((first + tile.shape[1]) / tiler.columns, "spectrogram")
    return out
