"""Lyrics transcription with Whisper, segmented the way the ALT paper found best (Syed et al., 2025):
vocal energy decides where the windows are, Whisper transcribes ≤30 s windows in a batch."""

from engine.tasks.lyrics.types import LyricLine, Lyrics, LyricsSettings, Segmentation, TranscribeFrom, Word
from engine.tasks.lyrics.transcribe import transcribe_lyrics
from engine.tasks.lyrics import file_task  # noqa: F401  (registers the "lyrics" file task)

__all__ = ["LyricLine", "Lyrics", "LyricsSettings", "Segmentation", "TranscribeFrom", "Word", "transcribe_lyrics"]
