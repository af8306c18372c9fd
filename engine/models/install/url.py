"""Installer for catalog models whose source kind is ``url``: files fetched over HTTP(S) from fixed URLs.

With one file, ``source.url`` is that file's URL; with several, each file's ``remote`` is either a full URL
or a path appended to ``source.url``. A transfer cut midway resumes from the bytes already staged (HTTP
Range), so a retry does not start over; the store then checks the catalog's size and sha256, so a URL that
serves something else never becomes an installed model. Pin URLs to immutable content (a commit, a
release), not to a moving branch.
"""

from __future__ import annotations

import http.client
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from engine.errors import Cancelled, DownloadError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.catalog import CatalogEntry, ModelFile
from engine.models.store import ModelState, ModelStatus, ModelStore

CHUNK = 1 << 20
TIMEOUT_S = 30


def file_url(entry: CatalogEntry, spec: ModelFile) -> str:
    """The URL of one catalog file (see the module docstring)."""
    if spec.remote and "://" in spec.remote:
        return spec.remote
    if not entry.source.url:
        raise DownloadError(f"catalog entry {entry.id} has a url source without a url")
    if len(entry.files) == 1 and not spec.remote:
        return entry.source.url
    return entry.source.url.rstrip("/") + "/" + spec.remote_name


def _cut(url: str, received: int) -> DownloadError:
    """A transfer that ended early; its bytes stay staged so that the next attempt continues from them."""
    return DownloadError(f"the transfer of {url} was cut after {received} bytes; install again to continue "
                         f"where it stopped")


def _fetch(url: str, target: Path, on_bytes, cancel: CancelToken, model_id: str) -> None:
    """Download ``url`` into ``target``, continuing a partial ``target`` when the server allows it."""
    start = target.stat().st_size if target.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            resumed = start and response.status == 206
            if start:
                on_bytes(start if resumed else 0)
            declared = response.headers.get("Content-Length")
            with target.open("ab" if resumed else "wb") as out:
                try:
                    while chunk := response.read(CHUNK):
                        cancel.check()
                        out.write(chunk)
                        on_bytes(len(chunk))
                except http.client.IncompleteRead as exc:
                    out.write(exc.partial)
                    raise _cut(url, out.tell()) from exc
                if declared is not None and out.tell() < (start if resumed else 0) + int(declared):
                    raise _cut(url, out.tell())
    except (Cancelled, DownloadError):
        raise
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # asked for bytes past the end: the staged file is already whole
            return
        raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot fetch {url} (offline or behind a proxy?): {reason}. Check the connection "
                            f"or set HTTPS_PROXY, or download the file elsewhere and run `vocalis models "
                            f"import {model_id} PATH`") from exc


def install(store: ModelStore, model_id: str, *, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> ModelStatus:
    """Fetch every file of ``model_id`` and install it (nothing is fetched when it is already installed)."""
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

    def on_bytes(count: int) -> None:
        nonlocal received
        received += count
        transfer(min(received / total, 1.0), f"downloading {entry.id}: {received / 1e6:.1f} MB")

    staged = {}
    for spec in entry.files:
        cancel.check()
        target = staging / spec.name
        _fetch(file_url(entry, spec), target, on_bytes, cancel, entry.id)
        staged[spec.name] = target
    status = store.install(model_id, staged, origin=entry.source.url or "url", mode="move",
                           progress=progress.sub(0.8, 1.0), cancel=cancel)
    shutil.rmtree(staging, ignore_errors=True)
    return status
