"""Speaker-separation benchmark: real-time factor and peak memory of ``vocalis separate`` with the full
24-layer MossFormer2 (random weights: speed does not depend on them).

    .venv/bin/python bench/separation.py                          # 10 s and 60 s, default window, CPU
    .venv/bin/python bench/separation.py --durations 10,60,600    # add the 10-minute file
    .venv/bin/python bench/separation.py --windows 2,4,8 --durations 60
    .venv/bin/python bench/separation.py --device cuda --precision fp16
    .venv/bin/python bench/separation.py --reference ~/ClearerVoice-Studio/clearvoice/clearvoice/models

Each (duration, window) runs ``process_file`` on a synthetic WAV in a fresh process and reports compute
seconds per second of audio and the process's peak RSS. ``--reference DIR`` (the folder holding
ClearerVoice's ``mossformer2_ss`` package, with einops, rotary-embedding-torch and torchinfo importable)
also times ClearerVoice's own model on the same windows in the same run, interleaved with ours, with the
same weights, and checks that both give the same output — a ratio that holds on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.models.mossformer2 import MossFormer2  # noqa: E402
from engine.tasks.separate import SeparateSettings  # noqa: E402

RATE = 16000


def synthetic_mixture(path: Path, seconds: float) -> None:
    """Two chirping 'voices' with syllable-like envelopes, written block by block."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="PCM_16") as handle:
        for start in range(0, int(seconds * RATE), 10 * RATE):
            t = (start + np.arange(min(10 * RATE, int(seconds * RATE) - start))) / RATE
            a = np.sin(2 * np.pi * (140 + 30 * np.sin(2 * np.pi * 0.3 * t)) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
            b = np.sin(2 * np.pi * (230 + 50 * np.sin(2 * np.pi * 0.2 * t)) * t) * (np.sin(2 * np.pi * 2.3 * t) > 0)
            handle.write(0.3 * a + 0.25 * b + 0.005 * rng.standard_normal(t.size))


def run_task(audio: Path, checkpoint: Path, window: float, device: str, precision: str, threads: int) -> dict:
    """Separate ``audio`` in a fresh process; its peak RSS is the task's, not this script's."""
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        sys.path.insert(0, {str(REPO)!r})
        import torch
        torch.set_num_threads({threads})
        from pathlib import Path
        from engine.jobs import CancelToken, null_progress
        from engine.tasks.separate import SeparateSettings, load_separator, process_file
        settings = SeparateSettings(checkpoint={str(checkpoint)!r}, window={window}, device={device!r},
                                    precision={precision!r})
        load_separator(settings)  # load once, outside the timing
        start = time.perf_counter()
        process_file(Path({str(audio)!r}), Path({str(audio.with_suffix(''))!r} + "_out"), settings,
                     null_progress(), CancelToken())
        seconds = time.perf_counter() - start
        gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
        print(json.dumps({{"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                           "gpu_mb": gpu}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_with_reference(reference_dir: Path, window: float, repeats: int, threads: int) -> None:
    """Time ClearerVoice's MossFormer and ours on the same window with the same weights, interleaved."""
    sys.path.insert(0, str(reference_dir))
    from mossformer2_ss.mossformer2 import MossFormer  # type: ignore[import-not-found]

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ours = MossFormer2().eval()
    theirs = MossFormer().eval()
    theirs.load_state_dict(ours.state_dict())
    mixture = torch.randn(1, int(window * RATE)) * 0.1
    times = {"reference": [], "vocalis": []}
    with torch.inference_mode():
        expected = torch.stack(theirs(mixture), dim=1)
        got = ours(mixture)
        for _ in range(repeats):
            for name, model in (("reference", theirs), ("vocalis", ours)):
                start = time.perf_counter()
                model(mixture)
                times[name].append(time.perf_counter() - start)
    best = {name: min(values) / window for name, values in times.items()}
    print(f"\nsame weights, one {window:g} s window, {threads} threads, best of {repeats}:")
    print(f"  max |vocalis - reference| = {float((got - expected).abs().max()):.2e}")
    for name, value in best.items():
        print(f"  {name:<10} {value:6.2f} s compute per s of audio")
    print(f"  speed-up   {best['reference'] / best['vocalis']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--durations", default="10,60", help="input lengths in seconds (comma-separated)")
    parser.add_argument("--windows", default=str(SeparateSettings().window), help="window lengths in seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="GPU precision: auto, fp32, fp16, bf16")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (the reference figures used 2)")
    parser.add_argument("--reference", type=Path, help="folder containing ClearerVoice's mossformer2_ss package")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    durations = [float(d) for d in args.durations.split(",")]
    windows = [float(w) for w in args.windows.split(",")]

    with tempfile.TemporaryDirectory(prefix="vocalis-bench-") as folder:
        folder = Path(folder)
        torch.manual_seed(0)
        checkpoint = folder / "mossformer2_random.pt"
        torch.save({"model": MossFormer2().state_dict()}, checkpoint)
        print(f"MossFormer2 24 layers (random weights), device {args.device}, precision {args.precision}, "
              f"{args.threads} CPU threads")
        print(f"{'input':>8} {'window':>7} {'wall s':>8} {'s/s audio':>10} {'x realtime':>10} {'peak RSS MB':>12}"
              f"{' GPU MB':>8}")
        for seconds in durations:
            audio = folder / f"mix_{seconds:g}s.wav"
            synthetic_mixture(audio, seconds)
            for window in windows:
                result = run_task(audio, checkpoint, window, args.device, args.precision, args.threads)
                per_second = result["seconds"] / seconds
                print(f"{seconds:>7g}s {window:>6g}s {result['seconds']:>8.1f} {per_second:>10.2f} "
                      f"{1 / per_second:>10.2f} {result['rss_mb']:>12.0f} {result['gpu_mb']:>8.0f}", flush=True)
    if args.reference:
        for window in windows:
            compare_with_reference(args.reference, window, args.repeats, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
