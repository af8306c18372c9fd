"""engine.audio.spectrogram: tiles join into the full spectrogram; levels and frequencies are right."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio import io
from engine.audio.clip import Clip
from engine.audio.spectrogram import SpectrogramSettings, SpectrogramTiler, spectrogram
from engine.errors import BadInputError, Cancelled
from engine.jobs import CancelToken
from tests.synth import tone

RATE = 16_000


@pytest.fixture(scope="module")
def clip() -> Clip:
    rng = np.random.default_rng(4)
    sweep = np.sin(2 * np.pi * np.cumsum(np.linspace(200, 6000, 3 * RATE)) / RATE).astype(np.float32) * 0.3
    return Clip(np.stack([sweep + 0.01 * rng.standard_normal(3 * RATE).astype(np.float32),
                          tone(1000, 3.0, RATE, 0.5)]), RATE)


def _full_reference(samples: np.ndarray, settings: SpectrogramSettings) -> np.ndarray:
    """The whole signal in one STFT: zero padding of n_fft/2 on both sides, columns every hop."""
    padded = np.pad(samples.astype(np.float64), settings.n_fft // 2)
    window = np.hanning(settings.n_fft + 1)[:-1]
    columns = 1 + len(samples) // settings.hop
    frames = np.stack([padded[c * settings.hop: c * settings.hop + settings.n_fft] for c in range(columns)], axis=1)
    magnitude = np.abs(np.fft.rfft(frames * window[:, None], axis=0)) * 2 / window.sum()
    return np.maximum(20 * np.log10(np.maximum(magnitude, 1e-30)), settings.floor_db)


@pytest.mark.parametrize("settings", [SpectrogramSettings(),
                                      SpectrogramSettings(scale="mel", n_fft=1024, hop=160, n_mels=80),
                                      SpectrogramSettings(n_fft=512, hop=100, floor_db=-80.0)])
@pytest.mark.parametrize("tile_columns", [3, 37, 256])
def test_tiles_join_into_the_full_spectrogram(clip, settings, tile_columns):
    tiler = SpectrogramTiler(clip, settings)
    full = tiler.tile(0, tiler.columns)
    assert full.shape == (tiler.bins, 1 + clip.frames // settings.hop)
    joined = np.concatenate([tile for _, tile in tiler.tiles(tile_columns)], axis=1)
    unclipped = full > settings.floor_db
    assert unclipped.mean() > 0.5
    np.testing.assert_allclose(joined[unclipped], full[unclipped], atol=1e-4)
    assert (joined[~unclipped] <= settings.floor_db + 1e-4).all()


@pytest.mark.parametrize("n_fft, hop", [(1024, 256), (256, 1000)])  # overlapping and sparse (overview) columns
def test_linear_tiles_match_an_independent_stft(clip, n_fft, hop):
    settings = SpectrogramSettings(n_fft=n_fft, hop=hop)
    tiler = SpectrogramTiler(clip, settings, channel=0)
    expected = _full_reference(clip.samples[0], settings)
    for first, tile in tiler.tiles(50):
        np.testing.assert_allclose(tile, expected[:, first:first + tile.shape[1]], atol=1e-3)


@pytest.mark.parametrize("scale", ["linear", "mel"])
def test_a_full_scale_tone_peaks_at_zero_db_in_its_bin(scale):
    settings = SpectrogramSettings(scale=scale, n_fft=2048, hop=512, n_mels=64)
    tiler = SpectrogramTiler(Clip(tone(1000, 1.0, RATE, amplitude=1.0), RATE), settings)
    middle = tiler.tile(10, 20)
    rows = middle.argmax(axis=0)
    frequencies = tiler.frequencies()
    assert len(frequencies) == tiler.bins
    assert abs(frequencies[rows[0]] - 1000) < (8 if scale == "linear" else 60)
    assert (rows == rows[0]).all()
    if scale == "linear":
        assert middle.max() == pytest.approx(0.0, abs=0.01)
    else:
        assert -3.0 < middle.max() <= 0.01


def test_tiles_read_from_an_open_file_equal_tiles_of_the_loaded_clip(clip, tmp_path):
    path = io.save(clip, tmp_path / "two.wav", subtype="FLOAT")
    settings = SpectrogramSettings(n_fft=1024, hop=256)
    in_memory = SpectrogramTiler(clip, settings, channel=1).tile(40, 90)
    with io.open_stream(path) as stream:
        from_file = SpectrogramTiler(stream, settings, channel=1).tile(40, 90)
    np.testing.assert_array_equal(from_file, in_memory)


def test_column_helpers_and_range_clipping(clip):
    tiler = SpectrogramTiler(clip, SpectrogramSettings(hop=500))
    assert tiler.columns == 97 and tiler.column_frame(3) == 1500
    assert tiler.column_at(1749) == 3 and tiler.column_at(10**9) == 96
    assert tiler.tile(90, 500).shape[1] == 7 and tiler.tile(97, 99).shape[1] == 0


def test_whole_spectrogram_reports_progress_and_cancels(clip):
    settings = SpectrogramSettings(hop=160)
    fractions = []
    whole = spectrogram(clip, settings, tile_columns=100, progress=lambda f, m: fractions.append(f))
    assert whole.shape[1] == 301 and fractions == [100 / 301, 200 / 301, 300 / 301, 1.0]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        spectrogram(clip, settings, cancel=token)


def test_bad_settings_are_named(clip):
    with pytest.raises(BadInputError, match="scale must be one of"):
        SpectrogramTiler(clip, SpectrogramSettings(scale="bark"))
    with pytest.raises(BadInputError, match="channel 3 does not exist"):
        SpectrogramTiler(clip, channel=2)
