"""Vocalis engine: audio, models, tasks and jobs. Never imports Qt, so it runs headless (CLI, batch, tests)."""

__version__ = "0.1.0"
