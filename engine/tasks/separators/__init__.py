"""Vocal separators, chosen by name: the lyrics task segments on the vocals they give, and voice
conversion can clean its source or reference with them.

A separator is ``fn(clip, progress, cancel, *, device) -> Clip`` returning the vocals of ``clip`` at the
clip's rate and channel count, its model running on ``device`` ("auto", "cpu", "cuda", …: the task's
setting, so batch's device lock guards the device the model really uses). ``"none"`` means no separation;
``"stem:PATH"`` reads an existing vocal stem; model-based separators (``"hdemucs"``) register themselves
from their own modules (:data:`_PROVIDER_MODULES`), so this module needs no model.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress


class Separator(Protocol):
    def __call__(self, clip: Clip, progress: Progress, cancel: CancelToken, *, device: str = "auto") -> Clip: ...


NONE = "none"
STEM_PREFIX = "stem:"

_SEPARATORS: dict[str, Separator] = {}
_PROVIDER_MODULES = ("engine.tasks.separators.hdemucs",)


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


def separate_vocals(spec: str, clip: Clip, progress: Progress, cancel: CancelToken, *,
                    device: str = "auto") -> Clip | None:
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
    return _SEPARATORS[spec](clip, progress, cancel, device=device)
