"""Vocal separators for lyrics segmentation, chosen by name.

A separator is ``fn(clip, progress, cancel) -> Clip`` returning the vocals of ``clip``. ``"none"`` means no
separation (segmentation runs on the mix); ``"stem:PATH"`` reads an existing vocal stem; model-based
separators (``"hdemucs"``) register themselves from their own modules so that this module needs no model.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress

Separator = Callable[[Clip, Progress, CancelToken], Clip]

NONE = "none"
STEM_PREFIX = "stem:"

_SEPARATORS: dict[str, Separator] = {}
_PROVIDER_MODULES = ("engine.tasks.lyrics.hdemucs_separator",)


def register_separator(name: str, separator: Separator) -> None:
    _SEPARATORS[name] = separator


def available_separators() -> list[str]:
    """Names a user can pick (``stem:PATH`` is always possible and not listed)."""
    _import_providers()
    return [NONE, *sorted(_SEPARATORS)]


def _import_providers() -> None:
    for module in _PROVIDER_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the provider exists but is broken: say so
                raise


def read_stem(path: str | Path) -> Clip:
    """A vocal stem file as a clip; a missing or unreadable file is a :class:`BadInputError`."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "vocal stem file not found")
    return audio_io.load(path)


def separate_vocals(spec: str, clip: Clip, progress: Progress, cancel: CancelToken) -> Clip | None:
    """The vocals of ``clip`` according to ``spec`` ("none", "stem:PATH" or a registered name)."""
    spec = spec.strip()
    if spec in ("", NONE):
        return None
    if spec.startswith(STEM_PREFIX):
        return read_stem(spec[len(STEM_PREFIX):])
    _import_providers()
    if spec not in _SEPARATORS:
        raise BadInputError(None, f"unknown vocal separator {spec!r}; choose one of "
                                  f"{', '.join(available_separators())} or stem:PATH")
    return _SEPARATORS[spec](clip, progress, cancel)
