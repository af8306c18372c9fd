"""BigVGAN v2 vocoder speed at the released size (22 kHz, 80 bands, 256×, 112 M parameters), random weights.

    .venv/bin/python bench/bigvgan.py                          # 6 s of audio, CPU, 2 repeats
    .venv/bin/python bench/bigvgan.py --seconds 10 --device cuda --repeats 3

Modes, interleaved in each repeat so that machine load hits them alike:
  * ``single pass``  – ``vocoder(mel)`` (weight norm folded at load; on the CPU each anti-aliased
    activation is one compiled kernel, :mod:`engine.models.bigvgan.fused_activation`);
  * ``vocode_long``  – the same through ``vocode_long`` (windows of ``--window`` frames with the
    receptive-field margin and crossfade), to show the chunking overhead;
  * ``unfused peer`` – the same weights with the weight norm recomputed at every forward
    (``torch.nn.utils.parametrizations.weight_norm``) and each activation run as separate up-sample,
    Snake and padded down-sample steps: what skipping this module's inference rewrites costs.
Prints wall-clock real-time factor (seconds per second of audio), process CPU seconds per audio second,
and the ratios against the single pass. Weights are random: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from engine.models.bigvgan import BigVGAN, read_config  # noqa: E402
from engine.audio.stitch import window_starts  # noqa: E402
from engine.models.bigvgan.model import LONG_FADE_FRAMES, Activation1d  # noqa: E402

RELEASE_CONFIG = {
    "resblock": "1", "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
    "upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "activation": "snakebeta",
    "snake_logscale": True, "use_tanh_at_final": False, "use_bias_at_final": False, "num_mels": 80,
    "hop_size": 256, "sampling_rate": 22050,
}


def unfused_peer(model: BigVGAN) -> BigVGAN:
    """A copy that recomputes weight norm per forward and runs each activation as three separate steps."""
    peer = copy.deepcopy(model)
    for module in peer.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            torch.nn.utils.parametrizations.weight_norm(module)
        if isinstance(module, Activation1d):
            module.forward = types.MethodType(lambda self, x: self.downsample(self.act(self.upsample(x))), module)
    return peer.eval()


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="audio length to vocode")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--window", type=int, default=256, help="vocode_long window in mel frames")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = BigVGAN(read_config(RELEASE_CONFIG)).eval().to(args.device)
    peer = unfused_peer(model).to(args.device)
    frames = round(args.seconds * model.sample_rate / model.hop_length)
    mel = (-4 + 2 * torch.randn(1, model.num_mels, frames)).to(args.device)

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    modes = {
        "single pass": lambda: (model(mel), sync()),
        "vocode_long": lambda: model.vocode_long(mel, window=args.window),
        "unfused peer": lambda: (peer(mel), sync()),
    }
    with torch.inference_mode():
        peer(mel[..., :32])
        model(mel[..., :32])  # warm-up: allocator and kernel selection
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in modes}
        for _ in range(args.repeats):
            for name, fn in modes.items():
                results[name].append(timed(fn))
    audio_s = frames * model.hop_length / model.sample_rate
    best = {name: min(runs) for name, runs in results.items()}
    margin = model.receptive_field_frames()
    starts = window_starts(frames, args.window, 2 * margin + LONG_FADE_FRAMES)
    rendered = sum(min(frames, start + args.window) - start for start in starts)
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "audio_s": round(audio_s, 3),
                      "frames": frames, "window": args.window, "margin": margin,
                      "vocode_long_work": round(rendered / frames, 2)}))
    print(f"{'mode':<16}{'RTF (wall)':>12}{'CPU s / s':>12}{'wall ratio':>12}")
    for name, (wall, cpu) in best.items():
        print(f"{name:<16}{wall / audio_s:>12.3f}{cpu / audio_s:>12.3f}{wall / best['single pass'][0]:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
