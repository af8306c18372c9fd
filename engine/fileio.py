"""Atomic output: write to a temporary file beside the target, then rename, so a crash, a kill or a cancel
never leaves a half-written output under the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from engine.errors import OutputError

TEMP_MARK = ".vocalis-partial"


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder with the target's suffix; rename it onto ``final``
    when the block succeeds, delete it when the block raises."""
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
        os.replace(temp, final)
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
