"""View options (pytest-qt, offscreen): the waveform's dB amplitude scale with its labels, and the
spectrogram settings dialog (FFT size, dB range) whose change drops the tile cache and redraws."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor

from engine.audio.clip import Clip
from gui.views import TrackView, style
from gui.views.spectrogram import DISPLAY_RANGE_DB, SpectrogramSettingsDialog, colour_indices
from gui.views.waveform import DB_RANGE, display_amplitude
from tests.gui_helpers import make_track as shown_track
from tests.synth import tone

RATE = 16000
WIDTH, HEIGHT = 600, 360


def make_track(qtbot, clip: Clip) -> TrackView:
    return shown_track(qtbot, clip, WIDTH, HEIGHT)


def test_db_scale_puts_full_scale_at_the_edge_and_the_range_floor_on_the_centre_line():
    values = np.array([1.0, -1.0, 0.5, -0.1, 10 ** (-DB_RANGE / 20), 1e-6, 0.0, 2.0])
    linear = display_amplitude(values, "linear")
    np.testing.assert_allclose(linear, [1.0, -1.0, 0.5, -0.1, 0.001, 1e-6, 0.0, 1.0])
    db = display_amplitude(values, "db")
    np.testing.assert_allclose(db, [1.0, -1.0, 1 - 6.0206 / DB_RANGE, -(1 - 20 / DB_RANGE), 0.0, 0.0, 0.0, 1.0],
                               atol=1e-4)


def drawn_height(view) -> int:
    image = view.grab().toImage()
    x = view.width() // 2
    return sum(QColor(image.pixel(x, y)) == QColor(style.WAVEFORM) for y in range(view.height()))


def test_header_db_button_redraws_a_quiet_tone_taller_with_db_labels(qtbot):
    alternating = 0.1 * np.where(np.arange(RATE) % 2, 1.0, -1.0).astype(np.float32)  # every column spans ±0.1
    track = make_track(qtbot, Clip(alternating, RATE))
    view = track.waveform
    lane = view.height()
    linear = drawn_height(view)
    assert linear == pytest.approx(0.1 * 0.95 * lane, abs=3)
    assert [text for _, _, text in view.scale_labels([(0, lane)])] == ["1", "0.5"]

    track.header.db_button.click()
    assert view.amplitude_scale == "db" and not view.up_to_date  # the cached picture is dropped
    assert drawn_height(view) == pytest.approx((1 - 20 / DB_RANGE) * 0.95 * lane, abs=3)  # -20 dBFS
    labels = view.scale_labels([(0, 400)])
    assert [text for _, _, text in labels] == ["0 dB", "-6 dB", "-12 dB", "-24 dB", "-48 dB"]
    assert [tick for tick, _, _ in labels] == [round(200 - 0.95 * 200 * (1 + db / DB_RANGE))
                                               for db in (0, -6, -12, -24, -48)]
    assert len(view.scale_labels([(0, 60)])) < len(labels)  # a short lane drops labels that would touch

    track.header.db_button.click()
    assert drawn_height(view) == linear


def test_spectrogram_range_changes_the_colours_of_quiet_levels():
    quiet = np.full((4, 3), -110.0, np.float32)
    assert not colour_indices(quiet, DISPLAY_RANGE_DB[0]).any()  # below a 100 dB range: black
    assert (colour_indices(quiet, -120.0) > 0).all()  # inside a 120 dB range: coloured


def test_spectrogram_settings_apply_to_every_track_and_to_tracks_opened_later(qtbot, window, monkeypatch):
    first = window.track_area.add_track(Clip(tone(1000.0, 2.0, RATE, amplitude=0.5), RATE, name="a"))
    first.header.mel_button.click()
    view = first.spectrogram
    qtbot.waitUntil(lambda: not view.pending, timeout=10_000)
    assert view.settings.n_fft == 2048 and view.settings.floor_db == DISPLAY_RANGE_DB[0]
    assert {tile.shape[0] for tile in view._cache.values()} == {128}  # mel bands
    old_tiles = set(view._cache)

    def choose(dialog: SpectrogramSettingsDialog) -> int:
        dialog.fft_size.setCurrentIndex(dialog.fft_size.findData(512))
        dialog.range_db.setValue(80)
        return 1

    monkeypatch.setattr(SpectrogramSettingsDialog, "exec", choose)
    assert window.actions.spectrogram_settings in window.actions.view_menu.actions()
    window.actions.spectrogram_settings.trigger()
    assert (view.settings.n_fft, view.settings.floor_db, view.settings.scale) == (512, -80.0, "mel")
    assert not old_tiles & set(view._cache)  # the render cache started over
    qtbot.waitUntil(lambda: not view.pending, timeout=10_000)
    assert view._cache and all(key[0] == view.settings for key in view._cache)

    second = window.track_area.add_track(Clip(tone(500.0, 1.0, RATE), RATE, name="b"))
    assert (second.spectrogram.settings.n_fft, second.spectrogram.settings.floor_db) == (512, -80.0)
    assert second.spectrogram.settings.scale == "linear"
    qtbot.waitUntil(lambda: not second.spectrogram.pending, timeout=10_000)
    assert {tile.shape[0] for tile in second.spectrogram._cache.values()} == {257}  # 512-point FFT bins
