"""The engine must run without Qt: importing every engine module may not load any Qt binding."""

import pkgutil
import subprocess
import sys

import engine

QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "qtpy")


def test_no_engine_module_imports_qt():
    # engine.__main__ is the entry script: importing it runs the CLI, whose default command opens the window.
    names = [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.") if m.name != "engine.__main__"]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported Qt modules: {out.stdout.strip()}"
    assert len(names) > 5
