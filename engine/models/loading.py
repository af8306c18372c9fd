"""The one path from a catalog id to a ready model, shared by every family and every task.

catalog id → store lookup (the model and every model it ``requires``) → the family's ``load_installed``
→ model cache → device and precision → out-of-memory translated by :mod:`engine.models.devices`.

A family ``engine/models/<family>/`` stays free of the store: its ``loader.py`` defines
``load_installed(installed, device, dtype, **options)`` that turns an :class:`InstalledModel` (files and
catalog config) into a model on ``device`` in ``dtype``. The catalog entry's ``family`` names the package
(``whisper-ct2`` → ``engine.models.whisper_ct2``). A loader module may set ``HALF_PRECISION_OK = False``
for models that are only accurate in fp32 (they then stay fp32 on a GPU too).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import torch

from engine.errors import MissingModelError
from engine.models import devices
from engine.models.cache import model_cache
from engine.models.store import InstalledModel, ModelState, ModelStore, default_store


def family_package(family: str) -> str:
    """The Python package of a catalog family name (``whisper-ct2`` → ``engine.models.whisper_ct2``)."""
    return "engine.models." + family.replace("-", "_")


def family_loader(family: str) -> ModuleType:
    """The ``loader`` module of ``family``; a clear error when the family has none."""
    name = family_package(family) + ".loader"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in (name, family_package(family)):
            raise
        raise MissingModelError(f"no loader for model family {family!r} (expected module {name})") from None


def missing_models(model_id: str, store: ModelStore | None = None) -> list[str]:
    """Every id among ``model_id`` and its dependencies that is not installed, dependencies first."""
    store = store or default_store()
    return [current for current in store.catalog.with_dependencies(model_id)
            if store.status(current).state is not ModelState.INSTALLED and not _installs_itself(store, current)]


def _installs_itself(store: ModelStore, model_id: str) -> bool:
    """Embedded models (PyPI parts on this machine) are put in place on first use by ``store.resolve``."""
    return store.catalog[model_id].source.kind == "pypi"


def require_installed(model_id: str, store: ModelStore | None = None) -> dict[str, InstalledModel]:
    """The installed files of ``model_id`` and of every model it requires, by id. When any is missing, one
    :class:`MissingModelError` names all of them, so the user installs them in one go."""
    store = store or default_store()
    missing = missing_models(model_id, store)
    if missing:
        names = ", ".join(missing)
        raise MissingModelError(
            f"model {model_id} needs {'these models' if len(missing) > 1 else 'a model'} that "
            f"{'are' if len(missing) > 1 else 'is'} not installed: {names}. Install them from Tools ▸ Models "
            f"or with `vocalis models install {model_id}` (it installs what is missing).")
    return {current: store.resolve(current) for current in store.catalog.with_dependencies(model_id)}


def load_catalog_model(model_id: str, *, device: str | torch.device | None = "auto", precision: str | None = "auto",
                       store: ModelStore | None = None, **options: Any) -> Any:
    """The model ``model_id`` ready on ``device`` (see the module docstring), built once and then reused
    from the model cache. ``options`` go to the family's ``load_installed`` and are part of the cache key."""
    store = store or default_store()
    installed = require_installed(model_id, store)[model_id]
    loader = family_loader(installed.entry.family)
    target = devices.resolve(device)
    dtype = devices.choose_dtype(target, precision, half_ok=getattr(loader, "HALF_PRECISION_OK", True))
    key = ("catalog", str(store.root), model_id, str(target), str(dtype), tuple(sorted(options.items())))

    def build() -> Any:
        with devices.out_of_memory_as_error(target, doing=f"loading {installed.entry.name}",
                                            advice="close other models (Tools ▸ Models) or free GPU memory"):
            return loader.load_installed(installed, target, dtype, **options)

    return model_cache.get(key, build)
