"""``vocalis batch TASK INPUT_DIR OUTPUT_DIR [options]``: run a file task over a folder tree, resumably
(see :mod:`engine.batch`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine import settings as settings_mod
from engine.batch import MANIFEST_NAME, REPORT_NAME, TEMPLATE_FIELDS, BatchRequest, run_batch
from engine.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from engine.cli.file_task import build_settings
from engine.cli.output import add_json_flag, print_json, run_with_progress
from engine.errors import BadInputError
from engine.tasks import registry

NAME = "batch"
HELP = "run a task over every audio file of a folder tree, mirroring it into an output folder (resumable)"


def configure(parser: argparse.ArgumentParser) -> None:
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    fields = " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
    for task in registry.all_tasks().values():
        sub = tasks.add_parser(task.name, help=task.help, description=f"{task.help} — over a folder tree.")
        sub.add_argument("input_dir", metavar="INPUT_DIR", type=Path, help="folder walked recursively")
        sub.add_argument("output_dir", metavar="OUTPUT_DIR", type=Path,
                         help=f"folder that mirrors the input tree; holds {MANIFEST_NAME} and {REPORT_NAME}")
        sub.add_argument("--include", action="append", default=[], metavar="GLOB",
                         help="only files matching this glob (repeatable; default: the audio extensions)")
        sub.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                         help="skip files matching this glob (repeatable)")
        sub.add_argument("--name-template", default="{stem}", metavar="TEMPLATE",
                         help=f"output name without extension; fields {fields} (default: {{stem}})")
        sub.add_argument("--redo", action="store_true",
                         help="process every file again, even those already complete for these settings")
        add_json_flag(sub)
        settings_mod.add_arguments(sub, task.settings_type)


def run(args: argparse.Namespace) -> int:
    task = registry.get(args.task)
    settings = build_settings(task, args)
    if settings is None:
        return EXIT_USAGE
    request = BatchRequest(task.name, args.input_dir, args.output_dir, tuple(args.include), tuple(args.exclude),
                           args.name_template, args.redo)
    try:
        report = run_with_progress(run_batch, request, settings, label=f"batch {task.name}")
    except BadInputError as exc:  # run_batch raises it only for an unusable request; files fail one by one
        print(f"vocalis batch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for failure in report.failures:
        print(f"failed  {failure['error']}", file=sys.stderr)
    if args.json:
        print_json(report.to_dict())
    else:
        counts = report.counts
        print(f"{counts['ok']} done, {counts['skipped']} already complete, {counts['failed']} failed; "
              f"{report.audio_hours * 60:.2f} min of audio in {report.wall_s:.1f} s")
        print(f"manifest: {request.output_dir / MANIFEST_NAME}; report: {request.output_dir / REPORT_NAME}")
    return EXIT_FAILED if report.failed else EXIT_OK
