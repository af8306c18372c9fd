"""Lyrics evaluation with ``alt-eval`` (the Jam-ALT metrics): corpus WER, case-aware WER, and
precision/recall/F1 of punctuation, parentheses and line breaks; a row per song and one corpus row.

References are JamendoLyrics-style ``.txt`` files (one lyric line per line, blank lines between sections);
hypotheses are ``.txt``, ``.lrc`` or ``.json`` lyrics matched to references by file stem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from alt_eval import compute_metrics

from engine.errors import BadInputError
from engine.tasks.lyrics.formats import read_lyrics

HYPOTHESIS_SUFFIXES = (".txt", ".lrc", ".json")
COLUMNS = ("WER", "WER_case", "F1_punc", "F1_pare", "F1_line")


@dataclass(frozen=True)
class EvalRow:
    name: str
    metrics: dict[str, float]

    def json_metrics(self) -> dict[str, float | None]:
        """The metrics with undefined values (NaN: e.g. no parentheses anywhere) as ``None``, valid JSON."""
        return {key: None if isinstance(value, float) and math.isnan(value) else value
                for key, value in self.metrics.items()}


@dataclass(frozen=True)
class EvalReport:
    songs: list[EvalRow]
    corpus: EvalRow

    def table(self) -> str:
        """A fixed-width table: one row per song, then the corpus row (percentages)."""
        width = max([len(row.name) for row in self.songs] + [len("corpus")])
        header = f"{'song':<{width}}  " + "  ".join(f"{c:>8}" for c in COLUMNS)
        rows = [header, "-" * len(header)]
        for row in [*self.songs, self.corpus]:
            rows.append(f"{row.name:<{width}}  " + "  ".join(_percent(row.metrics.get(c)) for c in COLUMNS))
        return "\n".join(rows)


def _percent(value: float | None) -> str:
    return f"{'-':>8}" if value is None or math.isnan(value) else f"{100 * value:8.2f}"


def hypothesis_text(path: str | Path) -> str:
    """The lyric lines of a hypothesis file, one per text line."""
    path = Path(path)
    if path.suffix.lower() == ".txt":
        return read_text(path)
    return read_lyrics(path).text


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"cannot read the lyrics text: {exc}") from exc


def evaluate_texts(names: list[str], references: list[str], hypotheses: list[str],
                   languages: list[str]) -> EvalReport:
    """Per-song metrics and the corpus metrics (alt-eval aggregates counts over all songs)."""
    songs = [EvalRow(name, compute_metrics([ref], [hyp], languages=[lang]))
             for name, ref, hyp, lang in zip(names, references, hypotheses, languages)]
    corpus = EvalRow("corpus", compute_metrics(references, hypotheses, languages=languages))
    return EvalReport(songs, corpus)


def pair_files(hyp_dir: str | Path, ref_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """``(stem, hypothesis, reference)`` for every reference ``.txt`` that has a hypothesis."""
    hyp_dir, ref_dir = Path(hyp_dir), Path(ref_dir)
    for folder in (hyp_dir, ref_dir):
        if not folder.is_dir():
            raise BadInputError(folder, "not a folder")
    pairs = []
    for ref in sorted(ref_dir.glob("*.txt")):
        found = [hyp_dir / f"{ref.stem}{suffix}" for suffix in HYPOTHESIS_SUFFIXES
                 if (hyp_dir / f"{ref.stem}{suffix}").is_file()]
        if found:
            pairs.append((ref.stem, found[0], ref))
    if not pairs:
        raise BadInputError(hyp_dir, f"no hypothesis matches a reference .txt in {ref_dir}")
    return pairs


def evaluate_folders(hyp_dir: str | Path, ref_dir: str | Path, language: str = "en") -> EvalReport:
    pairs = pair_files(hyp_dir, ref_dir)
    return evaluate_texts([name for name, _, _ in pairs], [read_text(ref) for _, _, ref in pairs],
                          [hypothesis_text(hyp) for _, hyp, _ in pairs], [language] * len(pairs))
