"""The layering of docs/architecture.md is enforced by import-linter contracts ([tool.importlinter] in
pyproject.toml): the engine never imports Qt, and no layer imports one above it. tools/test.sh runs
``lint-imports`` before pytest; this test keeps the contracts in a plain pytest run too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

LINT = ("import sys; from importlinter.cli import lint_imports_command; sys.argv[0] = 'lint-imports'; "
        "lint_imports_command()")


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the tree at ``root`` (its pyproject.toml, its packages)."""
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_the_layer_contracts_hold():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_and_qt_in_the_engine_break_them(tmp_path):
    for name in ("engine", "gui"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / "engine" / "tasks" / "convert.py", "a", encoding="utf-8") as module:
        module.write("\nfrom engine.batch import plan  # upward\nimport PySide6  # Qt\n")
    result = lint(tmp_path)
    assert result.returncode == 1
    assert "engine.tasks.convert -> engine.batch" in result.stdout
    assert "engine.tasks.convert -> PySide6" in result.stdout
