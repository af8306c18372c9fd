"""What every task command shows: progress on stderr (a tqdm bar on a terminal, plain lines otherwise),
one JSON document on stdout with ``--json`` and nothing else there, and Ctrl-C turned into a prompt cancel.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable, TextIO

from tqdm import tqdm

from engine.jobs import ProgressUpdate, submit


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _terminal_sized(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that reports its size."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError):
        return False
    return size.columns > 0 and size.lines > 0


class ProgressDisplay:
    """A progress listener for :class:`engine.jobs.Progress` updates, writing to ``stream`` (stderr)."""

    # Plain lines (no terminal): one line per this many percent or seconds, whichever comes first.
    LINE_STEP_PERCENT = 5.0
    LINE_STEP_SECONDS = 5.0

    def __init__(self, label: str, stream: TextIO | None = None, *, terminal: bool | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.terminal = is_tty if terminal is None else terminal
        self._bar = None
        if self.terminal:
            # A terminal that reports no size (0×0: some ptys, terminals driven by tools) makes tqdm hide the
            # bar as if it were below the last row, so such a terminal gets a fixed 80×24 size.
            sized = _terminal_sized(self.stream)
            self._bar = tqdm(total=100.0, file=self.stream, desc=label, dynamic_ncols=sized,
                             ncols=None if sized else 80, nrows=None if sized else 24, leave=False,
                             bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
        self._last_percent = -self.LINE_STEP_PERCENT
        self._last_time = 0.0

    def __call__(self, update: ProgressUpdate) -> None:
        percent = 100.0 * update.fraction
        if self._bar is not None:
            self._bar.set_description_str(f"{self.label} {update.message}"[:60], refresh=False)
            self._bar.update(percent - self._bar.n)
            return
        now = time.monotonic()
        if (percent - self._last_percent >= self.LINE_STEP_PERCENT or now - self._last_time >= self.LINE_STEP_SECONDS
                or (percent >= 100.0 > self._last_percent)):
            self._last_percent, self._last_time = percent, now
            eta = f" (ETA {_clock(update.eta_s)})" if percent < 100.0 else ""
            print(f"{self.label}: {percent:5.1f}% {update.message}{eta}", file=self.stream, flush=True)

    def tick(self) -> None:
        """Redraw the bar so its elapsed time moves while the task reports nothing (e.g. loading a model)."""
        if self._bar is not None:
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_with_progress(fn: Callable[..., Any], *args: Any, label: str, **kwargs: Any) -> Any:
    """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` as a job while showing its progress; Ctrl-C
    cancels it and waits until it has stopped (so no partial output is left), then re-raises. Returns the
    result or raises the job's error."""
    job = submit(fn, *args, name=label, **kwargs)
    display = ProgressDisplay(label)
    job.on_progress(display)
    try:
        while not job.wait(0.5):
            display.tick()
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
        raise
    finally:
        display.close()
    if job.error is not None:
        raise job.error
    return job.result


def print_json(document: Any, stream: TextIO | None = None) -> None:
    """The single machine-readable document a ``--json`` command writes to stdout."""
    stream = stream or sys.stdout
    json.dump(document, stream, indent=2, ensure_ascii=False, default=str)
    stream.write("\n")
    stream.flush()


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document with the results on stdout (progress stays on stderr)")
