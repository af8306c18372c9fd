"""The dispatcher finds each command by its module name, so a command imports only its own module."""

import dataclasses
import pkgutil
import subprocess
import sys

from engine.cli import build_parser, command_name, commands


def test_every_command_module_is_named_after_its_command():
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        module = __import__(f"engine.cli.commands.{info.name}", fromlist=["NAME"])
        assert module.NAME == command_name(info.name)


def test_full_parser_lists_every_command():
    help_text = build_parser().format_help()
    for name in ("info", "models", "batch", "convert", "separate", "lyrics", "lyrics-eval", "devices", "gui"):
        assert name in help_text


def test_a_light_command_does_not_import_torch():
    code = ("import sys; from engine.cli import main; rc = main(['models', 'path']); "
            "print('torch' in sys.modules, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False 0"


def test_file_task_commands_are_generated_from_the_registry():
    from engine.tasks import registry

    tasks = registry.all_tasks()
    generated = {"separate", "lyrics", "convert"}
    assert generated <= set(tasks)
    assert not generated & {info.name for info in pkgutil.iter_modules(commands.__path__)}
    parser = build_parser()
    for name in generated:
        task = tasks[name]
        args = parser.parse_args([name, "in.wav", "--out", "folder"])
        assert (args.command, args.inputs, args.out) == (name, ["in.wav"], "folder")
        assert all(hasattr(args, field.name) for field in dataclasses.fields(task.settings_type))


def test_a_file_task_command_imports_only_its_own_task():
    code = ("import sys; from engine.cli import main; rc = main(['convert', 'no-such-file.wav', '--json']); "
            "print('engine.tasks.separate' in sys.modules, 'engine.tasks.lyrics' in sys.modules, rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False False 1"


def test_a_command_module_replaces_the_generated_command_of_its_task(monkeypatch):
    """A task whose command line is not ``INPUT…`` (text to speak) keeps its own module."""
    from engine.tasks import registry

    convert = registry.get("convert")
    monkeypatch.setitem(registry._TASKS, "info", dataclasses.replace(convert, name="info"))
    args = build_parser().parse_args(["info", "a.wav"])
    assert args.files == ["a.wav"] and not hasattr(args, "out")
