"""The batch promise end to end: a ``vocalis batch convert`` process over 50 files (the bad-input corpus
included) is killed with SIGKILL midway, then run again; every good file ends up processed exactly once,
the bad ones are reported, no partial output is left and no input changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.batch import MANIFEST_NAME, Manifest
from engine.fileio import TEMP_MARK
from tests.conftest import DATA, REPO
from tests.synth import tone

BAD_CORPUS = DATA / "bad"
KNOWN_BAD = {"empty.wav", "nan_samples.wav", "text_renamed.wav", "truncated.flac", "truncated.wav",
             "zero_length.wav"}
GENERATED = 50 - len([p for p in BAD_CORPUS.iterdir() if p.suffix in (".wav", ".flac")])


def build_inputs(root: Path) -> None:
    """Generated 0.5 s tones in nested folders at several rates and channel counts, plus the corpus."""
    rates = (16000, 22050, 44100)
    for k in range(GENERATED):
        path = root / f"set{k % 4}" / ("nested" if k % 3 == 0 else "") / f"take{k:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        rate = rates[k % 3]
        samples = np.stack([tone(200.0 + 10 * k, 0.5, rate)] * (1 + k % 2), axis=1)
        sf.write(path, samples, rate, subtype="PCM_16")
    shutil.copytree(BAD_CORPUS, root / "corpus")


def checksums(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def command(inputs: Path, outputs: Path) -> list[str]:
    return [sys.executable, "-m", "engine", "batch", "convert", str(inputs), str(outputs),
            "--name-template", "{stem}_{ext}", "--sample-rate", "16000", "--json"]


def ok_records(output: Path) -> list[dict]:
    return [r for r in Manifest(output / MANIFEST_NAME).records() if r.get("status") == "ok"]


def terminal_signals() -> None:
    """Ctrl-C as in a terminal: a runner that started the tests in the background (SIGINT ignored, which
    children inherit and Python then keeps) must not change what the Ctrl-C test sees."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_wait_for(inputs: Path, outputs: Path, files_done: int) -> subprocess.Popen:
    """Start ``vocalis batch`` in a subprocess and return once its manifest has ``files_done`` ok lines."""
    process = subprocess.Popen(command(inputs, outputs), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=terminal_signals)
    deadline = time.monotonic() + 120
    while len(ok_records(outputs)) < files_done:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the run never wrote enough manifest entries"
        time.sleep(0.002)
    return process


def test_killed_batch_resumes_and_processes_every_good_file_exactly_once(tmp_path):
    assert KNOWN_BAD <= {p.name for p in BAD_CORPUS.iterdir()}
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    build_inputs(inputs)
    audio_inputs = [p for p in inputs.rglob("*") if p.suffix in (".wav", ".flac")]
    assert len(audio_inputs) == 50
    good = {p.relative_to(inputs).as_posix() for p in audio_inputs if p.name not in KNOWN_BAD}
    before = checksums(inputs)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    first = start_and_wait_for(inputs, outputs, 3)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    done_before_kill = {r["input"] for r in ok_records(outputs)}
    assert 3 <= len(done_before_kill) < len(good), "the kill came after the batch had finished"

    # What a kill during a write leaves at worst: a temp file beside the outputs (atomic_path's naming).
    stray = outputs / "set1" / f".take01_wav.x1y2z3{TEMP_MARK}.wav"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"RIFF....WAVE half written")

    second = subprocess.run(command(inputs, outputs), cwd=REPO, env=env, capture_output=True, timeout=300)
    assert second.returncode == 1, second.stderr.decode()  # the bad files failed
    report = json.loads(second.stdout)
    assert report["counts"]["failed"] == len(KNOWN_BAD)
    assert {Path(f["input"]).name for f in report["failures"]} == KNOWN_BAD
    assert report["counts"]["skipped"] == len(done_before_kill)
    assert report["counts"]["ok"] + report["counts"]["skipped"] == len(good)

    ok_counts = Counter(r["input"] for r in ok_records(outputs))
    assert set(ok_counts) == good
    assert set(ok_counts.values()) == {1}, "a good file was processed twice"
    for relative in good:
        source = sf.info(inputs / relative)
        output = outputs / Path(relative).parent / f"{Path(relative).stem}_{Path(relative).suffix[1:]}.wav"
        written = sf.info(output)
        assert written.samplerate == 16000 and written.channels == source.channels
        assert written.frames == round(source.frames * 16000 / source.samplerate)
    assert not [p for p in outputs.rglob("*") if TEMP_MARK in p.name]
    assert checksums(inputs) == before


def test_ctrl_c_cancels_promptly_and_leaves_a_consistent_manifest(tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for k in range(30):
        sf.write(inputs / f"take{k:02d}.wav", tone(300.0 + k, 0.5, 22050), 22050, subtype="PCM_16")
    process = start_and_wait_for(inputs, outputs, 2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr.decode()
    assert stdout == b""  # no JSON document for an interrupted run
    report = json.loads((outputs / "vocalis-batch-report.json").read_text())
    assert report["cancelled"] is True and report["counts"]["ok"] < 30
    lines = (outputs / MANIFEST_NAME).read_text().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    assert not [p for p in outputs.rglob("*") if TEMP_MARK in p.name]
    assert len(list(outputs.glob("*.wav"))) == report["counts"]["ok"]
