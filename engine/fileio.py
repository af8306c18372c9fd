"""Atomic output: write to a temporary file beside the target, then rename, so a crash, a kill, a cancel or
a power cut never leaves a half-written output under the final name.

The temporary file is flushed to disk (fsync) before the rename and the folder after it, so after a power
cut the name holds either the old file or the whole new one. The output gets the mode a file created
normally would get (``0o666`` less the user's umask; the mode of the file it replaces, if any), not the
owner-only mode ``mkstemp`` gives its temporary files."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from engine.errors import OutputError

TEMP_MARK = ".vocalis-partial"
NEW_FILE_MODE = 0o666  # what open() asks for; the umask takes away from it

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask. Linux shows it in /proc without changing it; elsewhere it is read by setting
    and restoring it, under a lock so that two writers never see the temporary value."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def output_mode(final: Path) -> int:
    """The permission bits ``final`` should end up with."""
    try:
        return stat.S_IMODE(final.stat().st_mode)
    except OSError:
        return NEW_FILE_MODE & ~current_umask()


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # some systems (Windows) cannot open a folder; their rename is durable by other means
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder with the target's suffix; when the block succeeds,
    give it the output's mode, flush it, rename it onto ``final`` and flush the folder; delete it when the
    block raises."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f"{TEMP_MARK}{final.suffix}",
                                         dir=final.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(final, exc.strerror or str(exc)) from exc
    temp = Path(temp_name)
    try:
        yield temp
        os.chmod(temp, output_mode(final))
        _fsync_path(temp)
        os.replace(temp, final)
        _fsync_path(final.parent, directory=True)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(final, exc.strerror or str(exc)) from exc
        raise


def write_text_atomic(final: str | os.PathLike, text: str) -> Path:
    with atomic_path(final) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(final)
