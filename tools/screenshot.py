"""Render docs/screenshot.png: the app with a real song open (waveform + spectrogram, a selection, the
play head), grabbed from a real X server. Run under Xvfb:

    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python tools/screenshot.py SONG.mp3 docs/screenshot.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt

from gui.app import create_app
from gui.main_window import MainWindow

SHOT_WIDTH = 1120


def wait(app, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main(song: str, out: str) -> int:
    app = create_app()
    window = MainWindow()
    window.resize(1360, 820)
    window.show()
    window.open_file(song)
    wait(app, lambda: window.current_track() is not None, 60)
    track = window.current_track()
    wait(app, lambda: not track.busy and not window.jobs.running, 120)
    window.track_area.axis.set_range(30.0, 75.0)
    window.track_area.selection.set(41.0, 52.5)
    window.seek(44.2)
    for _ in range(100):  # let the visible spectrogram tiles arrive
        app.processEvents()
        time.sleep(0.03)
    wait(app, lambda: not track.busy, 60)
    app.processEvents()
    # Scaled down so the PNG stays under ~400 KB (the spectrogram defeats compression).
    image = window.grab().toImage().scaledToWidth(SHOT_WIDTH, Qt.TransformationMode.SmoothTransformation)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    image.save(out, "PNG")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
