"""Batch folders in-process with the real ``convert`` task: walk, naming, filters, skip, manifest, failures,
cancel and the prefetching executor."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.batch import MANIFEST_NAME, REPORT_NAME, BatchItem, BatchRequest, LocalExecutor, Manifest, plan, run_batch
from engine.batch.progress import BatchProgress
from engine.errors import BadInputError, Cancelled
from engine.fileio import TEMP_MARK
from engine.jobs import CancelToken, Progress, null_progress
from engine.settings import option
from engine.tasks import registry
from engine.tasks.convert import ConvertSettings
from tests.synth import tone


def write_tone(path: Path, freq: float = 440.0, seconds: float = 0.5, rate: int = 22050, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.stack([tone(freq, seconds, rate)] * channels, axis=1)
    sf.write(path, samples, rate, subtype="VORBIS" if path.suffix == ".ogg" else "PCM_16")
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    """in/a.wav, in/b.flac, in/vocals/c.wav, in/vocals/deep/d.ogg, in/notes.txt, in/broken.wav (text)."""
    root = tmp_path / "in"
    write_tone(root / "a.wav", channels=2)
    write_tone(root / "b.flac", 330.0)
    write_tone(root / "vocals" / "c.wav", 550.0)
    write_tone(root / "vocals" / "deep" / "d.ogg", 660.0)
    (root / "notes.txt").write_text("not audio")
    (root / "broken.wav").write_text("not audio either")
    return root


def manifest_files(output: Path) -> list[dict]:
    return [r for r in Manifest(output / MANIFEST_NAME).records() if "input" in r]


def test_mirrors_the_tree_converts_and_reports_the_bad_file(tree, tmp_path):
    out = tmp_path / "out"
    settings = ConvertSettings(format="flac", sample_rate=16000, channels="mono")
    report = run_batch(BatchRequest("convert", tree, out), settings)

    assert report.counts == {"ok": 4, "failed": 1, "skipped": 0}
    assert [f["input"] for f in report.failures] == ["broken.wav"]
    assert "broken.wav" in report.failures[0]["error"] and "is not audio" in report.failures[0]["error"]
    for name in ("a.flac", "b.flac", "vocals/c.flac", "vocals/deep/d.flac"):
        info = sf.info(out / name)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 8000)
    assert report.audio_hours == pytest.approx(4 * 0.5 / 3600, rel=1e-3)
    assert json.loads((out / REPORT_NAME).read_text())["counts"] == report.counts
    records = manifest_files(out)
    assert sorted((r["input"], r["status"]) for r in records) == [
        ("a.wav", "ok"), ("b.flac", "ok"), ("broken.wav", "failed"), ("vocals/c.wav", "ok"),
        ("vocals/deep/d.ogg", "ok")]
    assert {r["settings_hash"] for r in records} == {report.settings_hash}
    assert next(r for r in records if r["input"] == "vocals/c.wav")["outputs"] == ["vocals/c.flac"]


def test_naming_template_and_include_exclude(tree, tmp_path):
    out = tmp_path / "out"
    request = BatchRequest("convert", tree, out, include=("*.wav", "*.ogg"), exclude=("broken*",),
                           name_template="{parent}_{stem}_{task}_{ext}")
    items = plan(request, registry.get("convert"), ConvertSettings())
    assert [i.relative for i in items] == ["a.wav", "vocals/c.wav", "vocals/deep/d.ogg"]
    assert [i.outputs[0].relative_to(out).as_posix() for i in items] == [
        "in_a_convert_wav.wav", "vocals/vocals_c_convert_wav.wav", "vocals/deep/deep_d_convert_ogg.wav"]
    report = run_batch(request, ConvertSettings())
    assert report.counts == {"ok": 3, "failed": 0, "skipped": 0}
    assert (out / "vocals" / "deep" / "deep_d_convert_ogg.wav").is_file()


def test_an_output_folder_inside_the_input_folder_is_not_walked(tree):
    out = tree / "converted"
    request = BatchRequest("convert", tree, out, exclude=("broken.wav",))
    assert run_batch(request, ConvertSettings()).counts == {"ok": 4, "failed": 0, "skipped": 0}
    assert run_batch(request, ConvertSettings()).counts == {"ok": 0, "failed": 0, "skipped": 4}
    assert not (out / "converted").exists()


def test_the_input_folder_is_refused_as_output_folder(tree):
    with pytest.raises(BadInputError, match="is the input folder"):
        run_batch(BatchRequest("convert", tree, tree / "."), ConvertSettings())


def test_bad_templates_are_refused(tree, tmp_path):
    for template, problem in (("{name}", "unknown field"), ("{parent}", "must contain {stem}"),
                              ("../{stem}", "outside the output folder")):
        with pytest.raises(BadInputError, match=problem):
            run_batch(BatchRequest("convert", tree, tmp_path / "out", name_template=template), ConvertSettings())


def test_two_inputs_for_one_output_name_fail_with_a_hint(tmp_path):
    root = tmp_path / "in"
    write_tone(root / "take.wav")
    write_tone(root / "take.flac")
    report = run_batch(BatchRequest("convert", root, tmp_path / "out"), ConvertSettings())
    assert report.counts["ok"] == 1 and report.counts["failed"] == 1
    assert "add {ext} to the naming template" in report.failures[0]["error"]


def test_complete_outputs_are_skipped_and_stale_ones_redone(tree, tmp_path):
    out = tmp_path / "out"
    request = BatchRequest("convert", tree, out, exclude=("broken.wav",))
    first = run_batch(request, ConvertSettings())
    assert first.counts == {"ok": 4, "failed": 0, "skipped": 0}
    stamp = (out / "a.wav").stat().st_mtime_ns

    again = run_batch(request, ConvertSettings())
    assert again.counts == {"ok": 0, "failed": 0, "skipped": 4}
    assert (out / "a.wav").stat().st_mtime_ns == stamp

    (out / "vocals" / "c.wav").unlink()  # a missing output is redone, the rest stays
    assert run_batch(request, ConvertSettings()).counts == {"ok": 1, "failed": 0, "skipped": 3}

    changed = run_batch(request, ConvertSettings(sample_rate=8000))  # other settings: everything is stale
    assert changed.counts == {"ok": 4, "failed": 0, "skipped": 0}
    assert sf.info(out / "a.wav").samplerate == 8000

    redo = BatchRequest("convert", tree, out, exclude=("broken.wav",), redo=True)
    assert run_batch(redo, ConvertSettings(sample_rate=8000)).counts == {"ok": 4, "failed": 0, "skipped": 0}


def test_stray_temp_files_are_removed_and_a_cut_manifest_line_is_tolerated(tree, tmp_path):
    out = tmp_path / "out"
    stray = out / "vocals" / f".c.abc123{TEMP_MARK}.wav"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"RIFF half a file")
    (out / MANIFEST_NAME).write_text('{"input": "a.wav", "status": "o')  # a line cut by a kill
    report = run_batch(BatchRequest("convert", tree, out), ConvertSettings())
    assert not stray.exists()
    assert report.temp_files_removed == 1
    assert report.counts["ok"] == 4
    assert len(manifest_files(out)) == 5


def test_cancel_stops_between_files_and_a_rerun_finishes_the_rest(tree, tmp_path):
    out = tmp_path / "out"
    request = BatchRequest("convert", tree, out, exclude=("broken.wav",))
    cancel = CancelToken()
    finished = []

    def after_each(result) -> None:
        finished.append(result.item.relative)
        if len(finished) == 2:
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_batch(request, ConvertSettings(), cancel=cancel, on_file=after_each)
    assert len(finished) == 2
    assert json.loads((out / REPORT_NAME).read_text())["cancelled"] is True
    assert not [p for p in out.rglob("*") if TEMP_MARK in p.name]
    resumed = run_batch(request, ConvertSettings())
    assert resumed.counts == {"ok": 2, "failed": 0, "skipped": 2}


@dataclass(frozen=True)
class _EventSettings:
    label: str = option("x", "unused")


def test_the_next_file_is_prepared_while_the_current_one_is_processed(tmp_path):
    """A task whose processing of file 1 waits for the preparation of file 2: it only finishes when the
    executor overlaps them."""
    second_prepared = threading.Event()
    order = []

    def prepare(path: Path, settings) -> str:
        order.append(f"prepare {path.name}")
        if path.name == "2.wav":
            second_prepared.set()
        return path.name

    def process_file(path, stem, settings, progress, cancel, *, prepared=None) -> list[Path]:
        if prepared == "1.wav":
            assert second_prepared.wait(10), "file 2 was not prepared during file 1"
        order.append(f"process {prepared}")
        target = Path(f"{stem}.txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(prepared)
        return [target]

    task = registry.FileTask("overlap-probe", "test task", _EventSettings, process_file,
                             lambda stem, settings: [Path(f"{stem}.txt")], prepare=prepare)
    root = tmp_path / "in"
    for name in ("1.wav", "2.wav", "3.wav"):
        write_tone(root / name)
    items = plan(BatchRequest(task.name, root, tmp_path / "out"), task, _EventSettings())
    results = []
    LocalExecutor(prefetch=1).run(task, _EventSettings(), items, results.append,
                                  lambda index: null_progress(), CancelToken())
    assert [(r.status, r.error) for r in results] == [("ok", "")] * 3
    assert order.index("prepare 2.wav") < order.index("process 1.wav")


def test_the_registry_lists_the_tasks_and_names_an_unknown_one():
    tasks = registry.all_tasks()
    assert tasks["convert"].settings_type is ConvertSettings
    with pytest.raises(BadInputError, match="unknown task 'no-such-task' \\(known tasks: .*convert"):
        registry.get("no-such-task")


@dataclass(frozen=True)
class _DeviceSettings:
    device: str = option("cpu", "where the work runs")


def test_two_batches_on_one_device_never_process_at_the_same_time(tmp_path):
    active, most = [0], [0]
    guard = threading.Lock()

    def process_file(path, stem, settings, progress, cancel) -> list[Path]:
        with guard:
            active[0] += 1
            most[0] = max(most[0], active[0])
        threading.Event().wait(0.02)  # long enough for the other batch to try
        with guard:
            active[0] -= 1
        target = Path(f"{stem}.txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.name)
        return [target]

    task = registry.FileTask("device-probe", "test task", _DeviceSettings, process_file,
                             lambda stem, settings: [Path(f"{stem}.txt")], device_field="device")
    runs = []
    for side in ("left", "right"):
        root = tmp_path / side
        for k in range(4):
            write_tone(root / f"{k}.wav")
        items = plan(BatchRequest(task.name, root, tmp_path / f"out-{side}"), task, _DeviceSettings())
        results: list = []
        runs.append((threading.Thread(target=LocalExecutor().run, args=(task, _DeviceSettings(), items,
                                      results.append, lambda index: null_progress(), CancelToken())), results))
    for thread, _ in runs:
        thread.start()
    for thread, _ in runs:
        thread.join(30)
    assert [[r.status for r in results] for _, results in runs] == [["ok"] * 4, ["ok"] * 4]
    assert most[0] == 1


def test_progress_is_weighted_by_each_inputs_weight_and_unknown_ones_count_as_average(tmp_path):
    items = [BatchItem(tmp_path / name, name, tmp_path / name, (), weight)
             for name, weight in (("short", 1.0), ("long", 3.0), ("unreadable", None))]
    fractions = []
    weighted = BatchProgress(Progress(lambda update: fractions.append(update.fraction)), items)
    weighted.for_item(1)(0.5, "half")  # half of the long file: 1.5 of 1 + 3 + 2 (the mean)
    weighted.for_item(0)(1.0, "done")
    weighted.for_item(1)(0.25, "a task that reports backwards")
    assert fractions == pytest.approx([1.5 / 6, 2.5 / 6, 2.5 / 6])


@dataclass(frozen=True)
class _TextSettings:
    label: str = option("x", "unused")


def test_a_text_task_weighs_characters_and_journals_them_under_its_unit(tmp_path, monkeypatch):
    def process_file(path, stem, settings, progress, cancel) -> list[Path]:
        target = Path(f"{stem}.txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text().upper())
        return [target]

    task = registry.FileTask("text-probe", "test task", _TextSettings, process_file,
                             lambda stem, settings: [Path(f"{stem}.txt")], input_extensions=(".txt",),
                             weight=registry.text_characters, weight_unit="chars")
    root = tmp_path / "in"
    root.mkdir()
    (root / "line.txt").write_text("twelve chars")
    assert [i.weight for i in plan(BatchRequest(task.name, root, tmp_path / "out"), task, _TextSettings())] == [12.0]
    monkeypatch.setitem(registry._TASKS, task.name, task)  # registered for this test only
    report = run_batch(BatchRequest(task.name, root, tmp_path / "out"), _TextSettings())
    assert report.audio_hours == 0.0  # characters are not audio
    [record] = manifest_files(tmp_path / "out")
    assert record["chars"] == 12.0 and "audio_s" not in record


def test_the_default_weight_is_the_audio_duration_from_the_header(tree):
    assert registry.audio_seconds(tree / "b.flac") == pytest.approx(0.5)
    assert registry.audio_seconds(tree / "broken.wav") is None
    assert registry.text_characters(tree / "notes.txt") == len("not audio")


def test_find_imports_only_the_named_task():
    code = ("import sys; from engine.tasks import registry; task = registry.find('convert'); "
            "print(task.name, registry.find('no-such-task'), registry.find('x.wav'), "
            "'engine.tasks.separate' in sys.modules, 'engine.tasks.lyrics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["convert", "None", "None", "False", "False"]


def test_outputs_that_depend_on_the_input_are_planned_from_it(tmp_path, monkeypatch):
    """``outputs_for`` (one output per line of the input here) decides what a complete file is."""
    def outputs_for(path, stem, settings) -> list[Path]:
        return [stem / f"{line}.txt" for line in path.read_text().split()]

    def process_file(path, stem, settings, progress, cancel) -> list[Path]:
        written = outputs_for(path, stem, settings)
        for target in written:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(target.stem)
        return written

    task = registry.FileTask("lines-probe", "test task", _TextSettings, process_file,
                             lambda stem, settings: [Path(f"{stem}.txt")], input_extensions=(".txt",),
                             outputs_for=outputs_for)
    monkeypatch.setitem(registry._TASKS, task.name, task)
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    (root / "take.txt").write_text("one two")
    request = BatchRequest(task.name, root, out)
    assert [i.outputs for i in plan(request, task, _TextSettings())] == [(out / "take" / "one.txt",
                                                                          out / "take" / "two.txt")]
    assert run_batch(request, _TextSettings()).counts == {"ok": 1, "failed": 0, "skipped": 0}
    (root / "take.txt").write_text("one two three")  # a new line: the file is no longer complete
    assert run_batch(request, _TextSettings()).counts == {"ok": 1, "failed": 0, "skipped": 0}
    assert (out / "take" / "three.txt").read_text() == "three"
    assert run_batch(request, _TextSettings()).counts == {"ok": 0, "failed": 0, "skipped": 1}
