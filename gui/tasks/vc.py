"""The "Convert voice" panel: the current track (or its selection) said in the voice of a timbre reference —
another track, that track's selection, or a file — as a new track, with the voice-similarity figure."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.audio.dsp import crop_seconds
from engine.errors import VocalisError
from engine.jobs import Job
from engine.models.stablevc.run import find_runs, is_run
from engine.tasks.vc import VCSettings, VoiceConversion, convert_and_score
from gui.settings_form import SettingsForm

STYLE_NOTE = "Same as timbre (Seed-VC v1 has a single speaker condition)"
STYLE_SAME = "Same as timbre"
PICK_STYLE_FILE = "choose a style file"


class ConvertVoicePanel(QWidget):
    """Timbre choice with a play button, the task's settings form, Convert, and the last similarity."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.file_clip: Clip | None = None
        layout = QVBoxLayout(self)
        self.source_label = QLabel("Source: the current track, or its selection")
        layout.addWidget(self.source_label)

        choice = QFormLayout()
        timbre_row = QHBoxLayout()
        self.timbre = QComboBox()
        self.timbre.setToolTip("the voice to convert to: a track, or a file (5-10 s of one speaker is ideal)")
        self.timbre.activated.connect(self._timbre_chosen)
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("listen to the timbre reference")
        self.play_button.clicked.connect(self.play_timbre)
        timbre_row.addWidget(self.timbre, 1)
        timbre_row.addWidget(self.play_button)
        choice.addRow("Timbre", timbre_row)
        self.use_selection = QCheckBox("only the selected time range of that track")
        choice.addRow("", self.use_selection)
        self.style = QComboBox()
        self.style.setToolTip("the style reference (pitch contour, energy, rhythm): live for trained StableVC runs; "
                              "Seed-VC v1 conditions on one speaker embedding, taken from the timbre reference")
        self.style.activated.connect(self._style_chosen)
        self.style_file: Clip | None = None
        choice.addRow("Style", self.style)
        layout.addLayout(choice)

        self.form = SettingsForm(VCSettings(), self, hidden=("timbre", "style"))
        self.model_list = self.form.editor("model")
        for run in find_runs():
            self.model_list.add_value(f"StableVC run: {run.name}", str(run), str(run))
        self.model_list.currentIndexChanged.connect(self.refresh_style)
        layout.addWidget(self.form)
        self.convert_button = QPushButton("Convert voice")
        self.convert_button.clicked.connect(self.convert)
        layout.addWidget(self.convert_button)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        layout.addWidget(self.result)
        layout.addStretch(1)
        self.refresh_tracks()
        window.tracks_changed.connect(self.refresh_tracks)

    # -- style reference (StableVC runs) ----------------------------------------------------------------------

    def style_live(self) -> bool:
        value = self.model_list.value()
        return isinstance(value, str) and is_run(value)

    def refresh_style(self) -> None:
        """Seed-VC: the fixed note. A StableVC run: same as timbre, the tracks, a file."""
        current = self.style.currentData()
        self.style.clear()
        live = self.style_live()
        self.style.setEnabled(live)
        if not live:
            self.style.addItem(STYLE_NOTE, None)
            return
        self.style.addItem(STYLE_SAME, None)
        for track in self.window.tracks():
            self.style.addItem(f"Track: {track.clip.name or 'untitled'}", track)
        if self.style_file is not None:
            self.style.addItem(f"File: {self.style_file.name}", self.style_file)
        self.style.addItem("Choose a file…", PICK_STYLE_FILE)
        index = next((i for i in range(self.style.count()) if self.style.itemData(i) is current), 0)
        self.style.setCurrentIndex(index if current is not None else 0)

    def _style_chosen(self, index: int) -> None:
        if self.style.itemData(index) is not PICK_STYLE_FILE:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Style reference", "", "Audio files (*.*)")
        self.style.setCurrentIndex(0)
        if path:
            self.load_style_file(path)

    def load_style_file(self, path: str | Path) -> None:
        try:
            self.style_file = audio_io.load(path)
        except VocalisError as exc:
            self.window.report_error("Style reference", str(exc))
            return
        self.refresh_style()
        self.style.setCurrentIndex(next(i for i in range(self.style.count()) if self.style.itemData(i) is self.style_file))

    def style_clip(self) -> Clip | None:
        """The chosen style reference, or None for "same as timbre" (and for Seed-VC)."""
        data = self.style.currentData() if self.style_live() else None
        if data is None or data is PICK_STYLE_FILE:
            return None
        return data if isinstance(data, Clip) else data.clip

    # -- timbre reference ---------------------------------------------------------------------------------

    def refresh_tracks(self) -> None:
        """List the window's tracks (kept selected where possible), then the file entries."""
        current = self.timbre.currentData()
        self.timbre.clear()
        for track in self.window.tracks():
            self.timbre.addItem(f"Track: {track.clip.name or 'untitled'}", track)
        if self.file_clip is not None:
            self.timbre.addItem(f"File: {self.file_clip.name}", self.file_clip)
        self.timbre.addItem("Choose a file…", None)
        index = self._index_of(current) if current is not None else -1
        self.timbre.setCurrentIndex(index if index >= 0 else self._default_index())
        self.refresh_style()

    def _index_of(self, data: object) -> int:
        return next((i for i in range(self.timbre.count()) if self.timbre.itemData(i) is data), -1)

    def _default_index(self) -> int:
        """Another track than the current one when there is one (the source is the current track)."""
        current = self.window.current_track()
        for index in range(self.timbre.count()):
            data = self.timbre.itemData(index)
            if data is not None and data is not current:
                return index
        return 0

    def _timbre_chosen(self, index: int) -> None:
        if self.timbre.itemData(index) is None:
            path, _ = QFileDialog.getOpenFileName(self, "Timbre reference", "", "Audio files (*.*)")
            if path:
                self.load_timbre_file(path)
            else:
                self.refresh_tracks()

    def load_timbre_file(self, path: str | Path) -> None:
        try:
            self.file_clip = audio_io.load(path)
        except VocalisError as exc:
            self.window.report_error("Timbre reference", str(exc))
            return
        self.refresh_tracks()
        self.timbre.setCurrentIndex(self._index_of(self.file_clip))

    def timbre_clip(self) -> Clip | None:
        data = self.timbre.currentData()
        if isinstance(data, Clip):
            return data
        if data is None:
            return None
        clip = data.clip
        selection = self.window.current_selection()
        if self.use_selection.isChecked() and selection is not None:
            return crop_seconds(clip, selection[0], min(selection[1], clip.duration))
        return clip

    def play_timbre(self) -> None:
        clip = self.timbre_clip()
        if clip is None:
            return
        # The window API has no "play this clip"; the transport's controller plays any clip (a file included).
        try:
            self.window.playback.play(clip, 0.0, None, False)
        except VocalisError as exc:
            self.window.report_error("Cannot play", str(exc))

    # -- conversion -----------------------------------------------------------------------------------------

    def convert(self) -> Job | None:
        source = self.window.selected_clip()
        if source is None:
            self.window.report_error("Convert voice", "Open or record the track to convert first.")
            return None
        timbre = self.timbre_clip()
        if timbre is None:
            self.window.report_error("Convert voice", "Choose a timbre reference: another track or a file.")
            return None
        try:
            settings = self.form.settings()
        except VocalisError as exc:
            self.window.report_error("Convert voice", str(exc))
            return None
        self.result.setText("")
        return self.window.run_job(convert_and_score, source, timbre, settings, style=self.style_clip(),
                                   name=f"Converting {source.name or 'the track'} to {timbre.name or 'the timbre'}",
                                   on_result=self._add_result, owner=self)

    def _add_result(self, result: VoiceConversion) -> None:
        self.window.add_track(result.clip)
        similarity = result.similarity
        self.result.setText(f"Voice similarity to the timbre (CAM++ cosine): converted {similarity.output:.2f}, "
                            f"source {similarity.source:.2f}")
        self.window.show_message(f"Converted voice added as a track (similarity {similarity.output:.2f})")


class ConvertVoiceTask(QObject):
    """The Tasks-menu action that shows the panel (created on first use)."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.panel: ConvertVoicePanel | None = None
        self.action = QAction("Convert voice…", window)
        self.action.setToolTip("Say the current track in the voice of another track or file (Seed-VC v1)")
        self.action.triggered.connect(self.show_panel)
        window.add_task_action(self.action, needs_track=True)  # it converts the current track

    def show_panel(self) -> ConvertVoicePanel:
        if self.panel is None:
            self.panel = ConvertVoicePanel(self.window)
            self.window.add_panel("Convert voice", self.panel)
        else:
            self.panel.refresh_tracks()
            self.panel.parentWidget().show()
        return self.panel


def install(window) -> ConvertVoiceTask:
    return ConvertVoiceTask(window)
