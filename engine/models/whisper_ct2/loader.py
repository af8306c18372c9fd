"""Catalog Whisper models (family ``whisper-ct2``) for :mod:`engine.models.loading`, and the mapping from
Vocalis's device choice to CTranslate2's device and compute type.

CTranslate2 quantises at load time, so its "precision" is a compute type, not a torch dtype: "auto" takes
the catalog entry's ``compute_type_cpu`` / ``compute_type_cuda`` (int8 on the CPU, float16 on CUDA, as the
lyrics paper ran it). CTranslate2 has no Metal backend: on an MPS machine Whisper decodes on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TYPE_CHECKING

import torch
from faster_whisper import WhisperModel

from engine.models import devices
from engine.models.whisper_ct2.model import load_model

if TYPE_CHECKING:  # loaders get an InstalledModel; the family itself never imports the store
    from engine.models.store import InstalledModel

DEFAULT_COMPUTE_TYPES = {"cpu": "int8", "cuda": "float16"}
# Replicas for decoding independent windows at once on the CPU; more would multiply memory (a large-v3
# replica is ~1.5 GB in int8) for little gain.
MAX_CPU_WORKERS = 4


def ct2_device(device: torch.device) -> tuple[str, int]:
    """CTranslate2's (device, index) for a torch device."""
    if device.type == "cuda":
        return "cuda", device.index or 0
    return "cpu", 0


def compute_type_for(ct2_kind: str, requested: str = "auto", config: Mapping[str, Any] | None = None) -> str:
    """``requested`` unless it is "auto"; then the catalog's choice for the device, else int8 / float16."""
    if requested != "auto":
        return requested
    return str((config or {}).get(f"compute_type_{ct2_kind}", DEFAULT_COMPUTE_TYPES[ct2_kind]))


def cpu_workers_and_threads(threads: int, parallel_windows: bool) -> tuple[int, int]:
    """(replicas, threads each) sharing ``threads`` CPU threads.

    One decode (a beam search over one window) is a chain of small matrix products that two threads barely
    speed up, so independent windows decode faster side by side on single-threaded replicas than one after
    another on all threads. Whisper's own long-form loop is sequential and keeps one replica."""
    if not parallel_windows:
        return 1, threads
    workers = max(1, min(threads, MAX_CPU_WORKERS))
    return workers, max(1, threads // workers)


def _load(folder: Path, config: Mapping[str, Any], device: torch.device, compute_type: str,
          parallel_windows: bool) -> WhisperModel:
    kind, index = ct2_device(device)
    workers, threads = cpu_workers_and_threads(devices.cpu_threads(), parallel_windows) if kind == "cpu" else (1, 0)
    return load_model(folder, device=kind, device_index=index,
                      compute_type=compute_type_for(kind, compute_type, config), cpu_threads=threads,
                      workers=workers)


def load_installed(installed: InstalledModel, device: torch.device, dtype: torch.dtype, *,
                   compute_type: str = "auto", parallel_windows: bool = False) -> WhisperModel:
    return _load(installed.folder, installed.config, device, compute_type, parallel_windows)


def load_path(path: Path, device: torch.device, dtype: torch.dtype, *, compute_type: str = "auto",
              parallel_windows: bool = False) -> WhisperModel:
    """A CTranslate2 Whisper folder the user points at (not in the catalog)."""
    return _load(path, {}, device, compute_type, parallel_windows)
