"""Installer for catalog models whose source kind is ``huggingface``: files from a Hub repository.

Each file goes through ``huggingface_hub.hf_hub_download`` into the model's staging folder. The client
retries by itself (the metadata request five times with back-off; a transfer cut midway resumes with an
HTTP Range request from the last full chunk), and files staged by an earlier attempt are not fetched again;
only when every file is there does :meth:`ModelStore.install` move them into place, check sizes and
hashes and mark the model installed. Progress and cancel reach into the transfer through the ``tqdm_class``
hook, so a cancel stops a 3 GB download within one chunk.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Callable

from huggingface_hub import hf_hub_download
from huggingface_hub import errors as hf_errors
from huggingface_hub.utils import tqdm as hf_tqdm

from engine.errors import Cancelled, DownloadError
from engine.jobs import CancelToken, Progress, null_progress
from engine.models.store import ModelState, ModelStatus, ModelStore

log = logging.getLogger("vocalis.models.download")

DEFAULT_ENDPOINT = "https://huggingface.co"
# Exception class names (requests, httpx and httpx2 spell them alike) that mean the network path failed.
_NETWORK_ERROR_NAMES = {"ConnectError", "ConnectTimeout", "ConnectionError", "ProxyError", "ReadTimeout",
                        "Timeout", "TimeoutException", "ReadError", "NetworkError", "RemoteProtocolError",
                        "OfflineModeIsEnabled", "LocalEntryNotFoundError"}


def _is_network_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if any(cls.__name__ in _NETWORK_ERROR_NAMES for cls in type(seen).__mro__):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _progress_bar_class(on_bytes: Callable[[int], None], cancel: CancelToken) -> type:
    """A silent tqdm for huggingface_hub that forwards byte counts and raises Cancelled mid-transfer."""

    class ReportingBar(hf_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            cancel.check()
            on_bytes(int(n or 0))
            return super().update(n)

    return ReportingBar


def install(store: ModelStore, model_id: str, *, progress: Progress | None = None,
            cancel: CancelToken | None = None, endpoint: str | None = None, token: str | None = None,
            ) -> ModelStatus:
    """Download every file of ``model_id`` and install it. ``endpoint`` defaults to ``HF_ENDPOINT``.

    Raises :class:`DownloadError` (offline, proxy, not found), :class:`BadInputError` (a file does not
    match the catalog's size or sha256: the model is then corrupt, never installed) or ``Cancelled``.
    """
    progress = progress or null_progress()
    cancel = cancel or CancelToken()
    entry = store.catalog[model_id]
    current = store.status(model_id)
    if current.state is ModelState.INSTALLED:
        progress(1.0, f"{entry.id} is already installed")
        return current
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
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

    bar_class = _progress_bar_class(on_bytes, cancel)
    staged = {}
    for spec in entry.files:
        cancel.check()
        try:
            path = hf_hub_download(entry.source.repo, spec.remote_name, revision=entry.source.revision,
                                   local_dir=staging, endpoint=endpoint, token=token, tqdm_class=bar_class)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - every hub failure becomes a message for the user
            raise _explain(exc, entry.source.repo, spec.remote_name, endpoint) from exc
        staged[spec.name] = path
    status = store.install(model_id, staged, origin=f"{endpoint}/{entry.source.repo}@{entry.source.revision}",
                           mode="move", progress=progress.sub(0.8, 1.0), cancel=cancel)
    shutil.rmtree(staging, ignore_errors=True)
    return status


def _explain(exc: BaseException, repo: str, filename: str, endpoint: str) -> DownloadError:
    """The failure in words a person can act on; the exception itself goes to the log."""
    log.warning("downloading %s/%s from %s failed: %r", repo, filename, endpoint, exc)
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    if isinstance(exc, hf_errors.GatedRepoError):
        return DownloadError(f"{repo} is gated on {host}: accept its terms on the website and log in "
                             f"(`hf auth login`), then retry")
    if _is_network_error(exc):
        return DownloadError(f"cannot reach {host} (offline or behind a proxy?) while fetching {repo}/{filename}. "
                             f"Check the connection or set HTTPS_PROXY, or download the files on another "
                             f"computer and import them (Models window, or `vocalis models import`).")
    if isinstance(exc, (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError,
                        hf_errors.EntryNotFoundError)):
        return DownloadError(f"{host} has no {filename} in {repo}")
    reason = str(exc).splitlines()[0][:300] if str(exc) else "no reason given"
    return DownloadError(f"downloading {repo}/{filename} from {host} failed: {reason}")
