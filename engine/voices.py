"""The voices folder: voices learned by initial-state tuning, kept beside the models folder.

A voice is ``<voices>/<slug>.safetensors`` (the rank-1 IST parameters, keys ``layer{i}_k`` / ``layer{i}_v``)
plus ``<slug>.json`` (name, created, source, the model it was learned for, updates, loss curve). While a
voice is being learned, ``<slug>.training.safetensors`` holds the trainer state (parameters, Adam moments,
update count) and ``<slug>.training.json`` the loss curve so far, so a cancelled or interrupted run resumes.
``VOCALIS_VOICES`` relocates the folder; otherwise it is ``voices`` next to the models folder.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import BadInputError, OutputError
from engine.fileio import write_text_atomic

VOICE_SUFFIX = ".safetensors"
SIDECAR_SUFFIX = ".json"
TRAINING_SUFFIX = ".training.safetensors"
TRAINING_LOG_SUFFIX = ".training.json"


def voices_dir() -> Path:
    """``VOCALIS_VOICES``, else ``voices`` beside the models folder (created on first use)."""
    chosen = os.environ.get("VOCALIS_VOICES")
    if chosen:
        path = Path(chosen).expanduser()
    else:
        from engine.models.runtime import load_runtime_settings
        from engine.paths import models_dir

        path = models_dir(load_runtime_settings().models_folder or None).parent / "voices"
    path.mkdir(parents=True, exist_ok=True)
    return path


def slug(name: str) -> str:
    """A file stem for the voice called ``name`` (letters, digits, '-' and '_'); refuses a name with none."""
    stem = re.sub(r"[^\w-]+", "-", name.strip(), flags=re.ASCII).strip("-_").lower()
    if not stem:
        raise BadInputError(None, f"voice name {name!r} needs at least one letter or digit")
    return stem


@dataclass(frozen=True)
class LearnedVoice:
    """A voice in the voices folder; ``info`` is its JSON sidecar."""

    name: str
    path: Path
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def loss_curve(self) -> list[float]:
        return list(self.info.get("loss_curve", []))

    def params(self) -> dict[str, torch.Tensor]:
        from engine.models.lina import load_voice

        return load_voice(self.path)


def _sidecar(path: Path) -> Path:
    return path.with_suffix(SIDECAR_SUFFIX)


def _read(path: Path) -> LearnedVoice:
    try:
        info = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict):
        info = {}
    return LearnedVoice(str(info.get("name") or path.stem), path, info)


def list_voices(folder: Path | None = None) -> list[LearnedVoice]:
    """Every learned voice (training states excluded), by name."""
    folder = folder or voices_dir()
    paths = [p for p in folder.glob("*" + VOICE_SUFFIX) if not p.name.endswith(TRAINING_SUFFIX)]
    return sorted((_read(p) for p in paths), key=lambda voice: voice.name.lower())


def find_voice(name: str, folder: Path | None = None) -> LearnedVoice | None:
    """The learned voice called ``name`` (case-insensitive, or by its file stem), or None."""
    wanted = name.strip().lower()
    for voice in list_voices(folder):
        if voice.name.lower() == wanted or voice.path.stem == wanted:
            return voice
    return None


def get_voice(name: str, folder: Path | None = None) -> LearnedVoice:
    voice = find_voice(name, folder)
    if voice is None:
        known = ", ".join(v.name for v in list_voices(folder)) or "none yet"
        raise BadInputError(None, f"no learned voice called {name!r} (learned voices: {known})")
    return voice


def voice_path(name: str, folder: Path | None = None) -> Path:
    return (folder or voices_dir()) / (slug(name) + VOICE_SUFFIX)


def save_learned_voice(name: str, params: Mapping[str, torch.Tensor], info: Mapping[str, Any],
                       folder: Path | None = None) -> LearnedVoice:
    """Write the voice file and its sidecar (each atomically; the sidecar last)."""
    from engine.models.lina import save_voice

    path = voice_path(name, folder)
    sidecar = {"name": name.strip(), "created": now(), **info}
    save_voice(path, params, metadata={"name": name.strip()})
    write_text_atomic(_sidecar(path), json.dumps(sidecar, indent=2) + "\n")
    return LearnedVoice(name.strip(), path, sidecar)


def rename_voice(name: str, new_name: str, folder: Path | None = None) -> LearnedVoice:
    voice = get_voice(name, folder)
    target = voice_path(new_name, voice.path.parent)
    if target != voice.path and target.exists():
        raise OutputError(target, f"a voice called {new_name!r} already exists")
    info = dict(voice.info, name=new_name.strip())
    try:
        os.replace(voice.path, target)
        if _sidecar(voice.path).exists() and target != voice.path:
            os.replace(_sidecar(voice.path), _sidecar(target))
    except OSError as exc:
        raise OutputError(target, exc.strerror or str(exc)) from exc
    write_text_atomic(_sidecar(target), json.dumps(info, indent=2) + "\n")
    return LearnedVoice(new_name.strip(), target, info)


def delete_voice(name: str, folder: Path | None = None) -> None:
    """Remove the voice, its sidecar and any training state left for it."""
    voice = get_voice(name, folder)
    stem = voice.path.with_suffix("")
    for path in (voice.path, _sidecar(voice.path), Path(str(stem) + TRAINING_SUFFIX),
                 Path(str(stem) + TRAINING_LOG_SUFFIX)):
        path.unlink(missing_ok=True)


def training_paths(name: str, folder: Path | None = None) -> tuple[Path, Path]:
    """(trainer state, loss curve so far) of an unfinished learning run for ``name``."""
    stem = voice_path(name, folder).with_suffix("")
    return Path(str(stem) + TRAINING_SUFFIX), Path(str(stem) + TRAINING_LOG_SUFFIX)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
