"""A form built from a task's settings dataclass (``engine.settings.option`` metadata), so the GUI never
keeps its own list of options: one widget per field, labelled and documented by the field itself.

The few choices most people change come first; fields marked ``advanced`` fold under "Advanced". Models,
languages and vocal separators are lists (``kind``), paths get a Browse… button (``browse``), and a
``zero_means`` text replaces a bare 0."""

from __future__ import annotations

import dataclasses
import enum
import logging
import typing
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QLocale, QSize, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QScrollArea, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from engine.errors import BadInputError, VocalisError
from engine.settings import field_type

log = logging.getLogger("vocalis.gui.settings")

WIDEST_INT = 2_000_000_000
PICK_PATH = object()
"""Item data of a list's "a file…" / "a folder…" entry: choosing it opens a file dialog."""
SCREEN_SHARE = 0.8  # a scrolling form asks for at most this share of the screen's height
CHOICE_MIN_CHARS = 24  # lists are at least this wide; longer entries show in full when opened


def _choice_text(value: Any) -> str:
    return str(value.value if isinstance(value, enum.Enum) else value)


def language_name(code: str) -> str:
    """``French (fr)``: the language's English name from Qt's locale data, the bare code when Qt has none."""
    language = QLocale(code).language()
    if language in (QLocale.Language.C, QLocale.Language.AnyLanguage):
        return code
    return f"{QLocale.languageToString(language)} ({code})"


class PathEdit(QWidget):
    """A path typed or picked with Browse… (``mode``: file, folder, or file-or-folder with two buttons)."""

    def __init__(self, text: str, mode: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.edit = QLineEdit(text)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        self.buttons: dict[str, QPushButton] = {}
        picks = {"file": ("file",), "folder": ("folder",), "file-or-folder": ("file", "folder")}[mode]
        for pick in picks:
            button = QPushButton("Browse…" if len(picks) == 1 else f"{pick.capitalize()}…")
            button.clicked.connect(lambda _checked=False, pick=pick: self.browse(pick))
            self.buttons[pick] = button
            layout.addWidget(button)

    def text(self) -> str:
        return self.edit.text()

    def browse(self, pick: str) -> None:
        chosen = ask_path(self, pick, self.edit.text())
        if chosen:
            self.edit.setText(chosen)


def ask_path(parent: QWidget, pick: str, current: str = "") -> str:
    """A file or folder chosen in the system dialog; empty when cancelled."""
    start = str(Path(current).expanduser().parent if current else Path.home())
    if pick == "folder":
        return QFileDialog.getExistingDirectory(parent, "Choose a folder", current or start)
    path, _ = QFileDialog.getOpenFileName(parent, "Choose a file", current or start)
    return path


class ChoiceList(QComboBox):
    """A list of values; an optional last entry ("a file…") picks a path, kept as ``path_prefix + path``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # Long entries (model names with their state) must not make the form wider than the screen.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(CHOICE_MIN_CHARS)
        self._pick: str | None = None
        self._path_prefix = ""
        self._previous = -1
        self.activated.connect(self._on_activated)

    def add_value(self, text: str, value: Any, tip: str = "") -> None:
        """Add ``value`` before the path entry (if any)."""
        index = self.count() - (1 if self._pick else 0)
        self.insertItem(index, text, value)
        if tip:
            self.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)

    def allow_path(self, pick: str, text: str, prefix: str = "") -> None:
        self._pick, self._path_prefix = pick, prefix
        self.addItem(text, PICK_PATH)

    def select_value(self, value: Any, text: str | None = None) -> None:
        """Show ``value``, adding it when the list lacks it (a folder, or an id no longer catalogued)."""
        index = self.index_of(value)
        if index < 0:
            self.add_value(text or str(value), value)
            index = self.index_of(value)
        self.setCurrentIndex(index)
        self._previous = index

    def index_of(self, value: Any) -> int:
        """Like ``findData``, for any Python value (a track object, say), compared in Python."""
        return next((i for i in range(self.count()) if self.itemData(i) is value or self.itemData(i) == value), -1)

    def value(self) -> Any:
        return self.currentData()

    def _on_activated(self, index: int) -> None:
        if self.itemData(index) is not PICK_PATH:
            self._previous = index
            return
        chosen = ask_path(self, self._pick or "file")
        if chosen:
            self.select_value(self._path_prefix + chosen, f"{Path(chosen).name} ({self._pick})")
        else:
            self.setCurrentIndex(max(self._previous, 0))


def _model_list(task: str, value: str, browse: str | None) -> ChoiceList:
    """The catalogued models of ``task``, installed ones first, each saying whether it is installed."""
    from engine.models.store import ModelState, default_store

    combo = ChoiceList()
    store = default_store()
    rows = []
    for entry in store.catalog.for_task(task):
        if entry.source.kind == "pypi":
            state = "ships with Vocalis"
        else:
            state = ("installed" if store.status(entry.id).state is ModelState.INSTALLED
                     else "not installed: get it in Tools ▸ Models…")
        rows.append((not state.startswith("not"), entry, state))
    for _ready, entry, state in sorted(rows, key=lambda row: not row[0]):
        combo.add_value(f"{entry.name} — {state}", entry.id, entry.description)
    if browse:  # a model given as a path (a CTranslate2 folder for Whisper) rather than a catalog id
        pick = "folder" if browse == "file-or-folder" else browse
        combo.allow_path(pick, f"a {pick}…")
    combo.select_value(value, f"{Path(value).name} (folder)" if value not in store.catalog else value)
    return combo


def _language_list(value: str) -> ChoiceList:
    from engine.models.whisper_ct2 import language_codes

    combo = ChoiceList()
    combo.add_value("detect it (auto)", "auto")
    for text, code in sorted((language_name(code), code) for code in language_codes()):
        combo.add_value(text, code)
    combo.select_value(value)
    return combo


def _separator_list(value: str) -> ChoiceList:
    from engine.tasks import separators

    combo = ChoiceList()
    for name in separators.available_separators():
        combo.add_value("none: segment the mix" if name == separators.NONE else name, name)
    combo.allow_path("file", "a vocal stem file…", separators.STEM_PREFIX)
    if value.startswith(separators.STEM_PREFIX):
        combo.select_value(value, f"{Path(value[len(separators.STEM_PREFIX):]).name} (file)")
    else:
        combo.select_value(value)
    return combo


LIST_BUILDERS: dict[str, Callable[..., ChoiceList]] = {"language": _language_list, "separator": _separator_list}


class MultiChoice(QWidget):
    """One check box per choice of a list field (e.g. the output formats)."""

    def __init__(self, choices: typing.Sequence[Any], chosen: typing.Sequence[Any], parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.boxes = {}
        for choice in choices:
            box = QCheckBox(_choice_text(choice))
            box.setChecked(choice in chosen)
            self.boxes[choice] = box
            layout.addWidget(box)
        layout.addStretch(1)

    def value(self) -> list[Any]:
        return [choice for choice, box in self.boxes.items() if box.isChecked()]


class SettingsForm(QWidget):
    """Edits one settings object; :meth:`settings` returns a new instance with the values shown."""

    def __init__(self, settings: Any, parent: QWidget | None = None, *, hidden: tuple[str, ...] = ()):
        super().__init__(parent)
        self._type = type(settings)
        self._initial = settings
        self._editors: dict[str, tuple[QWidget, Callable[[], Any]]] = {}
        self._rows: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setToolTip("Expert settings: most people never change them")
        self.advanced_button.toggled.connect(self.show_advanced)
        self.advanced = QWidget()
        advanced_layout = QFormLayout(self.advanced)
        advanced_layout.setContentsMargins(12, 0, 0, 0)
        for field in dataclasses.fields(self._type):
            if field.name in hidden:
                continue
            editor, getter = self._editor(field, field_type(self._type, field), getattr(settings, field.name))
            editor.setObjectName(field.name)
            editor.setToolTip(field.metadata.get("help", ""))
            self._editors[field.name] = (editor, getter)
            label = field.metadata.get("label") or field.name.replace("_", " ").capitalize()
            (advanced_layout if field.metadata.get("advanced") else layout).addRow(label, editor)
        if advanced_layout.rowCount():
            layout.addRow(self.advanced_button)
            layout.addRow(self.advanced)
        self.advanced.setVisible(False)
        self.advanced_button.setVisible(bool(advanced_layout.rowCount()))

    def editor(self, name: str) -> QWidget:
        return self._editors[name][0]

    def is_advanced(self, name: str) -> bool:
        return self.advanced.isAncestorOf(self.editor(name))

    def show_advanced(self, shown: bool = True) -> None:
        self.advanced_button.setChecked(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.advanced.setVisible(shown)
        self.updateGeometry()

    def _editor(self, field: dataclasses.Field, kind: Any, value: Any) -> tuple[QWidget, Callable[[], Any]]:
        meta = field.metadata
        choices = meta.get("choices")
        if kind is bool:
            box = QCheckBox()
            box.setChecked(bool(value))
            return box, box.isChecked
        if meta.get("kind") is not None:
            try:
                if meta["kind"] == "model":
                    combo = _model_list(meta["model_task"], value, meta.get("browse"))
                else:
                    combo = LIST_BUILDERS[meta["kind"]](value)
            except (ImportError, VocalisError) as exc:  # no list: the field stays editable as text
                log.warning("no list of %s values: %s", field.name, exc)
            else:
                return combo, lambda: self._list_value(field.name, combo)
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            choices = list(kind)
        if choices and typing.get_origin(kind) in (list, tuple):
            multi = MultiChoice(choices, value)
            return multi, multi.value
        if choices:
            combo = ChoiceList()
            for choice in choices:
                combo.add_value(_choice_text(choice), choice)
            combo.select_value(value if value in choices else choices[0])
            return combo, combo.value
        if kind in (int, float):
            return self._number(meta, kind, value)
        if meta.get("browse"):
            path = PathEdit(str(value), meta["browse"])
            return path, path.text
        if typing.get_origin(kind) in (list, tuple):
            edit = QLineEdit(", ".join(str(v) for v in value))
            inner = (typing.get_args(kind) or (str,))[0]
            return edit, lambda: self._parse_list(field.name, edit.text(), inner)
        edit = QLineEdit(str(value))
        return edit, edit.text

    @staticmethod
    def _number(meta, kind, value) -> tuple[QWidget, Callable[[], Any]]:
        if kind is int:
            spin = QSpinBox()
            spin.setRange(int(meta["minimum"] if meta.get("minimum") is not None else -WIDEST_INT),
                          int(meta["maximum"] if meta.get("maximum") is not None else WIDEST_INT))
            spin.setValue(int(value))
        else:
            spin = QDoubleSpinBox()
            spin.setDecimals(3)
            spin.setRange(float(meta["minimum"] if meta.get("minimum") is not None else -1e9),
                          float(meta["maximum"] if meta.get("maximum") is not None else 1e9))
            spin.setValue(float(value))
        if meta.get("zero_means") and spin.minimum() == 0:
            spin.setSpecialValueText(meta["zero_means"])  # Qt shows it when the value is the minimum, 0
        return spin, spin.value

    def _list_value(self, name: str, combo: ChoiceList) -> Any:
        """The chosen value; an entry that is not a value (another track as the vocals, say) leaves the
        setting as it was, for the owner of that entry to act on."""
        value = combo.value()
        return value if isinstance(value, str) else getattr(self._initial, name)

    @staticmethod
    def _parse_list(name: str, text: str, inner: type) -> list:
        try:
            return [inner(part.strip()) for part in text.split(",") if part.strip()]
        except ValueError as exc:
            raise BadInputError(None, f"{name}: expected a comma-separated list ({exc})") from exc

    def settings(self) -> Any:
        """A settings object from the widgets; values the settings refuse are a :class:`BadInputError`."""
        values = {name: getattr(self._initial, name) for name in
                  (f.name for f in dataclasses.fields(self._type)) if name not in self._editors}
        for name, (_editor, getter) in self._editors.items():
            values[name] = getter()
        try:
            return self._type(**values)
        except ValueError as exc:
            raise BadInputError(None, str(exc)) from exc


class FittingScrollArea(QScrollArea):
    """Scrolls its widget only when the screen is too small for it: it asks for the widget's full size, up
    to :data:`SCREEN_SHARE` of the screen's height, so short forms never show a scroll bar."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # forms narrow, never scroll sideways
        self.setWidget(widget)

    def sizeHint(self) -> QSize:
        wanted = self.widget().sizeHint()
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        height = wanted.height() if screen is None else min(wanted.height(), int(screen.height() * SCREEN_SHARE))
        return QSize(wanted.width() + self.verticalScrollBar().sizeHint().width(), height + 2)


class SettingsDialog(QDialog):
    """A task's settings form with OK and Cancel; ``target`` names what the task will act on (the track and
    its selection) at the top."""

    def __init__(self, title: str, settings: Any, parent: QWidget | None = None, *, hidden: tuple[str, ...] = (),
                 target: str = ""):
        super().__init__(parent)
        self.setWindowTitle(f"{title} — {target}" if target else title)
        self.title = title
        self.form = SettingsForm(settings, self, hidden=hidden)
        self.target_label = QLabel(f"Acts on {target}" if target else "")
        self.target_label.setObjectName("target")
        self.target_label.setWordWrap(True)
        self.target_label.setVisible(bool(target))
        font = self.target_label.font()
        font.setBold(True)
        self.target_label.setFont(font)
        self.scroll = FittingScrollArea(self.form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.target_label)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(buttons)
        self.form.advanced_button.toggled.connect(self._fit)

    def _fit(self) -> None:
        """Grow (or shrink) to the form when Advanced opens or closes, within the screen."""
        self.scroll.updateGeometry()
        self.adjustSize()

    def ask(self, window) -> Any | None:
        """Run the dialog; the settings it gives, or None when the user cancels or a value is invalid (then
        the window shows why)."""
        if not self.exec():
            return None
        try:
            return self.form.settings()
        except VocalisError as exc:
            window.report_error(self.title, str(exc))
            return None
