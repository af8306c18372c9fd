"""A CTranslate2 Whisper model folder (``model.bin``, ``config.json``, tokenizer and vocabulary files, as
Systran's faster-whisper conversions ship them) and how faster-whisper loads it. Knows nothing of the
model store: :mod:`engine.models.whisper_ct2.loader` joins the two."""

from __future__ import annotations

from pathlib import Path

from faster_whisper import WhisperModel

from engine.errors import MissingModelError, ModelLoadError
from engine.models.devices import is_out_of_memory

MODEL_FILES = ("model.bin", "config.json")


def check_model_folder(path: str | Path) -> Path:
    """``path`` when it is a CTranslate2 Whisper folder; else a :class:`MissingModelError` naming what lacks."""
    folder = Path(path).expanduser()
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise MissingModelError(f"{folder} is not a CTranslate2 Whisper model folder "
                                f"(missing {', '.join(missing)})")
    return folder


def load_model(path: str | Path, config: object = None, device: str = "cpu", *, compute_type: str = "int8",
               device_index: int = 0, cpu_threads: int = 0, workers: int = 1) -> WhisperModel:
    """The Whisper model in folder ``path`` on a CTranslate2 ``device`` ("cpu" or "cuda") with weights in
    ``compute_type``; ``workers`` replicas (each ``cpu_threads`` threads) decode concurrent calls in
    parallel. ``config`` is unused: the folder's ``config.json`` holds the architecture."""
    folder = check_model_folder(path)
    try:
        model = WhisperModel(str(folder), device=device, device_index=device_index, compute_type=compute_type,
                             cpu_threads=cpu_threads, num_workers=workers)
    except (RuntimeError, ValueError, OSError) as exc:
        if is_out_of_memory(exc):
            raise  # the caller's devices.out_of_memory_as_error says what to do
        raise ModelLoadError(f"cannot load the Whisper model {folder} on {device} ({compute_type}): {exc}") from exc
    # what seeded_copy loads again
    model.loaded_from = {"path": folder, "device": device, "device_index": device_index,
                         "compute_type": compute_type, "cpu_threads": cpu_threads, "workers": workers}
    return model
