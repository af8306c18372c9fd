"""Batch folders: run one file task over every matching file of a folder tree, resumably.

The coordinator (:func:`run_batch`) walks the input tree, maps each input to its outputs with the naming
template, decides what is already complete from the manifest, and hands the rest to an executor. The
manifest (``OUTPUT_DIR/vocalis-batch.jsonl``) gets one JSON line per file as soon as that file ends, flushed
and fsynced, so a crash or a kill loses at most the file in flight; outputs are written atomically by the
tasks, so that file left nothing behind and the next run does exactly the missing files.

The executor is behind a small interface (:class:`BatchExecutor`): it receives items and reports one
:class:`FileResult` each. :class:`LocalExecutor` runs them here, overlapping the decode of the next file
with the work on the current one; a distributed executor can replace it because a task is a pure function
of (input file, settings) → output files.
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import hashlib
import json
import os
import queue
import string
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from engine import settings as settings_mod
from engine.audio import io as audio_io
from engine.errors import BadInputError, Cancelled, OutputError, VocalisError
from engine.fileio import TEMP_MARK, write_text_atomic
from engine.jobs.progress import CancelToken, Progress, null_progress
from engine.models import devices
from engine.tasks import registry
from engine.tasks.registry import FileTask

MANIFEST_NAME = "vocalis-batch.jsonl"
REPORT_NAME = "vocalis-batch-report.json"
TEMPLATE_FIELDS = ("stem", "parent", "task", "ext")
OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass(frozen=True)
class BatchRequest:
    """What to run over which folders. ``include``/``exclude`` are globs matched (case-insensitively)
    against the path relative to ``input_dir`` and against the file name; an empty ``include`` means the
    task's own input extensions."""

    task: str
    input_dir: Path
    output_dir: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    name_template: str = "{stem}"
    redo: bool = False  # process every file again, even those complete for these settings


@dataclass(frozen=True)
class BatchItem:
    input: Path  # the file as found under the input folder (or as given on the command line)
    relative: str  # posix path relative to the input folder: the manifest key
    output_stem: Path
    outputs: tuple[Path, ...]
    duration_s: float | None  # from the file header; None when unreadable


@dataclass
class FileResult:
    item: BatchItem
    status: str  # ok | failed | skipped
    error: str = ""
    outputs: tuple[Path, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class BatchReport:
    task: str
    input_dir: str
    output_dir: str
    settings_hash: str
    counts: dict[str, int]
    failures: list[dict[str, str]]
    audio_hours: float  # of the files processed successfully in this run
    wall_s: float
    cancelled: bool = False
    temp_files_removed: int = 0  # left by an earlier run that was killed while writing

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def failed(self) -> int:
        return self.counts[FAILED]


class BatchExecutor(Protocol):
    """Runs file-task items and reports each one's result through ``report`` as soon as it ends."""

    def run(self, task: FileTask, settings: Any, items: Sequence[BatchItem],
            report: Callable[[FileResult], None], progress_for: Callable[[int], Progress],
            cancel: CancelToken) -> None: ...


# --- planning ---------------------------------------------------------------------------------------

def settings_hash(task: FileTask, settings: Any) -> str:
    """A short stable digest of the task and its settings: outputs made with other settings are stale."""
    text = json.dumps({"task": task.name, "settings": settings_mod.to_dict(settings)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_template(template: str) -> None:
    """Refuse a naming template with unknown fields, or without ``{stem}`` (the one field that tells the
    files of a folder apart)."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise BadInputError(None, f"naming template {template!r}: {exc}") from exc
    unknown = names - set(TEMPLATE_FIELDS)
    if unknown:
        fields = " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
        raise BadInputError(None, f"naming template {template!r}: unknown field(s) "
                                  f"{', '.join(sorted(unknown))}; use {fields}")
    if "stem" not in names:
        raise BadInputError(None, f"naming template {template!r} must contain {{stem}}, or every file of a "
                                  "folder would get the same name")


def output_stem(request: BatchRequest, relative: Path) -> Path:
    """Where the outputs of ``relative`` go: the input tree mirrored under the output folder, the file
    named by the template."""
    name = request.name_template.format(stem=relative.stem, parent=relative.parent.name or request.input_dir.name,
                                        task=request.task, ext=relative.suffix.lstrip(".").lower())
    stem = request.output_dir / relative.parent / name
    if not stem.resolve().is_relative_to(request.output_dir.resolve()):
        raise BadInputError(None, f"naming template {request.name_template!r} leads outside the output folder")
    return stem


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    lowered = relative.lower()
    name = lowered.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(lowered, p.lower()) or fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


def walk_inputs(request: BatchRequest, task: FileTask) -> Iterator[tuple[Path, str]]:
    """Yield (path, posix path relative to the input folder) of each input, sorted, skipping hidden files,
    Vocalis temp files and the output folder when it lies inside the input folder."""
    root = request.input_dir
    output = request.output_dir.resolve()
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != output)
        for name in sorted(files):
            if name.startswith(".") or TEMP_MARK in name:
                continue
            path = here / name
            relative = path.relative_to(root).as_posix()
            if request.include:
                wanted = _matches(relative, request.include)
            else:
                wanted = path.suffix.lower() in task.input_extensions
            if wanted and not _matches(relative, request.exclude):
                yield path, relative


def audio_duration(path: Path) -> float | None:
    """Duration from the file header (cheap), used to weight progress and to total the audio hours."""
    try:
        return audio_io.info(path).duration
    except BadInputError:
        return None


def plan(request: BatchRequest, task: FileTask, settings: Any) -> list[BatchItem]:
    """Every input with its output stem and expected outputs."""
    check_template(request.name_template)
    items = []
    for path, relative in walk_inputs(request, task):
        stem = output_stem(request, Path(relative))
        outputs = tuple(Path(p) for p in task.expected_outputs(path, stem, settings))
        items.append(BatchItem(path, relative, stem, outputs, audio_duration(path)))
    return items


# --- manifest -----------------------------------------------------------------------------------------

class Manifest:
    """The JSON-lines journal of a batch output folder. Every line is written whole, flushed and fsynced;
    a line cut short by a kill is ignored when read and closed off before the next one is appended."""

    def __init__(self, path: Path):
        self.path = path
        self._file = None

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                with contextlib.suppress(json.JSONDecodeError):
                    record = json.loads(line)
                    if isinstance(record, dict):
                        records.append(record)
        return records

    def completed(self) -> dict[str, dict[str, Any]]:
        """The latest successful record per input (status ok, or skipped because an earlier run made it)."""
        done: dict[str, dict[str, Any]] = {}
        for record in self.records():
            if record.get("status") in (OK, SKIPPED) and "input" in record:
                done[record["input"]] = record
        return done

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")
            self._file.seek(0, os.SEEK_END)
            if self._file.tell() > 0:
                self._file.seek(-1, os.SEEK_END)
                if self._file.read(1) != b"\n":
                    self._file.write(b"\n")
        except OSError as exc:
            raise OutputError(self.path, exc.strerror or str(exc)) from exc

    def append(self, record: dict[str, Any]) -> None:
        try:
            self._file.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise OutputError(self.path, exc.strerror or str(exc)) from exc

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def remove_stray_temp_files(output_dir: Path) -> int:
    """Delete temp files that a killed run left beside its outputs (atomic writes never finished)."""
    removed = 0
    for folder, _, files in os.walk(output_dir):
        for name in files:
            if TEMP_MARK in name:
                with contextlib.suppress(FileNotFoundError):
                    (Path(folder) / name).unlink()
                    removed += 1
    return removed


# --- execution ----------------------------------------------------------------------------------------

_device_locks: dict[str, threading.Lock] = {}
_device_locks_guard = threading.Lock()


def device_lock(device: str) -> threading.Lock:
    """One lock per device: the model work of concurrent batches on one device runs one file at a time,
    which is what fits its memory."""
    with _device_locks_guard:
        return _device_locks.setdefault(device, threading.Lock())


def _device_of(task: FileTask, settings: Any) -> str | None:
    if task.device_field is None:
        return None
    from engine.models import devices

    return str(devices.resolve(getattr(settings, task.device_field)))


def _error_text(item: BatchItem, problem: BaseException | str) -> str:
    """The message for a failed file, always naming the file (typed input errors already do)."""
    if isinstance(problem, BaseException) and not isinstance(problem, VocalisError):
        problem = f"{type(problem).__name__}: {problem}" if str(problem) else type(problem).__name__
    text = str(problem)
    return text if str(item.input) in text else f"{item.input}: {text}"


class LocalExecutor:
    """Runs items one after another in this process; a prefetch thread prepares (decodes, resamples) up to
    ``prefetch`` files ahead, so the CPU work of the next file overlaps the model work of this one."""

    def __init__(self, prefetch: int = 1):
        self.prefetch = max(1, prefetch)

    def run(self, task: FileTask, settings: Any, items: Sequence[BatchItem],
            report: Callable[[FileResult], None], progress_for: Callable[[int], Progress],
            cancel: CancelToken) -> None:
        devices.apply_cpu_threads()  # the user's thread setting (default: physical cores) for torch here
        prepared: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        thread = threading.Thread(target=self._prepare_ahead, args=(task, settings, items, prepared, stop, cancel),
                                  name="vocalis-batch-prefetch", daemon=True)
        thread.start()
        device = _device_of(task, settings)
        try:
            for index in range(len(items)):
                item, value, error, prepare_s = self._next(prepared, cancel)
                if error is not None:
                    report(FileResult(item, FAILED, _error_text(item, error), timings={"prepare_s": prepare_s}))
                    continue
                started = time.monotonic()
                lock = device_lock(device) if device else contextlib.nullcontext()
                extra = {"prepared": value} if task.prepare is not None else {}
                try:
                    with lock:
                        cancel.check()
                        written = task.process_file(item.input, item.output_stem, settings, progress_for(index),
                                                    cancel, **extra)
                    missing = [p for p in item.outputs if not p.exists()]
                    if missing:
                        raise VocalisError(f"the task did not write {', '.join(p.name for p in missing)}")
                except Cancelled:
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
                    report(FileResult(item, FAILED, _error_text(item, exc),
                                      timings={"prepare_s": prepare_s, "process_s": time.monotonic() - started}))
                    continue
                report(FileResult(item, OK, outputs=tuple(Path(p) for p in written),
                                  timings={"prepare_s": prepare_s, "process_s": time.monotonic() - started}))
        finally:
            stop.set()
            thread.join(timeout=5)

    @staticmethod
    def _next(prepared: queue.Queue, cancel: CancelToken):
        while True:
            cancel.check()
            try:
                entry = prepared.get(timeout=0.1)
            except queue.Empty:
                continue
            return entry

    @staticmethod
    def _prepare_ahead(task, settings, items, prepared: queue.Queue, stop: threading.Event,
                       cancel: CancelToken) -> None:
        for item in items:
            if stop.is_set() or cancel.cancelled:
                return
            started = time.monotonic()
            value, error = None, None
            if task.prepare is not None:
                try:
                    value = task.prepare(item.input, settings)
                except Exception as exc:  # noqa: BLE001 - reported as this file's failure
                    error = exc
            entry = (item, value, error, time.monotonic() - started)
            while not stop.is_set():
                try:
                    prepared.put(entry, timeout=0.1)
                    break
                except queue.Full:
                    continue


class _BatchProgress:
    """Maps each file's own 0..1 onto the whole batch, weighted by audio duration, and names the file."""

    def __init__(self, progress: Progress, items: Sequence[BatchItem]):
        known = [i.duration_s for i in items if i.duration_s]
        fallback = sum(known) / len(known) if known else 1.0
        weights = [i.duration_s or fallback for i in items]
        total = sum(weights) or 1.0
        self._spans = []
        start = 0.0
        for weight in weights:
            self._spans.append((start / total, (start + weight) / total))
            start += weight
        self._progress = progress
        self._items = items

    def for_item(self, index: int) -> Progress:
        start, end = self._spans[index]
        label = f"[{index + 1}/{len(self._items)}] {self._items[index].relative}"

        def forward(update) -> None:
            detail = f": {update.message}" if update.message else ""
            self._progress(start + (end - start) * update.fraction, f"{label} {update.fraction:4.0%}{detail}")

        return Progress(forward)


def _screen(items: Sequence[BatchItem], clash_hint: str = "") -> Iterator[tuple[BatchItem, str]]:
    """Pair each item with the reason it must not run ("" when it may): two inputs that map to one output
    name, or an output that would overwrite an input."""
    claimed: dict[Path, str] = {}
    inputs = {item.input.resolve() for item in items}
    for item in items:
        clash = next((claimed[p] for p in item.outputs if p in claimed), None)
        if clash is not None:
            yield item, f"its output name is taken by {clash}{clash_hint}"
        elif any(p.resolve() in inputs for p in item.outputs):
            yield item, "an output would overwrite an input; choose another output folder"
        else:
            claimed.update({p: item.relative for p in item.outputs})
            yield item, ""


def run_files(task_name: str, inputs: Sequence[Path], output_dir: Path, settings: Any,
              progress: Progress | None = None, cancel: CancelToken | None = None) -> list[FileResult]:
    """Run a file task on the given files, each written as ``output_dir/<input stem>…`` (the CLI's
    ``vocalis TASK FILE…``). Same executor as a batch, without walk or manifest."""
    task = registry.get(task_name)
    items = []
    for path in map(Path, inputs):
        stem = output_dir / path.stem
        items.append(BatchItem(path, str(path), stem, tuple(map(Path, task.expected_outputs(path, stem, settings))),
                               audio_duration(path)))
    results: dict[str, FileResult] = {}
    todo = []
    for item, problem in _screen(items):
        if problem:
            results[item.relative] = FileResult(item, FAILED, _error_text(item, problem))
        elif not item.input.is_file():
            results[item.relative] = FileResult(item, FAILED, _error_text(item, "no such file"))
        else:
            todo.append(item)
    if todo:
        weighted = _BatchProgress(progress or null_progress(), todo)
        LocalExecutor().run(task, settings, todo, lambda r: results.__setitem__(r.item.relative, r),
                            weighted.for_item, cancel or CancelToken())
    (progress or null_progress())(1.0, "done")
    return [results[item.relative] for item in items]


def run_batch(request: BatchRequest, settings: Any, progress: Progress | None = None,
              cancel: CancelToken | None = None, *, executor: BatchExecutor | None = None,
              on_file: Callable[[FileResult], None] | None = None) -> BatchReport:
    """Run ``request.task`` over the input folder; returns the report (also written as JSON beside the
    manifest). Raises :class:`Cancelled` after writing the report when cancelled."""
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
    failures: list[dict[str, str]] = []
    audio_s = 0.0

    def relative_out(path: Path) -> str:
        return Path(path).resolve().relative_to(request.output_dir.resolve()).as_posix()

    def record(result: FileResult) -> None:
        nonlocal audio_s
        counts[result.status] += 1
        if result.status == FAILED:
            failures.append({"input": result.item.relative, "error": result.error})
        elif result.status == OK:
            audio_s += result.item.duration_s or 0.0
        manifest.append({"input": result.item.relative, "outputs": [relative_out(p) for p in result.outputs],
                         "status": result.status, "error": result.error,
                         "timings": {k: round(v, 4) for k, v in result.timings.items()},
                         "settings_hash": digest, "audio_s": result.item.duration_s, "time": _now()})
        if on_file is not None:
            on_file(result)

    def complete(item: BatchItem) -> bool:
        previous = done.get(item.relative)
        return (previous is not None and previous.get("settings_hash") == digest
                and previous.get("outputs") == [relative_out(p) for p in item.outputs]
                and all(p.exists() for p in item.outputs))

    manifest.open()
    cancelled = False
    try:
        cleaned = remove_stray_temp_files(request.output_dir)
        manifest.append({"run": {"task": task.name, "settings": settings_mod.to_dict(settings),
                                 "settings_hash": digest, "input_dir": str(request.input_dir),
                                 "name_template": request.name_template, "include": list(request.include),
                                 "exclude": list(request.exclude), "started": _now()}})
        progress(0.0, "scanning the input folder")
        todo = []
        for item, problem in _screen(plan(request, task, settings), "; add {ext} to the naming template"):
            if problem:
                record(FileResult(item, FAILED, _error_text(item, problem)))
            elif complete(item):
                record(FileResult(item, SKIPPED, outputs=item.outputs))
            else:
                todo.append(item)
        if todo:
            weighted = _BatchProgress(progress, todo)
            (executor or LocalExecutor()).run(task, settings, todo, record, weighted.for_item, cancel)
        progress(1.0, "done")
    except Cancelled:
        cancelled = True
    finally:
        manifest.close()
    report = BatchReport(task.name, str(request.input_dir), str(request.output_dir), digest, counts, failures,
                         round(audio_s / 3600.0, 6), round(time.monotonic() - started, 3), cancelled, cleaned)
    write_text_atomic(request.output_dir / REPORT_NAME, json.dumps(report.to_dict(), indent=2) + "\n")
    if cancelled:
        raise Cancelled("batch cancelled; run it again to finish the remaining files")
    return report


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
