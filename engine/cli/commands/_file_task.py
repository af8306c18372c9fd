"""The ``vocalis TASK INPUT… [--out DIR] [--json] [task options]`` command every registered file task gets.

A task's command module is three lines::

    from engine.cli.commands._file_task import file_task_command

    NAME, HELP, configure, run = file_task_command("separate")

The task's options come from its settings dataclass (``engine.settings.add_arguments``); the common
``--device``, ``--model`` and ``--format`` flags are settings fields of those names, so the GUI form and
the batch manifest see them too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from engine import settings as settings_mod
from engine.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from engine.cli.output import add_json_flag, print_json, run_with_progress
from engine.errors import BadInputError
from engine.jobs.batch import FAILED, FileResult, run_files
from engine.models import devices
from engine.tasks import registry
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


def result_record(result: FileResult) -> dict[str, Any]:
    """One file's result in the JSON document of a task command."""
    return {"input": str(result.item.input), "status": result.status, "error": result.error,
            "outputs": [str(p) for p in result.outputs],
            "seconds": round(sum(result.timings.values()), 4)}


def file_task_command(task_name: str) -> tuple[str, str, Callable[[argparse.ArgumentParser], None],
                                                 Callable[[argparse.Namespace], int]]:
    """``NAME, HELP, configure, run`` of the command for the registered file task ``task_name``."""
    task = registry.get(task_name)

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("inputs", nargs="+", metavar="INPUT", help="input files")
        parser.add_argument("--out", metavar="DIR", default=".",
                            help="folder for the outputs, named after each input (default: the current folder)")
        add_json_flag(parser)
        settings_mod.add_arguments(parser, task.settings_type)

    def run(args: argparse.Namespace) -> int:
        settings = build_settings(task, args)
        if settings is None:
            return EXIT_USAGE
        results = run_with_progress(run_files, task.name, [Path(p) for p in args.inputs], Path(args.out), settings,
                                    label=task.name)
        failed = sum(r.status == FAILED for r in results)
        if args.json:
            print_json({"task": task.name, "settings": settings_mod.to_dict(settings),
                        "counts": {"ok": len(results) - failed, "failed": failed},
                        "files": [result_record(r) for r in results]})
        else:
            for result in results:
                if result.status == FAILED:
                    print(f"failed  {result.error}")
                else:
                    print(f"ok      {result.item.input} -> {', '.join(str(p) for p in result.outputs)}")
        return EXIT_FAILED if failed else EXIT_OK

    return task.name, task.help, configure, run
