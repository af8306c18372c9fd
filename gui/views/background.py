"""Run engine work for the views through :mod:`engine.jobs` and get the outcome back on the UI thread
through the one relay, :func:`gui.jobs.to_ui_thread`."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject

from engine.jobs import Job, JobState, submit
from gui.jobs import to_ui_thread


def run_in_background(fn: Callable[..., Any], *args: Any, on_result: Callable[[Any], None],
                      on_error: Callable[[Job], None] | None = None, name: str = "",
                      owner: QObject | None = None, **kwargs: Any) -> Job:
    """Submit ``fn`` as a job; ``on_result(result)`` (or ``on_error(job)`` if it failed) runs on the UI
    thread, unless ``owner`` has been deleted by then. Cancelled jobs report nothing: whoever cancelled
    no longer wants the result."""

    def outcome(job: Job) -> None:
        if job.state == JobState.DONE:
            on_result(job.result)
        elif job.state == JobState.FAILED and on_error is not None:
            on_error(job)

    job = submit(fn, *args, name=name, **kwargs)
    job.on_done(to_ui_thread(outcome, owner=owner))
    return job
