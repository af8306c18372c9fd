"""The download skeleton every fetching installer shares: skip what is installed, stage each catalog file
with byte-counted progress, then hand the staged files to the store (which verifies and installs them)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

from engine.jobs import CancelToken, Progress, null_progress
from engine.models.catalog import ModelFile
from engine.models.store import ModelState, ModelStatus, ModelStore

# fetch(spec, staging folder, on_bytes) -> the staged file; it reports each chunk through on_bytes
FetchFile = Callable[[ModelFile, Path, Callable[[int], None]], Path]


def install_staged(store: ModelStore, model_id: str, fetch: FetchFile, *, origin: str,
                   progress: Progress | None = None, cancel: CancelToken | None = None) -> ModelStatus:
    """Fetch every file of ``model_id`` into its staging folder with ``fetch`` and install them (nothing is
    fetched when the model is already installed). ``origin`` is recorded as where the files came from."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    entry = store.catalog[model_id]
    current = store.status(model_id)
    if current.state is ModelState.INSTALLED:
        progress(1.0, f"{entry.id} is already installed")
        return current
    staging = store.staging(model_id)
    transfer = progress.sub(0.0, 0.8)
    total = max(1, entry.size)
    received = 0
    started = time.monotonic()

    def on_bytes(count: int) -> None:
        nonlocal received
        received += count
        elapsed = time.monotonic() - started
        speed = f" at {received / elapsed / 1e6:.1f} MB/s" if elapsed > 0 else ""
        transfer(min(received / total, 1.0),
                 f"downloading {entry.id}: {received / 1e6:.1f} of {total / 1e6:.1f} MB{speed}")

    staged = {}
    for spec in entry.files:
        cancel.check()
        staged[spec.name] = fetch(spec, staging, on_bytes)
    status = store.install(model_id, staged, origin=origin, mode="move", progress=progress.sub(0.8, 1.0),
                           cancel=cancel)
    shutil.rmtree(staging, ignore_errors=True)
    return status
