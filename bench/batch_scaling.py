"""Batch throughput: the local executor against the Ray executor with 1 and 2 worker processes, on this
machine, and the Ray overhead per file.

    .venv/bin/python bench/batch_scaling.py                 # 12 files of 2 s, convert to 16 kHz mono flac
    .venv/bin/python bench/batch_scaling.py --files 40 --seconds 10 --repeats 2

Each mode runs the same real batch (``convert`` with resampling and loudness normalisation) into its own
output folder, after a warm-up run that starts the Ray workers (their start-up is reported apart: it is paid
once per session, not per file). The overhead per file is measured with a task that only copies a few bytes:
Ray's per-file cost over the local executor's on that task is the scheduling, pickling and round trip every
file pays on top of its own work. The modes are interleaved over ``--repeats`` so machine load hits them
alike; the best repeat of each is printed, with the ratios against the local executor.

What it says about N GPUs: every Ray worker holds one GPU (``--gpus-per-task 1``) and processes one file at
a time with its model kept loaded, so a cluster of N GPUs does N files at once. Files per hour ≈
N × 3600 / (seconds per file on one GPU + the overhead per file), as long as the storage feeds the inputs
and the coordinator keeps up (it handles one small message per file); the printed estimate uses this
machine's per-file time as a stand-in for one worker's.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from engine.batch import BatchRequest, LocalExecutor, run_batch  # noqa: E402
from engine.batch.ray_executor import RayExecutor, require_ray  # noqa: E402
from engine.fileio import write_text_atomic  # noqa: E402
from engine.models.runtime import load_runtime_settings, save_runtime_settings  # noqa: E402
from engine.settings import option  # noqa: E402
from engine.tasks import registry  # noqa: E402
from engine.tasks.convert import ConvertSettings  # noqa: E402


@dataclass(frozen=True)
class CopySettings:
    suffix: str = option(".copy", "output suffix")


def copy_outputs(output_stem: Path, settings: CopySettings) -> list[Path]:
    return [Path(f"{output_stem}{settings.suffix}")]


def copy_file(input_path, output_stem, settings, progress, cancel) -> list[Path]:
    """The smallest real file task: the input's text into one output, atomically."""
    return [write_text_atomic(copy_outputs(output_stem, settings)[0], Path(input_path).read_text())]


COPY = registry.register(registry.FileTask(
    name="bench-copy", help="copies a text file (measures the executor's own cost)", settings_type=CopySettings,
    process_file=copy_file, output_names=copy_outputs, input_extensions=(".txt",),
    weight=registry.text_characters, weight_unit="chars"))
CONVERT = ConvertSettings(format="flac", sample_rate=16000, channels="mono", normalize="loudness")


def make_inputs(root: Path, files: int, seconds: float) -> tuple[Path, Path]:
    audio, text = root / "audio", root / "text"
    rng = np.random.default_rng(0)
    for index in range(files):
        rate = 44100
        t = np.arange(int(rate * seconds)) / rate
        left = 0.3 * np.sin(2 * np.pi * (110 + 7 * index) * t) + 0.05 * rng.standard_normal(t.size)
        (audio / f"{index // 8}").mkdir(parents=True, exist_ok=True)
        sf.write(audio / f"{index // 8}" / f"take{index:03d}.wav", np.stack([left, left[::-1]], 1), rate)
        (text / f"{index // 8}").mkdir(parents=True, exist_ok=True)
        (text / f"{index // 8}" / f"line{index:03d}.txt").write_text(f"line {index}\n")
    return audio, text


def timed_batch(task: str, inputs: Path, output: Path, settings, executor) -> float:
    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    report = run_batch(BatchRequest(task, inputs, output), settings, executor=executor)
    elapsed = time.perf_counter() - started
    if report.failed:
        raise SystemExit(f"{task}: {report.failures}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each input recording")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    ray = require_ray()

    with tempfile.TemporaryDirectory(prefix="vocalis-bench-") as scratch:
        root = Path(scratch)
        # Every mode computes with one thread per file (the local executor takes the user's thread setting,
        # here in a private home; each Ray worker takes --cpus-per-task), so the modes differ only in how
        # files are spread, not in threads fighting over the cores.
        os.environ["VOCALIS_HOME"] = str(root / "home")
        save_runtime_settings(dataclasses.replace(load_runtime_settings(), cpu_threads=1))
        audio, text = make_inputs(root / "in", args.files, args.seconds)
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False,
                 _temp_dir=str(root / "ray"))
        ray_start_s = time.perf_counter() - started
        # One Ray executor whose pool of two workers serves both Ray modes (max_in_flight picks 1 or 2 of
        # them): the workers are started and warmed once, as in a session.
        cluster = RayExecutor(max_in_flight=2)
        modes = {"local": (LocalExecutor(), None), "ray, 1 worker": (cluster, 1), "ray, 2 workers": (cluster, 2)}
        warm_up_s = {}
        for name, (executor, workers) in modes.items():  # workers start and import the tasks once
            if workers:
                executor.max_in_flight = workers
            started = time.perf_counter()
            for task, inputs, settings in (("convert", audio / "0", CONVERT), ("bench-copy", text / "0", CopySettings())):
                timed_batch(task, inputs, root / "warm", settings, executor)
            warm_up_s[name] = time.perf_counter() - started
            print(f"  {name}: warm-up {warm_up_s[name]:.1f} s", file=sys.stderr, flush=True)
        best: dict[tuple[str, str], float] = {}
        for _ in range(args.repeats):
            for name, (executor, workers) in modes.items():
                if workers:
                    executor.max_in_flight = workers
                for task, inputs, settings in (("convert", audio, CONVERT), ("bench-copy", text, CopySettings())):
                    elapsed = timed_batch(task, inputs, root / "out", settings, executor)
                    best[name, task] = min(best.get((name, task), elapsed), elapsed)
                    print(f"  {name}, {task}: {elapsed:.2f} s", file=sys.stderr, flush=True)
        cluster.close()
        ray.shutdown()

    files = args.files
    local_convert = best["local", "convert"]
    print(f"{files} files of {args.seconds:g} s stereo 44.1 kHz → 16 kHz mono flac, loudness-normalised; "
          f"best of {args.repeats}; Ray start-up {ray_start_s:.1f} s")
    print(f"{'executor':<16} {'files/min':>10} {'vs local':>9} {'s/file':>8} {'warm-up s':>10} "
          f"{'copy task ms/file':>18}")
    for name in modes:
        convert_s, copy_s = best[name, "convert"], best[name, "bench-copy"]
        print(f"{name:<16} {files / convert_s * 60:>10.1f} {local_convert / convert_s:>8.2f}× "
              f"{convert_s / files:>8.3f} {warm_up_s[name]:>10.1f} {copy_s / files * 1000:>18.1f}")
    overhead_s = (best["ray, 1 worker", "bench-copy"] - best["local", "bench-copy"]) / files
    per_file_s = best["ray, 1 worker", "convert"] / files
    print(f"Ray overhead per file (copy task, 1 worker, over local): {overhead_s * 1000:.1f} ms")
    print("Estimate for N workers, one GPU each, at this machine's per-file time and overhead: "
          f"N × {3600 / per_file_s:.0f} files/hour (N × 3600 / {per_file_s:.3f} s)")


if __name__ == "__main__":
    main()
