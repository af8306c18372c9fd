"""Lyrics transcription with Whisper, segmented the way the ALT paper found best (Syed et al., 2025):
vocal energy decides where the windows are, Whisper transcribes ≤30 s windows in a batch."""

from engine.tasks.lyrics.types import LyricLine, Lyrics, LyricsSettings, Segmentation, TranscribeFrom, Word

__all__ = ["LyricLine", "Lyrics", "LyricsSettings", "Segmentation", "TranscribeFrom", "Word"]
