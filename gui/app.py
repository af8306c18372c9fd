"""Start the desktop app: ``vocalis`` or ``vocalis gui FILE…`` (engine/cli dispatches here)."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engine import __version__, paths
from engine.models import devices

LOG_NAME = "vocalis.log"


def configure_logging() -> None:
    """Details (tracebacks of failed jobs) go to a rotating log file in the data folder; the window only
    ever shows the short message."""
    path = paths.data_dir() / LOG_NAME
    root = logging.getLogger("vocalis")
    if any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        return
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def create_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Vocalis")
    app.setOrganizationName("Vocalis")
    app.setApplicationVersion(__version__)
    return app


def main(files: list[str]) -> int:
    """Open the window with ``files`` as tracks and run until it is closed; returns the exit code."""
    configure_logging()
    devices.apply_cpu_threads()  # the Device panel's thread setting, from the first job on
    app = create_app()
    from gui.main_window import MainWindow  # after QApplication exists

    window = MainWindow()
    window.show()
    window.open_files(files)
    # Once the window is up: offer what a crashed or killed session left in its autosave.
    QTimer.singleShot(0, window.offer_recovery)
    return app.exec()
