"""The contract between the batch coordinator and whatever runs its files: :class:`BatchItem` in,
:class:`FileResult` out, through a :class:`BatchExecutor`.

The local executor (:mod:`engine.batch.local`) runs files in this process; a distributed one is another
module beside it that implements the same protocol, calls :func:`run_item` wherever a file runs, and passes
``tests/batch_conformance.py``.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from engine.errors import Cancelled, VocalisError
from engine.jobs.progress import CancelToken, Progress
from engine.tasks.registry import FileTask

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass(frozen=True)
class BatchItem:
    input: Path  # the file as found under the input folder (or as given on the command line)
    relative: str  # posix path relative to the input folder: the manifest key
    output_stem: Path
    outputs: tuple[Path, ...]
    weight: float | None  # the task's weight of this input (FileTask.weight); None when unknown
    # Output folders that did not exist when the batch was planned. A failed file removes those still empty,
    # whichever file made them: with files running in parallel, the one that made a folder may fail first.
    new_folders: tuple[Path, ...] = ()


@dataclass
class FileResult:
    item: BatchItem
    status: str  # ok | failed | skipped
    error: str = ""
    outputs: tuple[Path, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)


class BatchExecutor(Protocol):
    """Runs file-task items; what every implementation promises (and ``tests/batch_conformance.py`` checks):

    - ``report(result)`` is called exactly once for each item that ended, ok or failed, as soon as it ends,
      in any order, and always on the thread that called :meth:`run` (the coordinator's manifest and counts
      are not thread-safe);
    - a file that raises an ``Exception`` is reported as failed with a message naming the file, and the other
      files go on (:func:`run_item` does both);
    - ``progress_for(index)`` is the progress sink of ``items[index]`` (it may be called from any thread);
    - once ``cancel`` is set, no new file starts, nothing more is reported (a file that ends after that is
      simply done again by the next run) and :meth:`run` raises :class:`Cancelled`;
    - an exception raised by ``report`` (the coordinator stopping, e.g. killed) propagates out of :meth:`run`;
    - :meth:`run` returns or raises only when no file it started is still being processed, and the only
      files written are the tasks' own atomic outputs.
    """

    def run(self, task: FileTask, settings: Any, items: Sequence[BatchItem],
            report: Callable[[FileResult], None], progress_for: Callable[[int], Progress],
            cancel: CancelToken) -> None: ...


def error_text(item: BatchItem, problem: BaseException | str) -> str:
    """The message for a failed file, always naming the file (typed input errors already do)."""
    if isinstance(problem, BaseException) and not isinstance(problem, VocalisError):
        problem = f"{type(problem).__name__}: {problem}" if str(problem) else type(problem).__name__
    text = str(problem)
    return text if str(item.input) in text else f"{item.input}: {text}"


def missing_folders(paths: Sequence[Path]) -> list[Path]:
    """The folders above ``paths`` that do not exist yet, deepest first."""
    missing: set[Path] = set()
    for path in paths:
        folder = Path(path).parent
        while not folder.exists() and folder != folder.parent:
            missing.add(folder)
            folder = folder.parent
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove the folders a failed file created, if they are still empty (another file may have written
    there since)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def run_item(task: FileTask, settings: Any, item: BatchItem, progress: Progress, cancel: CancelToken,
             **extra: Any) -> FileResult:
    """Process one item here and return its result: ok when every expected output exists, failed (naming
    the file) when the task raised or left an output out. A failed or cancelled file leaves nothing behind:
    the task's outputs are atomic, and the folders made for them are removed again when empty. ``extra`` is
    passed to ``task.process_file`` (the ``prepared`` input). Re-raises :class:`Cancelled`."""
    started = time.monotonic()
    new_folders = sorted(set(item.new_folders) | set(missing_folders(item.outputs)),
                         key=lambda folder: len(folder.parts), reverse=True)
    try:
        written = task.process_file(item.input, item.output_stem, settings, progress, cancel, **extra)
        missing = [p for p in item.outputs if not p.exists()]
        if missing:
            raise VocalisError(f"the task did not write {', '.join(p.name for p in missing)}")
    except Cancelled:
        _remove_empty(new_folders)
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        _remove_empty(new_folders)
        return FileResult(item, FAILED, error_text(item, exc), timings={"process_s": time.monotonic() - started})
    return FileResult(item, OK, outputs=tuple(Path(p) for p in written),
                      timings={"process_s": time.monotonic() - started})
