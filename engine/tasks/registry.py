"""The registry of file tasks: every task that turns one input file into output files registers a
:class:`FileTask` here, and the CLI, batch and the GUI's Batch panel find it by name.

A file task is a pure function of (input file, settings) → output files, so any batch executor (the local
one in :mod:`engine.batch.local`, or a distributed one beside it) can run it.

Naming convention: the task called ``N`` is registered by importing ``engine.tasks.N`` (dashes become
underscores; a package's ``__init__`` imports the module that registers), which lets :func:`find` import one
task without the others (the CLI's start-up depends on that).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.audio import io as audio_io
from engine.errors import BadInputError

# What the batch walk includes by default: the formats libsndfile and the decoders behind engine.audio read.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif",
                                     ".aiff", ".wma", ".webm")


def audio_seconds(path: Path) -> float | None:
    """The duration in the file's header (cheap, nothing decoded); None when the header is unreadable, so
    the file still runs and fails with the decoder's own message."""
    try:
        return audio_io.info(path).duration
    except BadInputError:
        return None


def text_characters(path: Path) -> float | None:
    """The number of characters of a UTF-8 text input (lines to speak); None when it cannot be read."""
    try:
        return float(len(Path(path).read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class FileTask:
    """One task that works file → files (see docs/architecture.md, "File tasks")."""

    name: str
    help: str
    settings_type: type
    # (input_path, output_stem, settings, progress, cancel) -> list[Path]; writes each output atomically.
    process_file: Callable[..., list[Path]]
    # (output_stem, settings) -> list[Path]: every file a complete run writes.
    output_names: Callable[[Path, Any], list[Path]]
    # Lower-case suffixes the batch walk includes by default.
    input_extensions: tuple[str, ...] = AUDIO_EXTENSIONS
    # (input_path, settings) -> prepared input: the CPU part (decode, resample). When given, batch runs it
    # for the next file on a prefetch thread while this one is processed, and passes the result to
    # process_file as the keyword ``prepared`` (process_file prepares the input itself when it is None).
    prepare: Callable[[Path, Any], Any] | None = None
    # Name of the settings field holding the device ("cpu", "cuda", "auto", ...); batch serialises the
    # work of tasks that run on the same device. None for tasks that use no accelerator.
    device_field: str | None = None
    # (input_path) -> this input's share of the work, used to weight progress and to total the work done:
    # seconds of audio by default, characters for text inputs; None when unknown (the file is then weighted
    # like an average one). Cheap: called for every input when a batch is planned.
    weight: Callable[[Path], float | None] = audio_seconds
    # What ``weight`` counts: the key of that number in the batch manifest ("audio_s" sums into the report's
    # audio hours).
    weight_unit: str = "audio_s"
    # (input_path, output_stem, settings) -> list[Path], for tasks whose outputs depend on the input's
    # content (a CSV of lines → one file per row); used instead of output_names when given.
    outputs_for: Callable[[Path, Path, Any], list[Path]] | None = None
    # (outputs of a finished file) -> the figures a user wants beside them (voice similarity, …): the CLI
    # prints them on the file's ``ok`` line and puts them in its ``--json`` record.
    summary: Callable[[list[Path]], dict[str, Any]] | None = None

    def expected_outputs(self, input_path: Path, output_stem: Path, settings: Any) -> list[Path]:
        """Every file a complete run on ``input_path`` writes."""
        if self.outputs_for is not None:
            return self.outputs_for(input_path, output_stem, settings)
        return self.output_names(output_stem, settings)


_TASKS: dict[str, FileTask] = {}


def register(task: FileTask) -> FileTask:
    """Add ``task`` (task modules call this at import). Registering the same name twice replaces it, so a
    module reloaded in a session does not fail."""
    _TASKS[task.name] = task
    return task


def _import_task_modules() -> None:
    from engine import tasks

    for info in pkgutil.iter_modules(tasks.__path__):
        if info.name != "registry" and not info.name.startswith("_"):
            importlib.import_module(f"engine.tasks.{info.name}")


def all_tasks() -> dict[str, FileTask]:
    """Every registered file task by name, after importing every module of :mod:`engine.tasks`."""
    _import_task_modules()
    return dict(sorted(_TASKS.items()))


def find(name: str) -> FileTask | None:
    """The file task called ``name`` or None, importing only its own module (see the naming convention)."""
    module = name.replace("-", "_")
    if name not in _TASKS and module.isidentifier() and module != "registry":
        try:
            importlib.import_module(f"engine.tasks.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"engine.tasks.{module}":
                raise
    return _TASKS.get(name)


def get(name: str) -> FileTask:
    """The file task called ``name``; a :class:`BadInputError` listing the known ones otherwise."""
    task = find(name)
    if task is None:
        known = ", ".join(all_tasks()) or "none"
        raise BadInputError(None, f"unknown task {name!r} (known tasks: {known})")
    return task
