"""Where Vocalis keeps its files. ``VOCALIS_HOME`` relocates everything (tests use it); ``VOCALIS_MODELS``
relocates only the models folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "vocalis"


def data_dir() -> Path:
    home = os.environ.get("VOCALIS_HOME")
    path = Path(home) / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    home = os.environ.get("VOCALIS_HOME")
    path = Path(home) / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir(setting: str | os.PathLike | None = None) -> Path:
    """The models folder: ``VOCALIS_MODELS`` if set, else the user's setting, else ``<data>/models``."""
    chosen = os.environ.get("VOCALIS_MODELS") or setting
    path = Path(chosen).expanduser() if chosen else data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path
