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
from engine.errors import BadInputError, VocalisError
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
        _add_backend_arguments(sub)
        add_json_flag(sub)
        settings_mod.add_arguments(sub, task.settings_type)


def _add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where the files run")
    group.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local: this process, one file at a time; ray: spread over a Ray cluster's workers "
                            '(needs pip install "vocalis[cluster]")')
    group.add_argument("--address", metavar="ADDR", default=None,
                       help="Ray cluster to join: auto (the one this machine belongs to) or HOST:PORT of its head; "
                            "none starts a Ray instance on this machine for the run")
    group.add_argument("--gpus-per-task", type=float, metavar="F", default=None,
                       help="GPUs each Ray worker reserves (fractions share a GPU); default 1 when the task runs "
                            "on a device other than cpu and the cluster has GPUs, else 0")
    group.add_argument("--cpus-per-task", type=float, metavar="N", default=1.0,
                       help="CPUs each Ray worker reserves, also its thread count (default 1)")
    group.add_argument("--max-in-flight", type=int, metavar="K", default=None,
                       help="files processed at once, one Ray worker each (default: as many as the cluster fits)")


def _executor(args: argparse.Namespace):
    """The executor the backend flags describe (None: the local one), connected to its cluster."""
    if args.backend == "local":
        ray_only = [flag for flag, value in (("--address", args.address), ("--gpus-per-task", args.gpus_per_task),
                                             ("--max-in-flight", args.max_in_flight)) if value is not None]
        if ray_only or args.cpus_per_task != 1.0:
            raise VocalisError(f"{', '.join(ray_only) or '--cpus-per-task'} only applies with --backend ray")
        return None
    from engine.batch.ray_executor import RayExecutor

    if args.max_in_flight is not None and args.max_in_flight < 1:
        raise VocalisError("--max-in-flight must be at least 1")
    executor = RayExecutor(args.address, gpus_per_task=args.gpus_per_task, cpus_per_task=args.cpus_per_task,
                           max_in_flight=args.max_in_flight)
    try:
        executor.connect()  # here, on the main thread, before the batch runs on a job thread
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {args.address}" if args.address else "a Ray instance on this machine"
        raise VocalisError(f"cannot reach {where}: {exc}") from exc
    return executor


def run(args: argparse.Namespace) -> int:
    task = registry.get(args.task)
    settings = build_settings(task, args)
    if settings is None:
        return EXIT_USAGE
    request = BatchRequest(task.name, args.input_dir, args.output_dir, tuple(args.include), tuple(args.exclude),
                           args.name_template, args.redo)
    try:
        executor = _executor(args)
    except VocalisError as exc:
        print(f"vocalis batch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = run_with_progress(run_batch, request, settings, label=f"batch {task.name}", executor=executor)
    except BadInputError as exc:  # run_batch raises it only for an unusable request; files fail one by one
        print(f"vocalis batch: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if executor is not None:
            executor.close()
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
