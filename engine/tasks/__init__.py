"""User-facing tasks: plain functions ``task(inputs, settings, progress, cancel) -> outputs`` that the GUI,
the CLI and batch all call."""
