"""CLI conventions on the real ``convert`` and ``batch`` commands: exit codes (0 ok, 1 some files failed,
2 usage), one JSON document on stdout with ``--json``, progress on stderr, and the convert results."""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.audio import dsp
from engine.audio import io as audio_io
from engine.cli import main
from engine.cli.file_task import build_settings
from engine.cli.output import ProgressDisplay
from engine.jobs import Progress, ProgressUpdate
from engine.settings import option
from engine.tasks import registry
from tests.synth import tone


@pytest.fixture
def song(tmp_path) -> Path:
    """One second of a stereo 440 Hz tone at 44.1 kHz, quiet (-20 dBFS peak)."""
    path = tmp_path / "song.wav"
    sf.write(path, np.stack([tone(440.0, 1.0, 44100, amplitude=0.1)] * 2, axis=1), 44100, subtype="PCM_16")
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_convert_json_exit_0_and_the_output_matches_the_options(capsys, song, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "convert", song, "--out", out, "--format", "flac", "--bit-depth", "24",
                                   "--sample-rate", "16000", "--channels", "mono", "--normalize", "peak",
                                   "--peak-dbfs", "-3", "--json")
    assert code == 0
    document = json.loads(stdout)  # the whole of stdout is one JSON document
    assert document["counts"] == {"ok": 1, "failed": 0}
    assert document["settings"]["format"] == "flac"
    assert document["files"][0]["outputs"] == [str(out / "song.flac")]
    info = sf.info(out / "song.flac")
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16000, 1, "PCM_24", 16000)
    assert dsp.peak_dbfs(audio_io.load(out / "song.flac")) == pytest.approx(-3.0, abs=0.05)
    assert "%" in stderr  # progress went to stderr


def test_convert_loudness_reaches_the_target(capsys, song, tmp_path):
    code, _, _ = run_cli(capsys, "convert", song, "--out", tmp_path / "out", "--normalize", "loudness",
                         "--loudness-lufs", "-20", "--bit-depth", "float", "--json")
    assert code == 0
    assert dsp.loudness_lufs(audio_io.load(tmp_path / "out" / "song.wav")) == pytest.approx(-20.0, abs=0.1)


def test_loudness_is_turned_down_when_the_peak_would_pass_the_ceiling(capsys, song, tmp_path):
    code, _, _ = run_cli(capsys, "convert", song, "--out", tmp_path / "out", "--normalize", "loudness",
                         "--loudness-lufs", "0", "--peak-dbfs", "-1", "--bit-depth", "float")
    assert code == 0
    clip = audio_io.load(tmp_path / "out" / "song.wav")
    assert dsp.peak_dbfs(clip) == pytest.approx(-1.0, abs=0.05)
    assert dsp.loudness_lufs(clip) < -1.5


def test_some_failed_inputs_exit_1_and_name_each_file(capsys, song, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_text("meeting notes")
    missing = tmp_path / "missing.wav"
    code, stdout, _ = run_cli(capsys, "convert", song, broken, missing, "--out", tmp_path / "out", "--json")
    assert code == 1
    files = json.loads(stdout)["files"]
    assert [f["status"] for f in files] == ["ok", "failed", "failed"]
    assert str(broken) in files[1]["error"] and "is not audio" in files[1]["error"]
    assert files[2]["error"] == f"{missing}: no such file"


def test_plain_output_lists_results_on_stdout(capsys, song, tmp_path):
    code, stdout, stderr = run_cli(capsys, "convert", song, "--out", tmp_path / "out", "--format", "ogg")
    assert code == 0
    assert stdout.strip() == f"ok      {song} -> {tmp_path / 'out' / 'song.ogg'}"
    assert "convert: 100.0%" in stderr and "written" in stderr


def test_converting_onto_the_input_itself_is_refused(capsys, song, tmp_path):
    before = song.read_bytes()
    code, stdout, _ = run_cli(capsys, "convert", song, "--out", tmp_path, "--json")
    assert code == 1
    assert "would overwrite an input" in json.loads(stdout)["files"][0]["error"]
    assert song.read_bytes() == before


@pytest.mark.parametrize("argv", [
    ("convert", "x.wav", "--no-such-flag"),
    ("convert", "x.wav", "--format", "wma"),
    ("convert", "x.wav", "--peak-dbfs", "3"),
    ("convert", "x.wav", "--format", "flac", "--bit-depth", "float"),
    ("convert",),
    ("no-such-command",),
    ("batch", "convert", "in", "out", "--name-template", "{name}"),
    ("batch", "convert", "no-such-folder", "out"),
])
def test_usage_errors_exit_2(capsys, argv):
    code, stdout, stderr = run_cli(capsys, *argv)
    assert code == 2
    assert stdout == ""
    assert stderr


def test_batch_json_and_exit_codes(capsys, song, tmp_path):
    inputs = tmp_path / "in"
    (inputs / "a").mkdir(parents=True)
    song.rename(inputs / "a" / "song.wav")
    (inputs / "skip-me.wav").write_bytes(b"junk")
    code, stdout, _ = run_cli(capsys, "batch", "convert", inputs, tmp_path / "out", "--exclude", "skip-*",
                              "--format", "flac", "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["counts"] == {"ok": 1, "failed": 0, "skipped": 0}
    assert report["audio_hours"] == pytest.approx(1.0 / 3600, rel=1e-3)
    assert (tmp_path / "out" / "a" / "song.flac").is_file()

    code, stdout, stderr = run_cli(capsys, "batch", "convert", inputs, tmp_path / "out", "--format", "flac")
    assert code == 1
    assert "0 done, 1 already complete, 1 failed" in stdout
    assert f"failed  {inputs / 'skip-me.wav'}:" in stderr and "failed  " not in stdout


def test_progress_display_draws_a_bar_on_a_terminal():
    stream = io.StringIO()
    display = ProgressDisplay("convert", stream, terminal=True)
    progress = Progress(display)
    time.sleep(0.15)  # tqdm redraws at most every 0.1 s
    progress(0.5, "half way")
    display.close()
    assert "50%" in stream.getvalue() and "half way" in stream.getvalue()


@dataclass(frozen=True)
class _DeviceSettings:
    device: str = option("auto", "where the model runs")


def test_an_unknown_device_is_a_usage_error(capsys):
    task = registry.FileTask("device-probe", "test task", _DeviceSettings, lambda *a, **k: [],
                             lambda stem, settings: [], device_field="device")
    assert build_settings(task, argparse.Namespace(device="tpu")) is None
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert build_settings(task, argparse.Namespace(device="cpu")) == _DeviceSettings("cpu")


def test_a_separation_without_its_model_fails_on_stderr_and_creates_nothing(capsys, song, tmp_path, monkeypatch):
    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path / "no-models"))
    code, stdout, stderr = run_cli(capsys, "separate", song, "--out", tmp_path / "new" / "out", "--device", "cpu")
    assert code == 1
    assert stdout == ""
    assert f"failed  {song}: model mossformer2-ss-16k" in stderr and "is not installed" in stderr
    assert "0 done, 1 failed" in stderr
    assert not (tmp_path / "new").exists()


def test_the_progress_bar_draws_on_a_terminal_that_reports_no_size():
    """A fresh pty is 0×0, like terminals driven by tools; tqdm alone would draw nothing there."""
    leader, follower = pty.openpty()
    with open(follower, "w", encoding="utf-8", closefd=True) as terminal:
        assert os.get_terminal_size(terminal.fileno()) == (0, 0)
        display = ProgressDisplay("lyrics", terminal)
        assert display.terminal
        display(ProgressUpdate(0.5, "transcribing", eta_s=None, elapsed_s=1.0))
        display.tick()  # what run_with_progress does twice a second, so quiet phases still redraw
        display.close()
        terminal.write("END-OF-TEST\n")
        terminal.flush()
        drawn = ""
        while "END-OF-TEST" not in drawn:  # the terminal hands the output over in pieces
            drawn += os.read(leader, 65536).decode("utf-8", "replace")
    os.close(leader)
    assert "lyrics transcribing" in drawn and "50%" in drawn
