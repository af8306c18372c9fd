"""``vocalis separate IN… --out DIR [--model ID] [--window S] [--device D]``: one WAV per speaker."""

from engine.cli.commands._file_task import file_task_command

NAME, HELP, configure, run = file_task_command("separate")
