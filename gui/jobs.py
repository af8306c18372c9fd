"""The Qt side of :mod:`engine.jobs`: job callbacks (which run on worker threads) reach the UI thread
through the one relay, :func:`to_ui_thread`, and a status-bar widget shows the running job's message,
progress, ETA and a Cancel button. Widgets never call engine work directly; they go through
:class:`JobRunner` (or :func:`gui.views.background.run_in_background` for a view's own work)."""

from __future__ import annotations

import logging
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from engine import jobs
from engine.jobs import Job, JobState, ProgressUpdate

log = logging.getLogger("vocalis.gui.jobs")


class _Dispatcher(QObject):
    """The one object on the UI thread that worker threads signal; a queued signal is Qt's safe way from
    another thread onto the UI thread."""

    delivered = Signal(object, tuple)  # the relay, the call's arguments

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object, tuple)
    def _deliver(self, relay: "UiRelay", args: tuple) -> None:
        relay.call_here(*args)  # the owner may have been closed while the call was queued


_dispatcher: _Dispatcher | None = None


def _ui_dispatcher() -> _Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
        app = QCoreApplication.instance()
        if app is not None:
            _dispatcher.moveToThread(app.thread())
    return _dispatcher


class UiRelay:
    """A callable that any thread may call: each call ``relay(*args)`` queues ``callback(*args)`` onto the
    UI thread, where it runs unless ``owner`` has been deleted by then. This is the one way worker-thread
    results reach widgets.

    The relay is a plain Python object and all relays share one dispatcher QObject that lives as long as
    the app, so no QObject is ever deleted under a worker that is about to signal it. A call returns
    whether the owner is still alive, so a long-running producer can stop when nobody listens any more.
    """

    def __init__(self, callback: Callable[..., Any], owner: QObject | None = None):
        self._callback = callback
        self._owner = owner
        self._dispatcher = _ui_dispatcher()

    @property
    def owner_alive(self) -> bool:
        return self._owner is None or shiboken6.isValid(self._owner)

    def __call__(self, *args: Any) -> bool:
        """Queue the callback (always queued, even on the UI thread: whoever got a Job back from
        ``submit`` can store it before the job's outcome arrives)."""
        if not self.owner_alive:
            return False
        self._dispatcher.delivered.emit(self, args)
        return True

    def call_here(self, *args: Any) -> bool:
        """Run the callback on the calling thread now (for code already on the UI thread), unless the
        owner is gone; returns whether it ran."""
        if not self.owner_alive:
            return False
        self._callback(*args)
        return True


def to_ui_thread(callback: Callable[..., Any], owner: QObject | None = None) -> UiRelay:
    """``callback`` made safe to call from any thread (see :class:`UiRelay`); ``owner`` is the widget whose
    deletion makes further calls moot (usually the object ``callback`` is a method of)."""
    return UiRelay(callback, owner)


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
        self._running: list[Job] = []

    @property
    def running(self) -> list[Job]:
        return list(self._running)

    def run(self, fn: Callable[..., Any], *args: Any, name: str = "",
            on_result: Callable[[Any], None] | None = None, owner: QObject | None = None,
            **kwargs: Any) -> Job:
        """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` off the UI thread. ``on_result`` is
        skipped if ``owner`` (the widget that asked, e.g. a task panel) has been deleted by then."""
        job = jobs.submit(fn, *args, name=name, **kwargs)
        self._running.append(job)
        job.on_progress(to_ui_thread(lambda update: self.progressed.emit(job, update), owner=self))
        self.started.emit(job)
        result_relay = to_ui_thread(on_result, owner=owner) if on_result is not None else None
        job.on_done(to_ui_thread(lambda _job: self._finish(job, result_relay), owner=self))
        return job

    def cancel_all(self) -> None:
        for job in list(self._running):
            job.cancel()

    def _finish(self, job: Job, result_relay: UiRelay | None) -> None:
        if job not in self._running:
            return
        self._running.remove(job)
        if job.state is JobState.DONE:
            if result_relay is not None:
                try:
                    result_relay.call_here(job.result)
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
