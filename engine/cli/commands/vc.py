"""``vocalis vc SOURCE… --timbre REF --out DIR [--steps N] [--cfg X] [--device D]``: each source in the voice of
the timbre reference (``<stem>_vc.wav`` plus ``<stem>_vc.json`` with the voice similarity)."""

from engine.cli.commands._file_task import file_task_command

NAME, HELP, configure, run = file_task_command("vc")
