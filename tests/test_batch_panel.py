"""The Batch panel runs the real batch through a JobRunner: rows per file, summary, cancel-free rerun."""

from __future__ import annotations

import soundfile as sf

from engine.batch import BatchReport
from gui.batch_panel import BatchPanel, open_batch_panel
from gui.main_window import MainWindow
from tests.synth import tone


def test_panel_runs_a_batch_and_lists_each_file(qtbot, tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    (inputs / "takes").mkdir(parents=True)
    for name, freq in (("one.wav", 300.0), ("takes/two.wav", 400.0), ("takes/skip.wav", 500.0)):
        sf.write(inputs / name, tone(freq, 0.5, 16000), 16000, subtype="PCM_16")
    (inputs / "broken.wav").write_text("not audio")

    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.task_combo.setCurrentIndex(panel.task_combo.findData("convert"))
    panel.input_edit.setText(str(inputs))
    panel.output_edit.setText(str(outputs))
    panel.exclude_edit.setText("*/skip.wav")
    panel.template_edit.setText("{stem}-{task}")
    format_combo = panel.settings_form.editor("format")
    format_combo.setCurrentIndex(format_combo.findData("flac"))

    with qtbot.waitSignal(panel.finished, timeout=60_000) as finished:
        panel.start_button.click()
    report = finished.args[0]
    assert isinstance(report, BatchReport)
    assert report.counts == {"ok": 2, "failed": 1, "skipped": 0}
    rows = {panel.results.item(r, 0).text(): panel.results.item(r, 1).text() for r in range(panel.results.rowCount())}
    assert rows == {"one.wav": "ok", "takes/two.wav": "ok", "broken.wav": "failed"}
    assert sf.info(outputs / "takes" / "two-convert.flac").frames == 8000
    assert not (outputs / "takes" / "skip-convert.flac").exists()
    assert "2 done, 0 already complete, 1 failed" in panel.summary_label.text()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()

    with qtbot.waitSignal(panel.finished, timeout=60_000) as again:
        panel.start_button.click()
    assert again.args[0].counts == {"ok": 0, "failed": 1, "skipped": 2}


def test_missing_folders_are_explained_without_starting(qtbot):
    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.start_button.click()
    assert "choose an input folder" in panel.status_label.text()
    assert panel.start_button.isEnabled()


def test_a_missing_input_folder_ends_the_run_with_its_message(qtbot, tmp_path):
    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.input_edit.setText(str(tmp_path / "nowhere"))
    panel.output_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(panel.finished, timeout=60_000) as finished:
        panel.start_button.click()
    assert finished.args[0] is None
    assert "nowhere: not a folder" in panel.status_label.text()


def test_the_tools_menu_entry_opens_one_batch_dock_per_window(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    dock = open_batch_panel(window)
    assert isinstance(dock.widget(), BatchPanel)
    assert dock.widget().runner is window.jobs
    assert open_batch_panel(window) is dock
    window.playback.stop()
