"""Lyrics benchmark: Vocalis's methods against two peers on the JamendoLyrics songs, one model, one run.

    .venv/bin/python bench/lyrics.py [--methods auto,silero-vad,rms-vad] [--repeats 2] [--threads 2]
                                     [--stems DIR] [--json OUT.json]

Peers: (1) Whisper's native long-form loop (the ALT paper's baseline) and (2) faster-whisper's
``BatchedInferencePipeline`` as a user would run it (its own Silero VAD and batching, its defaults). Then
each Vocalis segmentation named in ``--methods`` (``auto`` is the default a user gets; ``rms-vad on stem``
when ``--stems DIR`` holds ``<song>.wav``/``.flac``/``.mp3``). The runs are interleaved per song — every
method on song 1, then on song 2, … — and each repeat rotates the order, so a load that comes and goes on
a shared machine falls on every method alike. Prints WER per song and for the corpus (alt-eval, counts
pooled), line-break F1, time, and the speed-up of each method against both peers: the ratio of summed
times and its spread (lowest–highest ratio over songs and repeats). WER does not depend on the repeat (the
sampling fallback is seeded, CTranslate2 gives the same tokens for any thread count); the bench checks
that and says so.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import soundfile as sf
from faster_whisper import BatchedInferencePipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.audio.clip import Clip  # noqa: E402
from engine.models.loading import load_catalog_or_local  # noqa: E402
from engine.tasks.lyrics import LyricsSettings, Segmentation  # noqa: E402
from engine.tasks.lyrics.transcribe import to_whisper_audio, transcribe_lyrics  # noqa: E402
from engine.tasks.lyrics_eval import EvalReport, evaluate_texts  # noqa: E402

JAMENDO = Path(__file__).resolve().parents[2] / "shared" / "data" / "jamendolyrics"
LANGUAGE_CODES = {"English": "en", "French": "fr", "Spanish": "es", "German": "de"}
NATIVE, FW_BATCHED = "native long-form", "faster-whisper batched"
PEERS = (NATIVE, FW_BATCHED)


def load_songs(data: Path) -> list[dict]:
    """Songs listed in ``songs.csv`` with their audio, reference lyrics and language code."""
    with open(data / "songs.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{"name": Path(row["Filepath"]).stem, "audio": data / "mp3" / row["Filepath"],
             "reference": (data / "lyrics" / f"{Path(row['Filepath']).stem}.txt").read_text(encoding="utf-8"),
             "language": LANGUAGE_CODES[row["Language"]]} for row in rows]


def read_clip(path: Path) -> Clip:
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    return Clip(samples.T, rate, source=path)


def find_stem(stems: Path | None, name: str) -> Path | None:
    if stems is None:
        return None
    return next((p for p in (stems / f"{name}.wav", stems / f"{name}.flac", stems / f"{name}.mp3") if p.is_file()),
                None)


Method = Callable[[dict, Clip], str]  # (song, clip) -> lyrics text, one line per line


def vocalis_method(settings: LyricsSettings, stems: Path | None = None) -> Method:
    def run(song: dict, clip: Clip) -> str:
        song_settings = dataclasses.replace(settings, language=song["language"])
        if stems is not None:
            song_settings = dataclasses.replace(song_settings, separator=f"stem:{find_stem(stems, song['name'])}")
        return transcribe_lyrics(clip, song_settings).text
    return run


def fw_batched_method(settings: LyricsSettings) -> Method:
    """faster-whisper's batched pipeline with its own defaults (Silero VAD, batches of 8): the fast rival."""
    def run(song: dict, clip: Clip) -> str:
        model = load_catalog_or_local("whisper-ct2", settings.model, device=settings.device,
                                      compute_type=settings.compute_type)
        segments, _ = BatchedInferencePipeline(model).transcribe(to_whisper_audio(clip), language=song["language"])
        return "\n".join(segment.text.strip() for segment in segments)
    return run


def build_methods(base: LyricsSettings, names: list[str], stems: Path | None) -> dict[str, Method]:
    methods = {NATIVE: vocalis_method(dataclasses.replace(base, segmentation=Segmentation.NATIVE)),
               FW_BATCHED: fw_batched_method(base)}
    for name in names:
        methods[name] = vocalis_method(dataclasses.replace(base, segmentation=Segmentation(name)))
    if stems is not None:
        methods["rms-vad on stem"] = vocalis_method(dataclasses.replace(base, segmentation=Segmentation.RMS_VAD),
                                                    stems)
    return methods


def run_interleaved(methods: dict[str, Method], songs: list[dict], clips: dict[str, Clip], repeats: int,
                    log: Callable[[str], None] = print) -> dict:
    """``{method: {"texts": [per song], "seconds": [[per repeat] per song], "stable": bool}}``."""
    results = {name: {"texts": [], "seconds": [], "stable": True} for name in methods}
    names = list(methods)
    for k, song in enumerate(songs):
        for name in names:
            results[name]["seconds"].append([])
        for repeat in range(repeats):
            shift = (k + repeat) % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                text = methods[name](song, clips[song["name"]])
                seconds = time.perf_counter() - started
                entry = results[name]
                entry["seconds"][-1].append(seconds)
                if repeat == 0:
                    entry["texts"].append(text)
                elif text != entry["texts"][-1]:
                    entry["stable"] = False
                log(f"{song['name']:<32} {name:<24} {seconds:7.1f} s")
    return results


def evaluate(results: dict, songs: list[dict]) -> dict[str, EvalReport]:
    return {name: evaluate_texts([s["name"] for s in songs], [s["reference"] for s in songs], entry["texts"],
                                 [s["language"] for s in songs]) for name, entry in results.items()}


def speed_up(results: dict, name: str, peer: str) -> tuple[float, float, float]:
    """(peer's total time / this method's, lowest and highest per-song-and-repeat ratio)."""
    mine, theirs = results[name]["seconds"], results[peer]["seconds"]
    ratios = [p / m for song_m, song_p in zip(mine, theirs) for m, p in zip(song_m, song_p)]
    total = sum(map(sum, theirs)) / sum(map(sum, mine))
    return total, min(ratios), max(ratios)


def summary(results: dict, reports: dict[str, EvalReport]) -> str:
    names = list(results)
    songs = [row.name for row in next(iter(reports.values())).songs]
    width = max(len(n) for n in names)
    lines = [f"{'WER % per song':<{width}}  " + "  ".join(f"{s[:12]:>12}" for s in songs)]
    for name in names:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{100 * r.metrics['WER']:12.2f}" for r in reports[name].songs))
    lines.append("")
    lines.append(f"{'method':<{width}}  {'WER %':>6}  {'F1 line':>7}  {'time s':>7}  "
                 f"{'vs native (spread)':>20}  {'vs fw-batched (spread)':>23}  same text every repeat")
    for name in names:
        corpus = reports[name].corpus.metrics
        cells = []
        for peer in PEERS:
            total, low, high = speed_up(results, name, peer)
            cells.append(f"{total:5.2f}x ({low:4.2f}-{high:4.2f})")
        seconds = sum(map(statistics.median, results[name]["seconds"]))
        lines.append(f"{name:<{width}}  {100 * corpus['WER']:6.2f}  {100 * corpus['F1_line']:7.1f}  {seconds:7.1f}  "
                     f"{cells[0]:>20}  {cells[1]:>23}  {'yes' if results[name]['stable'] else 'NO'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-base", help="model-store id or CTranslate2 folder")
    parser.add_argument("--data", type=Path, default=JAMENDO, help="JamendoLyrics-style folder")
    parser.add_argument("--methods", default="auto", help="Vocalis segmentations to measure, comma-separated")
    parser.add_argument("--stems", type=Path, help="folder of vocal stems named like the songs")
    parser.add_argument("--songs", help="only these songs (comma-separated name prefixes)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of every method on every song")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()

    songs = load_songs(args.data)
    if args.songs:
        songs = [s for s in songs if any(s["name"].startswith(p) for p in args.songs.split(","))]
    clips = {song["name"]: read_clip(song["audio"]) for song in songs}
    base = LyricsSettings(model=args.model, device=args.device)
    # loading is not part of any method's time
    load_catalog_or_local("whisper-ct2", base.model, device=base.device, compute_type=base.compute_type)
    stems = args.stems if args.stems and all(find_stem(args.stems, s["name"]) for s in songs) else None
    methods = build_methods(base, [m for m in args.methods.split(",") if m], stems)
    results = run_interleaved(methods, songs, clips, args.repeats, lambda line: print(line, flush=True))
    reports = evaluate(results, songs)
    for name, report in reports.items():
        print(f"\n== {name}\n{report.table()}")
    print("\n" + summary(results, reports))
    if args.json:
        args.json.write_text(json.dumps([{
            "method": name, "seconds": results[name]["seconds"], "stable": results[name]["stable"],
            "corpus": reports[name].corpus.json_metrics(),
            "songs": {row.name: row.json_metrics() for row in reports[name].songs},
            "hypotheses": results[name]["texts"],
        } for name in results], indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
