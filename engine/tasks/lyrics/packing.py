"""Greedy packing of consecutive speech spans into Whisper windows (the paper's ``merge_segments``).

Whisper was trained on 30 s windows; giving it whole windows of several phrases keeps its language-model
context, while the cuts fall in silences found by the VAD.
"""

from __future__ import annotations

from engine.tasks.lyrics.vad import Span


def pack_spans(spans: list[Span], max_samples: int) -> list[Span]:
    """Windows ``(start, end)`` covering consecutive ``spans``, each no longer than ``max_samples`` unless a
    single span already is."""
    windows: list[Span] = []
    for start, end in spans:
        if windows and end - windows[-1][0] <= max_samples:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows
