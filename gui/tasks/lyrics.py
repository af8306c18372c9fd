"""Lyrics in the window: the "Transcribe lyrics" action, its settings dialog, and the Lyrics panel
(karaoke table, regions on the waveform, edits with undo, re-transcribing a selection, export, imported
line timings, separated vocals as a track). All engine work runs through ``window.run_job``."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QWidget

from engine.audio.clip import Clip
from engine.audio.dsp import crop_seconds
from engine.errors import BadInputError, VocalisError
from engine.jobs import CancelToken, Job, Progress
from engine.tasks import separators
from engine.tasks.lyrics import LyricLine, Lyrics, LyricsSettings, Segmentation, Word
from engine.tasks.lyrics import formats
from engine.tasks.lyrics.transcribe import transcribe_lyrics
from gui.lyrics_panel import LyricsPanel
from gui.settings_form import SettingsDialog

PANEL_TITLE = "Lyrics"
HIDDEN_SETTINGS = ("format",)  # output files are the CLI's business; the panel exports on demand


class TranscribeDialog(SettingsDialog):
    """The lyrics settings as a form (built from :class:`LyricsSettings`) whose vocal separator list also
    offers the other open tracks as the vocals; OK to transcribe."""

    def __init__(self, settings: LyricsSettings, stem_tracks: list, parent: QWidget | None = None, *,
                 target: str = "", stem_track: Any = None):
        super().__init__("Transcribe lyrics", settings, parent, hidden=HIDDEN_SETTINGS, target=target)
        separator = self.form.editor("separator")
        for track in stem_tracks:
            separator.add_value(f"the track “{track.clip.name or 'untitled'}”", track,
                                "an open track that holds the song's vocals (used instead of separating)")
        if stem_track in stem_tracks:
            separator.select_value(stem_track)

    @property
    def stem_track(self) -> Any:
        """The open track chosen as the vocals, or None when a separator (or none) is chosen."""
        chosen = self.form.editor("separator").value()
        return None if isinstance(chosen, str) else chosen


def transcribe_span(clip: Clip, settings: LyricsSettings, span: tuple[float, float], progress: Progress,
                    cancel: CancelToken, *, vocals: Clip | None = None, line_timings=None) -> Lyrics:
    """``transcribe_lyrics`` on a span of a track. A ``stem:PATH`` separator names a file covering the
    whole song: it is read and cut to the span here, so that its times agree with the clip's."""
    spec = settings.separator.strip()
    if vocals is None and settings.wants_vocals and spec.startswith(separators.STEM_PREFIX):
        vocals = separators.read_stem(spec[len(separators.STEM_PREFIX):])
        if span[0] > 0:
            vocals = crop_seconds(vocals, *span)
    return transcribe_lyrics(clip, settings, progress, cancel, vocals=vocals, line_timings=line_timings)


class LyricsTask(QObject):
    """Connects the panel to the window; keeps the settings of the last run and its separated vocals."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.settings = LyricsSettings()
        # The vocals each track's transcription used, and whether they were separated (then "Add vocals as
        # track" offers them; a stem track or file is already there).
        self._vocals: dict[Any, tuple[Clip, bool]] = {}
        self.stem_track = None  # an open track chosen as the vocal stem, instead of the separator
        self.panel = LyricsPanel(window.undo_stack)
        window.add_panel(PANEL_TITLE, self.panel)
        self.action = QAction("Transcribe lyrics…", window)
        self.action.setToolTip("Time-synced lyrics of the current track or its selection (Whisper)")
        self.action.triggered.connect(self.ask_and_transcribe)
        window.add_task_action(self.action, needs_track=True)
        window.position_changed.connect(self.panel.set_position)
        window.current_track_changed.connect(self._follow_track)
        window.tracks_changed.connect(self._forget_closed_tracks)
        self._follow_track(window.current_track())
        self.panel.seekRequested.connect(window.seek)
        self.panel.ownerLinesChanged.connect(self._show_regions)
        self.panel.transcribeRequested.connect(self.ask_and_transcribe)
        self.panel.retranscribeRequested.connect(self.retranscribe_selection)
        self.panel.importTimingsRequested.connect(self.ask_import_timings)
        self.panel.addVocalsRequested.connect(self.add_vocals_track)
        window.register_track_state("lyrics", self._lines_of, self._restore_lines)

    # --- lyrics follow their track ----------------------------------------------------------------------
    @property
    def vocals(self) -> Clip | None:
        """The vocals the current track's transcription used, if any."""
        used = self._vocals.get(self.window.current_track())
        return used[0] if used else None

    def _separated_vocals(self, track) -> bool:
        return self._vocals.get(track, (None, False))[1]

    def _follow_track(self, track) -> None:
        export_path = None
        if track is not None:  # Export… suggests the track's name, next to its file when it has one
            source = track.clip.source
            export_path = (Path(source).parent if source else Path.home()) / (track.clip.name or "lyrics")
        self.panel.set_owner(track, export_path)
        self.panel.vocals_button.setEnabled(self._separated_vocals(track))

    def _forget_closed_tracks(self) -> None:
        open_tracks = self.window.tracks()
        for track in [t for t in (*self.panel.owners(), *self._vocals) if t not in open_tracks]:
            self.panel.forget(track)
            self._vocals.pop(track, None)

    # --- transcription ---------------------------------------------------------------------------------
    def ask_and_transcribe(self) -> Job | None:
        if self.window.current_track() is None:
            self.window.report_error("Transcribe lyrics", "Open or record a track first.")
            return None
        others = [track for track in self.window.tracks() if track is not self.window.current_track()]
        dialog = TranscribeDialog(self.settings, others, self.window, target=self.window.describe_target(),
                                  stem_track=self.stem_track)
        settings = dialog.ask(self.window)
        if settings is None:
            return None
        self.settings = settings
        self.stem_track = dialog.stem_track
        return self.transcribe()

    def retranscribe_selection(self) -> Job | None:
        if self.window.current_selection() is None:
            self.window.report_error("Re-transcribe selection", "Select the part of the song to transcribe again.")
            return None
        return self.transcribe(replace_selection=True)

    def transcribe(self, settings: LyricsSettings | None = None, *, replace_selection: bool = False) -> Job | None:
        """Transcribe the selection (or the whole track) as one job; times land in track time. The vocals
        come from the chosen stem track, else from the separator setting (the transcription separates them
        and returns them); they are kept per track for "Add vocals as track"."""
        settings = settings or self.settings
        track, clip = self.window.current_track(), self.window.selected_clip()
        if track is None or clip is None:
            self.window.report_error("Transcribe lyrics", "Open or record a track first.")
            return None
        selection = self.window.current_selection()
        span = (selection[0], selection[0] + clip.duration) if selection else (0.0, clip.duration)
        stem = None
        if self.stem_track is not None and shiboken6.isValid(self.stem_track):
            try:
                stem = crop_seconds(self.stem_track.clip, *span)
            except VocalisError as exc:
                self.window.report_error("Transcribe lyrics", f"the vocals track does not cover the span: {exc}")
                return None

        def show(lyrics: Lyrics) -> None:
            if track in self.window.tracks():
                self._vocals.pop(track, None)
                if lyrics.vocals is not None:  # separated ones are offered as a track; a stem track is one
                    self._vocals[track] = (lyrics.vocals, stem is None)
                self.panel.vocals_button.setEnabled(self._separated_vocals(self.window.current_track()))
            self._show_result(track, lyrics, span, replace_selection)

        return self.window.run_job(transcribe_span, clip, settings, span, vocals=stem,
                                   line_timings=self._panel_line_timings(settings, span),
                                   name=f"Transcribing {clip.name or 'lyrics'}", owner=self.panel, on_result=show)

    def _panel_line_timings(self, settings: LyricsSettings, span: tuple[float, float]):
        """For the concatenation method without a timings file: the panel's lines inside ``span`` (a
        transcription being corrected, or imported timings), relative to the span's start."""
        if settings.segmentation is not Segmentation.CONCATENATION or settings.line_timings:
            return None
        start, end = span
        return [(line.start - start, line.end - start) for line in self.panel.lines
                if start <= line.start < end] or None

    def _show_result(self, track, lyrics: Lyrics, span: tuple[float, float], replace_selection: bool) -> None:
        if track not in self.window.tracks():
            return  # closed while transcribing: its lyrics went with it
        lines = [line.shifted(span[0]) for line in lyrics.lines]
        if replace_selection:
            self.panel.replace_range(span[0], span[1], lines, owner=track)
        else:
            self.panel.set_lyrics(replace(lyrics, lines=lines), owner=track)
        self.window.show_message(f"{len(lines)} lyric lines ({lyrics.method}, {lyrics.language})")

    # --- projects and autosave (window.register_track_state) ---------------------------------------------
    def _lines_of(self, track) -> list[dict] | None:
        lines = self.panel.lyrics_of(track).lines
        return [asdict(line) for line in lines] if lines else None

    def _restore_lines(self, track, lines: list[dict]) -> None:
        self.panel.show_lines([LyricLine(line["start"], line["end"], line["text"],
                                         [Word(**word) for word in line.get("words", [])]) for line in lines],
                              owner=track)

    # --- panel requests --------------------------------------------------------------------------------
    def _show_regions(self, track, lines: list[LyricLine]) -> None:
        if track is None or not shiboken6.isValid(track):
            return
        track.clear_regions()
        track.add_regions([(line.start, line.end, line.text) for line in lines])

    def add_vocals_track(self) -> None:
        vocals = self.vocals
        if vocals is not None:
            self.window.add_track(vocals)

    def import_timings(self, path: str | Path) -> None:
        """Show the timed lines of an LRC/CSV/JSON file and switch to the concatenation method, which
        transcribes exactly those lines (grouped into windows)."""
        track = self.window.current_track()
        if track is None:
            raise BadInputError(path, "open the song's track first: line timings belong to a track")
        lyrics = formats.read_lyrics(path)
        self.panel.set_lyrics(lyrics, "Import line timings", owner=track)
        self.settings = replace(self.settings, segmentation=Segmentation.CONCATENATION, line_timings="")

    def ask_import_timings(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Import line timings", "",
                                              "Line timings (*.lrc *.csv *.json)")
        if path:
            try:
                self.import_timings(path)
            except VocalisError as exc:
                self.window.report_error("Import line timings", str(exc))


def install(window) -> LyricsTask:
    return LyricsTask(window)
