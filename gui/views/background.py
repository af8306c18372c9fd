"""Run engine work for the views through :mod:`engine.jobs` and get the outcome back on the UI thread.

Job callbacks fire on the worker thread; emitting a Qt signal from there to an object living on the UI
thread is delivered as a queued call, which is the one safe way to touch widgets with the result.
"""

from __future__ import annotations

from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot

from engine.jobs import Job, JobState, submit


class _Relay(QObject):
    """Lives on the UI thread; its slot is where the job's outcome is handed over."""

    finished = Signal(object)

    def __init__(self, on_result: Callable[[Any], None], on_error: Callable[[Job], None] | None,
                 owner: QObject | None):
        super().__init__()
        self._owner = owner
        self._on_result = on_result
        self._on_error = on_error
        # Always queued, even when the job has already ended and on_done calls back at once on this
        # thread: the caller gets to store the returned Job before its outcome arrives.
        self.finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _deliver(self, job: Job) -> None:
        _live_relays.discard(self)
        if self._owner is not None and not shiboken6.isValid(self._owner):
            return  # the widget that asked was closed meanwhile
        if job.state == JobState.DONE:
            self._on_result(job.result)
        elif job.state == JobState.FAILED and self._on_error is not None:
            self._on_error(job)


_live_relays: set[_Relay] = set()  # keeps each relay alive until its queued signal has been delivered


def run_in_background(fn: Callable[..., Any], *args: Any, on_result: Callable[[Any], None],
                      on_error: Callable[[Job], None] | None = None, name: str = "",
                      owner: QObject | None = None, **kwargs: Any) -> Job:
    """Submit ``fn`` as a job; ``on_result(result)`` (or ``on_error(job)`` if it failed) runs on the UI
    thread, unless ``owner`` has been deleted by then. Cancelled jobs report nothing: whoever cancelled
    no longer wants the result."""
    relay = _Relay(on_result, on_error, owner)
    _live_relays.add(relay)
    job = submit(fn, *args, name=name, **kwargs)
    job.on_done(relay.finished.emit)
    return job
