"""Playback and recording through a real PulseAudio server with a null sink: what is played into the sink
is recorded back from its monitor, so frequency and level can be checked end to end."""

from __future__ import annotations

import os

import time

import numpy as np
import pytest

from engine.audio import devices
from engine.audio.clip import Clip
from tests.pulse import ensure_null_sink_pulseaudio
from tests.synth import dominant_frequency, tone

pytestmark = pytest.mark.audio

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # set before the QApplication exists

RATE = 48000
PORTAUDIO_DEVICE = "pulse"  # PortAudio's ALSA device that talks to the PulseAudio server


@pytest.fixture(scope="session", autouse=True)
def pulse_null_sink():
    """A PulseAudio server whose default sink is a null sink and default source that sink's monitor;
    started here when the test runs without tools/test.sh."""
    ensure_null_sink_pulseaudio()


def _loud_part(recording: np.ndarray, rate: int = RATE, threshold: float = 0.05) -> np.ndarray:
    """The recorded tone without the silence around it and without its first/last 100 ms."""
    loud = np.flatnonzero(np.abs(recording) > threshold)
    assert loud.size, "the recording is silent"
    margin = rate // 10
    return recording[loud[0] + margin:loud[-1] - margin]


def _rms_db(audio: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def test_lists_the_pulse_device_for_input_and_output():
    outputs = [d.name for d in devices.list_devices("output")]
    inputs = [d.name for d in devices.list_devices("input")]
    assert PORTAUDIO_DEVICE in outputs and PORTAUDIO_DEVICE in inputs
    assert devices.find_device(PORTAUDIO_DEVICE, "output").max_output_channels >= 2


def test_unknown_device_is_a_clear_error():
    with pytest.raises(devices.AudioDeviceError, match="no-such-card"):
        devices.find_device("no-such-card", "output")


def test_tone_played_into_the_null_sink_is_recorded_from_its_monitor():
    played = tone(440.0, 1.5, RATE, amplitude=0.5)
    recorder = devices.Recorder(PORTAUDIO_DEVICE, sample_rate=RATE, channels=1)
    player = devices.Player(PORTAUDIO_DEVICE)
    recorder.start()
    try:
        time.sleep(0.2)
        player.play(Clip(played, RATE))
        positions, levels = [], []
        deadline = time.monotonic() + 10.0  # a stalled sound server fails the test instead of hanging it
        while player.playing and time.monotonic() < deadline:
            positions.append(player.position)
            levels.append(recorder.level_db())
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        player.stop()
        clip = recorder.stop()
    assert clip.sample_rate == RATE and clip.channels == 1
    tone_part = _loud_part(clip.samples[0])
    assert len(tone_part) > RATE  # most of the 1.5 s arrived
    assert dominant_frequency(tone_part, RATE) == pytest.approx(440.0, abs=2.0)
    assert _rms_db(tone_part) == pytest.approx(_rms_db(played), abs=3.0)  # -9 dBFS played
    # The cursor position grew steadily over the tone and ended near its end.
    assert positions == sorted(positions) and len(positions) > 10
    assert positions[-1] == pytest.approx(1.5, abs=0.25)
    peak_db, rms_db = np.max(levels, axis=0)  # the meter saw the tone while it played: 0.5 peak, -9 dB RMS
    assert peak_db == pytest.approx(20 * np.log10(0.5), abs=3.0)
    assert rms_db == pytest.approx(_rms_db(played), abs=3.0)


def test_loop_keeps_playing_inside_the_range_and_pause_keeps_the_position():
    player = devices.Player(PORTAUDIO_DEVICE)
    player.play(Clip(tone(330.0, 2.0, RATE), RATE), start_s=0.5, end_s=0.8, loop=True)
    try:
        time.sleep(0.9)  # three times the loop length
        assert player.playing
        assert 0.5 <= player.position <= 0.8
        player.pause()
        paused_at = player.position
        time.sleep(0.2)
        assert not player.playing and player.paused
        assert player.position == paused_at
        player.resume()
        time.sleep(0.2)
        assert player.playing and 0.5 <= player.position <= 0.8
    finally:
        player.stop()
    assert not player.playing


def test_recorder_stereo_clip_has_the_requested_shape_and_both_channels():
    # A null sink's monitor only delivers audio while something plays into the sink.
    player = devices.Player(PORTAUDIO_DEVICE)
    player.play(Clip(tone(1000.0, 3.0, RATE), RATE))
    recorder = devices.Recorder(PORTAUDIO_DEVICE, sample_rate=22050, channels=2)
    recorder.start()
    started = time.monotonic()
    deadline = started + 5.0  # the sound server can take a second to start delivering
    while recorder.seconds < 0.8 and time.monotonic() < deadline:
        time.sleep(0.05)
    recorded_for = time.monotonic() - started
    clip = recorder.stop()
    player.stop()
    assert clip.channels == 2 and clip.sample_rate == 22050
    assert clip.duration == pytest.approx(recorded_for, abs=0.05)  # every frame up to the stop
    for channel in clip.samples:
        assert dominant_frequency(_loud_part(channel, rate=22050), 22050) == pytest.approx(1000.0, abs=3.0)
    with pytest.raises(devices.AudioDeviceError, match="not running"):
        recorder.stop()


def test_recording_in_the_window_becomes_a_new_track(qtbot):
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    player = devices.Player(PORTAUDIO_DEVICE)
    player.play(Clip(tone(550.0, 4.0, RATE), RATE))  # what the default source (the sink's monitor) hears
    try:
        window.actions.record.trigger()
        assert window.playback.recording and window.transport.meter.isVisible()
        qtbot.waitUntil(lambda: window.playback.recorder.seconds > 1.0, timeout=6000)
        qtbot.waitUntil(lambda: window.transport.meter.rms_db > -20, timeout=2000)
        window.actions.record.trigger()
        assert not window.playback.recording and not window.transport.meter.isVisible()
        qtbot.waitUntil(lambda: window.current_track() is not None, timeout=5000)  # the last samples arrived
    finally:
        player.stop()
    track = window.current_track()
    assert track is not None and track.clip.name == "Recording 1"
    assert track.clip.sample_rate == 48000 and track.clip.channels == 1  # the preferences' defaults
    assert dominant_frequency(_loud_part(track.clip.samples[0]), RATE) == pytest.approx(550.0, abs=2.0)


def test_player_at_a_fixed_device_rate_resamples_and_keeps_clip_time():
    player = devices.Player(PORTAUDIO_DEVICE, sample_rate=48000)
    recorder = devices.Recorder(PORTAUDIO_DEVICE, sample_rate=RATE, channels=1)
    recorder.start()
    try:
        player.play(Clip(tone(300.0, 1.5, 16000), 16000))
        assert player.wait(6.0)
        assert player.position == pytest.approx(1.5, abs=1e-3)  # seconds of the clip, not of the stream
        time.sleep(0.2)
    finally:
        player.stop()
        clip = recorder.stop()
    assert dominant_frequency(_loud_part(clip.samples[0]), RATE) == pytest.approx(300.0, abs=2.0)


def test_switching_the_loop_off_stops_at_the_end_of_the_range():
    player = devices.Player(PORTAUDIO_DEVICE)
    player.play(Clip(tone(330.0, 3.0, RATE), RATE), start_s=0.2, end_s=0.5, loop=True)
    try:
        time.sleep(0.7)
        assert player.playing
        player.set_loop(0.2, 0.5, enabled=False)
        assert player.wait(3.0)  # well before the clip's own end would be reached
        assert player.position == pytest.approx(0.5, abs=1e-3)
    finally:
        player.stop()
