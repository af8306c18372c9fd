"""The small job API every front end uses: progress reports, cancel tokens, and a thread job that runs a
task function off the calling thread (:mod:`engine.jobs.thread_job`). Batch runs over many files live one
layer up, in :mod:`engine.batch`.

A task function has the shape ``task(inputs, settings, progress, cancel) -> outputs``; ``progress`` is a
:class:`Progress` (callable with a fraction and a message) and ``cancel`` a :class:`CancelToken` that the
task polls between chunks (``cancel.check()`` raises :class:`~engine.errors.Cancelled`).
"""

from engine.jobs.progress import CancelToken, Progress, ProgressUpdate, null_progress
from engine.jobs.thread_job import Job, JobState, submit

__all__ = [
    "CancelToken",
    "Progress",
    "ProgressUpdate",
    "null_progress",
    "Job",
    "JobState",
    "submit",
]
