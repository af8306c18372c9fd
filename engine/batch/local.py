"""The local batch executor: files one after another in this process, the CPU preparation of the next file
overlapping the model work of this one, model work serialised per device."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any, Callable, Sequence

from engine.batch.executor import FAILED, BatchItem, FileResult, error_text, run_item
from engine.jobs.progress import CancelToken, Progress
from engine.models import devices
from engine.tasks.registry import FileTask

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
    return str(devices.resolve(getattr(settings, task.device_field)))


class LocalExecutor:
    """Runs items in order in this process; a prefetch thread prepares (decodes, resamples) up to
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
                    report(FileResult(item, FAILED, error_text(item, error), timings={"prepare_s": prepare_s}))
                    continue
                extra = {"prepared": value} if task.prepare is not None else {}
                with device_lock(device) if device else contextlib.nullcontext():
                    cancel.check()
                    result = run_item(task, settings, item, progress_for(index), cancel, **extra)
                result.timings = {"prepare_s": prepare_s, **result.timings}
                report(result)
        finally:
            stop.set()
            thread.join(timeout=5)

    @staticmethod
    def _next(prepared: queue.Queue, cancel: CancelToken):
        while True:
            cancel.check()
            try:
                return prepared.get(timeout=0.1)
            except queue.Empty:
                continue

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
