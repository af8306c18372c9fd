"""Run a task function on a worker thread and observe it: state, progress, result or error, cancel.

Thread-based on purpose: torch releases the GIL in its kernels, so the UI thread stays responsive, and
cancel is cooperative (the task polls its :class:`CancelToken` between chunks and stops promptly). This is
how the GUI and the CLI run one task call; running many files (locally or elsewhere) is :mod:`engine.batch`.
"""

from __future__ import annotations

import enum
import threading
import traceback
from typing import Any, Callable

from engine.errors import Cancelled, VocalisError
from engine.jobs.progress import CancelToken, Progress, ProgressUpdate


class JobState(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job:
    """A handle on work running elsewhere. Callbacks run on the worker thread; the GUI bridges them to Qt
    signals."""

    def __init__(self, name: str):
        self.name = name
        self.state = JobState.PENDING
        self.cancel_token = CancelToken()
        self.result: Any = None
        self.error: BaseException | None = None
        self.error_details: str = ""  # traceback text for logs, never shown as the message
        self.progress = Progress(self._on_progress)
        self._progress_listeners: list[Callable[[ProgressUpdate], None]] = []
        self._done_listeners: list[Callable[["Job"], None]] = []
        self._finished = threading.Event()
        self._lock = threading.Lock()

    def on_progress(self, listener: Callable[[ProgressUpdate], None]) -> None:
        self._progress_listeners.append(listener)

    def on_done(self, listener: Callable[["Job"], None]) -> None:
        """Call ``listener(job)`` once the job has ended (immediately if it already has)."""
        with self._lock:
            if not self._finished.is_set():
                self._done_listeners.append(listener)
                return
        listener(self)

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def error_message(self) -> str:
        return "" if self.error is None else str(self.error) or type(self.error).__name__

    def _on_progress(self, update: ProgressUpdate) -> None:
        for listener in list(self._progress_listeners):
            listener(update)

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.state = JobState.RUNNING
        try:
            self.result = fn(*args, progress=self.progress, cancel=self.cancel_token, **kwargs)
            self.state = JobState.DONE
        except Cancelled as exc:
            self.error = exc
            self.state = JobState.CANCELLED
        except VocalisError as exc:
            self.error = exc
            self.state = JobState.FAILED
        except Exception as exc:  # noqa: BLE001 - a job must never take the app down
            self.error = exc
            self.error_details = traceback.format_exc()
            self.state = JobState.FAILED
        with self._lock:
            self._finished.set()
            listeners = list(self._done_listeners)
        for listener in listeners:
            listener(self)


def submit(fn: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any) -> Job:
    """Start ``fn(*args, progress=..., cancel=..., **kwargs)`` on a daemon thread and return its Job."""
    job = Job(name or getattr(fn, "__name__", "job"))
    threading.Thread(target=job._run, args=(fn, args, kwargs), name=f"vocalis-job-{job.name}",
                     daemon=True).start()
    return job
