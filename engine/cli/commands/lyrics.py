"""``vocalis lyrics FILE… --out DIR [--separator hdemucs|none|stem:PATH] [--model ID] [--format lrc,srt,...]``."""

from engine.cli.commands._file_task import file_task_command

NAME, HELP, configure, run = file_task_command("lyrics")
