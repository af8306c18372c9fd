"""Installer for a model the user already has on disk (any source kind; the only way for ``import``
models): a checkpoint file, or a folder holding the catalog's file names. Inputs are copied or linked,
never moved or changed."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress
from engine.models.catalog import ModelFile
from engine.models.store import ModelStatus, ModelStore


def _find_in_folder(folder: Path, spec: ModelFile) -> Path | None:
    for candidate in (folder / spec.name, folder / spec.remote_name):
        if candidate.is_file():
            return candidate
    return None


def import_path(store: ModelStore, model_id: str, path: str | os.PathLike, *, link: bool = False,
                progress: Progress | None = None, cancel: CancelToken | None = None) -> ModelStatus:
    """Install from a local file (models with one file) or a folder holding the catalog's file names;
    ``link`` makes a hard link (or a symbolic one across file systems) instead of a copy."""
    entry = store.catalog[model_id]
    path = Path(path).expanduser()
    if path.is_dir():
        found = {spec.name: _find_in_folder(path, spec) for spec in entry.files}
        absent = [name for name, source in found.items() if source is None]
        if absent:
            raise BadInputError(path, f"the folder has no {', '.join(absent)} (needed by {entry.id})")
        sources = found
    elif path.is_file():
        if len(entry.files) != 1:
            names = ", ".join(spec.name for spec in entry.files)
            raise BadInputError(path, f"{entry.id} needs {len(entry.files)} files ({names}); import the "
                                      f"folder that holds them")
        sources = {entry.files[0].name: path}
    else:
        raise BadInputError(path, "no such file or folder")
    return store.install(model_id, sources, origin=f"import from {path}", mode="link" if link else "copy",
                         progress=progress, cancel=cancel)
