"""Lyrics benchmark: WER and wall time of each segmentation on the JamendoLyrics songs, same model, one run.

    .venv/bin/python bench/lyrics.py [--model whisper-base] [--stems DIR] [--json OUT.json]

Methods: (a) Whisper's native long-form, (b) RMS-VAD on the mix, (c) Silero VAD on the mix (what
``segmentation=auto`` does without separation), and (d) RMS-VAD on a supplied vocal stem (``--stems DIR``
holding ``<song>.wav``/``.flac``/``.mp3``). Prints the per-song table of each method, then corpus WER,
time and the ratios against native.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.audio.clip import Clip  # noqa: E402
from engine.models.loading import load_catalog_or_local  # noqa: E402
from engine.tasks.lyrics import LyricsSettings, Segmentation  # noqa: E402
from engine.tasks.lyrics.transcribe import transcribe_lyrics  # noqa: E402
from engine.tasks.lyrics_eval import evaluate_texts  # noqa: E402

JAMENDO = Path(__file__).resolve().parents[2] / "shared" / "data" / "jamendolyrics"
LANGUAGE_CODES = {"English": "en", "French": "fr", "Spanish": "es", "German": "de"}


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


def run_method(label: str, settings: LyricsSettings, songs: list[dict], clips: dict[str, Clip],
               stems: Path | None) -> dict:
    texts, seconds = [], 0.0
    for song in songs:
        song_settings = dataclasses.replace(settings, language=song["language"])
        if label == "rms-vad on stem":
            song_settings = dataclasses.replace(song_settings, separator=f"stem:{find_stem(stems, song['name'])}")
        started = time.perf_counter()
        lyrics = transcribe_lyrics(clips[song["name"]], song_settings)
        seconds += time.perf_counter() - started
        texts.append(lyrics.text)
    report = evaluate_texts([s["name"] for s in songs], [s["reference"] for s in songs], texts,
                            [s["language"] for s in songs])
    return {"method": label, "seconds": seconds, "report": report, "hypotheses": texts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-base", help="model-store id or CTranslate2 folder")
    parser.add_argument("--data", type=Path, default=JAMENDO, help="JamendoLyrics-style folder")
    parser.add_argument("--stems", type=Path, help="folder of vocal stems named like the songs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()

    songs = load_songs(args.data)
    clips = {song["name"]: read_clip(song["audio"]) for song in songs}
    base = LyricsSettings(model=args.model, device=args.device)
    load_catalog_or_local("whisper-ct2", base.model, device=base.device, compute_type=base.compute_type)  # loading is not part of any method's time
    methods = [("native", dataclasses.replace(base, segmentation=Segmentation.NATIVE)),
               ("rms-vad on mix", dataclasses.replace(base, segmentation=Segmentation.RMS_VAD)),
               ("silero-vad on mix", dataclasses.replace(base, segmentation=Segmentation.SILERO_VAD))]
    if args.stems and all(find_stem(args.stems, s["name"]) for s in songs):
        methods.append(("rms-vad on stem", dataclasses.replace(base, segmentation=Segmentation.RMS_VAD)))

    results = []
    for label, settings in methods:
        result = run_method(label, settings, songs, clips, args.stems)
        results.append(result)
        print(f"\n== {label}: {result['seconds']:.1f} s\n{result['report'].table()}", flush=True)

    native = results[0]
    print(f"\n{'method':<20} {'WER %':>7} {'time s':>8} {'speed-up':>9} {'WER ratio':>10}")
    for result in results:
        wer = result["report"].corpus.metrics["WER"]
        print(f"{result['method']:<20} {100 * wer:7.2f} {result['seconds']:8.1f} "
              f"{native['seconds'] / result['seconds']:8.2f}x "
              f"{wer / native['report'].corpus.metrics['WER']:10.3f}")
    if args.json:
        args.json.write_text(json.dumps([{
            "method": r["method"], "seconds": r["seconds"], "corpus": r["report"].corpus.json_metrics(),
            "songs": {row.name: row.json_metrics() for row in r["report"].songs}, "hypotheses": r["hypotheses"],
        } for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
