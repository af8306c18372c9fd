"""Vocalis desktop front end (PySide6). Widgets and Qt glue only; all work goes through engine.jobs."""
