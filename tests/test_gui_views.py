"""Track views with real clips, offscreen: what is drawn, and how mouse, wheel and keys move the shared
time axis and selection."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QNativeGestureEvent, QPointingDevice, QWheelEvent
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from engine.audio.clip import Clip
from gui.views import SelectionModel, TimeAxis, TimeRuler, TrackView, style
from gui.views.ruler import decimals_for, format_time, tick_step
from gui.views.track import SYNC_PEAKS_MAX_SAMPLES
from gui.views.waveform import column_min_max
from tests.gui_helpers import make_track as shown_track
from tests.synth import speak, tone

RATE = 16000
WIDTH, HEIGHT = 800, 360


def tone_then_silence(freq: float = 1000.0, seconds: float = 4.0, channels: int = 1) -> Clip:
    """A tone in the first half and digital silence in the second, so drawn and empty areas are known."""
    half = tone(freq, seconds / 2, RATE, amplitude=0.8)
    mono = np.concatenate([half, np.zeros_like(half)])
    return Clip(np.stack([mono * (0.5 ** c) for c in range(channels)]), RATE, name="tone")


def make_track(qtbot, clip: Clip) -> TrackView:
    return shown_track(qtbot, clip, WIDTH, HEIGHT)


def pixel(image, x: int, y: int) -> QColor:
    return QColor(image.pixel(x, y))


def column_has(image, x: int, colour: QColor, rows: range) -> bool:
    return any(pixel(image, x, y) == colour for y in rows)


def wheel(widget: QWidget, x: float, notches_y: float = 0.0, notches_x: float = 0.0,
          modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    pos = QPointF(x, widget.height() / 2)
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos)), QPoint(0, 0),
                        QPoint(round(notches_x * 120), round(notches_y * 120)), Qt.MouseButton.NoButton,
                        modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


# --- time axis and selection models -------------------------------------------------------------------

def test_axis_zoom_keeps_anchor_and_clamps_to_duration():
    axis = TimeAxis(100.0)
    assert (axis.start_s, axis.end_s) == (0.0, 100.0)
    axis.zoom(4.0, anchor_s=40.0)
    assert axis.span_s == pytest.approx(25.0)
    assert axis.start_s == pytest.approx(30.0)  # 40 s stays at 40 % of the width
    axis.scroll(100.0)
    assert (axis.start_s, axis.end_s) == (pytest.approx(75.0), pytest.approx(100.0))
    axis.zoom(0.01)
    assert (axis.start_s, axis.end_s) == (0.0, 100.0)
    axis.zoom(1e9)
    assert axis.span_s == pytest.approx(1e-3)


def test_axis_emits_range_only_on_change_and_grows_with_tracks(qtbot):
    axis = TimeAxis(10.0)
    with qtbot.waitSignal(axis.rangeChanged) as blocker:
        axis.set_range(2.0, 4.0)
    assert blocker.args == [2.0, 4.0]
    with qtbot.assertNotEmitted(axis.rangeChanged):
        axis.set_range(2.0, 4.0)
    axis.fit_all()
    axis.include_duration(30.0)
    assert (axis.start_s, axis.end_s) == (0.0, 30.0)  # showing everything keeps showing everything
    axis.include_duration(5.0)
    assert axis.duration_s == 30.0


def test_selection_orders_extends_and_clears(qtbot):
    selection = SelectionModel()
    with qtbot.waitSignal(selection.selectionChanged) as blocker:
        selection.set(3.0, 1.0)
    assert blocker.args == [(1.0, 3.0)]
    selection.extend_to(4.0)
    assert selection.range == (1.0, 4.0)
    selection.extend_to(0.5)
    assert selection.range == (0.5, 4.0)
    selection.clear()
    assert selection.range is None


# --- ruler ------------------------------------------------------------------------------------------

def test_ruler_ticks_are_round_and_labels_read_as_clock_time(qtbot):
    assert tick_step(10.0, 900) == 1.0
    assert tick_step(3600.0, 900) == 600.0
    assert tick_step(0.05, 900) == pytest.approx(0.005)
    assert tick_step(0.7, 900) == pytest.approx(0.1)
    assert format_time(3723.4567) == "1:02:03.457"
    assert format_time(62.5, 1, hours=False) == "1:02.5"
    assert decimals_for(0.005) == 3 and decimals_for(0.1) == 1 and decimals_for(5.0) == 0
    axis = TimeAxis(10.0)
    ruler = TimeRuler(axis)
    qtbot.addWidget(ruler)
    ruler.resize(900, 26)
    axis.set_range(2.0, 4.0)
    step, times = ruler.ticks()
    assert step == pytest.approx(0.2)
    assert times[0] == pytest.approx(2.0) and times[-1] == pytest.approx(4.0)
    with qtbot.waitSignal(ruler.seekRequested) as blocker:
        qtbot.mouseClick(ruler, Qt.MouseButton.LeftButton, pos=QPoint(450, 10))
    assert blocker.args[0] == pytest.approx(3.0, abs=2.0 / 900)


@pytest.mark.parametrize("width", [240, 800, 1920])
def test_ruler_labels_never_repeat_or_overlap_at_any_zoom(qtbot, width):
    """At the narrowest zoom around 1:01.843 the labels once read 0:01:01.843 three times."""
    axis = TimeAxis(3 * 3600.0)
    ruler = TimeRuler(axis)
    qtbot.addWidget(ruler)
    ruler.resize(width, 26)
    metrics = ruler.fontMetrics()
    for centre in (0.0005, 61.8431, 3599.9995, 7384.123456):
        for span in np.geomspace(axis.duration_s, 1e-3, 60):
            axis.set_range(centre - span / 2, centre + span / 2)
            labels = ruler.labels()
            texts = [text for _t, text in labels]
            assert len(set(texts)) == len(texts), (centre, axis.span_s, texts)
            xs = [axis.time_to_x(t, width) for t, _text in labels]
            for (x0, text), x1 in zip(zip(xs, texts), xs[1:]):
                assert x1 - x0 >= metrics.horizontalAdvance(text), (axis.span_s, texts)
    axis.set_range(61.843, 61.844)  # the narrowest view still gets labels
    assert len(ruler.labels()) >= 2


# --- waveform -----------------------------------------------------------------------------------------

def test_column_min_max_equals_a_direct_reduction_over_block_snapped_columns():
    samples = np.random.default_rng(0).standard_normal((2, 10_000)).astype(np.float32)
    block = 16
    blocks = samples.reshape(2, -1, block)
    edges = np.linspace(37, 8_000, 101).astype(np.int64)  # not to the end: the last column stops too
    col_min, col_max = column_min_max(blocks.min(axis=2), blocks.max(axis=2), block, edges)
    for i in range(100):
        low, high = edges[i] // block * block, -(-edges[i + 1] // block) * block
        np.testing.assert_array_equal(col_min[:, i], samples[:, low:high].min(axis=1))
        np.testing.assert_array_equal(col_max[:, i], samples[:, low:high].max(axis=1))


def test_zoomed_out_columns_stay_within_a_block_of_the_exact_peaks(qtbot):
    rate = 8000
    noise = np.random.default_rng(1).uniform(-1, 1, rate * 600).astype(np.float32)
    noise *= np.repeat(np.linspace(0.05, 1.0, 600), rate)  # louder every second
    track = make_track(qtbot, Clip(noise, rate))
    qtbot.waitUntil(lambda: track.waveform.peaks is not None, timeout=10_000)
    minima, maxima, x0, x1 = track.waveform.column_extrema(WIDTH)
    exact_min, exact_max = track.waveform.peaks.peaks_for_range(0, len(noise), x1 - x0)
    assert (x0, x1) == (0, WIDTH)
    np.testing.assert_allclose(maxima, exact_max, atol=0.02)
    np.testing.assert_allclose(minima, exact_min, atol=0.02)


def test_long_clip_gets_its_overview_from_a_background_job(qtbot):
    seconds = 2 * SYNC_PEAKS_MAX_SAMPLES / RATE  # too long to build the pyramid on the UI thread
    track = make_track(qtbot, Clip(tone(300.0, seconds, RATE, amplitude=0.5), RATE))
    assert track.busy and track.waveform.peaks is None
    qtbot.waitUntil(lambda: not track.busy, timeout=10_000)
    assert track.waveform.peaks.frames == track.clip.frames
    image = track.waveform.grab().toImage()
    drawn = sum(pixel(image, WIDTH // 2, y) == QColor(style.WAVEFORM) for y in range(track.waveform.height()))
    assert drawn == pytest.approx(0.95 * 0.5 * track.waveform.height(), abs=3)


def test_waveform_draws_signal_where_it_is_and_only_the_centre_line_in_silence(qtbot):
    track = make_track(qtbot, tone_then_silence(channels=2))
    view = track.waveform
    image = view.grab().toImage()
    lane_height = view.height() // 2
    wave = QColor(style.WAVEFORM)
    for lane in range(2):
        rows = range(lane * lane_height + 2, (lane + 1) * lane_height - 2)
        quarter, three_quarters = view.width() // 4, 3 * view.width() // 4
        drawn = sum(pixel(image, quarter, y) == wave for y in rows)
        # an 0.8 (left) / 0.4 (right) peak tone fills about that fraction of the 95 % lane height
        assert drawn == pytest.approx(0.95 * 0.8 * 0.5 ** lane * lane_height, abs=3)
        assert sum(pixel(image, three_quarters, y) == wave for y in rows) <= 1
        assert pixel(image, three_quarters, rows[0]) == QColor(style.BACKGROUND)


def test_waveform_zoomed_in_draws_the_samples_as_a_line(qtbot):
    clip = Clip(tone(50.0, 1.0, RATE, amplitude=0.9), RATE)
    track = make_track(qtbot, clip)
    track.axis.set_range(0.0, 0.005)  # quarter period of 50 Hz: the line rises from centre to near the top
    image = track.waveform.grab().toImage()
    height = track.waveform.height()
    sample_colour = QColor(style.WAVEFORM_SAMPLE)

    def line_row(x: int) -> float:
        rows = [y for y in range(height) if QColor(image.pixel(x, y)).green() > 150]
        assert rows, f"no sample line at x={x}"
        return float(np.mean(rows))

    quarter_sine = height / 2 - 0.95 * (height / 2) * 0.9 * np.sin(2 * np.pi * 50 * 0.005 * np.array([0.25, 0.75]))
    assert line_row(track.waveform.width() // 4) == pytest.approx(quarter_sine[0], abs=3)
    assert line_row(3 * track.waveform.width() // 4) == pytest.approx(quarter_sine[1], abs=3)
    assert column_has(image, track.waveform.width() // 2, sample_colour, range(height))


# --- mouse, wheel and keys ------------------------------------------------------------------------------

def test_drag_selects_the_seconds_under_the_mouse_and_click_clears(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=8.0))
    view = track.waveform
    seconds_per_px = 8.0 / view.width()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 40))
    qtbot.mouseMove(view, QPoint(200, 40))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(300, 40))
    start, end = track.selection.range
    assert start == pytest.approx(100 * seconds_per_px, abs=seconds_per_px)
    assert end == pytest.approx(300 * seconds_per_px, abs=seconds_per_px)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, QPoint(500, 40))
    assert track.selection.range[1] == pytest.approx(500 * seconds_per_px, abs=seconds_per_px)
    assert track.selection.range[0] == start
    with qtbot.waitSignal(track.seekRequested) as blocker:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(50, 40))
    assert track.selection.range is None
    assert blocker.args[0] == pytest.approx(50 * seconds_per_px, abs=seconds_per_px)


def test_selection_overlay_is_drawn_over_the_selected_columns(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=8.0))
    view = track.waveform
    before = view.grab().toImage()
    track.selection.set(6.0, 7.0)  # in the silent half, so the only change is the overlay
    after = view.grab().toImage()
    inside, outside = round(view.width() * 6.5 / 8), round(view.width() * 5.5 / 8)
    assert pixel(after, inside, 5) != pixel(before, inside, 5)
    assert pixel(after, inside, 5).lightness() > pixel(before, inside, 5).lightness()
    assert pixel(after, outside, 5) == pixel(before, outside, 5)


def test_wheel_zooms_around_the_mouse_and_shift_wheel_scrolls(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=8.0))
    view, axis = track.waveform, track.axis
    x = 200
    under_mouse = axis.x_to_time(x, view.width())
    wheel(view, x, notches_y=2)
    assert axis.span_s == pytest.approx(8.0 / 1.25 ** 2)
    assert axis.x_to_time(x, view.width()) == pytest.approx(under_mouse)
    start = axis.start_s
    wheel(view, x, notches_y=-1, modifiers=Qt.KeyboardModifier.ShiftModifier)
    assert axis.start_s == pytest.approx(start + 0.1 * axis.span_s)
    start = axis.start_s
    wheel(view, x, notches_x=1)
    assert axis.start_s == pytest.approx(start - 0.1 * axis.span_s)


def test_pinch_zooms_around_the_fingers(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=8.0))
    view, axis = track.waveform, track.axis
    x = 600.0
    under_fingers = axis.x_to_time(x, view.width())
    pinch = QNativeGestureEvent(Qt.NativeGestureType.ZoomNativeGesture, QPointingDevice.primaryPointingDevice(), 2,
                                QPointF(x, 40), QPointF(x, 40), QPointF(view.mapToGlobal(QPointF(x, 40))), 0.5,
                                QPointF(0, 0))
    QApplication.sendEvent(view, pinch)
    assert axis.span_s == pytest.approx(8.0 / 1.5)
    assert axis.x_to_time(x, view.width()) == pytest.approx(under_fingers)


def test_keys_zoom_and_middle_drag_scrolls(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=8.0))
    view, axis = track.waveform, track.axis
    view.setFocus()
    axis.set_cursor(6.0)
    qtbot.keyClick(view, Qt.Key.Key_Plus)  # zooms around the visible play head
    assert (axis.start_s, axis.end_s) == (pytest.approx(3.0), pytest.approx(7.0))
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert (axis.start_s, axis.end_s) == (0.0, 8.0)
    axis.set_range(2.0, 4.0)
    seconds_per_px = 2.0 / view.width()
    qtbot.mousePress(view, Qt.MouseButton.MiddleButton, pos=QPoint(400, 40))
    qtbot.mouseMove(view, QPoint(300, 40))
    qtbot.mouseRelease(view, Qt.MouseButton.MiddleButton, pos=QPoint(300, 40))
    assert axis.start_s == pytest.approx(2.0 + 100 * seconds_per_px)
    assert axis.span_s == pytest.approx(2.0)
    assert track.selection.range is None


def test_cursor_line_moves_and_the_view_follows_it(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=8.0))
    view = track.waveform
    cursor = QColor(style.CURSOR)
    track.set_cursor(6.0)
    image = view.grab().toImage()
    x = round(view.width() * 6.0 / 8.0)
    assert any(pixel(image, xi, view.height() // 2 + 20) == cursor for xi in (x - 1, x, x + 1))
    track.set_cursor(7.0)
    image = view.grab().toImage()
    assert all(pixel(image, xi, view.height() // 2 + 20) != cursor for xi in (x - 1, x, x + 1))
    track.axis.set_range(0.0, 2.0)
    track.set_cursor(3.0)  # off-screen: the view pages so the play head is at its left edge
    assert (track.axis.start_s, track.axis.end_s) == (pytest.approx(3.0), pytest.approx(5.0))


def test_two_tracks_share_one_axis_and_selection(qtbot):
    axis, selection = TimeAxis(), SelectionModel()
    holder = QWidget()
    qtbot.addWidget(holder)
    layout = QVBoxLayout(holder)
    first = TrackView(tone_then_silence(seconds=8.0), axis, selection)
    second = TrackView(tone_then_silence(seconds=4.0), axis, selection)  # tone ends at 2 s
    layout.addWidget(first)
    layout.addWidget(second)
    holder.resize(WIDTH, 2 * HEIGHT)
    holder.show()
    qtbot.waitExposed(holder)
    assert axis.duration_s == 8.0  # the longer track sets the duration
    view = second.waveform
    two_seconds_x = axis.time_to_x(2.0, view.width())
    wheel(first.waveform, two_seconds_x, notches_y=3)  # zoom on the first track around 2 s ...
    assert axis.span_s == pytest.approx(8.0 / 1.25 ** 3)
    image = view.grab().toImage()  # ... and the second one shows the same range
    tone_end_x = round(axis.time_to_x(2.0, view.width()))
    assert abs(tone_end_x - two_seconds_x) <= 1
    wave, rows = QColor(style.WAVEFORM), range(5, view.height() // 2 - 3)  # above the centre line
    assert column_has(image, tone_end_x - 3, wave, rows)
    assert not column_has(image, tone_end_x + 3, wave, rows)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(10, 30))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(60, 30))
    assert selection.range is not None
    first_image = first.waveform.grab().toImage()
    assert pixel(first_image, 30, 3) != QColor(style.BACKGROUND)  # the selection shows on the other track


def test_speech_waveform_covers_the_columns_where_the_speech_is_loud(qtbot):
    espeak_rate = 22050  # espeak-ng's own rate: no resampling needed
    speech = speak("the waveform shows speech", sample_rate=espeak_rate)
    track = make_track(qtbot, Clip(speech, espeak_rate, name="speech"))
    view = track.waveform
    image = view.grab().toImage()
    height, width = view.height(), view.width()
    edges = np.floor(np.arange(width + 1) * len(speech) / width).astype(int)
    column_peak = np.array([speech[a:b].max() for a, b in zip(edges[:-1], edges[1:])])
    # a column whose positive peak exceeds 0.1 reaches 0.1 * 0.95 of the half height above the centre
    probe = round(height / 2 - 0.09 * height / 2)
    wave = QColor(style.WAVEFORM)
    drawn = np.array([column_has(image, x, wave, range(probe - 1, probe + 1)) for x in range(width)])
    loud, quiet = column_peak > 0.1, column_peak < 0.05
    assert loud.sum() > width // 4 and quiet.sum() > 10
    assert drawn[loud].all()
    assert not drawn[quiet].any()


def test_set_clip_regions_and_header_signals(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=4.0))
    assert "mono" in track.header.info_label.text() and "16000 Hz" in track.header.info_label.text()
    stereo = tone_then_silence(seconds=4.0, channels=2)
    track.set_clip(stereo)
    assert "stereo" in track.header.info_label.text()
    assert track.waveform.clip is stereo
    track.add_regions([(0.5, 1.5, "first line")])
    track.add_regions([(2.5, 3.0, "second line")])
    assert [r[2] for r in track.waveform.regions] == ["first line", "second line"]
    image = track.waveform.grab().toImage()
    x = round(track.waveform.width() * 2.75 / 4.0)
    assert pixel(image, x, track.waveform.height() // 4 + 5) != QColor(style.BACKGROUND)
    with qtbot.waitSignal(track.closeRequested):
        track.header.close_button.click()
    with qtbot.waitSignal(track.activated):
        qtbot.mouseClick(track.header, Qt.MouseButton.LeftButton)


# --- spectrogram --------------------------------------------------------------------------------------

def brightness_at(image, x: int, y: float, radius: int = 2) -> int:
    """The brightest pixel within ``radius`` rows of ``y``: a pure tone is a line about a pixel thick."""
    rows = range(max(0, round(y) - radius), min(image.height(), round(y) + radius + 1))
    return max(pixel(image, x, row).lightness() for row in rows)


def test_spectrogram_tiles_arrive_and_show_the_tone_at_its_frequency_row(qtbot):
    track = make_track(qtbot, tone_then_silence(freq=2000.0, seconds=4.0))
    view = track.spectrogram
    qtbot.waitUntil(lambda: not view.pending, timeout=10_000)
    image = view.grab().toImage()
    height, x_tone, x_silence = view.height(), view.width() // 4, 3 * view.width() // 4
    row = view.row_of_frequency(2000.0, height)
    assert row == pytest.approx(height * (1 - 2000.0 / 8000.0), abs=2)
    assert brightness_at(image, x_tone, row) > 150
    for far in (500.0, 5000.0):
        assert brightness_at(image, x_tone, view.row_of_frequency(far, height)) < 40
    assert brightness_at(image, x_silence, row) < 40

    with qtbot.waitSignal(view.tileArrived, timeout=10_000):
        track.header.mel_button.click()
    qtbot.waitUntil(lambda: not view.pending, timeout=10_000)
    image = view.grab().toImage()
    mel_row = view.row_of_frequency(2000.0, height)
    assert mel_row < row - 20  # mel gives low frequencies more room: 2 kHz sits higher up
    assert brightness_at(image, x_tone, mel_row) > 150


def test_spectrogram_shows_coarse_tiles_at_once_after_zooming_in(qtbot):
    track = make_track(qtbot, tone_then_silence(freq=1000.0, seconds=60.0))
    view = track.spectrogram
    qtbot.waitUntil(lambda: not view.pending, timeout=20_000)
    level = view.level_for(view.width())
    assert level >= 2
    track.axis.zoom(4.0, anchor_s=15.0)
    assert view.level_for(view.width()) == level - 2
    image = view.grab().toImage()  # nothing computed yet at the new level: coarser tiles stand in
    assert view.pending
    x, row = view.width() // 2, view.row_of_frequency(1000.0, view.height())
    assert brightness_at(image, x, row) > 150
    qtbot.waitUntil(lambda: not view.pending, timeout=20_000)
    assert brightness_at(view.grab().toImage(), x, row) > 150


def test_spectrogram_shares_the_selection_and_cursor_overlays(qtbot):
    track = make_track(qtbot, tone_then_silence(seconds=8.0))
    view = track.spectrogram
    qtbot.waitUntil(lambda: not view.pending, timeout=10_000)
    before = view.grab().toImage()
    qtbot.mousePress(track.waveform, Qt.MouseButton.LeftButton, pos=QPoint(500, 20))
    qtbot.mouseRelease(track.waveform, Qt.MouseButton.LeftButton, pos=QPoint(700, 20))
    track.set_cursor(1.0)
    after = view.grab().toImage()
    assert pixel(after, 600, 10).lightness() > pixel(before, 600, 10).lightness()
    assert pixel(after, 300, 10) == pixel(before, 300, 10)
    cursor_x = round(view.width() * 1.0 / 8.0)
    assert any(pixel(after, x, 10) == QColor(style.CURSOR) for x in (cursor_x - 1, cursor_x, cursor_x + 1))


def test_spectrogram_of_an_edited_clip_replaces_the_old_tiles(qtbot):
    track = make_track(qtbot, tone_then_silence(freq=1000.0, seconds=4.0))
    view = track.spectrogram
    qtbot.waitUntil(lambda: not view.pending, timeout=10_000)
    track.set_clip(tone_then_silence(freq=3000.0, seconds=4.0))  # what an edit or undo does
    qtbot.waitUntil(lambda: not view.pending, timeout=10_000)
    image, x = view.grab().toImage(), view.width() // 4
    assert brightness_at(image, x, view.row_of_frequency(3000.0, view.height())) > 150
    assert brightness_at(image, x, view.row_of_frequency(1000.0, view.height())) < 40


def test_closing_a_track_while_tiles_are_computed_stops_its_tile_jobs(qtbot):
    # Not registered with qtbot: the test deletes the widget itself, which qtbot's teardown cannot close.
    track = TrackView(Clip(tone(440.0, 600.0, RATE), RATE), TimeAxis(), SelectionModel())
    track.resize(WIDTH, HEIGHT)
    track.show()
    servers = track.spectrogram.tile_servers
    track.axis.zoom(50.0, 300.0)
    track.spectrogram.grab()  # a render at the new level requests its tiles
    assert servers.running > 0 and track.spectrogram.pending
    track.close()
    track.deleteLater()
    qtbot.waitUntil(lambda: servers.running == 0, timeout=10_000)
