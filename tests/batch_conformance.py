"""What every :class:`~engine.batch.executor.BatchExecutor` must do, as tests any executor can reuse.

Use: subclass :class:`BatchExecutorConformance` in a test module under a ``Test…`` name and give it a
``make_executor`` fixture returning a zero-argument callable that builds a fresh executor::

    class TestRayExecutor(BatchExecutorConformance):
        @pytest.fixture
        def make_executor(self):
            return lambda: RayExecutor(address="local")

The checks run the real coordinator (:func:`engine.batch.run_batch` / :func:`~engine.batch.run_files`) with
a probe task on tiny text files: every file processed once with its own result (in any order, reported in
input order), complete files skipped, a run killed midway resumed, failed files reported while the others
go on, cancel, and outputs that are atomic (nothing partial, no folder left for a failed file). The probe
task is made of module-level functions and a frozen dataclass, so it pickles for executors that ship work
to other processes or machines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.batch import MANIFEST_NAME, REPORT_NAME, BatchRequest, Manifest, run_batch, run_files
from engine.errors import BadInputError, Cancelled
from engine.fileio import TEMP_MARK, atomic_path
from engine.jobs import CancelToken, Progress
from engine.settings import option
from engine.tasks import registry

PROBE = "conformance-probe"


@dataclass(frozen=True)
class ProbeSettings:
    mark: str = option("!", "appended to every output, so outputs show which settings made them")


def probe_output_names(output_stem: Path, settings: ProbeSettings) -> list[Path]:
    return [Path(f"{output_stem}.out")]


def probe_process_file(input_path: Path, output_stem: Path, settings: ProbeSettings, progress: Progress,
                       cancel: CancelToken) -> list[Path]:
    """Upper-cases the input into ``<stem>.out``. An input starting with ``fail`` is refused and one starting
    with ``crash`` raises a plain exception, both after half of the output has been written."""
    text = Path(input_path).read_text(encoding="utf-8")
    progress(0.25, "read")
    cancel.check()
    target = probe_output_names(output_stem, settings)[0]
    with atomic_path(target) as temp:
        temp.write_text(text.upper(), encoding="utf-8")
        progress(0.5, "half written")
        if text.startswith("fail"):
            raise BadInputError(input_path, "the probe refuses it")
        if text.startswith("crash"):
            raise RuntimeError("the probe crashed")
        temp.write_text(text.upper() + settings.mark, encoding="utf-8")
    progress(1.0, "written")
    return [target]


PROBE_TASK = registry.FileTask(
    name=PROBE, help="conformance probe: upper-cases text files", settings_type=ProbeSettings,
    process_file=probe_process_file, output_names=probe_output_names, input_extensions=(".txt",),
    weight=registry.text_characters, weight_unit="chars")

GOOD = {"a.txt": "alpha", "b.txt": "bravo bravo", "c.txt": "charlie", "deep/d.txt": "delta",
        "deep/er/e.txt": "echo echo echo", "f.txt": "foxtrot", "g.txt": "golf", "h.txt": "hotel"}
ONCE_EACH = Counter(dict.fromkeys(GOOD, 1))


class _Killed(BaseException):
    """Stands for the coordinator process dying: nothing after it runs (no report is written)."""


def write_inputs(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def ok_counts(output: Path) -> Counter:
    """How many ok manifest lines each input has, over every run into ``output``."""
    return Counter(r["input"] for r in Manifest(output / MANIFEST_NAME).records() if r.get("status") == "ok")


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TEMP_MARK in p.name]


def assert_outputs(output: Path, files: dict[str, str], settings: ProbeSettings = ProbeSettings()) -> None:
    for relative, text in files.items():
        assert (output / relative).with_suffix(".out").read_text(encoding="utf-8") == text.upper() + settings.mark


class BatchExecutorConformance:
    """The conformance tests; a subclass provides the ``make_executor`` fixture."""

    @pytest.fixture(autouse=True)
    def probe_task(self, monkeypatch):
        monkeypatch.setitem(registry._TASKS, PROBE, PROBE_TASK)

    @pytest.fixture
    def inputs(self, tmp_path) -> Path:
        return write_inputs(tmp_path / "in", GOOD)

    def run(self, make_executor, inputs: Path, output: Path, settings: ProbeSettings = ProbeSettings(), **kwargs):
        return run_batch(BatchRequest(PROBE, inputs, output), settings, executor=make_executor(), **kwargs)

    def test_every_file_is_processed_once_into_its_own_outputs(self, make_executor, inputs, tmp_path):
        output = tmp_path / "out"
        fractions: list[float] = []
        report = self.run(make_executor, inputs, output, progress=Progress(lambda u: fractions.append(u.fraction)))
        assert report.counts == {"ok": len(GOOD), "failed": 0, "skipped": 0}
        assert ok_counts(output) == ONCE_EACH
        assert_outputs(output, GOOD)
        assert fractions == sorted(fractions) and fractions[-1] == 1.0, "progress went back or did not end"

    def test_explicit_files_come_back_in_the_order_given(self, make_executor, inputs, tmp_path):
        given = [inputs / relative for relative in reversed(GOOD)]
        results = run_files(PROBE, given, tmp_path / "out", ProbeSettings(), executor=make_executor())
        assert [r.item.input for r in results] == given
        assert [r.status for r in results] == ["ok"] * len(given)
        for path, result in zip(given, results):
            assert result.outputs == (tmp_path / "out" / f"{path.stem}.out",)
            assert result.outputs[0].read_text(encoding="utf-8") == path.read_text(encoding="utf-8").upper() + "!"

    def test_complete_files_are_skipped_and_only_missing_or_stale_ones_run(self, make_executor, inputs, tmp_path):
        output = tmp_path / "out"
        self.run(make_executor, inputs, output)
        stamps = {p: p.stat().st_mtime_ns for p in output.rglob("*.out")}
        assert self.run(make_executor, inputs, output).counts == {"ok": 0, "failed": 0, "skipped": len(GOOD)}
        assert {p: p.stat().st_mtime_ns for p in output.rglob("*.out")} == stamps

        (output / "deep" / "d.out").unlink()
        assert self.run(make_executor, inputs, output).counts == {"ok": 1, "failed": 0, "skipped": len(GOOD) - 1}
        other = ProbeSettings(mark="?")
        assert self.run(make_executor, inputs, output, other).counts == {"ok": len(GOOD), "failed": 0, "skipped": 0}
        assert_outputs(output, GOOD, other)

    def test_a_run_killed_midway_resumes_with_exactly_the_missing_files(self, make_executor, inputs, tmp_path):
        output = tmp_path / "out"
        journalled = []

        def die_after_three(result) -> None:
            journalled.append(result.item.relative)
            if len(journalled) == 3:
                raise _Killed()

        with pytest.raises(_Killed):
            self.run(make_executor, inputs, output, on_file=die_after_three)
        assert not (output / REPORT_NAME).exists()
        # What a kill can leave besides: a manifest line cut short and a temp file of a write in flight.
        with open(output / MANIFEST_NAME, "a", encoding="utf-8") as manifest:
            manifest.write('{"input": "f.txt", "status": "o')
        (output / "deep").mkdir(exist_ok=True)
        (output / "deep" / f".d.x1y2{TEMP_MARK}.out").write_text("DEL")

        report = self.run(make_executor, inputs, output)
        assert report.counts == {"ok": len(GOOD) - 3, "failed": 0, "skipped": 3}
        assert report.temp_files_removed == 1
        assert ok_counts(output) == ONCE_EACH, "a file was processed twice or never"
        assert_outputs(output, GOOD)
        assert not temp_files(output)

    def test_failed_files_are_reported_by_name_and_the_others_go_on(self, make_executor, inputs, tmp_path):
        write_inputs(inputs, {"bad/refused.txt": "fail me", "crashing.txt": "crash now"})
        output = tmp_path / "out"
        report = self.run(make_executor, inputs, output)
        assert report.counts == {"ok": len(GOOD), "failed": 2, "skipped": 0}
        assert [f["input"] for f in report.failures] == ["crashing.txt", "bad/refused.txt"]  # walk order
        crashed, refused = (f["error"] for f in report.failures)
        assert str(inputs / "bad" / "refused.txt") in refused and "the probe refuses it" in refused
        assert str(inputs / "crashing.txt") in crashed and "RuntimeError: the probe crashed" in crashed
        assert_outputs(output, GOOD)
        # Atomic outputs: nothing of a file that failed while writing, not even the folder made for it.
        assert not (output / "bad").exists() and not (output / "crashing.out").exists()
        assert not temp_files(output)
        again = self.run(make_executor, inputs, output)
        assert again.counts == {"ok": 0, "failed": 2, "skipped": len(GOOD)}

    def test_failed_explicit_files_create_nothing(self, make_executor, tmp_path):
        inputs = write_inputs(tmp_path / "in", {"refused.txt": "fail me", "crashing.txt": "crash now"})
        output = tmp_path / "new" / "out"
        results = run_files(PROBE, sorted(inputs.iterdir()), output, ProbeSettings(), executor=make_executor())
        assert [r.status for r in results] == ["failed", "failed"]
        assert not (tmp_path / "new").exists()

    def test_cancel_stops_the_run_and_a_rerun_finishes_it(self, make_executor, inputs, tmp_path):
        output = tmp_path / "out"
        cancel = CancelToken()
        journalled = []

        def cancel_after_two(result) -> None:
            journalled.append(result.item.relative)
            if len(journalled) == 2:
                cancel.cancel()

        with pytest.raises(Cancelled):
            self.run(make_executor, inputs, output, cancel=cancel, on_file=cancel_after_two)
        stopped = (output / REPORT_NAME).read_text(encoding="utf-8")
        assert '"cancelled": true' in stopped
        assert len(journalled) == 2 and sum(ok_counts(output).values()) == 2, "results came after the cancel"
        assert not temp_files(output)
        resumed = self.run(make_executor, inputs, output)
        assert resumed.counts["ok"] + resumed.counts["skipped"] == len(GOOD)
        assert ok_counts(output) == ONCE_EACH
        assert_outputs(output, GOOD)
