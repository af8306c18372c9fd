"""Task panels plug into the main window here: every module of this package has ``install(window)`` and
uses only the window API documented in docs/architecture.md ("GUI extension point"):
``add_task_action``, ``add_panel``, ``tracks``, ``current_track``, ``current_selection``,
``selected_clip``, ``add_track``, ``run_job``, ``show_message``, ``report_error``, ``seek`` and the
``position_changed`` signal."""

from __future__ import annotations

import importlib
import logging
import pkgutil

log = logging.getLogger("vocalis.gui.tasks")


def install_all(window) -> list[str]:
    """Import every task module and let it install itself; returns the problems of those that could not
    (logged with their traceback) so the window can say which panels are missing instead of failing."""
    problems = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}").install(window)
        except Exception as exc:  # noqa: BLE001 - one broken panel must not keep the window from opening
            log.exception("task panel %s could not be installed", info.name)
            problems.append(f"{info.name}: {exc}")
    return problems
