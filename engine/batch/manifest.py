"""What a batch leaves in its output folder besides the outputs: the journal (``vocalis-batch.jsonl``, one
line per file, which is what makes a run resumable) and the final report (``vocalis-batch-report.json``)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.batch.executor import FAILED, OK, SKIPPED
from engine.errors import OutputError
from engine.fileio import TEMP_MARK

MANIFEST_NAME = "vocalis-batch.jsonl"
REPORT_NAME = "vocalis-batch-report.json"


@dataclass
class BatchReport:
    task: str
    input_dir: str
    output_dir: str
    settings_hash: str
    counts: dict[str, int]
    failures: list[dict[str, str]]  # in the order of the inputs
    audio_hours: float  # of the files processed successfully in this run (tasks whose weight is audio seconds)
    wall_s: float
    cancelled: bool = False
    temp_files_removed: int = 0  # left by an earlier run that was killed while writing

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def failed(self) -> int:
        return self.counts[FAILED]


class Manifest:
    """The JSON-lines journal of a batch output folder. Every line is written whole, flushed and fsynced;
    a line cut short by a kill is ignored when read and closed off before the next one is appended."""

    def __init__(self, path: Path):
        self.path = path
        self._file = None

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                with contextlib.suppress(json.JSONDecodeError):
                    record = json.loads(line)
                    if isinstance(record, dict):
                        records.append(record)
        return records

    def completed(self) -> dict[str, dict[str, Any]]:
        """The latest successful record per input (status ok, or skipped because an earlier run made it)."""
        done: dict[str, dict[str, Any]] = {}
        for record in self.records():
            if record.get("status") in (OK, SKIPPED) and "input" in record:
                done[record["input"]] = record
        return done

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a+b")
            self._file.seek(0, os.SEEK_END)
            if self._file.tell() > 0:
                self._file.seek(-1, os.SEEK_END)
                if self._file.read(1) != b"\n":
                    self._file.write(b"\n")
        except OSError as exc:
            raise OutputError(self.path, exc.strerror or str(exc)) from exc

    def append(self, record: dict[str, Any]) -> None:
        try:
            self._file.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise OutputError(self.path, exc.strerror or str(exc)) from exc

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def remove_stray_temp_files(output_dir: Path) -> int:
    """Delete temp files that a killed run left beside its outputs (atomic writes never finished)."""
    removed = 0
    for folder, _, files in os.walk(output_dir):
        for name in files:
            if TEMP_MARK in name:
                with contextlib.suppress(FileNotFoundError):
                    (Path(folder) / name).unlink()
                    removed += 1
    return removed
