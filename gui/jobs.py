"""The Qt side of :mod:`engine.jobs`: job callbacks (which run on worker threads) become signals delivered
on the UI thread, and a status-bar widget shows the running job's message, progress, ETA and a Cancel
button. Widgets never call engine work directly; they go through :class:`JobRunner`."""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from engine import jobs
from engine.jobs import Job, JobState, ProgressUpdate

log = logging.getLogger("vocalis.gui.jobs")


class _JobSignals(QObject):
    """Lives on the UI thread; emitting from a worker thread queues delivery onto the UI thread."""

    progressed = Signal(object)  # ProgressUpdate
    ended = Signal()


class JobRunner(QObject):
    """Starts engine jobs and reports them on the UI thread.

    ``on_result(result)`` runs on the UI thread when the job succeeds; failures are emitted as
    ``failed(job)`` (the window shows ``job.error_message`` in a dialog) and cancellations as
    ``cancelled(job)``. ``progressed(job, update)`` and ``started``/``ended`` drive the status bar.
    """

    started = Signal(object)  # Job
    progressed = Signal(object, object)  # Job, ProgressUpdate
    ended = Signal(object)  # Job, whatever its outcome
    failed = Signal(object)  # Job
    cancelled = Signal(object)  # Job

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: dict[Job, _JobSignals] = {}

    @property
    def running(self) -> list[Job]:
        return list(self._running)

    def run(self, fn: Callable[..., Any], *args: Any, name: str = "",
            on_result: Callable[[Any], None] | None = None, **kwargs: Any) -> Job:
        """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` off the UI thread."""
        signals = _JobSignals(self)
        job = jobs.submit(fn, *args, name=name, **kwargs)
        signals.progressed.connect(lambda update: self.progressed.emit(job, update),
                                   Qt.ConnectionType.QueuedConnection)
        signals.ended.connect(lambda: self._finish(job, on_result), Qt.ConnectionType.QueuedConnection)
        self._running[job] = signals
        job.on_progress(signals.progressed.emit)
        self.started.emit(job)
        job.on_done(lambda _job: signals.ended.emit())
        return job

    def cancel_all(self) -> None:
        for job in self._running:
            job.cancel()

    def _finish(self, job: Job, on_result: Callable[[Any], None] | None) -> None:
        signals = self._running.pop(job, None)
        if signals is None:
            return
        signals.deleteLater()
        if job.state is JobState.DONE:
            if on_result is not None:
                try:
                    on_result(job.result)
                except Exception as exc:  # noqa: BLE001 - shown like a job failure, never a crash
                    log.exception("showing the result of %s failed", job.name)
                    job.error = exc
                    job.state = JobState.FAILED
        if job.error_details:
            log.error("job %s failed:\n%s", job.name, job.error_details)
        if job.state is JobState.FAILED:
            self.failed.emit(job)
        elif job.state is JobState.CANCELLED:
            self.cancelled.emit(job)
        self.ended.emit(job)


def plain_task(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    """``fn(*args)``, which reports nothing and cannot stop midway, in the job shape: it checks for a
    cancel before starting and reports its start and end under ``label``."""

    def task(*args: Any, progress, cancel, **kwargs: Any) -> Any:
        cancel.check()
        progress(0.0, f"{label}…")
        result = fn(*args, **kwargs)
        progress(1.0, label)
        return result

    task.__name__ = getattr(fn, "__name__", "task")
    return task


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d} left" if hours else f"{minutes}:{seconds:02d} left"


class JobStatusWidget(QWidget):
    """Message, progress bar, ETA and Cancel for the most recently started running job; hidden when
    nothing runs."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.message = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(160)
        self.bar.setTextVisible(False)
        self.eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job; nothing half-written is left behind")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.message, self.bar, self.eta, self.cancel_button):
            layout.addWidget(widget)
        self._job: Job | None = None
        self.cancel_button.clicked.connect(self._cancel)
        runner.started.connect(self._show)
        runner.progressed.connect(self._progress)
        runner.ended.connect(self._ended)
        self.setVisible(False)

    @property
    def job(self) -> Job | None:
        return self._job

    def _show(self, job: Job) -> None:
        self._job = job
        self.message.setText(job.name)
        self.bar.setValue(0)
        self.eta.clear()
        self.cancel_button.setEnabled(True)
        self.setVisible(True)

    def _progress(self, job: Job, update: ProgressUpdate) -> None:
        if job is not self._job:
            return
        self.message.setText(update.message or job.name)
        self.bar.setValue(round(update.fraction * 1000))
        self.eta.setText(format_eta(update.eta_s))

    def _ended(self, job: Job) -> None:
        if job is not self._job:
            return
        others = self.runner.running
        if others:
            self._show(others[-1])
        else:
            self._job = None
            self.setVisible(False)

    def _cancel(self) -> None:
        if self._job is not None:
            self.cancel_button.setEnabled(False)
            self.message.setText(f"cancelling {self._job.name}…")
            self._job.cancel()
