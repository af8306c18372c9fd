"""``vocalis lyrics-eval --hyp DIR --ref DIR``: WER and friends (alt-eval) of transcribed lyrics against
reference lyrics, per song and for the whole corpus."""

from __future__ import annotations

import argparse

from engine.cli import EXIT_OK
from engine.cli.output import add_json_flag, print_json
from engine.tasks.lyrics_eval import evaluate_folders

NAME = "lyrics-eval"
HELP = "score transcribed lyrics (.txt/.lrc/.json) against reference .txt lyrics with alt-eval"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hyp", required=True, metavar="DIR", help="folder of transcriptions, named like the refs")
    parser.add_argument("--ref", required=True, metavar="DIR",
                        help="folder of reference lyrics, one .txt per song (one lyric line per line)")
    parser.add_argument("--language", default="en", help="language code of the songs, for tokenisation (default: en)")
    add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    report = evaluate_folders(args.hyp, args.ref, args.language)
    if args.json:
        print_json({"songs": {row.name: row.json_metrics() for row in report.songs},
                    "corpus": report.corpus.json_metrics()})
    else:
        print(report.table())
    return EXIT_OK
