"""``vocalis TASK INPUT… [--out DIR] [--json] [task options]``: the command every registered file task gets,
generated from its :class:`~engine.tasks.registry.FileTask` (no module per task).

The task's options come from its settings dataclass (``engine.settings.add_arguments``); the common
``--device``, ``--model`` and ``--format`` flags are settings fields of those names, so the GUI form and
the batch manifest see them too. Results: ``ok`` lines on stdout (or one JSON document with ``--json``),
failures on stderr, exit 1 when any input failed; an input that fails leaves no file or folder behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine import settings as settings_mod
from engine.batch import FAILED, FileResult, run_files
from engine.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from engine.cli.output import add_json_flag, print_json, run_with_progress
from engine.errors import BadInputError
from engine.models import devices
from engine.tasks.registry import FileTask


def build_settings(task: FileTask, args: argparse.Namespace) -> Any:
    """The task's settings from the parsed flags; ``None`` after printing the reason when they are invalid
    or name a device this machine lacks (the caller exits with the usage code)."""
    try:
        settings = settings_mod.from_arguments(task.settings_type, args)
        if task.device_field is not None:
            devices.resolve(getattr(settings, task.device_field))
        return settings
    except (ValueError, TypeError, BadInputError) as exc:
        print(f"vocalis {task.name}: invalid options: {exc}", file=sys.stderr)
        return None


def result_summary(result: FileResult, task: FileTask) -> dict[str, Any]:
    """The task's figures for a finished file (empty for failures and tasks without any)."""
    if task.summary is None or result.status == FAILED:
        return {}
    return task.summary(result.outputs)


def result_record(result: FileResult, task: FileTask) -> dict[str, Any]:
    """One file's result in the JSON document of a task command."""
    record = {"input": str(result.item.input), "status": result.status, "error": result.error,
              "outputs": [str(p) for p in result.outputs],
              "seconds": round(sum(result.timings.values()), 4)}
    summary = result_summary(result, task)
    return {**record, "summary": summary} if summary else record


def configure(parser: argparse.ArgumentParser, task: FileTask) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="input files")
    parser.add_argument("--out", metavar="DIR", default=".",
                        help="folder for the outputs, named after each input (default: the current folder)")
    add_json_flag(parser)
    settings_mod.add_arguments(parser, task.settings_type)


def run(args: argparse.Namespace, task: FileTask) -> int:
    settings = build_settings(task, args)
    if settings is None:
        return EXIT_USAGE
    results = run_with_progress(run_files, task.name, [Path(p) for p in args.inputs], Path(args.out), settings,
                                label=task.name)
    failed = [r for r in results if r.status == FAILED]
    for result in failed:
        print(f"failed  {result.error}", file=sys.stderr)
    if args.json:
        print_json({"task": task.name, "settings": settings_mod.to_dict(settings),
                    "counts": {"ok": len(results) - len(failed), "failed": len(failed)},
                    "files": [result_record(r, task) for r in results]})
    else:
        for result in results:
            if result.status != FAILED:
                figures = ", ".join(f"{name} {value}" for name, value in result_summary(result, task).items())
                print(f"ok      {result.item.input} -> {', '.join(str(p) for p in result.outputs)}"
                      + (f"  ({figures})" if figures else ""))
    return EXIT_FAILED if failed else EXIT_OK
