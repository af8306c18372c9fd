"""The Ray executor on a real Ray instance started once for this module (two worker CPUs, no dashboard, its
temp folder under the test's, stopped at the end): the executor conformance suite; real tasks (``convert``,
``lyrics`` with the embedded Whisper base) giving the local executor's outputs byte for byte, by path and
with the files shipped as bytes; a worker process killed mid-file; a driver killed mid-run and resumed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.batch import MANIFEST_NAME, BatchRequest, LocalExecutor, Manifest, run_batch
from engine.cli import main
from engine.errors import VocalisError
from engine.jobs import CancelToken, Progress
from engine.settings import option
from engine.tasks import registry
from engine.tasks.convert import ConvertSettings
from tests.batch_conformance import GOOD, BatchExecutorConformance, ok_counts, temp_files, write_inputs
from tests.conftest import DATA, REPO, _session_models_dir, require_tools

if os.environ.get("CI") == "true":
    import ray  # CI installs the cluster extra: a missing Ray is a failure there
else:
    ray = pytest.importorskip("ray")

from engine.batch.ray_executor import RayExecutor  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """The cluster's workers inherit this environment: the repository on the import path (they unpickle
    the tasks of these tests) and the session's models folder (every node must see the models)."""
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "VOCALIS_MODELS", "VOCALIS_HOME")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved["PYTHONPATH"]]))
    os.environ["VOCALIS_MODELS"] = str(_session_models_dir(tmp_path_factory))
    os.environ["VOCALIS_HOME"] = str(tmp_path_factory.mktemp("worker-home"))
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False,
             _temp_dir=str(tmp_path_factory.mktemp("ray")))
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


@pytest.fixture(scope="class")
def shared_executor(ray_cluster):
    """One executor for the conformance runs: its two workers start once and serve every run, as in a
    session of the GUI; they go after the class (they hold the instance's two CPUs)."""
    executor = RayExecutor(max_in_flight=2)
    yield executor
    executor.close()


class TestRayExecutor(BatchExecutorConformance):
    @pytest.fixture
    def make_executor(self, shared_executor):
        return lambda: shared_executor

    def test_a_cluster_without_free_resources_is_an_error_not_a_wait(self, shared_executor, inputs, tmp_path):
        self.run(lambda: shared_executor, inputs, tmp_path / "first")  # its two workers hold both CPUs
        crowded = RayExecutor(start_timeout_s=2)
        with pytest.raises(VocalisError, match="no Ray worker started within 2 s"):
            self.run(lambda: crowded, inputs, tmp_path / "out")


# -- real tasks ---------------------------------------------------------------------------------------------

def _write_audio_inputs(root: Path) -> Path:
    """14 small recordings (mono and stereo, wav and flac, three rates, in subfolders) and the bad files of
    tests/data/bad."""
    rng = np.random.default_rng(7)
    for index in range(14):
        rate = (16000, 22050, 44100)[index % 3]
        frames = int(rate * (0.3 + 0.1 * index))
        t = np.arange(frames) / rate
        signal_ = 0.3 * np.sin(2 * np.pi * (220 + 30 * index) * t) + 0.02 * rng.standard_normal(frames)
        audio = np.stack([signal_, signal_[::-1]], axis=1) if index % 2 else signal_
        path = root / f"set{index % 3}" / f"take{index:02d}.{'flac' if index % 4 == 0 else 'wav'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio.astype(np.float32), rate)
    _mkdir(root / "bad")
    for bad in sorted((DATA / "bad").iterdir()):
        if bad.suffix in (".wav", ".flac"):
            shutil.copy(bad, root / "bad" / bad.name)
    return root


def _mkdir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("vocalis-batch")}


def _statuses(output: Path) -> dict[str, tuple[str, str]]:
    return {r["input"]: (r["status"], r["error"]) for r in Manifest(output / MANIFEST_NAME).records() if "input" in r}


@pytest.mark.slow
def test_convert_on_ray_writes_the_local_executors_bytes_by_path_and_shipped(ray_cluster, tmp_path, capsys):
    inputs = _write_audio_inputs(tmp_path / "in")
    settings = ConvertSettings(format="flac", sample_rate=16000, channels="mono", normalize="peak")
    local = run_batch(BatchRequest("convert", inputs, tmp_path / "local"), settings, executor=LocalExecutor())
    assert local.counts["ok"] >= 14 and local.counts["failed"] >= 4  # tests/data/bad really is bad

    # The CLI's ray backend joins the running instance; the workers read and write the paths themselves.
    code = main(["batch", "convert", str(inputs), str(tmp_path / "ray"), "--backend", "ray", "--max-in-flight", "2",
                 "--format", "flac", "--sample-rate", "16000", "--channels", "mono", "--normalize", "peak"])
    assert code == 1, capsys.readouterr().err  # 1: some files failed, as locally
    # Workers that see neither folder: inputs go as bytes, outputs come back as bytes.
    shipped = RayExecutor(max_in_flight=2, shared_storage=False)
    try:
        report = run_batch(BatchRequest("convert", inputs, tmp_path / "shipped"), settings, executor=shipped)
    finally:
        shipped.close()
    assert report.counts == local.counts and report.failures == local.failures

    expected = _tree(tmp_path / "local")
    assert len(expected) == local.counts["ok"]
    for run in ("ray", "shipped"):
        assert _tree(tmp_path / run) == expected, run
        assert _statuses(tmp_path / run) == _statuses(tmp_path / "local"), run  # every file, same errors
        assert not temp_files(tmp_path / run)


@pytest.mark.slow
def test_lyrics_with_whisper_on_ray_match_the_local_executor(ray_cluster, tmp_path):
    require_tools("espeak-ng")
    from engine.tasks.lyrics.types import LyricsSettings
    from tests.synth import speak

    inputs = _mkdir(tmp_path / "in")
    for name, text in (("hello", "hello world, this is a test"), ("rain", "the rain falls on the green hills")):
        sf.write(inputs / f"{name}.wav", speak(text), 16000)
    (inputs / "noise.wav").write_bytes(b"RIFF not really a wave file")
    settings = LyricsSettings(language="en", beam_size=1, best_of=1, format=["txt", "json"])
    local = run_batch(BatchRequest("lyrics", inputs, tmp_path / "local"), settings)  # installs Whisper base once
    executor = RayExecutor(max_in_flight=2)
    try:
        remote = run_batch(BatchRequest("lyrics", inputs, tmp_path / "ray"), settings, executor=executor)
    finally:
        executor.close()
    assert local.counts == remote.counts == {"ok": 2, "failed": 1, "skipped": 0}
    assert "hello" in (tmp_path / "ray" / "hello.txt").read_text(encoding="utf-8").lower()
    assert _tree(tmp_path / "ray") == _tree(tmp_path / "local")
    assert _statuses(tmp_path / "ray") == _statuses(tmp_path / "local")


# -- kills ------------------------------------------------------------------------------------------------

GATED = "ray-gated-probe"


@dataclass(frozen=True)
class GatedSettings:
    folder: str = option("", "folder of the test's signals: victim.pid (written by the first worker that gets "
                             "the victim) and open (the gate)")


def gated_outputs(output_stem: Path, settings: GatedSettings) -> list[Path]:
    return [Path(f"{output_stem}.out")]


def _wait_for(condition, cancel: CancelToken, limit_s: float = 300.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition() and time.monotonic() < deadline:
        cancel.check()
        time.sleep(0.05)


def gated_process_file(input_path: Path, output_stem: Path, settings: GatedSettings, progress: Progress,
                       cancel: CancelToken) -> list[Path]:
    """Upper-cases the text. The first worker to get the input ``victim`` records its process id and waits
    to be killed; an input ``gated`` waits until the file ``open`` exists."""
    from engine.fileio import write_text_atomic

    text = Path(input_path).read_text(encoding="utf-8")
    folder = Path(settings.folder)
    if text == "victim":
        try:
            with open(folder / "victim.pid", "x", encoding="utf-8") as pid_file:
                pid_file.write(str(os.getpid()))
        except FileExistsError:
            pass
        else:
            _wait_for(lambda: False, cancel)
    if text == "gated":
        _wait_for((folder / "open").exists, cancel)
    return [write_text_atomic(gated_outputs(output_stem, settings)[0], text.upper())]


GATED_TASK = registry.FileTask(
    name=GATED, help="test task: upper-cases text, waiting on signals", settings_type=GatedSettings,
    process_file=gated_process_file, output_names=gated_outputs, input_extensions=(".txt",),
    weight=registry.text_characters, weight_unit="chars")


@pytest.fixture
def gated_task(monkeypatch):
    monkeypatch.setitem(registry._TASKS, GATED, GATED_TASK)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_file_retried(ray_cluster, gated_task, tmp_path):
    inputs = write_inputs(tmp_path / "in", {**GOOD, "victim.txt": "victim"})
    signals = tmp_path / "signals"
    signals.mkdir()

    def kill_the_victims_worker() -> None:
        _wait_for((signals / "victim.pid").exists, CancelToken(), 120)
        os.kill(int((signals / "victim.pid").read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_victims_worker)
    killer.start()
    executor = RayExecutor(max_in_flight=2)
    try:
        report = run_batch(BatchRequest(GATED, inputs, tmp_path / "out"), GatedSettings(str(signals)),
                           executor=executor)
    finally:
        killer.join()
        executor.close()
    assert executor.worker_deaths == 1
    assert report.counts == {"ok": len(GOOD) + 1, "failed": 0, "skipped": 0}
    assert (tmp_path / "out" / "victim.out").read_text() == "VICTIM"
    assert ok_counts(tmp_path / "out") == dict.fromkeys([*GOOD, "victim.txt"], 1)


@pytest.mark.slow
def test_a_file_that_keeps_killing_its_worker_is_reported(ray_cluster, gated_task, tmp_path):
    inputs = write_inputs(tmp_path / "in", {"a.txt": "alpha", "victim.txt": "victim"})
    signals = tmp_path / "signals"
    signals.mkdir()
    stop = threading.Event()

    def kill_every_victim_worker() -> None:
        while not stop.is_set():
            if (signals / "victim.pid").exists():
                pid = int((signals / "victim.pid").read_text())
                (signals / "victim.pid").unlink()  # the next worker waits again, and is killed again
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_every_victim_worker)
    killer.start()
    executor = RayExecutor(max_in_flight=1, max_attempts=2)
    try:
        report = run_batch(BatchRequest(GATED, inputs, tmp_path / "out"), GatedSettings(str(signals)),
                           executor=executor)
    finally:
        stop.set()
        killer.join()
        executor.close()
    assert report.counts == {"ok": 1, "failed": 1, "skipped": 0}
    assert executor.worker_deaths == 2
    [failure] = report.failures
    assert failure["input"] == "victim.txt" and "worker process died 2 times" in failure["error"]


DRIVER = """
import sys
from pathlib import Path
from engine.batch import BatchRequest, run_batch
from engine.batch.ray_executor import RayExecutor
from engine.tasks import registry
from tests.test_batch_ray import GATED, GATED_TASK, GatedSettings
registry.register(GATED_TASK)
address, inputs, output, signals = sys.argv[1:]
run_batch(BatchRequest(GATED, Path(inputs), Path(output)), GatedSettings(signals),
          executor=RayExecutor(address, max_in_flight=2))
"""


@pytest.mark.slow
def test_a_killed_driver_is_resumed_by_the_next_run(ray_cluster, gated_task, tmp_path):
    files = {**GOOD, **{f"later/{n}.txt": "gated" for n in "xyz"}}
    inputs = write_inputs(tmp_path / "in", files)
    output, signals = tmp_path / "out", tmp_path / "signals"
    signals.mkdir()
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, ray_cluster, str(inputs), str(output), str(signals)],
                              env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: sum(ok_counts(output).values()) >= len(GOOD) or driver.poll() is not None,
                  CancelToken(), 240)
        assert driver.poll() is None, driver.stderr.read().decode()
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait()
        driver.stderr.close()
    assert set(ok_counts(output)) == set(GOOD)  # the gated files were in flight or waiting
    (signals / "open").touch()
    executor = RayExecutor(max_in_flight=2)
    try:
        report = run_batch(BatchRequest(GATED, inputs, output), GatedSettings(str(signals)), executor=executor)
    finally:
        executor.close()
    assert report.counts == {"ok": 3, "failed": 0, "skipped": len(GOOD)}
    assert ok_counts(output) == dict.fromkeys(files, 1)
    assert all((output / name).with_suffix(".out").read_text() == text.upper() for name, text in files.items())


# -- the Batch panel ----------------------------------------------------------------------------------------

def test_the_batch_panel_shows_the_nodes_and_runs_on_ray(qtbot, ray_cluster, tmp_path):
    from gui.batch_panel import BatchPanel

    inputs = _mkdir(tmp_path / "in")
    for name, freq in (("one.wav", 300.0), ("two.wav", 400.0)):
        sf.write(inputs / name, 0.5 * np.sin(2 * np.pi * freq * np.arange(8000) / 16000), 16000)
    (inputs / "broken.wav").write_text("not audio")
    panel = BatchPanel()
    qtbot.addWidget(panel)
    panel.task_combo.setCurrentIndex(panel.task_combo.findData("convert"))
    panel.input_edit.setText(str(inputs))
    panel.output_edit.setText(str(tmp_path / "out"))
    backend = panel.backend_group
    backend.backend_combo.setCurrentIndex(backend.backend_combo.findData("ray"))
    backend.address_edit.setText(ray_cluster)
    backend.nodes_button.click()
    qtbot.waitUntil(lambda: "joining" not in backend.nodes_label.text(), timeout=60_000)
    assert ": 2 CPU" in backend.nodes_label.text()
    try:
        with qtbot.waitSignal(panel.finished, timeout=120_000) as finished:
            panel.start_button.click()
        assert finished.args[0].counts == {"ok": 2, "failed": 1, "skipped": 0}
        assert backend.executor().worker_pids(), "the files did not run on Ray workers"
    finally:
        backend.executor().close()
    rows = {panel.results.item(r, 0).text(): panel.results.item(r, 1).text() for r in range(panel.results.rowCount())}
    assert rows == {"one.wav": "ok", "two.wav": "ok", "broken.wav": "failed"}
    assert sf.info(tmp_path / "out" / "two.wav").frames == 8000
