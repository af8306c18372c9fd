"""Vocalis projects: a whole session (tracks with their edited audio, lyrics, regions and the view) in one
file, and the autosave snapshots that let the app recover after a crash or a kill.

A project file (``NAME.vocalis``) is a zip archive:

- ``project.json``, the manifest: ``{"format": "vocalis-project", "version": 1, "tracks": [...],
  "current": index or null, "view": {...}}``. Each track is ``{"name", "audio", "sample_rate", "channels",
  "frames", "source", "regions": [[start_s, end_s, label], ...], "extras": {...}}``: ``audio`` names its
  member, ``source`` the file it was opened from (or null), ``extras`` what task panels keep per track
  (the lyrics panel's lines under ``"lyrics"``). ``view`` holds ``start_s``, ``end_s``, ``cursor_s`` and
  ``selection`` (``[start_s, end_s]`` or null).
- ``audio/N.wav``: each track's samples as 32-bit float WAV, so edits (a gain above full scale included)
  come back exactly.

An autosave snapshot is the same manifest and audio as a plain folder, so a snapshot rewrites only the
audio of tracks whose clip changed since the previous one. Each running app holds an exclusive lock on its
snapshot folder; a folder whose lock is free belongs to an app that ended without cleaning up (crashed or
killed) and is offered for recovery.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import soundfile as sf

from engine import fileio, paths
from engine.audio.clip import Clip
from engine.errors import BadInputError
from engine.jobs import CancelToken, Progress, null_progress

FORMAT = "vocalis-project"
VERSION = 1
SUFFIX = ".vocalis"
MANIFEST = "project.json"
AUDIO_SUBTYPE = "FLOAT"
AUTOSAVE_FOLDER = "autosave"
LOCK_NAME = "lock"

Region = tuple[float, float, str]


@dataclass
class TrackState:
    clip: Clip
    regions: list[Region] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProjectState:
    tracks: list[TrackState]
    current: int | None = None
    view: dict[str, Any] = field(default_factory=dict)


# --- manifest ---------------------------------------------------------------------------------------------
def _manifest(state: ProjectState, audio_names: list[str]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "tracks": [{"name": track.clip.name, "audio": audio, "sample_rate": track.clip.sample_rate,
                    "channels": track.clip.channels, "frames": track.clip.frames,
                    "source": str(track.clip.source) if track.clip.source else None,
                    "regions": [[float(a), float(b), str(label)] for a, b, label in track.regions],
                    "extras": track.extras}
                   for track, audio in zip(state.tracks, audio_names)],
        "current": state.current,
        "view": state.view,
    }


def _read_manifest(text: str, where: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(where, f"the project manifest is not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadInputError(where, "not a Vocalis project")
    if int(manifest.get("version", 0)) > VERSION:
        raise BadInputError(where, f"made by a newer Vocalis (project version {manifest['version']}); "
                                   "update Vocalis to open it")
    return manifest


def _state_from(manifest: dict[str, Any], read_audio: Callable[[str], tuple[np.ndarray, int]], where: Path,
                progress: Progress, cancel: CancelToken | None) -> ProjectState:
    tracks = []
    entries = manifest.get("tracks", [])
    for index, entry in enumerate(entries):
        if cancel is not None:
            cancel.check()
        progress(index / max(len(entries), 1), f"reading {entry.get('name') or 'a track'}")
        try:
            samples, rate = read_audio(entry["audio"])
        except (KeyError, RuntimeError, sf.LibsndfileError) as exc:
            raise BadInputError(where, f"the audio of track {index + 1} ({entry.get('name')!r}) is missing "
                                       f"or damaged: {exc}") from exc
        source = entry.get("source")
        clip = Clip(np.ascontiguousarray(samples.T), rate, Path(source) if source else None, entry.get("name", ""))
        regions = [(float(a), float(b), str(label)) for a, b, label in entry.get("regions", [])]
        tracks.append(TrackState(clip, regions, dict(entry.get("extras", {}))))
    progress(1.0, "project read")
    return ProjectState(tracks, manifest.get("current"), dict(manifest.get("view", {})))


def _write_audio(clip: Clip, path: Path) -> None:
    sf.write(path, clip.samples.T, clip.sample_rate, format="WAV", subtype=AUDIO_SUBTYPE)


# --- project files ------------------------------------------------------------------------------------------
def save_project(state: ProjectState, path: str | os.PathLike, progress: Progress | None = None,
                 cancel: CancelToken | None = None) -> Path:
    """Write ``state`` to the project file ``path`` atomically (the old file stays whole until the new one
    is complete)."""
    path = Path(path)
    progress = progress or null_progress()
    names = [f"audio/{index + 1}.wav" for index in range(len(state.tracks))]
    with tempfile.TemporaryDirectory(prefix="vocalis-project-") as scratch, fileio.atomic_path(path) as temp:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for index, (track, name) in enumerate(zip(state.tracks, names)):
                if cancel is not None:
                    cancel.check()
                progress(index / max(len(names), 1), f"saving {track.clip.name or 'a track'}")
                audio = Path(scratch) / f"{index + 1}.wav"
                _write_audio(track.clip, audio)
                archive.write(audio, name)
                audio.unlink()
            archive.writestr(MANIFEST, json.dumps(_manifest(state, names), indent=1))
    progress(1.0, f"saved {path.name}")
    return path


def load_project(path: str | os.PathLike, progress: Progress | None = None,
                 cancel: CancelToken | None = None) -> ProjectState:
    """Read a project file, or an autosave snapshot folder."""
    path = Path(path)
    progress = progress or null_progress()
    if path.is_dir():
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise BadInputError(path, "this folder holds no Vocalis project")
        manifest = _read_manifest(manifest_path.read_text(encoding="utf-8"), path)

        def read_folder_audio(name: str) -> tuple[np.ndarray, int]:
            return sf.read(path / name, dtype="float32", always_2d=True)

        return _state_from(manifest, read_folder_audio, path, progress, cancel)
    if not path.is_file():
        raise BadInputError(path, "file does not exist")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BadInputError(path, "not a Vocalis project (not a zip archive)") from exc
    with archive:
        try:
            manifest = _read_manifest(archive.read(MANIFEST).decode("utf-8"), path)
        except KeyError as exc:
            raise BadInputError(path, "not a Vocalis project (no project.json inside)") from exc

        def read_member_audio(name: str) -> tuple[np.ndarray, int]:
            with archive.open(name) as member:
                return sf.read(member, dtype="float32", always_2d=True)

        return _state_from(manifest, read_member_audio, path, progress, cancel)


# --- autosave snapshots -----------------------------------------------------------------------------------------
def autosave_root() -> Path:
    return paths.data_dir() / AUTOSAVE_FOLDER


class SessionLock:
    """An exclusive lock on a snapshot folder for as long as this process lives: the kernel releases it when
    the process ends however it ends, which is how a later start tells a crashed session from a live one."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._handle = None

    def acquire(self) -> bool:
        handle = open(self.folder / LOCK_NAME, "a+b")
        if not _try_lock(handle):
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the only descriptor drops the lock
            self._handle = None


def _try_lock(handle) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class AutosaveSession:
    """This app's snapshot folder under :func:`autosave_root`, locked while the app runs.

    :meth:`write` may run on a worker thread (one at a time); it rewrites only the audio of clips that
    changed since the previous snapshot and switches to the new state by replacing the manifest atomically,
    so a kill at any moment leaves the previous snapshot or the new one."""

    def __init__(self, root: Path | None = None):
        root = root or autosave_root()
        root.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f"session-{os.getpid()}-", dir=root))
        (self.folder / "audio").mkdir()
        self._lock = SessionLock(self.folder)
        if not self._lock.acquire():
            raise OSError(f"cannot lock the autosave folder {self.folder}")
        self._written: list[tuple[Clip, str]] = []  # the clips of the last snapshot and their audio files

    def write(self, state: ProjectState, progress: Progress | None = None,
              cancel: CancelToken | None = None) -> Path:
        names = []
        for track in state.tracks:
            name = next((n for clip, n in self._written if clip is track.clip), None)
            if name is None:
                if cancel is not None:
                    cancel.check()
                name = f"audio/{uuid.uuid4().hex}.wav"
                with fileio.atomic_path(self.folder / name) as temp:
                    _write_audio(track.clip, temp)
            names.append(name)
        fileio.write_text_atomic(self.folder / MANIFEST, json.dumps(_manifest(state, names), indent=1))
        self._written = [(track.clip, name) for track, name in zip(state.tracks, names)]
        keep = {self.folder / name for name in names}
        for audio in (self.folder / "audio").iterdir():
            if audio not in keep:
                with contextlib.suppress(OSError):
                    audio.unlink()
        return self.folder

    def close(self) -> None:
        """The app ended normally: nothing to recover."""
        self._lock.release()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Orphan:
    """A snapshot left by an app that did not quit normally."""

    folder: Path
    saved_at: str
    track_names: list[str]

    def claim(self) -> SessionLock | None:
        """Lock the folder so that no other starting app offers it too; None if someone else has it."""
        lock = SessionLock(self.folder)
        return lock if lock.acquire() else None


def orphaned_sessions(root: Path | None = None) -> list[Orphan]:
    """Snapshots whose app is gone (their lock is free) and that hold at least one track, newest first;
    empty leftovers are removed."""
    root = root or autosave_root()
    found = []
    if not root.is_dir():
        return found
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        lock = SessionLock(folder)
        if not (folder / LOCK_NAME).exists() or not lock.acquire():
            continue  # a live app's folder (or one being created)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            names = [t.get("name", "") for t in manifest.get("tracks", [])]
        except (OSError, ValueError):
            names = []
        finally:
            lock.release()
        if names:
            found.append(Orphan(folder, str(manifest.get("saved_at", "")), names))
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return sorted(found, key=lambda orphan: orphan.folder.stat().st_mtime, reverse=True)


def discard_orphan(orphan: Orphan) -> None:
    shutil.rmtree(orphan.folder, ignore_errors=True)
