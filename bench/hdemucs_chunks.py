"""Hybrid Demucs chunking benchmark: wall time and peak memory of the vocal stem of one synthetic song,
whole song through the model at once versus overlapping segments, each in a fresh process, same run.

    .venv/bin/python bench/hdemucs_chunks.py                            # 20 s song, 5 s segments, CPU
    .venv/bin/python bench/hdemucs_chunks.py --seconds 60 --segments 5,10 --device cuda

Weights are random (speed and memory do not depend on them; the official file is not reachable here).
Prints one row per mode and the ratios against the whole-song pass.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(seconds: float, segment_s: float | None, device: str) -> dict:
    """In this (fresh) process: separate a noise-and-tones song; report wall time and peak RSS."""
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from engine.audio.clip import Clip
    from engine.models.hdemucs import SAMPLE_RATE, build_model, separate_vocals

    torch.manual_seed(0)
    model = build_model().eval().to(device)
    frames = int(seconds * SAMPLE_RATE)
    t = np.arange(frames) / SAMPLE_RATE
    song = 0.1 * np.random.default_rng(0).standard_normal((2, frames)) + 0.3 * np.sin(2 * np.pi * 220 * t)
    clip = Clip(song.astype(np.float32), SAMPLE_RATE)
    start = time.perf_counter()
    separate_vocals(clip, model, segment_s=segment_s or seconds, overlap_s=1.0 if segment_s else 0.0,
                    device=device)
    wall = time.perf_counter() - start
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    return {"wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_gpu_mb": peak_gpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="song length")
    parser.add_argument("--segments", default="5", help="comma-separated segment lengths in seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        segment = float(args.child) or None
        print(json.dumps(run_one(args.seconds, segment, args.device)))
        return 0
    modes = [0.0] + [float(s) for s in args.segments.split(",")]
    rows = []
    for segment in modes:
        out = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds), "--device", args.device,
                              "--child", str(segment)], capture_output=True, text=True, check=True)
        rows.append((segment, json.loads(out.stdout.strip().splitlines()[-1])))
    whole = rows[0][1]
    print(f"song {args.seconds:g} s, device {args.device}")
    print(f"{'mode':<22}{'wall s':>9}{'RTF':>8}{'peak RSS MB':>13}{'peak GPU MB':>13}{'RSS ratio':>11}")
    for segment, result in rows:
        name = "whole song" if not segment else f"{segment:g} s segments"
        gpu = f"{result['peak_gpu_mb']:.0f}" if result["peak_gpu_mb"] is not None else "-"
        print(f"{name:<22}{result['wall_s']:>9.1f}{result['wall_s'] / args.seconds:>8.2f}"
              f"{result['peak_rss_mb']:>13.0f}{gpu:>13}{result['peak_rss_mb'] / whole['peak_rss_mb']:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
