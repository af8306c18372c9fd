"""What the Speak task costs on top of the model's decoding step: the released-size Lina model (random
weights: speed does not depend on them) decoding through ``engine.tasks.speak.speak`` (sampling, progress,
cancel checks, codec decoding of the result, crossfades) against the bare ``LinaModel.step`` loop of
``bench/tts.py``, same format, same number of tokens, interleaved rounds, ratio printed.

    .venv/bin/python bench/speak.py [--tokens 150] [--rounds 3] [--format int8] [--threads 2]

The codec is the tiny golden WavTokenizer (the real one's decoder adds a fixed cost per second of audio,
measured by bench/wavtokenizer.py); the tokenizer is the real bpe256.json from the golden folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.tts import build_model, decode_rate, load_average  # noqa: E402
from engine.jobs import CancelToken, Progress  # noqa: E402
from engine.models import wavtokenizer  # noqa: E402
from engine.models.lina import TextTokenizer  # noqa: E402
from engine.tasks.speak import SpeakSettings, SpeechModels, speak  # noqa: E402

GOLDEN = REPO.parent / "shared" / "golden"
TEXT = "The quick brown fox jumps over the lazy dog while the band plays on."


def speak_rate(models: SpeechModels, tokens: int, weight_format: str) -> float:
    """Tokens per second through the whole task (no stop token from random weights: exactly ``tokens``)."""
    settings = SpeakSettings(max_tokens=tokens, chunk_chars=1000, weight_format=weight_format, crossfade_ms=0)
    started = time.perf_counter()
    clips = speak(TEXT, None, settings, Progress(), CancelToken(), models=models)
    elapsed = time.perf_counter() - started
    return (clips[0].frames // 320) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--format", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = SpeechModels(build_model(), wavtokenizer.load_model(GOLDEN / "wavtokenizer" / "tiny_0.safetensors",
                                                                  GOLDEN / "wavtokenizer" / "config_0.json"),
                          TextTokenizer(GOLDEN / "lina" / "bpe256.json"))
    speak_rate(models, 20, args.format)  # warm-up (packs the weights)
    task, bare = [], []
    for _ in range(args.rounds):
        task.append(speak_rate(models, args.tokens, args.format))
        bare.append(decode_rate(models.lina, args.format, 1, args.tokens)[0])
    print(f"== {args.tokens} tokens, {args.format}, {args.threads} thread(s), {args.rounds} rounds ({load_average()})")
    print(f"bare decoding step loop: {statistics.median(bare):7.1f} tokens/s")
    print(f"speak() end to end:      {statistics.median(task):7.1f} tokens/s")
    print(f"task / bare (median of per-round ratios): "
          f"{statistics.median(t / b for t, b in zip(task, bare)):.3f}")


if __name__ == "__main__":
    main()
