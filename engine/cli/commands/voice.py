"""``vocalis voice learn DIR --name NAME``, ``vocalis voice list``, ``vocalis voice rename OLD NEW``,
``vocalis voice delete NAME``: the learned voices of the voices folder (:mod:`engine.voices`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine import settings as settings_mod
from engine.cli import EXIT_OK, EXIT_USAGE
from engine.cli.output import add_json_flag, print_json, run_with_progress

NAME = "voice"
HELP = "learn a voice from recordings of a speaker (initial-state tuning), list, rename or delete voices"


def configure(parser: argparse.ArgumentParser) -> None:
    from engine.tasks.learn_voice import LearnVoiceSettings

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    learn = sub.add_parser("learn", help="learn a voice from a folder of clips (3-15 min of one speaker; "
                                         "<clip>.txt beside a clip is its transcript, else Whisper transcribes it)")
    learn.add_argument("folder", type=Path, metavar="DIR")
    learn.add_argument("--name", required=True, help="the voice's name")
    add_json_flag(learn)
    settings_mod.add_arguments(learn, LearnVoiceSettings)
    listing = sub.add_parser("list", help="the learned voices")
    add_json_flag(listing)
    rename = sub.add_parser("rename", help="rename a voice")
    rename.add_argument("old")
    rename.add_argument("new")
    delete = sub.add_parser("delete", help="delete a voice")
    delete.add_argument("name")


def _record(voice) -> dict:
    return {"name": voice.name, "path": str(voice.path), **{k: v for k, v in voice.info.items()
                                                            if k not in ("name", "loss_curve")}}


def run(args: argparse.Namespace) -> int:
    from engine import voices

    if args.action == "list":
        found = voices.list_voices()
        if args.json:
            print_json({"folder": str(voices.voices_dir()), "voices": [_record(v) for v in found]})
        else:
            print(f"voices folder: {voices.voices_dir()}")
            for voice in found:
                print(f"{voice.name:24s} {voice.info.get('created', '?'):26s} {voice.info.get('source', '')}")
        return EXIT_OK
    if args.action == "rename":
        voice = voices.rename_voice(args.old, args.new)
        print(f"renamed to {voice.name} ({voice.path})")
        return EXIT_OK
    if args.action == "delete":
        voices.delete_voice(args.name)
        print(f"deleted {args.name}")
        return EXIT_OK

    from engine.tasks.learn_voice import LearnVoiceSettings, learn_voice

    try:
        settings = settings_mod.from_arguments(LearnVoiceSettings, args)
    except (ValueError, TypeError) as exc:
        print(f"vocalis voice learn: invalid options: {exc}", file=sys.stderr)
        return EXIT_USAGE
    voice = run_with_progress(learn_voice, args.folder, args.name, settings, label="learn voice")
    if args.json:
        print_json({**_record(voice), "loss_curve": voice.loss_curve})
    else:
        print(f"ok      {voice.name} -> {voice.path} (loss {voice.info.get('loss_before')} -> "
              f"{voice.info.get('loss_after')})")
    return EXIT_OK
