"""Recording keeps every sample: a known tone played into the PulseAudio null sink (by PulseAudio's own
client, so that playback is not what is being tested) and recorded from its monitor for N seconds comes
back N seconds long, within 50 ms, with no gap."""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import hilbert

from engine.audio import devices
from tests.conftest import require_tools
from tests.pulse import ensure_null_sink_pulseaudio
from tests.synth import tone

pytestmark = pytest.mark.audio

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RATE = 48000
TONE_HZ = 440.0
PORTAUDIO_DEVICE = "pulse"


@pytest.fixture
def tone_in_the_sink(tmp_path, monkeypatch):
    """A long tone playing through paplay into a null sink of this test's own (other tests may play into
    the shared one meanwhile), whose monitor the recorder hears (PULSE_SOURCE steers ALSA's PulseAudio
    plugin)."""
    require_tools("paplay")
    ensure_null_sink_pulseaudio()
    sink = f"vocalis_recording_test_{os.getpid()}"
    module = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={sink}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    monkeypatch.setenv("PULSE_SOURCE", f"{sink}.monitor")
    path = tmp_path / "tone.wav"
    sf.write(path, tone(TONE_HZ, 30.0, RATE, 0.5), RATE, subtype="FLOAT")
    player = subprocess.Popen(["paplay", f"--device={sink}", str(path)])
    time.sleep(0.5)  # the sink is running before recording starts
    yield
    player.kill()
    player.wait()
    subprocess.run(["pactl", "unload-module", module], check=False, capture_output=True)


def largest_phase_step(samples: np.ndarray) -> float:
    """The largest jump of the tone's phase from one sample to the next, beyond its steady advance: a
    missing or repeated block of samples shows as a jump, an intact recording as ~0."""
    phase = np.unwrap(np.angle(hilbert(samples)))
    residual = phase - 2 * np.pi * TONE_HZ * np.arange(len(samples)) / RATE
    edge = RATE // 50  # the analytic signal is unreliable at the very ends
    return float(np.abs(np.diff(residual[edge:-edge])).max())


@pytest.mark.parametrize("seconds", [1.0, 3.0])
def test_a_recording_is_as_long_as_the_time_recorded_and_has_no_gap(tone_in_the_sink, seconds):
    recorder = devices.Recorder(PORTAUDIO_DEVICE, sample_rate=RATE, channels=1)
    recorder.start()
    started = time.monotonic()
    time.sleep(seconds)
    recorded_for = time.monotonic() - started
    clip = recorder.stop("take")
    assert abs(clip.duration - recorded_for) <= 0.05, (clip.duration, recorded_for)
    assert recorder.overflows == 0 and recorder.dropped_frames == 0
    samples = clip.samples[0]
    assert np.abs(samples).max() == pytest.approx(0.5, abs=0.02)  # our tone alone
    assert np.sqrt(np.mean(samples[: RATE // 100] ** 2)) > 0.3  # the tone from the first 10 ms on
    assert np.sqrt(np.mean(samples[-RATE // 100:] ** 2)) > 0.3  # … to the last 10 ms
    assert largest_phase_step(samples) < 0.05


def test_recording_in_the_window_shows_elapsed_time_and_keeps_the_whole_take(qtbot, tone_in_the_sink):
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.actions.record.trigger()
    started = time.monotonic()
    assert window.transport.meter.isVisible()
    qtbot.waitUntil(lambda: window.playback.recorder.seconds > 1.0, timeout=10000)
    qtbot.wait(100)
    shown = window.transport.time_label.text()
    assert shown.startswith("● Recording 0:00:01")  # elapsed time while recording
    assert window.transport.meter.rms_db > -12  # the tone, at -9 dBFS RMS
    window.actions.record.trigger()
    recorded_for = time.monotonic() - started
    qtbot.waitUntil(lambda: window.current_track() is not None, timeout=5000)
    clip = window.current_track().clip
    assert clip.name == "Recording 1"
    assert abs(clip.duration - recorded_for) <= 0.05, (clip.duration, recorded_for)
    assert largest_phase_step(clip.samples[0]) < 0.05


def test_level_meter_has_a_db_scale(qtbot):
    from gui.transport import METER_SCALE_DB, LevelMeter

    meter = LevelMeter()
    qtbot.addWidget(meter)
    marks = meter.scale_marks()
    assert [label for _x, label in marks] == [str(db) for db in METER_SCALE_DB]
    xs = [x for x, _label in marks]
    assert xs == sorted(xs) and xs[-1] == meter.width() - 1  # 0 dBFS at the right edge
    assert xs[METER_SCALE_DB.index(-6)] == round(meter.width() * 54 / 60)  # linear in dB from -60
