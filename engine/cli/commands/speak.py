"""``vocalis speak "TEXT" [--voice NAME|VOICE.safetensors|CLIP] --out DIR [--seed N] [--variants N] ...``.

Text to speech with Lina-Speech; the options are :class:`engine.tasks.speak.SpeakSettings`, shared with the
GUI and ``vocalis batch speak`` (which turns each .txt, or each ``id,text`` row of a .csv, into a file).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from engine import settings as settings_mod
from engine.cli import EXIT_OK, EXIT_USAGE
from engine.cli.output import add_json_flag, print_json, run_with_progress

NAME = "speak"
HELP = "speak text in a learned voice, a voice clip's voice, or the model's own (Lina-Speech)"


def configure(parser: argparse.ArgumentParser) -> None:
    from engine.tasks.speak import SpeakSettings

    parser.add_argument("text", help="the text to speak; '-' reads it from standard input")
    parser.add_argument("--out", metavar="DIR", default=".", help="folder for the audio (default: current folder)")
    parser.add_argument("--name", default="", help="output file name without extension (default: the first words)")
    add_json_flag(parser)
    settings_mod.add_arguments(parser, SpeakSettings)


def output_stem(text: str, name: str) -> str:
    """The file stem: ``name``, else the text's first words ("hello_there_general")."""
    words = re.findall(r"\w+", text.lower(), flags=re.ASCII)[:6]
    return name.strip() or "_".join(words) or "speech"


def run(args: argparse.Namespace) -> int:
    from engine.audio import io as audio_io
    from engine.tasks.speak import SpeakSettings, resolve_voice, speak

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        settings = settings_mod.from_arguments(SpeakSettings, args)
    except (ValueError, TypeError) as exc:
        print(f"vocalis speak: invalid options: {exc}", file=sys.stderr)
        return EXIT_USAGE
    voice = resolve_voice(settings.voice, settings.prompt_text)
    clips = run_with_progress(speak, text, voice, settings, label="speak")
    stem = Path(args.out) / output_stem(text, args.name)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [Path(f"{stem}.{settings.format}")] if len(clips) == 1 else \
        [Path(f"{stem}_v{i + 1}.{settings.format}") for i in range(len(clips))]
    written = [audio_io.save(clip, path) for clip, path in zip(clips, paths)]
    if args.json:
        print_json({"task": NAME, "settings": settings_mod.to_dict(settings),
                    "outputs": [{"path": str(p), "duration_s": round(c.duration, 3)} for p, c in zip(written, clips)]})
    else:
        for path, clip in zip(written, clips):
            print(f"ok      {path} ({clip.duration:.1f} s)")
    return EXIT_OK
