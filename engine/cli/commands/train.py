"""``vocalis train FAMILY DATA_DIR --out RUN_DIR``: train a model family that ships a recipe instead of
weights (StableVC, whose authors released neither): features cached in the run folder, checkpoints,
``--resume`` after an interruption."""

from __future__ import annotations

import argparse
import sys

from engine.cli import EXIT_OK

NAME = "train"
HELP = "train a model from a folder of recordings (stablevc)"
FAMILIES = ("stablevc",)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("family", choices=FAMILIES, help="what to train")
    parser.add_argument("data", metavar="DATA_DIR", help="folder of speech recordings (any layout)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (features, checkpoints, logs)")
    parser.add_argument("--config", default="tiny", metavar="NAME|FILE",
                        help="tiny (CPU smoke run), recommended, or a JSON file of config values (default: tiny)")
    parser.add_argument("--max-steps", type=int, metavar="N", help="stop after N optimizer steps")
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR")
    parser.add_argument("--content-encoder", metavar="PATH|ID", help="WavLM folder or catalog id (overrides config)")
    parser.add_argument("--speaker-encoder", metavar="PATH|ID", help="CAM++ file or catalog id (overrides config)")
    parser.add_argument("--vocoder", metavar="PATH|ID", help="BigVGAN folder or catalog id used to convert")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.models.stablevc import read_config, train
    from engine.tasks.registry import AUDIO_EXTENSIONS

    overrides = {key: value for key, value in (("content_encoder", args.content_encoder),
                                               ("speaker_encoder", args.speaker_encoder),
                                               ("vocoder", args.vocoder)) if value}
    config = read_config(args.config).with_changes(**overrides)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    run_dir = train.train(args.data, args.out, config, max_steps=args.max_steps, resume=args.resume, device=device,
                          extensions=AUDIO_EXTENSIONS, report=lambda line: print(line, file=sys.stderr, flush=True))
    print(run_dir)
    return EXIT_OK
