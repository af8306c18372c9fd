"""One settings dataclass per task is the single list of its options.

Each field carries its documentation in ``metadata`` (see :func:`option`); the CLI builds its flags from
it (:func:`add_arguments` / :func:`from_arguments`), the GUI builds its form from it, and batch stores it
in the manifest (:func:`to_dict`). No second list of options exists anywhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import typing
from typing import Any, Sequence


FIELD_KINDS = ("model", "language", "separator")
"""Values the GUI offers as a list: catalog models of ``model_task``, Whisper languages, vocal separators."""
BROWSE_KINDS = ("file", "folder", "file-or-folder")


def option(default: Any, help: str, *, choices: Sequence[Any] | None = None, label: str | None = None,
           minimum: float | None = None, maximum: float | None = None, cli: bool = True,
           advanced: bool = False, kind: str | None = None, model_task: str | None = None,
           browse: str | None = None, zero_means: str | None = None) -> Any:
    """A dataclass field with the documentation the CLI and GUI need.

    ``advanced`` folds the field under "Advanced" in the GUI (expert tuning most people never change);
    ``kind`` (:data:`FIELD_KINDS`, with ``model_task`` naming the catalog task for models) and ``browse``
    (:data:`BROWSE_KINDS`: a path, with a Browse… button) tell the form which list or picker to offer;
    ``zero_means`` is what the value 0 stands for ("auto", "keep the input's"), shown instead of 0."""
    if kind is not None and kind not in FIELD_KINDS:
        raise ValueError(f"unknown field kind {kind!r}; expected one of {', '.join(FIELD_KINDS)}")
    if (kind == "model") != (model_task is not None):
        raise ValueError("a model field names its catalog task (model_task=...), and only a model field does")
    if browse is not None and browse not in BROWSE_KINDS:
        raise ValueError(f"unknown browse kind {browse!r}; expected one of {', '.join(BROWSE_KINDS)}")
    meta = {"help": help, "choices": tuple(choices) if choices else None, "label": label,
            "minimum": minimum, "maximum": maximum, "cli": cli, "advanced": advanced, "kind": kind,
            "model_task": model_task, "browse": browse, "zero_means": zero_means}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_type(cls: type, field: dataclasses.Field) -> Any:
    """The resolved annotation of ``field`` with ``Optional`` unwrapped."""
    hint = typing.get_type_hints(cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return args[0]
    return hint


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes/no, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: Sequence[str] = ()) -> None:
    """Add one ``--flag`` per field of the settings dataclass ``cls``."""
    group = parser.add_argument_group(f"{cls.__name__} options")
    for field in dataclasses.fields(cls):
        if field.name in skip or not field.metadata.get("cli", True):
            continue
        kind = field_type(cls, field)
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        zero = field.metadata.get("zero_means")
        kwargs: dict[str, Any] = {"dest": field.name, "default": None,
                                  "help": f"{field.metadata.get('help', '')} (default: {default}"
                                          + (f"; 0 = {zero})" if zero else ")")}
        if kind is bool:
            kwargs["type"] = _parse_bool
            kwargs["metavar"] = "yes|no"
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            kwargs["type"] = kind
            kwargs["choices"] = list(kind)
        elif typing.get_origin(kind) in (list, tuple):
            inner = (typing.get_args(kind) or (str,))[0]
            kwargs["type"] = lambda text, inner=inner: [inner(v) for v in text.split(",") if v.strip()]
            kwargs["metavar"] = "A,B,..."
        elif kind in (int, float, str):
            kwargs["type"] = kind
        else:
            kwargs["type"] = str
        if field.metadata.get("choices") and "choices" not in kwargs and typing.get_origin(kind) is None:
            kwargs["choices"] = list(field.metadata["choices"])
        group.add_argument(_flag(field.name), **kwargs)


def from_arguments(cls: type, args: argparse.Namespace, **overrides: Any):
    """Build ``cls`` from parsed arguments: flags given on the command line override the defaults."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
              if getattr(args, f.name, None) is not None}
    values.update(overrides)
    return cls(**values)


def to_dict(settings: Any) -> dict[str, Any]:
    """JSON-friendly view of a settings object (for manifests and saved presets)."""
    out = {}
    for key, value in dataclasses.asdict(settings).items():
        out[key] = value.value if isinstance(value, enum.Enum) else value
    return out


def from_dict(cls: type, data: dict[str, Any]):
    """Inverse of :func:`to_dict`; unknown keys are ignored so that old presets keep loading."""
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        kind = field_type(cls, field)
        value = data[field.name]
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            value = kind(value)
        values[field.name] = value
    return cls(**values)
