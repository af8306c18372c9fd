"""Planning a batch: which inputs, where their outputs go, which of them must not run, and the digest of
the settings that decides whether earlier outputs are still valid."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from engine import settings as settings_mod
from engine.batch.executor import BatchItem, missing_folders
from engine.errors import BadInputError
from engine.fileio import TEMP_MARK
from engine.tasks.registry import FileTask

TEMPLATE_FIELDS = ("stem", "parent", "task", "ext")


@dataclass(frozen=True)
class BatchRequest:
    """What to run over which folders. ``include``/``exclude`` are globs matched (case-insensitively)
    against the path relative to ``input_dir`` and against the file name; an empty ``include`` means the
    task's own input extensions."""

    task: str
    input_dir: Path
    output_dir: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    name_template: str = "{stem}"
    redo: bool = False  # process every file again, even those complete for these settings


def settings_hash(task: FileTask, settings: Any) -> str:
    """A short stable digest of the task and its settings: outputs made with other settings are stale."""
    text = json.dumps({"task": task.name, "settings": settings_mod.to_dict(settings)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_template(template: str) -> None:
    """Refuse a naming template with unknown fields, or without ``{stem}`` (the one field that tells the
    files of a folder apart)."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise BadInputError(None, f"naming template {template!r}: {exc}") from exc
    unknown = names - set(TEMPLATE_FIELDS)
    if unknown:
        fields = " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
        raise BadInputError(None, f"naming template {template!r}: unknown field(s) "
                                  f"{', '.join(sorted(unknown))}; use {fields}")
    if "stem" not in names:
        raise BadInputError(None, f"naming template {template!r} must contain {{stem}}, or every file of a "
                                  "folder would get the same name")


def output_stem(request: BatchRequest, relative: Path) -> Path:
    """Where the outputs of ``relative`` go: the input tree mirrored under the output folder, the file
    named by the template."""
    name = request.name_template.format(stem=relative.stem, parent=relative.parent.name or request.input_dir.name,
                                        task=request.task, ext=relative.suffix.lstrip(".").lower())
    stem = request.output_dir / relative.parent / name
    if not stem.resolve().is_relative_to(request.output_dir.resolve()):
        raise BadInputError(None, f"naming template {request.name_template!r} leads outside the output folder")
    return stem


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    lowered = relative.lower()
    name = lowered.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(lowered, p.lower()) or fnmatch.fnmatchcase(name, p.lower()) for p in patterns)


def walk_inputs(request: BatchRequest, task: FileTask) -> Iterator[tuple[Path, str]]:
    """Yield (path, posix path relative to the input folder) of each input, sorted, skipping hidden files,
    Vocalis temp files and the output folder when it lies inside the input folder."""
    root = request.input_dir
    output = request.output_dir.resolve()
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != output)
        for name in sorted(files):
            if name.startswith(".") or TEMP_MARK in name:
                continue
            path = here / name
            relative = path.relative_to(root).as_posix()
            if request.include:
                wanted = _matches(relative, request.include)
            else:
                wanted = path.suffix.lower() in task.input_extensions
            if wanted and not _matches(relative, request.exclude):
                yield path, relative


def plan(request: BatchRequest, task: FileTask, settings: Any) -> list[BatchItem]:
    """Every input of the folder tree with its output stem, expected outputs and weight."""
    check_template(request.name_template)
    items = []
    for path, relative in walk_inputs(request, task):
        stem = output_stem(request, Path(relative))
        outputs = tuple(Path(p) for p in task.expected_outputs(path, stem, settings))
        items.append(BatchItem(path, relative, stem, outputs, task.weight(path), tuple(missing_folders(outputs))))
    return items


def plan_files(task: FileTask, inputs: Sequence[Path], output_dir: Path, settings: Any) -> list[BatchItem]:
    """Items for explicit files, each written as ``output_dir/<input stem>…`` (keyed by the path as given)."""
    items = []
    for path in map(Path, inputs):
        stem = output_dir / path.stem
        outputs = tuple(Path(p) for p in task.expected_outputs(path, stem, settings))
        items.append(BatchItem(path, str(path), stem, outputs, task.weight(path), tuple(missing_folders(outputs))))
    return items


def screen(items: Sequence[BatchItem], clash_hint: str = "") -> Iterator[tuple[BatchItem, str]]:
    """Pair each item with the reason it must not run ("" when it may): two inputs that map to one output
    name, or an output that would overwrite an input."""
    claimed: dict[Path, str] = {}
    inputs = {item.input.resolve() for item in items}
    for item in items:
        clash = next((claimed[p] for p in item.outputs if p in claimed), None)
        if clash is not None:
            yield item, f"its output name is taken by {clash}{clash_hint}"
        elif any(p.resolve() in inputs for p in item.outputs):
            yield item, "an output would overwrite an input; choose another output folder"
        else:
            claimed.update({p: item.relative for p in item.outputs})
            yield item, ""
