"""Lina-Speech decoding benchmark: the released-size model (random weights: speed does not depend on them).

    .venv/bin/python bench/tts.py                          # CPU, threads 1 and 2, fp32 / int8 / bf16
    .venv/bin/python bench/tts.py --threads 2 --formats fp32,int8 --steps 300
    .venv/bin/python bench/tts.py --skip-rss --skip-agreement

Reports, each measured in interleaved rounds so the ratios hold on a busy machine:

* tokens/s of the recurrent decoding step (``LinaModel.step``) at batch 1 and batch 4 per weight format,
  wall clock and per CPU-second (the latter is what an idle machine would give a single-thread run), and
  the ratio to fp32 in the same round. Real time is 75 tokens/s (WavTokenizer's frame rate).
* peak RSS of a fresh process decoding 100 vs 2000 tokens (the state is fixed-size: it should be flat).
* the cost of each fast format: max |Δlogit| and greedy-token agreement over 500 steps against fp32,
  teacher-forced on fp32's own greedy tokens (random weights make near-ties common, so this is a bound
  on the agreement with trained weights, not an estimate).
* on CUDA, when present: fp32 / fp16 / bf16 model weights, tokens/s at batch 1 and 4.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.models.lina import RELEASED, LinaModel  # noqa: E402

TEXT_TOKENS = 100
REAL_TIME = 75.0


def build_model(device: str = "cpu") -> LinaModel:
    torch.manual_seed(0)
    model = LinaModel(RELEASED).eval()
    with torch.no_grad():  # weights of a trained model's scale (default inits are larger for some tensors)
        for name, tensor in model.named_parameters():
            if name.endswith("freqs"):
                continue
            if tensor.dim() > 1:
                tensor.normal_(0, 0.02)
    return model.to(device)


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


@torch.inference_mode()
def decode_rate(model: LinaModel, weight_format: str, batch: int, steps: int) -> tuple[float, float]:
    """(tokens/s wall, tokens/s per CPU-second) of ``steps`` decoding steps for ``batch`` sequences."""
    model.set_weight_format(weight_format)
    device = model.txt_embed.weight.device
    context = model.text_context(torch.randint(3, 256, (1, TEXT_TOKENS), device=device))
    state = model.initial_state(batch_size=batch)
    tokens = torch.randint(3, 4099, (batch, 1), device=device)
    for _ in range(3):
        model.step(tokens, context, state)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        logits, _ = model.step(tokens, context, state)
        tokens = logits[:, :, 3:].argmax(-1) + 3
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return batch * steps / wall, batch * steps / cpu


def speed_table(model: LinaModel, formats: list[str], threads: list[int], steps: int, rounds: int) -> None:
    print(f"\n== decoding speed, {steps} steps x {rounds} rounds, {TEXT_TOKENS} text tokens ({load_average()})")
    for count in threads:
        torch.set_num_threads(count)
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(rounds):
            for batch in (1, 4):
                for fmt in formats:
                    results.setdefault((fmt, batch), []).append(decode_rate(model, fmt, batch, steps))
        print(f"-- {count} thread(s)")
        print(f"{'format':8s} {'batch':>5s} {'tokens/s':>9s} {'per CPU-s':>10s} {'x fp32':>7s} {'x real time':>11s}")
        for (fmt, batch), runs in results.items():
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            ratio = statistics.median(r[0] / f[0] for r, f in zip(runs, results[("fp32", batch)])) \
                if ("fp32", batch) in results else float("nan")
            print(f"{fmt:8s} {batch:5d} {wall:9.1f} {cpu:10.1f} {ratio:7.2f} {wall / batch / REAL_TIME:11.2f}")
    print(f"(x real time = tokens/s per sequence / {REAL_TIME:.0f}; {load_average()})")


@torch.inference_mode()
def agreement(model: LinaModel, formats: list[str], steps: int) -> None:
    print(f"\n== cost of the fast formats: {steps} steps teacher-forced on fp32's greedy tokens")
    context = model.text_context(torch.randint(3, 256, (1, TEXT_TOKENS)))
    model.set_weight_format("fp32")
    state = model.initial_state()
    token = torch.tensor([[1]])
    inputs, reference = [], []
    for _ in range(steps):
        inputs.append(token)
        logits, _ = model.step(token, context, state)
        reference.append(logits)
        token = logits[:, :, 3:].argmax(-1) + 3
    scale = max(r.abs().max().item() for r in reference)
    for fmt in formats:
        if fmt == "fp32":
            continue
        model.set_weight_format(fmt)
        state = model.initial_state()
        deviation, same = 0.0, 0
        for token, expected in zip(inputs, reference):
            logits, _ = model.step(token, context, state)
            deviation = max(deviation, (logits - expected).abs().max().item())
            same += int(logits.argmax(-1).item() == expected.argmax(-1).item())
        print(f"{fmt:6s} max |dlogit| {deviation:.4f} (max |logit| {scale:.2f})   greedy agreement "
              f"{same}/{steps} = {same / steps:.1%}")
    model.set_weight_format("fp32")


def peak_rss(weight_format: str, tokens: int, threads: int) -> tuple[float, float]:
    """(peak RSS of the whole process, peak RSS while decoding) in MB, in a fresh process that builds the
    model, packs the weights, then decodes ``tokens`` steps. The decoding peak is measured after resetting
    the kernel's high-water mark (Linux ``clear_refs``), so the model build does not hide it."""
    script = textwrap.dedent(f"""
        import resource, sys, torch
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(REPO / "bench")!r})
        torch.set_num_threads({threads})
        from tts import build_model, decode_rate
        model = build_model()
        decode_rate(model, {weight_format!r}, 1, 1)  # weights packed, buffers allocated
        whole = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        decode_rate(model, {weight_format!r}, 1, {tokens})
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(whole, int(status["VmHWM"].split()[0]) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    whole, decoding = out.stdout.split()
    return float(whole), float(decoding)


def rss_table(formats: list[str], threads: int) -> None:
    print("\n== peak RSS of a fresh process: whole run (model build included) / while decoding")
    for fmt in formats:
        (whole_short, short), (whole_long, long) = peak_rss(fmt, 100, threads), peak_rss(fmt, 2000, threads)
        print(f"{fmt:6s} 100 tokens {whole_short:6.0f} / {short:6.0f} MB   2000 tokens {whole_long:6.0f} / "
              f"{long:6.0f} MB   decoding ratio {long / short:.3f}")


def cuda_table(steps: int, rounds: int) -> None:
    print(f"\n== CUDA ({torch.cuda.get_device_name()})")
    rates: dict[tuple[str, int], list[float]] = {}
    models = {}
    for fmt, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        models[fmt] = build_model("cuda").to(dtype)
    for _ in range(rounds):
        for fmt, model in models.items():
            for batch in (1, 4):
                rates.setdefault((fmt, batch), []).append(decode_rate(model, fmt, batch, steps)[0])
    for (fmt, batch), values in rates.items():
        ratio = statistics.median(v / f for v, f in zip(values, rates[("fp32", batch)]))
        print(f"{fmt:6s} batch {batch}  {statistics.median(values):8.1f} tokens/s  x fp32 {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", default="fp32,int8,bf16")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--agreement-steps", type=int, default=500)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-agreement", action="store_true")
    args = parser.parse_args()
    formats = args.formats.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    model = build_model()
    print(f"Lina-Speech released size ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M values), "
          f"torch {torch.__version__}, {load_average()}")
    speed_table(model, formats, threads, args.steps, args.rounds)
    if not args.skip_agreement:
        torch.set_num_threads(max(threads))
        agreement(model, formats, args.agreement_steps)
    if not args.skip_rss:
        rss_table([f for f in formats if f != "bf16"], max(threads))
    if torch.cuda.is_available():
        cuda_table(args.steps, args.rounds)
    print(f"\n{load_average()}")


if __name__ == "__main__":
    main()
