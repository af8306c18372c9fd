"""Typed errors that carry a message meant for a person, never a traceback."""

from __future__ import annotations

from pathlib import Path


class VocalisError(Exception):
    """Base class: ``str(error)`` is the message shown to the user."""


class BadInputError(VocalisError):
    """An input file (or value) cannot be used; names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class OutputError(VocalisError):
    """An output cannot be written (read-only folder, disk full, ...)."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"cannot write {self.path}: {problem}")


class MissingModelError(VocalisError):
    """A model the task needs is not installed; says how to get it."""


class ModelLoadError(VocalisError):
    """A checkpoint does not fit the architecture (missing/unexpected keys, wrong shapes, unsafe pickle)."""


class DownloadError(VocalisError):
    """A model download failed (offline, proxy, not found on the hub); says what to try instead."""


class DeviceOutOfMemoryError(VocalisError):
    """The device ran out of memory; the message suggests smaller chunks or the CPU."""


class Cancelled(VocalisError):
    """The user cancelled the job; not a failure."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)
