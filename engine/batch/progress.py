"""One progress bar for a whole run: each file's own 0..1 weighted by its share of the work."""

from __future__ import annotations

import threading
from typing import Sequence

from engine.batch.executor import BatchItem
from engine.jobs.progress import Progress


class BatchProgress:
    """Maps the progress of each file onto the whole run, weighted by the task's weight of each input
    (files of unknown weight count as an average one), and names the file in the message.

    The whole is the weighted sum of every file's own fraction, so it also holds when an executor runs
    files concurrently or out of order; it never goes back while each file's own progress does not."""

    def __init__(self, progress: Progress, items: Sequence[BatchItem]):
        known = [i.weight for i in items if i.weight]
        fallback = sum(known) / len(known) if known else 1.0
        self._weights = [i.weight or fallback for i in items]
        self._total = sum(self._weights) or 1.0
        self._fractions = [0.0] * len(items)
        self._index = {item.relative: index for index, item in enumerate(items)}
        self._items = items
        self._progress = progress
        self._lock = threading.Lock()

    def _overall(self) -> float:
        return sum(w * f for w, f in zip(self._weights, self._fractions)) / self._total

    def for_item(self, index: int) -> Progress:
        """The progress sink of ``items[index]``."""
        label = f"[{index + 1}/{len(self._items)}] {self._items[index].relative}"

        def forward(update) -> None:
            detail = f": {update.message}" if update.message else ""
            with self._lock:  # one report at a time, so concurrent files never make the whole go back
                self._fractions[index] = max(self._fractions[index], update.fraction)
                self._progress(self._overall(), f"{label} {update.fraction:4.0%}{detail}")

        return Progress(forward)

    def finish(self, item: BatchItem) -> None:
        """Count a file that ended (ok or failed) as whole, whatever its last report said."""
        index = self._index.get(item.relative)
        if index is not None:
            with self._lock:
                self._fractions[index] = 1.0
