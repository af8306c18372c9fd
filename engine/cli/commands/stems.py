"""``vocalis stems SONG… --out DIR [--stems 4|2] [--format wav|flac]``: one file per music stem."""

from engine.cli.commands._file_task import file_task_command

NAME, HELP, configure, run = file_task_command("stems")
