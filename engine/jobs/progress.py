"""Progress reporting and cooperative cancellation shared by tasks, the CLI, batch and the GUI."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from engine.errors import Cancelled


class CancelToken:
    """Set by whoever wants the work to stop; polled by the work between chunks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class ProgressUpdate:
    fraction: float  # 0..1
    message: str
    eta_s: float | None  # seconds left, None while unknown
    elapsed_s: float


class Progress:
    """Callable progress sink: ``progress(fraction, message)``.

    It estimates the ETA from the rate since the first report and forwards a :class:`ProgressUpdate` to
    ``listener``. ``sub(start, end)`` gives a child that maps its own 0..1 onto ``start..end`` of this
    one, so a task made of phases (load, separate, write) reports one smooth bar.
    """

    def __init__(self, listener: Callable[[ProgressUpdate], None] | None = None,
                 *, _parent: "Progress | None" = None, _span: tuple[float, float] = (0.0, 1.0)):
        self._listener = listener
        self._parent = _parent
        self._span = _span
        self._t0 = time.monotonic()
        self._first: tuple[float, float] | None = None  # (time, fraction) of the first report
        self.last: ProgressUpdate | None = None

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        if self._parent is not None:
            start, end = self._span
            self._parent(start + (end - start) * fraction, message)
            return
        now = time.monotonic()
        if self._first is None:
            self._first = (now, fraction)
        t_first, f_first = self._first
        eta = None
        if fraction > f_first and now > t_first:
            rate = (fraction - f_first) / (now - t_first)
            eta = (1.0 - fraction) / rate if rate > 0 else None
        self.last = ProgressUpdate(fraction, message, eta, now - self._t0)
        if self._listener is not None:
            self._listener(self.last)

    def sub(self, start: float, end: float) -> "Progress":
        return Progress(_parent=self, _span=(start, end))


def null_progress() -> Progress:
    """A progress sink nobody listens to."""
    return Progress(None)
