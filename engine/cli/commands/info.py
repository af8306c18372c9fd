"""``vocalis info FILE...``: what each audio file holds and how loud it is, as JSON.

The levels are measured while the file streams past block by block, so even hours of audio need only a
block of memory. A file that cannot be read gets an ``error`` entry (and a line on stderr) instead of
stopping the others; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from engine.audio import dsp, io
from engine.cli import EXIT_FAILED, EXIT_OK
from engine.cli.output import print_json
from engine.errors import VocalisError

NAME = "info"
HELP = "print duration, sample rate, channels, format and peak/RMS level of audio files as JSON"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files to describe")


def _decibels(value: float) -> float | None:
    """JSON has no -infinity; silence is reported as null."""
    return round(value, 3) if math.isfinite(value) else None


def describe(path: str) -> dict[str, Any]:
    """The JSON entry of one file (raises the file's VocalisError when it cannot be read)."""
    description = io.info(path)
    peak, rms = dsp.block_levels(io.blocks(path))
    return {"path": str(description.path), "duration": round(description.duration, 6),
            "sample_rate": description.sample_rate, "channels": description.channels,
            "format": description.format, "subtype": description.subtype, "frames": description.frames,
            "peak_dbfs": _decibels(peak), "rms_dbfs": _decibels(rms)}


def run(args: argparse.Namespace) -> int:
    entries, failed = [], False
    for path in args.files:
        try:
            entries.append(describe(path))
        except VocalisError as exc:
            failed = True
            entries.append({"path": path, "error": str(exc)})
            print(f"vocalis info: {exc}", file=sys.stderr)
    print_json(entries[0] if len(entries) == 1 else entries)
    return EXIT_FAILED if failed else EXIT_OK
