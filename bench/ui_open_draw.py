"""Track views benchmark: open and draw a long stereo file, zoom/scroll frame times, and the worst UI-thread
stall while background work runs; with pyqtgraph's downsampling plot as the peer on the same data.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/ui_open_draw.py [FILE] [--minutes 60] [--no-peer]

Without FILE it writes a synthetic stereo 44.1 kHz 16-bit WAV of ``--minutes`` (tones under slow
envelopes plus noise) to a temporary folder and removes it afterwards. Everything a user would wait for
runs as engine jobs: the load, the peak pyramid, spectrogram tiles. A 10 ms QTimer heartbeat records the
longest gap between its ticks on the UI thread while they run ("stall"); the targets are open + first
complete draw within about 2 s and no stall above 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "")

from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget  # noqa: E402

from engine.audio import dsp  # noqa: E402
from engine.audio.io import load  # noqa: E402
from gui.views import SelectionModel, TimeAxis, TimeRuler, TrackView  # noqa: E402
from gui.views.background import run_in_background  # noqa: E402

RATE = 44100
WIDTH, HEIGHT = 1400, 520
ZOOM_STEPS = 24


def write_test_file(path: Path, minutes: float) -> None:
    """A stereo file long enough to matter, written minute by minute so it never sits in memory."""
    rng = np.random.default_rng(1)
    block = 60 * RATE
    with sf.SoundFile(str(path), "w", RATE, 2, subtype="PCM_16") as out:
        for minute in range(int(np.ceil(minutes))):
            frames = min(block, int(minutes * 60 * RATE) - minute * block)
            t = (minute * block + np.arange(frames)) / RATE
            envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t) ** 2
            left = 0.4 * envelope * np.sin(2 * np.pi * (220 + 20 * minute) * t)
            right = 0.3 * (1 - envelope) * np.sin(2 * np.pi * 880 * t)
            noise = 0.05 * rng.standard_normal((2, frames))
            out.write((np.stack([left, right]) + noise).T.astype(np.float32))


class StallMeter:
    """A 10 ms heartbeat on the UI thread; the longest gap between ticks is the worst stall."""

    def __init__(self, interval_ms: int = 10):
        self.interval_ms = interval_ms
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.worst_ms = 0.0

    def start(self) -> None:
        self.worst_ms = 0.0
        self.clock.start()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst_ms

    def _tick(self) -> None:
        gap = self.clock.nsecsElapsed() / 1e6
        self.clock.restart()
        self.worst_ms = max(self.worst_ms, gap)


def spin_until(app: QApplication, done, timeout_s: float = 120.0) -> float:
    """Run the event loop until ``done()``; returns seconds waited."""
    start = time.perf_counter()
    while not done():
        if time.perf_counter() - start > timeout_s:
            raise TimeoutError("benchmark step did not finish")
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - start


def spin_for(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def frame_ms(widgets, action) -> float:
    """Milliseconds to apply ``action`` and repaint ``widgets`` synchronously (one UI frame)."""
    start = time.perf_counter()
    action()
    for widget in widgets:
        widget.repaint()
    return (time.perf_counter() - start) * 1000


def zoom_points(steps: int) -> np.ndarray:
    """Where each zoom-in step is centred, as a fraction of the current view: the same gesture sequence
    for both contenders."""
    return np.random.default_rng(7).uniform(0.2, 0.8, steps)


def bench_vocalis(app: QApplication, path: Path, stall: StallMeter) -> dict:
    results: dict = {}
    window = QWidget()
    layout = QVBoxLayout(window)
    axis, selection = TimeAxis(), SelectionModel()
    ruler = TimeRuler(axis, selection)
    layout.addWidget(ruler)
    window.resize(WIDTH, HEIGHT)
    window.show()
    spin_for(app, 0.2)
    # what the machine itself costs: the heartbeat with nothing else running (scheduling on busy cores)
    stall.start()
    spin_for(app, 2.0)
    results["stall idle, baseline (ms)"] = stall.stop()

    # open: load as a job, then the track (pyramid and tiles in the background)
    loaded: dict = {}
    stall.start()
    start = time.perf_counter()
    run_in_background(load, path, name="open", on_result=lambda clip: loaded.setdefault("clip", clip))
    spin_until(app, lambda: "clip" in loaded)
    results["load"] = time.perf_counter() - start
    shown = time.perf_counter()
    track = TrackView(loaded["clip"], axis, selection)
    layout.addWidget(track, 1)
    spin_until(app, lambda: track.waveform.up_to_date and track.spectrogram.up_to_date)
    results["first paint (track shown)"] = time.perf_counter() - start
    results["  of which after the load"] = time.perf_counter() - shown
    spin_until(app, lambda: track.waveform.peaks is not None and track.waveform.up_to_date)
    results["waveform drawn"] = time.perf_counter() - start
    spin_until(app, lambda: not track.busy)
    results["spectrogram complete"] = time.perf_counter() - start
    results["stall while opening (ms)"] = stall.stop()

    # zoom and scroll: paint cost per frame; tiles keep arriving between frames as they would at 60 Hz
    views = [track.waveform, track.spectrogram, ruler]
    times = []
    stall.start()
    for point in zoom_points(ZOOM_STEPS):
        times.append(frame_ms(views, lambda p=point: axis.zoom(1.5, axis.start_s + p * axis.span_s)))
        spin_for(app, 0.016)
    for _ in range(ZOOM_STEPS):
        times.append(frame_ms(views, lambda: axis.scroll_pages(0.25)))
        spin_for(app, 0.016)
    for _ in range(ZOOM_STEPS):
        times.append(frame_ms(views, lambda: axis.zoom(1 / 1.5)))
        spin_for(app, 0.016)
    results["stall while zooming (ms)"] = stall.stop()
    results["frame median (ms)"] = statistics.median(times)
    results["frame p95 (ms)"] = float(np.percentile(times, 95))
    results["frame max (ms)"] = max(times)
    spin_until(app, lambda: not track.busy)

    # a heavy engine job on the whole clip (normalise: two passes over every sample) plus a spectrogram
    # re-render in mel scale, while the heartbeat runs
    done: dict = {}
    stall.start()
    start = time.perf_counter()
    run_in_background(lambda clip, progress, cancel: dsp.normalize_peak(clip), track.clip, name="normalise",
                      on_result=lambda clip: done.setdefault("clip", clip))
    track.header.mel_button.click()
    spin_until(app, lambda: "clip" in done and not track.busy)
    results["normalise + mel redraw"] = time.perf_counter() - start
    results["stall during job (ms)"] = stall.stop()
    window.close()
    track.deleteLater()
    window.deleteLater()
    spin_for(app, 0.1)
    return results


def bench_pyqtgraph(app: QApplication, path: Path, stall: StallMeter) -> dict:
    """The peer: pyqtgraph's PlotWidget with its own peak downsampling and clip-to-view on the same file,
    loaded on the UI thread the way a plain plotting script would."""
    import pyqtgraph

    results: dict = {}
    start = time.perf_counter()
    clip = load(path)
    results["load"] = time.perf_counter() - start
    plot = pyqtgraph.PlotWidget()
    plot.resize(WIDTH, HEIGHT)
    curves = []
    for channel in range(clip.channels):
        curve = plot.plot(clip.samples[channel], pen=pyqtgraph.mkPen(width=1))
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        curves.append(curve)
    plot.show()
    plot.repaint()
    results["first paint (track shown)"] = time.perf_counter() - start
    results["waveform drawn"] = results["first paint (track shown)"]
    view = plot.getViewBox()
    times = []
    stall.start()

    def zoom(anchor: float, factor: float) -> None:
        low, high = view.viewRange()[0]
        span = (high - low) / factor
        fraction = (anchor - low) / (high - low)
        view.setXRange(anchor - fraction * span, anchor - fraction * span + span, padding=0)

    for point in zoom_points(ZOOM_STEPS):
        low, high = view.viewRange()[0]
        times.append(frame_ms([plot.viewport()], lambda a=low + point * (high - low): zoom(a, 1.5)))
        spin_for(app, 0.016)
    for _ in range(ZOOM_STEPS):
        low, high = view.viewRange()[0]
        times.append(frame_ms([plot.viewport()], lambda lo=low, hi=high: view.setXRange(
            lo + 0.25 * (hi - lo), hi + 0.25 * (hi - lo), padding=0)))
        spin_for(app, 0.016)
    for _ in range(ZOOM_STEPS):
        low, high = view.viewRange()[0]
        times.append(frame_ms([plot.viewport()], lambda lo=low, hi=high: zoom((lo + hi) / 2, 1 / 1.5)))
        spin_for(app, 0.016)
    results["stall while zooming (ms)"] = stall.stop()
    results["frame median (ms)"] = statistics.median(times)
    results["frame p95 (ms)"] = float(np.percentile(times, 95))
    results["frame max (ms)"] = max(times)
    plot.close()
    del curves, clip
    return results


def print_table(ours: dict, peer: dict | None, minutes: float) -> None:
    title = f"track views, {minutes:g} min stereo {RATE} Hz, {WIDTH}x{HEIGHT} px"
    print(f"\n{title}")
    header = f"{'measure':32s} {'vocalis':>10s}"
    if peer:
        header += f" {'pyqtgraph':>10s} {'peer/ours':>10s}"
    print(header)
    print("-" * len(header))
    for name, value in ours.items():
        unit = "" if name.endswith("(ms)") else " s"
        line = f"{name:32s} {value:10.3f}{unit}"
        if peer and name in peer:
            ratio = peer[name] / value if value else float("nan")
            line += f" {peer[name]:10.3f} {ratio:10.2f}"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", type=Path, help="audio file to open (default: a synthetic one)")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the synthetic file")
    parser.add_argument("--no-peer", action="store_true", help="skip the pyqtgraph comparison")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    stall = StallMeter()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "long.wav"
            start = time.perf_counter()
            write_test_file(path, args.minutes)
            print(f"wrote {path.stat().st_size / 2**20:.0f} MiB test file in {time.perf_counter() - start:.1f} s")
        minutes = sf.info(str(path)).duration / 60
        ours = bench_vocalis(app, path, stall)
        peer = None if args.no_peer else bench_pyqtgraph(app, path, stall)
    print_table(ours, peer, minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
