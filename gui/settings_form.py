"""A form built from a task's settings dataclass (``engine.settings.option`` metadata), so the GUI never
keeps its own list of options: one widget per field, labelled and documented by the field itself."""

from __future__ import annotations

import dataclasses
import enum
import typing
from typing import Any

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox,
                               QVBoxLayout, QWidget)

from engine.errors import BadInputError, VocalisError
from engine.settings import field_type

WIDEST_INT = 2_000_000_000


class SettingsForm(QWidget):
    """Edits one settings object; :meth:`settings` returns a new instance with the values shown."""

    def __init__(self, settings: Any, parent: QWidget | None = None, *, hidden: tuple[str, ...] = ()):
        super().__init__(parent)
        self._type = type(settings)
        self._editors: dict[str, tuple[QWidget, Any]] = {}
        layout = QFormLayout(self)
        for field in dataclasses.fields(self._type):
            if field.name in hidden:
                continue
            kind = field_type(self._type, field)
            editor = self._editor(field, kind, getattr(settings, field.name))
            editor.setObjectName(field.name)
            editor.setToolTip(field.metadata.get("help", ""))
            self._editors[field.name] = (editor, kind)
            layout.addRow(field.metadata.get("label") or field.name.replace("_", " ").capitalize(), editor)
        self._hidden_values = {name: getattr(settings, name) for name in hidden}

    def editor(self, name: str) -> QWidget:
        return self._editors[name][0]

    @staticmethod
    def _editor(field: dataclasses.Field, kind: Any, value: Any) -> QWidget:
        meta = field.metadata
        choices = meta.get("choices")
        if kind is bool:
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            combo = QComboBox()
            for member in kind:
                combo.addItem(str(member.value), member)
            combo.setCurrentIndex(list(kind).index(value))
            return combo
        if choices and typing.get_origin(kind) not in (list, tuple):
            combo = QComboBox()
            for choice in choices:
                combo.addItem(str(choice), choice)
            combo.setCurrentIndex(list(choices).index(value) if value in choices else 0)
            return combo
        if kind is int:
            spin = QSpinBox()
            spin.setRange(int(meta.get("minimum") if meta.get("minimum") is not None else -WIDEST_INT),
                          int(meta.get("maximum") if meta.get("maximum") is not None else WIDEST_INT))
            spin.setValue(int(value))
            return spin
        if kind is float:
            spin = QDoubleSpinBox()
            spin.setDecimals(3)
            spin.setRange(float(meta.get("minimum") if meta.get("minimum") is not None else -1e9),
                          float(meta.get("maximum") if meta.get("maximum") is not None else 1e9))
            spin.setValue(float(value))
            return spin
        edit = QLineEdit(", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value))
        return edit

    def settings(self) -> Any:
        """A settings object from the widgets; values the settings refuse are a :class:`BadInputError`."""
        values = dict(self._hidden_values)
        for name, (editor, kind) in self._editors.items():
            if isinstance(editor, QCheckBox):
                values[name] = editor.isChecked()
            elif isinstance(editor, QComboBox):
                values[name] = editor.currentData()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                values[name] = editor.value()
            elif typing.get_origin(kind) in (list, tuple):
                inner = (typing.get_args(kind) or (str,))[0]
                try:
                    values[name] = [inner(part.strip()) for part in editor.text().split(",") if part.strip()]
                except ValueError as exc:
                    raise BadInputError(None, f"{name}: expected a comma-separated list ({exc})") from exc
            else:
                values[name] = editor.text()
        try:
            return self._type(**values)
        except ValueError as exc:
            raise BadInputError(None, str(exc)) from exc



class SettingsDialog(QDialog):
    """A task's settings form with OK and Cancel; subclasses may add rows to ``form``."""

    def __init__(self, title: str, settings: Any, parent: QWidget | None = None, *, hidden: tuple[str, ...] = ()):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = SettingsForm(settings, self, hidden=hidden)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(buttons)

    def ask(self, window) -> Any | None:
        """Run the dialog; the settings it gives, or None when the user cancels or a value is invalid (then
        the window shows why)."""
        if not self.exec():
            return None
        try:
            return self.form.settings()
        except VocalisError as exc:
            window.report_error(self.windowTitle(), str(exc))
            return None
