"""The embedded default model: Whisper base shipped as PyPI packages (``model.bin`` split in two parts
because of PyPI's file-size limit). Reassembled once into the models folder, then loaded like any other
CTranslate2 model, so transcription works right after setup with no network."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.errors import MissingModelError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.catalog import CatalogEntry
from engine.models.store import ModelState, ModelStatus, ModelStore

EMBEDDED_MODEL_ID = "whisper-base"
COPY_CHUNK = 8 << 20


def _package_file(entry: CatalogEntry, relative: str) -> Path:
    """Locate ``package/inner/path`` inside the installed distribution of ``package``."""
    package, _, inner = relative.partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pips = " ".join(entry.source.packages)
        raise MissingModelError(f"the embedded model {entry.id} needs the Python packages {pips}: "
                                f"run `.venv/bin/pip install {pips}` (or tools/setup.sh)")
    path = Path(list(spec.submodule_search_locations)[0]) / inner
    if not path.is_file():
        raise MissingModelError(f"the embedded model {entry.id}: {path} is missing from the installed package "
                                f"{package}; reinstall it")
    return path


def install_embedded(store: ModelStore, model_id: str = EMBEDDED_MODEL_ID, *, verify: bool = False,
                     progress: Progress | None = None, cancel: CancelToken | None = None) -> ModelStatus:
    """Reassemble the embedded model into ``store`` unless it is already installed (a size + marker check,
    no rehash); ``verify=True`` rehashes an installed copy and reinstalls it if it is damaged."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    entry = store.catalog[model_id]
    status = store.verify(model_id, progress, cancel) if verify else store.status(model_id)
    if status.state is ModelState.INSTALLED:
        progress(1.0, f"{entry.id} already installed")
        return status
    parts = {spec.name: [_package_file(entry, part) for part in spec.parts] for spec in entry.files}
    staging = store.staging(model_id)
    total = max(1, sum(p.stat().st_size for paths in parts.values() for p in paths))
    assemble = progress.sub(0.0, 0.5)
    done = 0
    staged = {}
    for name, paths in parts.items():
        target = staging / name
        with target.open("wb") as out:
            for path in paths:
                with path.open("rb") as handle:
                    while chunk := handle.read(COPY_CHUNK):
                        cancel.check()
                        out.write(chunk)
                        done += len(chunk)
                        assemble(done / total, f"assembling {name}")
        staged[name] = target
    origin = "PyPI " + " + ".join(entry.source.packages)
    return store.install(model_id, staged, origin=origin, mode="move", progress=progress.sub(0.5, 1.0),
                         cancel=cancel)
