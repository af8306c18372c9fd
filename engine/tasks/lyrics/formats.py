"""Lyrics files: export to LRC (line-synced, or enhanced with word tags), SRT, VTT, TXT and JSON; import of
LRC, JSON and CSV line timings (JamendoLyrics' ``start_time,end_time,lyrics_line``) for editing and for the
concatenation method."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from engine.errors import BadInputError
from engine.fileio import write_text_atomic
from engine.tasks.lyrics.types import LYRICS_FORMATS, LyricLine, Lyrics, Word, join_words

_LRC_TIME = re.compile(r"\[(\d+):(\d+(?:\.\d+)?)\]")
_LRC_WORD = re.compile(r"<(\d+):(\d+(?:\.\d+)?)>([^<]*)")
# LRC has no line end; a last line without one is shown this long.
LAST_LINE_S = 3.0
# A subtitle cue shows at most two lines of this many characters (the usual broadcast limit).
CUE_LINE_CHARS = 42


def _lrc_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    return f"{centis // 6000:02d}:{centis % 6000 // 100:02d}.{centis % 100:02d}"


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def to_lrc(lyrics: Lyrics, *, word_tags: bool = True) -> str:
    """LRC; with ``word_tags`` (and word times) each word gets an enhanced-LRC ``<mm:ss.xx>`` tag and the
    line closes with its end time."""
    out = ["[re:Vocalis]"]
    if lyrics.language:
        out.append(f"[la:{lyrics.language}]")
    for line in lyrics.lines:
        if word_tags and line.words:
            body = "".join(f"{' ' if k and w.space_before else ''}<{_lrc_time(w.start)}>{w.text}"
                           for k, w in enumerate(line.words))
            out.append(f"[{_lrc_time(line.start)}]{body} <{_lrc_time(line.end)}>")
        else:
            out.append(f"[{_lrc_time(line.start)}]{line.text}")
    return "\n".join(out) + "\n"


def cue_text(text: str) -> str:
    """``text`` as a subtitle cue: a line longer than 42 characters is broken in two at the space nearest
    its middle (text without spaces, as in Chinese or Japanese, stays one line)."""
    if len(text) <= CUE_LINE_CHARS:
        return text
    spaces = [k for k, ch in enumerate(text) if ch == " "]
    if not spaces:
        return text
    middle = min(spaces, key=lambda k: abs(2 * k - len(text)))
    return f"{text[:middle]}\n{text[middle + 1:]}"


def to_srt(lyrics: Lyrics) -> str:
    blocks = [f"{k}\n{_clock(line.start, ',')} --> {_clock(line.end, ',')}\n{cue_text(line.text)}\n"
              for k, line in enumerate(lyrics.lines, 1)]
    return "\n".join(blocks)


def to_vtt(lyrics: Lyrics) -> str:
    blocks = [f"{_clock(line.start, '.')} --> {_clock(line.end, '.')}\n{cue_text(line.text)}\n"
              for line in lyrics.lines]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_txt(lyrics: Lyrics) -> str:
    return lyrics.text + "\n"


def to_json(lyrics: Lyrics) -> str:
    data = {"language": lyrics.language, "model_id": lyrics.model_id, "method": lyrics.method,
            "lines": [{"start": line.start, "end": line.end, "text": line.text,
                       "words": [{"start": w.start, "end": w.end, "text": w.text, "probability": w.probability,
                                  "space_before": w.space_before} for w in line.words]}
                      for line in lyrics.lines]}
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


RENDERERS = {"lrc": to_lrc, "srt": to_srt, "vtt": to_vtt, "txt": to_txt, "json": to_json}


def output_paths(output_stem: Path, formats: list[str]) -> list[Path]:
    return [Path(f"{output_stem}.{fmt}") for fmt in formats]


def write_lyrics(lyrics: Lyrics, output_stem: str | Path, formats: list[str]) -> list[Path]:
    """Write ``lyrics`` as ``<output_stem>.<format>`` for each format, each file atomically."""
    unknown = [fmt for fmt in formats if fmt not in RENDERERS]
    if unknown:
        raise BadInputError(None, f"unknown lyrics format(s) {', '.join(unknown)}; "
                                  f"choose from {', '.join(LYRICS_FORMATS)}")
    return [write_text_atomic(path, RENDERERS[path.suffix[1:]](lyrics))
            for path in output_paths(Path(output_stem), formats)]


def parse_lrc(text: str) -> Lyrics:
    """Lines of an LRC text (plain or enhanced); a line without an end tag ends where the next begins."""
    language = ""
    entries: list[tuple[float, str]] = []
    for raw in text.splitlines():
        tag = re.match(r"\[la:([^\]]*)\]", raw)
        if tag:
            language = tag.group(1).strip()
        times = []
        rest = raw
        while (match := _LRC_TIME.match(rest)):
            times.append(int(match.group(1)) * 60 + float(match.group(2)))
            rest = rest[match.end():]
        for start in times:
            entries.append((start, rest))
    entries.sort(key=lambda entry: entry[0])
    lines = []
    for k, (start, body) in enumerate(entries):
        found = _LRC_WORD.findall(body)
        # a word follows a space unless the previous word's text ran up to its tag ("J<..>'en")
        spaced = [True] + [raw[-1:].isspace() for _, _, raw in found[:-1]]
        tagged = [(int(m) * 60 + float(s), word.strip(), space) for (m, s, word), space in zip(found, spaced)]
        if tagged and not tagged[-1][1]:
            end = tagged[-1][0]  # enhanced LRC closes the line with a bare time tag
        else:
            end = entries[k + 1][0] if k + 1 < len(entries) else start + LAST_LINE_S
        # a word lasts until the next tag (or the line's end)
        bounds = [t for t, _, _ in tagged[1:]] + [end]
        words = [Word(t, bound, word, space_before=space) for (t, word, space), bound in zip(tagged, bounds) if word]
        text = join_words(words) if tagged else body.strip()
        lines.append(LyricLine(start, end, text, words))
    return Lyrics(lines, language)


def parse_json(text: str) -> Lyrics:
    data = json.loads(text)
    lines = [LyricLine(float(line["start"]), float(line["end"]), line["text"],
                       [Word(float(w["start"]), float(w["end"]), w["text"], float(w.get("probability", 1.0)),
                             bool(w.get("space_before", True)))
                        for w in line.get("words", [])]) for line in data["lines"]]
    return Lyrics(lines, data.get("language", ""), data.get("model_id", ""), data.get("method", ""))


def parse_csv(text: str) -> Lyrics:
    """``start,end[,text]`` rows in seconds, with or without a header row (JamendoLyrics' line files)."""
    lines = []
    for row in csv.reader(text.splitlines()):
        if not row or not row[0].strip():
            continue
        try:
            start, end = float(row[0]), float(row[1])
        except (ValueError, IndexError):
            if lines:
                raise
            continue  # the header
        lines.append(LyricLine(start, end, row[2].strip() if len(row) > 2 else ""))
    return Lyrics(lines)


PARSERS = {".lrc": parse_lrc, ".json": parse_json, ".csv": parse_csv}


def read_lyrics(path: str | Path) -> Lyrics:
    """Lyrics from an LRC, JSON or CSV file; a bad file is a :class:`BadInputError` naming it."""
    path = Path(path)
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise BadInputError(path, f"unsupported lyrics file; use {', '.join(sorted(PARSERS))}")
    try:
        lyrics = parser(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(path, exc.strerror or str(exc)) from exc
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise BadInputError(path, f"cannot parse the lyrics: {exc}") from exc
    if not lyrics.lines:
        raise BadInputError(path, "no timed lines found")
    return lyrics


def read_line_timings(path: str | Path, song: str | Path | None = None) -> list[tuple[float, float]]:
    """``(start, end)`` of each line of an LRC, JSON or CSV file; when ``path`` is a folder (batch), of the
    file in it named like ``song``."""
    path = Path(path)
    if path.is_dir():
        stem = Path(song).stem if song else ""
        found = [path / f"{stem}{suffix}" for suffix in PARSERS if (path / f"{stem}{suffix}").is_file()]
        if not found:
            raise BadInputError(path, f"no line timings for {stem or 'this clip'} "
                                      f"({', '.join(stem + s for s in PARSERS)})")
        path = found[0]
    return [(line.start, line.end) for line in read_lyrics(path).lines]
