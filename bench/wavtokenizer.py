"""WavTokenizer codec speed: real-time factor (compute seconds per audio second) of encode and decode with
the released-size architecture and random weights (speed does not depend on the values; the official file
is not reachable here).

    .venv/bin/python bench/wavtokenizer.py                      # 3 s and 10 s clips, CPU, 2 threads
    .venv/bin/python bench/wavtokenizer.py --seconds 5,30 --device cuda

Encode and decode are timed alternately, clip after clip, so machine noise hits both alike; the median and
the best over the repeats are printed as ratios to real time (below 1.0 is faster than real time; on a
shared machine the best is the closer estimate of an idle one). Lina decodes its tokens with this decoder,
so its own real-time budget includes the decode column.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from engine.models.wavtokenizer import RELEASED_CONFIG, WavTokenizerCodec  # noqa: E402


def random_codec(device: str) -> WavTokenizerCodec:
    """The released architecture with small random weights, loaded through ``load_state_dict`` so that the
    weight-norm folding happens as it does for a real checkpoint."""
    generator = torch.Generator().manual_seed(0)
    codec = WavTokenizerCodec(RELEASED_CONFIG)
    state = {}
    for name, tensor in codec.state_dict().items():
        if name.endswith(("window", "inited", "weight_g")) or tensor.dim() == 0:
            state[name] = tensor
        else:
            state[name] = torch.randn(tensor.shape, generator=generator) * 0.02
    codec.load_state_dict(state)
    return codec.to(device).eval()


def timed(fn, device: str) -> tuple[float, object]:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", default="3,10", help="clip lengths, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    codec = random_codec(args.device)
    lengths = [float(s) for s in args.seconds.split(",")]
    wavs = {s: 0.1 * torch.randn(1, int(s * codec.sample_rate), device=args.device) for s in lengths}

    codec.decode(codec.encode(wavs[lengths[0]]))   # warm-up (allocator, kernels)
    times: dict[float, dict[str, list[float]]] = {s: {"encode": [], "decode": []} for s in lengths}
    for _ in range(args.repeats):
        for seconds in lengths:
            elapsed, codes = timed(lambda: codec.encode(wavs[seconds]), args.device)
            times[seconds]["encode"].append(elapsed)
            elapsed, _ = timed(lambda: codec.decode(codes), args.device)
            times[seconds]["decode"].append(elapsed)

    print(f"WavTokenizer released size, random weights, {args.device}, {args.threads} threads, "
          f"{args.repeats} repeats; real-time factor = compute s / audio s, median (best)")
    print(f"{'clip s':>7} {'encode RTF':>16} {'decode RTF':>16} {'both RTF':>16} {'x real time':>12}")
    for seconds in lengths:
        rows = [(statistics.median(times[seconds][part]) / seconds, min(times[seconds][part]) / seconds)
                for part in ("encode", "decode")]
        both = (rows[0][0] + rows[1][0], rows[0][1] + rows[1][1])
        cells = " ".join(f"{median:8.3f} ({best:.3f})" for median, best in (*rows, both))
        print(f"{seconds:7.1f} {cells} {1 / both[0]:7.1f}x ({1 / both[1]:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
