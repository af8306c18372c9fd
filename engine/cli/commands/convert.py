"""``vocalis convert FILE… --out DIR``: format, rate, channels and level of audio files."""

from engine.cli.commands._file_task import file_task_command

NAME, HELP, configure, run = file_task_command("convert")
