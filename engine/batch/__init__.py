"""Batch folders: run one file task over every matching file of a folder tree, resumably.

The coordinator (:func:`run_batch`) walks the input tree, maps each input to its outputs with the naming
template (:mod:`engine.batch.planning`), decides what is already complete from the manifest
(:mod:`engine.batch.manifest`), and hands the rest to an executor. The manifest gets one JSON line per file
as soon as that file ends, flushed and fsynced, so a crash or a kill loses at most the files in flight;
outputs are written atomically by the tasks, so those left nothing behind and the next run does exactly
the missing files.

The executor is behind a small protocol (:class:`~engine.batch.executor.BatchExecutor`): it receives items
and reports one :class:`~engine.batch.executor.FileResult` each. :class:`~engine.batch.local.LocalExecutor`
runs them here; a distributed executor is one more module beside it, because a task is a pure function of
(input file, settings) → output files. Both :func:`run_batch` and :func:`run_files` take ``executor=``.

Layering: this package sits above :mod:`engine.tasks` (it finds tasks in their registry); nothing below
imports it.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from engine import settings as settings_mod
from engine.batch.executor import FAILED, OK, SKIPPED, BatchExecutor, BatchItem, FileResult, error_text
from engine.batch.local import LocalExecutor
from engine.batch.manifest import MANIFEST_NAME, REPORT_NAME, BatchReport, Manifest, remove_stray_temp_files
from engine.batch.planning import (TEMPLATE_FIELDS, BatchRequest, check_template, plan, plan_files, screen,
                                   settings_hash)
from engine.batch.progress import BatchProgress
from engine.errors import BadInputError, Cancelled
from engine.fileio import write_text_atomic
from engine.jobs.progress import CancelToken, Progress, null_progress
from engine.tasks import registry

__all__ = [
    "FAILED", "OK", "SKIPPED", "MANIFEST_NAME", "REPORT_NAME", "TEMPLATE_FIELDS",
    "BatchExecutor", "BatchItem", "BatchReport", "BatchRequest", "FileResult", "LocalExecutor", "Manifest",
    "plan", "run_batch", "run_files",
]


def run_files(task_name: str, inputs: Sequence[Path], output_dir: Path, settings: Any,
              progress: Progress | None = None, cancel: CancelToken | None = None, *,
              executor: BatchExecutor | None = None) -> list[FileResult]:
    """Run a file task on the given files, each written as ``output_dir/<input stem>…`` (the CLI's
    ``vocalis TASK FILE…``); results in the order of ``inputs``. Same executors as a batch, without walk or
    manifest. Nothing is created for an input that fails (not even ``output_dir``)."""
    progress = progress or null_progress()
    task = registry.get(task_name)
    items = plan_files(task, inputs, output_dir, settings)
    results: dict[str, FileResult] = {}
    todo = []
    for item, problem in screen(items):
        if problem:
            results[item.relative] = FileResult(item, FAILED, error_text(item, problem))
        elif not item.input.is_file():
            results[item.relative] = FileResult(item, FAILED, error_text(item, "no such file"))
        else:
            todo.append(item)
    if todo:
        weighted = BatchProgress(progress, todo)

        def record(result: FileResult) -> None:
            weighted.finish(result.item)
            results[result.item.relative] = result

        (executor or LocalExecutor()).run(task, settings, todo, record, weighted.for_item, cancel or CancelToken())
    ordered = [results[item.relative] for item in items]
    failed = sum(r.status == FAILED for r in ordered)
    progress(1.0, f"{len(ordered) - failed} done, {failed} failed")
    return ordered


def run_batch(request: BatchRequest, settings: Any, progress: Progress | None = None,
              cancel: CancelToken | None = None, *, executor: BatchExecutor | None = None,
              on_file: Callable[[FileResult], None] | None = None) -> BatchReport:
    """Run ``request.task`` over the input folder; returns the report (also written as JSON beside the
    manifest). Raises :class:`Cancelled` after writing the report when cancelled. ``on_file`` sees each
    result as it is journalled."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    started = time.monotonic()
    task = registry.get(request.task)
    check_template(request.name_template)
    if not request.input_dir.is_dir():
        raise BadInputError(request.input_dir, "not a folder")
    if request.output_dir.resolve() == request.input_dir.resolve():
        raise BadInputError(request.output_dir, "is the input folder; choose another output folder (a subfolder "
                                                "is fine) so that outputs never mix with inputs")
    digest = settings_hash(task, settings)
    manifest = Manifest(request.output_dir / MANIFEST_NAME)
    done = {} if request.redo else manifest.completed()
    counts = {OK: 0, FAILED: 0, SKIPPED: 0}
    failures: list[tuple[BatchItem, str]] = []
    audio_s = 0.0
    weighted: BatchProgress | None = None

    def relative_out(path: Path) -> str:
        return Path(path).resolve().relative_to(request.output_dir.resolve()).as_posix()

    def record(result: FileResult) -> None:
        nonlocal audio_s
        counts[result.status] += 1
        if result.status == FAILED:
            failures.append((result.item, result.error))
        elif result.status == OK and task.weight_unit == "audio_s":
            audio_s += result.item.weight or 0.0
        if weighted is not None:
            weighted.finish(result.item)
        manifest.append({"input": result.item.relative, "outputs": [relative_out(p) for p in result.outputs],
                         "status": result.status, "error": result.error,
                         "timings": {k: round(v, 4) for k, v in result.timings.items()},
                         "settings_hash": digest, task.weight_unit: result.item.weight, "time": _now()})
        if on_file is not None:
            on_file(result)

    def complete(item: BatchItem) -> bool:
        previous = done.get(item.relative)
        return (previous is not None and previous.get("settings_hash") == digest
                and previous.get("outputs") == [relative_out(p) for p in item.outputs]
                and all(p.exists() for p in item.outputs))

    manifest.open()
    cancelled = False
    order: dict[str, int] = {}
    try:
        cleaned = remove_stray_temp_files(request.output_dir)
        manifest.append({"run": {"task": task.name, "settings": settings_mod.to_dict(settings),
                                 "settings_hash": digest, "input_dir": str(request.input_dir),
                                 "name_template": request.name_template, "include": list(request.include),
                                 "exclude": list(request.exclude), "started": _now()}})
        progress(0.0, "scanning the input folder")
        items = plan(request, task, settings)
        order = {item.relative: index for index, item in enumerate(items)}
        todo = []
        for item, problem in screen(items, "; add {ext} to the naming template"):
            if problem:
                record(FileResult(item, FAILED, error_text(item, problem)))
            elif complete(item):
                record(FileResult(item, SKIPPED, outputs=item.outputs))
            else:
                todo.append(item)
        if todo:
            weighted = BatchProgress(progress, todo)
            (executor or LocalExecutor()).run(task, settings, todo, record, weighted.for_item, cancel)
        progress(1.0, f"{counts[OK]} done, {counts[SKIPPED]} already complete, {counts[FAILED]} failed")
    except Cancelled:
        cancelled = True
    finally:
        manifest.close()
    failures.sort(key=lambda failure: order.get(failure[0].relative, len(order)))
    report = BatchReport(task.name, str(request.input_dir), str(request.output_dir), digest, counts,
                         [{"input": item.relative, "error": error} for item, error in failures],
                         round(audio_s / 3600.0, 6), round(time.monotonic() - started, 3), cancelled, cleaned)
    write_text_atomic(request.output_dir / REPORT_NAME, json.dumps(report.to_dict(), indent=2) + "\n")
    if cancelled:
        raise Cancelled("batch cancelled; run it again to finish the remaining files")
    return report


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
