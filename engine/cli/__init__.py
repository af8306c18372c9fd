"""The ``vocalis`` command. Each subcommand is a module in :mod:`engine.cli.commands` exposing ``NAME``,
``HELP``, ``configure(parser)`` and ``run(args) -> int``; they are discovered, so adding a task adds a
module and touches nothing here.

Exit codes: 0 success, 1 some inputs failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from engine import __version__
from engine.errors import VocalisError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def command_name(module_name: str) -> str:
    """A command's name is its module's name with dashes: ``lyrics_eval.py`` is ``vocalis lyrics-eval``."""
    return module_name.replace("_", "-")


def _command_modules(only: str | None = None):
    """Import the command modules; only the one named ``only`` when it exists, so that a command does not
    pay for importing every other command's dependencies (torch, scipy, ...) at start-up."""
    from engine.cli import commands

    names = [m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")]
    if only is not None and only.replace("-", "_") in names:
        names = [only.replace("-", "_")]
    for name in sorted(names):
        yield importlib.import_module(f"engine.cli.commands.{name}")


def _requested_command(argv: Sequence[str]) -> str | None:
    """The first word that is not an option, i.e. the command, if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser, or, given the command line, one holding just the command it names."""
    parser = argparse.ArgumentParser(prog="vocalis", description="Vocalis: a desktop studio for voice and song models.")
    parser.add_argument("--version", action="version", version=f"vocalis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the desktop app (the default without a command)")
    gui.add_argument("files", nargs="*", help="audio files to open as tracks")
    requested = None if argv is None else _requested_command(argv)
    if argv is not None and (not argv or requested == "gui"):
        return parser
    for module in _command_modules(requested):
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


def _run_gui(files: Sequence[str]) -> int:
    # Imported here so that the engine and every other command stay free of Qt.
    gui_app = importlib.import_module("gui.app")
    return gui_app.main(list(files))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 for --help/--version
        return int(exc.code or 0)
    if args.command in (None, "gui"):
        return _run_gui(getattr(args, "files", []))
    try:
        return int(args._run(args))
    except VocalisError as exc:
        print(f"vocalis {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"vocalis {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
