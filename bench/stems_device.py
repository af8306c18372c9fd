"""Music stems (Hybrid Demucs, ``hdemucs_high`` with random weights: the real architecture and cost) on the
CPU and on a CUDA GPU in the same run: wall time of ``separate_sources`` on the same song, the ratio, and
how far the GPU's stems are from the CPU's, with cuDNN's default TF32 convolutions and with strict fp32.

    python bench/stems_device.py [--seconds 20] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.audio.clip import Clip  # noqa: E402
from engine.models.hdemucs import SAMPLE_RATE, build_model, separate_sources  # noqa: E402


def song(seconds: float) -> Clip:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tones = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 440.0, 660.0))
    kicks = (np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.5) * 20)) * 0.3
    left = tones + kicks + 0.02 * rng.standard_normal(t.size)
    return Clip(np.stack((left, 0.9 * left)).astype(np.float32), SAMPLE_RATE, name="bench")


def timed(clip: Clip, model, device: str) -> tuple[float, dict[str, Clip]]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    stems = separate_sources(clip, model, segment_s=10.0, overlap_s=1.0, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, stems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model().eval()
    clip = song(args.seconds)
    warm = Clip(clip.samples[:, :SAMPLE_RATE * 2], SAMPLE_RATE)
    separate_sources(warm, model, segment_s=10.0, overlap_s=1.0)
    cpu_s, cpu_stems = timed(clip, model, "cpu")
    print(f"song {args.seconds:.0f} s stereo 44.1 kHz; CPU ({args.threads} threads): {cpu_s:.2f} s "
          f"(real-time factor {cpu_s / args.seconds:.3f})")
    if not torch.cuda.is_available():
        print("no CUDA device: GPU not measured")
        return 0
    gpu_model = model.to("cuda")
    separate_sources(warm, gpu_model, segment_s=10.0, overlap_s=1.0, device="cuda")
    for tf32 in (True, False):
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.cuda.reset_peak_memory_stats()
        gpu_s, gpu_stems = timed(clip, gpu_model, "cuda")
        print(f"GPU ({torch.cuda.get_device_name()}, TF32 {'on' if tf32 else 'off'}): {gpu_s:.2f} s (real-time "
              f"factor {gpu_s / args.seconds:.4f}); CPU / GPU = {cpu_s / gpu_s:.1f}x; peak GPU memory "
              f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
        for name, stem in cpu_stems.items():
            reference = stem.samples.astype(np.float64)
            error = gpu_stems[name].samples - reference
            rms = float(np.sqrt(np.mean(reference ** 2)))
            print(f"  {name:6s}: |GPU - CPU| max {np.abs(error).max():.2e}, RMS {np.sqrt(np.mean(error ** 2)):.2e} "
                  f"(stem RMS {rms:.2e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
