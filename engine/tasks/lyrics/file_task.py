"""The ``lyrics`` file task: audio file → lyrics files, for the CLI (``vocalis lyrics``) and batch."""

from __future__ import annotations

from pathlib import Path

from engine.audio import io as audio_io
from engine.audio.clip import Clip
from engine.jobs import CancelToken, Progress
from engine.tasks import registry
from engine.tasks.lyrics.formats import output_paths, write_lyrics
from engine.tasks.lyrics.transcribe import transcribe_lyrics
from engine.tasks.lyrics.types import LyricsSettings


def prepare(input_path: Path, settings: LyricsSettings) -> Clip:
    return audio_io.load(input_path)


def output_names(output_stem: Path, settings: LyricsSettings) -> list[Path]:
    return output_paths(Path(output_stem), settings.format)


def process_file(input_path: Path, output_stem: Path, settings: LyricsSettings, progress: Progress,
                 cancel: CancelToken, *, prepared: Clip | None = None) -> list[Path]:
    clip = prepared if prepared is not None else prepare(Path(input_path), settings)
    lyrics = transcribe_lyrics(clip, settings, progress.sub(0.0, 0.98), cancel)
    paths = write_lyrics(lyrics, output_stem, settings.format)
    progress(1.0, "written")
    return paths


TASK = registry.register(registry.FileTask(
    name="lyrics",
    help="transcribe song lyrics with Whisper, segmented by (separated) vocal activity; writes LRC/SRT/VTT/TXT/JSON",
    settings_type=LyricsSettings,
    process_file=process_file,
    output_names=output_names,
    prepare=prepare,
    device_field="device",
))
