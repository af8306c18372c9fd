"""Forms and panels a person can use (pytest-qt, offscreen): settings forms that fold expert fields and
offer lists and Browse…, actions that need a track, dialogs that name it, the missing-model dialog, download
errors shown once, the Batch panel's size, and lyrics that belong to their track."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

from engine.audio.clip import Clip
from engine.errors import BadInputError, MissingModelError
from engine.settings import add_arguments, option
from engine.tasks.convert import ConvertSettings
from engine.tasks.lyrics import LyricLine, Lyrics, LyricsSettings
from engine.tasks.separate import SeparateSettings
from gui.batch_panel import open_batch_panel
from gui.main_window import MainWindow
from gui.settings_form import SettingsDialog, SettingsForm
from gui.views import style

RATE = 16000


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.playback.stop()


def add_silent_track(window: MainWindow, name: str, seconds: float = 2.0, source: Path | None = None):
    return window.add_track(Clip(np.zeros((1, int(seconds * RATE)), np.float32), RATE, name=name, source=source))


def visible_boxes(window, name: str | None = None) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox)
            if box.isVisible() and (name is None or box.objectName() == name)]


def lyrics_task(window):
    from gui.tasks.lyrics import LyricsTask

    return window.findChild(LyricsTask)


# --- settings forms -----------------------------------------------------------------------------------

def test_lyrics_form_shows_the_common_choices_and_folds_the_expert_ones(qtbot):
    form = SettingsForm(LyricsSettings())
    qtbot.addWidget(form)
    form.show()
    basic = [name for name in form._editors if not form.is_advanced(name)]
    assert basic == ["model", "device", "language", "separator", "format"]
    for expert in ("vad_onset", "vad_offset", "silero_threshold", "temperatures", "beam_size", "best_of"):
        assert form.is_advanced(expert) and not form.editor(expert).isVisible()
    assert form.editor("language").isVisible()
    form.advanced_button.click()
    assert form.editor("beam_size").isVisible()
    assert form.settings() == LyricsSettings()


def test_separate_form_keeps_model_and_device_in_front(qtbot):
    form = SettingsForm(SeparateSettings())
    qtbot.addWidget(form)
    assert [name for name in form._editors if not form.is_advanced(name)] == ["model", "device"]
    assert form.settings() == SeparateSettings()


def test_models_are_a_list_of_the_task_s_catalog_models_saying_which_are_installed(qtbot, monkeypatch, tmp_path):
    form = SettingsForm(LyricsSettings())
    qtbot.addWidget(form)
    models = form.editor("model")
    values = [models.itemData(i) for i in range(models.count())]
    assert values[0] == "whisper-base" and models.currentData() == "whisper-base"
    assert {"faster-whisper-tiny", "faster-whisper-small", "faster-whisper-large-v3"} <= set(values)
    assert "mossformer2-ss-16k" not in values  # another task's model
    small = models.itemText(models.findData("faster-whisper-small"))
    assert "not installed" in small and "Models" in small

    folder = tmp_path / "my-ct2-whisper"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(folder))
    models.activated.emit(models.count() - 1)  # "a folder…"
    assert models.currentData() == str(folder)
    assert form.settings().model == str(folder)


def test_languages_are_a_list_of_names_with_auto_first(qtbot):
    form = SettingsForm(LyricsSettings(language="fr"))
    qtbot.addWidget(form)
    languages = form.editor("language")
    assert languages.itemData(0) == "auto" and languages.currentText() == "French (fr)"
    assert languages.findData("ja") >= 0 and languages.itemText(languages.findData("ja")) == "Japanese (ja)"
    assert languages.count() > 90


def test_vocal_separator_offers_the_registered_ones_and_a_stem_file(qtbot, monkeypatch, tmp_path):
    form = SettingsForm(LyricsSettings())
    qtbot.addWidget(form)
    separator = form.editor("separator")
    assert [separator.itemData(i) for i in range(separator.count() - 1)] == ["none", "hdemucs"]
    assert separator.itemText(separator.count() - 1) == "a vocal stem file…"

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: ("", ""))
    separator.activated.emit(separator.count() - 1)  # cancelled: the choice stays
    assert separator.currentData() == "none"
    stem = tmp_path / "vocals.wav"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(stem), ""))
    separator.activated.emit(separator.count() - 1)
    assert form.settings().separator == f"stem:{stem}"
    assert separator.currentText() == "vocals.wav (file)"


def test_files_and_folders_get_browse_buttons(qtbot, monkeypatch, tmp_path):
    form = SettingsForm(SeparateSettings())
    qtbot.addWidget(form)
    checkpoint = tmp_path / "tiny.safetensors"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(checkpoint), ""))
    form.editor("checkpoint").buttons["file"].click()
    assert form.settings().checkpoint == str(checkpoint)

    lyrics = SettingsForm(LyricsSettings())
    qtbot.addWidget(lyrics)
    assert set(lyrics.editor("line_timings").buttons) == {"file", "folder"}  # a file, or a folder of them


def test_zero_says_what_it_means_in_the_form_and_the_cli_help(qtbot):
    form = SettingsForm(ConvertSettings())
    qtbot.addWidget(form)
    rate = form.editor("sample_rate")
    assert rate.value() == 0 and rate.text() == "keep the input's"
    rate.setValue(22050)
    assert rate.text() == "22050" and form.settings().sample_rate == 22050
    parser = argparse.ArgumentParser()
    add_arguments(parser, ConvertSettings)
    assert "0 = keep the input's" in parser.format_help().replace("\n", " ").replace("  ", " ")


def test_option_refuses_unknown_kinds():
    with pytest.raises(ValueError, match="unknown field kind"):
        option("x", "help", kind="colour")
    with pytest.raises(ValueError, match="catalog task"):
        option("x", "help", kind="model")
    with pytest.raises(ValueError, match="unknown browse kind"):
        option("x", "help", browse="url")


# --- actions that need a track; the current track; dialogs naming it -------------------------------------

def test_actions_that_need_a_track_are_disabled_without_one(qtbot, window, monkeypatch):
    opened = []
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: opened.append(self.windowTitle()) or 0)
    needing = {a.text(): a for a in (*window.actions.track_actions, *window.actions.tasks_menu.actions())
               if not a.isSeparator()}
    speak = needing.pop("Speak text…")
    assert speak.isEnabled()  # speaking makes a new track: it needs none
    assert {"Transcribe lyrics…", "Separate speakers…", "&Export…", "&Gain…", "&Close Track"} <= set(needing)
    for action in needing.values():
        assert not action.isEnabled(), action.text()
    needing["Transcribe lyrics…"].trigger()
    needing["Separate speakers…"].trigger()
    assert opened == [] and visible_boxes(window) == []  # no form, no error: nothing happened

    track = add_silent_track(window, "take")
    assert all(action.isEnabled() for action in needing.values())
    window.close_track(track)
    assert not any(action.isEnabled() for action in needing.values())


def test_the_current_track_is_visibly_marked(qtbot, window):
    first = add_silent_track(window, "first")
    second = add_silent_track(window, "second")

    def header_colour(track):
        return track.header.palette().color(track.header.backgroundRole())

    assert header_colour(second) == style.CURRENT_HEADER_BACKGROUND
    assert header_colour(first) == style.HEADER_BACKGROUND
    window.track_area.set_current(first)
    assert header_colour(first) == style.CURRENT_HEADER_BACKGROUND
    assert header_colour(second) == style.HEADER_BACKGROUND
    contrast = sum(abs(a - b) for a, b in zip(style.CURRENT_HEADER_BACKGROUND.getRgb()[:3],
                                              style.HEADER_BACKGROUND.getRgb()[:3]))
    assert contrast > 120


def test_task_and_edit_dialogs_name_the_track_and_selection(qtbot, window, monkeypatch):
    from gui import dialogs

    shown = []
    monkeypatch.setattr(SettingsDialog, "exec",
                        lambda self: shown.append((self.windowTitle(), self.target_label.text())) or 0)
    add_silent_track(window, "interview")
    window.track_area.selection.set(0.5, 1.25)
    lyrics_task(window).action.trigger()
    separate = [a for a in window.actions.tasks_menu.actions() if a.text() == "Separate speakers…"][0]
    separate.trigger()
    target = "“interview”, selection 0:00:00.500–0:00:01.250"
    assert shown == [(f"Transcribe lyrics — {target}", f"Acts on {target}"),
                     (f"Separate speakers — {target}", f"Acts on {target}")]

    titles = []
    monkeypatch.setattr(dialogs, "ask_float", lambda parent, title, *args: titles.append(title))
    window.edit_gain()
    assert titles == [f"Gain — {target}"]


# --- missing models and downloads --------------------------------------------------------------------

def test_a_missing_model_leads_to_the_models_window_on_that_model(qtbot, window):
    from gui.models_dialog import ModelsDialog

    def needs_a_model(progress, cancel):
        raise MissingModelError("model faster-whisper-small (Whisper small) is not installed: run "
                                "`vocalis models install faster-whisper-small`")

    job = window.run_job(needs_a_model, name="Transcribing song")
    qtbot.waitUntil(lambda: job.finished and bool(visible_boxes(window, "vocalis-missing-model")), timeout=10000)
    box = visible_boxes(window, "vocalis-missing-model")[0]
    assert "Whisper small" in box.text() and "not installed" in box.text()
    assert "vocalis models" not in box.text()  # words and a button, not a command to type
    assert visible_boxes(window, "vocalis-error") == []
    box.findChild(QPushButton, "open-models").click()
    models = [d for d in window.findChildren(ModelsDialog) if d.isVisible()]
    assert len(models) == 1 and models[0].selected_id() == "faster-whisper-small"
    assert window.show_models("faster-whisper-tiny") is models[0]  # one Models window, moved to the model
    assert models[0].selected_id() == "faster-whisper-tiny"


def test_the_missing_model_dialog_leads_to_the_missing_dependency_not_the_installed_model(qtbot, window):
    from gui.models_dialog import ModelsDialog

    def needs_a_dependency(progress, cancel):  # how engine.models.loading names missing dependencies
        raise MissingModelError("model whisper-base needs a model that is not installed: hdemucs-high. Install "
                                "them from Tools ▸ Models or with `vocalis models install whisper-base`")

    window.run_job(needs_a_dependency, name="Transcribing song")
    qtbot.waitUntil(lambda: bool(visible_boxes(window, "vocalis-missing-model")), timeout=10000)
    box = visible_boxes(window, "vocalis-missing-model")[0]
    assert "hdemucs-high" in box.text() and "whisper-base" not in box.text()
    box.findChild(QPushButton, "open-models").click()
    assert window.findChild(ModelsDialog).selected_id() == "hdemucs-high"


def test_an_offline_download_error_is_shown_once_in_words(qtbot, window, monkeypatch):
    import engine.models.install.huggingface as download_module

    class ConnectError(OSError):
        """Named like httpx's, which is how the downloader recognises a network failure."""

    def unreachable(*args, **kwargs):
        raise ConnectError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download_module, "hf_hub_download", unreachable)
    models = window.show_models("faster-whisper-tiny")
    monkeypatch.setattr(models, "ask_licences", lambda entries: True)
    job = models.download_selected()
    qtbot.waitUntil(lambda: job.finished and not window.jobs.running, timeout=10000)
    qtbot.wait(50)  # let any second report arrive
    boxes = [box for box in window.findChildren(QMessageBox) if box.isVisible()]
    assert len(boxes) == 1
    text = boxes[0].text()
    assert "cannot reach huggingface.co (offline or behind a proxy?)" in text
    assert "ConnectError" not in text and "Errno" not in text


# --- the Batch panel ---------------------------------------------------------------------------------

def test_batch_panel_with_the_lyrics_task_fits_a_small_screen_and_gives_the_tracks_back(qtbot, window):
    available = (1366, 768 - 60)  # a 1366×768 screen less a title bar and a task bar
    window.resize(*available)
    add_silent_track(window, "song")
    qtbot.wait(20)
    tracks_before = window.track_area.height()

    dock = open_batch_panel(window)
    panel = dock.widget()
    panel.task_combo.setCurrentIndex(panel.task_combo.findData("lyrics"))
    panel.settings_form.show_advanced(True)  # the longest form there is
    qtbot.wait(20)
    assert window.minimumSizeHint().height() <= available[1]
    assert window.width() <= available[0] and window.height() <= available[1]
    start = panel.start_button
    assert start.isVisible()
    corner = start.mapTo(window, start.rect().bottomRight())
    assert window.rect().contains(corner)
    assert panel.choices_scroll.widget() is panel.choices  # the settings scroll instead of growing

    dock.close()
    qtbot.wait(20)
    assert window.track_area.height() >= tracks_before
    assert window.height() <= available[1]


# --- lyrics belong to their track ---------------------------------------------------------------------

SONG_A = Lyrics([LyricLine(0.2, 0.8, "first song line")], language="en")
SONG_B = Lyrics([LyricLine(0.5, 1.5, "second song line")], language="fr")


def test_lyrics_follow_the_current_track_and_close_with_it(qtbot, window):
    task = lyrics_task(window)
    panel = task.panel
    first = add_silent_track(window, "first")
    panel.set_lyrics(SONG_A)
    second = add_silent_track(window, "second")
    assert panel.lines == [] and panel.owner is second
    panel.set_lyrics(SONG_B)
    assert first.views[0].regions == [(0.2, 0.8, "first song line")]
    assert second.views[0].regions == [(0.5, 1.5, "second song line")]

    window.track_area.set_current(first)
    assert [line.text for line in panel.lines] == ["first song line"] and panel.lyrics.language == "en"
    window.track_area.set_current(second)
    assert [line.text for line in panel.lines] == ["second song line"]

    window.undo_stack.undo()  # the last step was made on the second track: it changes that track only
    assert panel.lines == [] and second.views[0].regions == []
    assert first.views[0].regions == [(0.2, 0.8, "first song line")]
    window.undo_stack.redo()

    window.close_track(second)
    assert panel.owner is first and [line.text for line in panel.lines] == ["first song line"]
    assert second not in panel.owners()
    window.close_track(first)
    assert panel.owner is None and panel.lines == [] and panel.owners() == []
    assert not panel.transcribe_button.isEnabled() and not panel.export_button.isEnabled()


def test_lyrics_finished_for_another_track_land_on_it(qtbot, window):
    task = lyrics_task(window)
    first = add_silent_track(window, "first")
    add_silent_track(window, "second")
    task._show_result(first, SONG_A, (0.0, 2.0), replace_selection=False)
    assert task.panel.lines == []  # the second track is shown
    assert first.views[0].regions == [(0.2, 0.8, "first song line")]
    window.track_area.set_current(first)
    assert [line.text for line in task.panel.lines] == ["first song line"]


def test_export_suggests_the_track_s_name_and_refuses_nothing(qtbot, window, monkeypatch, tmp_path):
    panel = lyrics_task(window).panel
    add_silent_track(window, "ballad", source=tmp_path / "ballad.flac")
    assert not panel.export_button.isEnabled()
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: asked.append(args[2]) or ("", ""))
    panel._ask_export()
    assert asked == []  # no save dialog for nothing
    assert "no lyric lines to export" in visible_boxes(panel, "vocalis-error")[0].text()
    with pytest.raises(BadInputError, match="no lyric lines"):
        panel.export(tmp_path / "empty.lrc", "lrc")
    assert not (tmp_path / "empty.lrc").exists()

    panel.set_lyrics(SONG_A)
    assert panel.export_button.isEnabled()
    panel.export_format.setCurrentText("srt")
    panel.export_button.click()
    assert asked == [str(tmp_path / "ballad.srt")]
