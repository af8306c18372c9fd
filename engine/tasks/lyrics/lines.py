"""From Whisper segments to lyric lines.

A batched window is decoded as one piece of text up to 30 s long, which is no lyric line; the words'
times say where to break it: where the voice stops (a silence the VAD found), after a sentence end, or
at a long pause between words; a line that would not fit a subtitle cue (two lines of 42 characters,
7 s, the usual broadcast limits) is halved at its longest pause. Word starts that Whisper's alignment put
in a silence are moved to where the voice resumes, so karaoke highlighting does not run early.
"""

from __future__ import annotations

import bisect
from dataclasses import replace

from engine.tasks.lyrics.types import LyricLine, Word, join_words

SENTENCE_ENDS = (".", "!", "?", "…", "。", "！", "？")
LINE_PAUSE_S = 1.0  # a pause this long between two words ends a line even without a VAD silence
MAX_LINE_S = 7.0    # longer lines (sung lyric lines last 2-5 s) are halved at their longest pause
MAX_LINE_CHARS = 84  # two subtitle lines of 42 characters

Interval = tuple[float, float]


def line_from_segment(segment) -> LyricLine:
    """A faster-whisper segment as a line; a word's leading space in Whisper's text becomes its
    ``space_before``."""
    words = [Word(float(w.start), float(w.end), w.word.strip(), float(w.probability), w.word[:1].isspace())
             for w in (segment.words or []) if w.word.strip()]
    return LyricLine(float(segment.start), float(segment.end), segment.text.strip(), words)


def silences_between(spans: list[Interval]) -> list[Interval]:
    """The gaps between consecutive speech spans."""
    return [(end, next_start) for (_, end), (next_start, _) in zip(spans, spans[1:])]


def split_line(line: LyricLine, silences: list[Interval]) -> list[LyricLine]:
    """``line`` broken between two words where a silence's middle falls between their starts, after a
    sentence end, or at a pause of ``LINE_PAUSE_S``, and lines too long for a cue halved; a line without
    word times stays whole."""
    if len(line.words) < 2:
        return [line]
    middles = sorted((start + end) / 2 for start, end in silences)
    groups: list[list[Word]] = [[line.words[0]]]
    for previous, word in zip(line.words, line.words[1:]):
        k = bisect.bisect_right(middles, previous.start)
        crosses_silence = k < len(middles) and middles[k] <= word.start
        if crosses_silence or previous.text.endswith(SENTENCE_ENDS) or word.start - previous.end >= LINE_PAUSE_S:
            groups.append([word])
        else:
            groups[-1].append(word)
    if len(groups) == 1 and not _too_long(line.words):
        return [line]
    return [part for group in groups for part in _halve_long(group)]


def _too_long(words: list[Word]) -> bool:
    return words[-1].end - words[0].start > MAX_LINE_S or len(join_words(words)) > MAX_LINE_CHARS


def _halve_long(words: list[Word]) -> list[LyricLine]:
    """One line of ``words``, or, when it is too long for a cue, its halves split at the longest pause
    (the pause nearest the middle among equals)."""
    if len(words) > 1 and _too_long(words):
        gaps = [nxt.start - prev.end for prev, nxt in zip(words, words[1:])]
        cut = 1 + max(range(len(gaps)), key=lambda k: (gaps[k], -abs(2 * k + 2 - len(words))))
        return _halve_long(words[:cut]) + _halve_long(words[cut:])
    return [LyricLine(words[0].start, words[-1].end, join_words(words), words)]


def snap_to_speech(line: LyricLine, spans: list[Interval]) -> LyricLine:
    """Word starts that fall in a silence moved to the start of the next speech span (when that comes
    before the word ends); the line starts with its first word."""
    starts = [start for start, _ in spans]

    def snapped(time: float, end: float) -> float:
        k = bisect.bisect_right(starts, time)
        inside = k > 0 and time < spans[k - 1][1]
        return starts[k] if not inside and k < len(starts) and starts[k] < end else time

    words = [replace(w, start=snapped(w.start, w.end)) for w in line.words]
    start = words[0].start if words else snapped(line.start, line.end)
    return replace(line, start=start, words=words)


def lyric_lines(segments, spans: list[Interval]) -> list[LyricLine]:
    """The lines of a transcript; ``spans`` (seconds) are where the VAD heard voice, empty when unknown."""
    silences = silences_between(spans)
    lines = []
    for segment in segments:
        for line in split_line(line_from_segment(segment), silences):
            if any(ch.isalnum() for ch in line.text):  # "..." is Whisper's way of saying nothing
                lines.append(snap_to_speech(line, spans))
    return lines
