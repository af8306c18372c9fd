"""Shared fixtures. Every test runs with its own Vocalis home so that no user folder is touched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "golden"
JAMENDO = SHARED / "data" / "jamendolyrics"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def vocalis_home(tmp_path_factory, monkeypatch):
    """A fresh VOCALIS_HOME per test; the models folder is shared across the session so the embedded
    Whisper model is reassembled once."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("VOCALIS_HOME", str(home))
    monkeypatch.setenv("VOCALIS_MODELS", str(_session_models_dir(tmp_path_factory)))
    return home


@pytest.fixture(autouse=True)
def unsaved_work_is_discarded(request, monkeypatch):
    """GUI tests close windows with unsaved tracks at teardown: answer the Save / Discard / Cancel question
    with Discard instead of blocking on a modal dialog (tests of the question patch it themselves)."""
    if "qtbot" in request.fixturenames:
        from gui import project as project_ui

        monkeypatch.setattr(project_ui, "ask_save_discard_cancel", lambda *_args: project_ui.Answer.DISCARD)


@pytest.fixture
def window(qtbot):
    """A shown main window; playback is stopped at teardown so no audio stream outlives the test."""
    from gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.playback.stop()


_MODELS: Path | None = None


def _session_models_dir(factory) -> Path:
    global _MODELS
    if _MODELS is None:
        _MODELS = factory.mktemp("models")
    return _MODELS


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def require_tools(*tools: str) -> None:
    """Skip a test whose command-line tools are missing; under CI (``CI=true``) fail instead, so a missing
    install step cannot pass unnoticed."""
    missing = [tool for tool in tools if not have(tool)]
    if missing:
        message = f"needs {', '.join(missing)} (tools/setup.sh installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
