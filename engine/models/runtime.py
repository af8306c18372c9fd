"""The user's runtime choices shared by every model task (device, precision, CPU threads, models
folder), saved in ``<config>/runtime.json``. Kept free of torch so that reading them is instant."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.fileio import write_text_atomic
from engine.paths import config_dir
from engine.settings import from_dict, option, to_dict

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "fp16", "bf16")
SETTINGS_FILE = "runtime.json"


@dataclass
class RuntimeSettings:
    """Choices shared by every model task."""

    device: str = option("auto", "where models run: auto picks CUDA, then Apple MPS, then the CPU",
                         choices=DEVICE_CHOICES)
    precision: str = option("auto", "number format on the GPU: auto = bf16 where supported, else fp16; "
                                    "the CPU always uses fp32", choices=PRECISION_CHOICES)
    cpu_threads: int = option(0, "CPU threads for torch and CTranslate2 (0 = one per physical core)",
                              minimum=0, zero_means="one per core")
    models_folder: str = option("", "models folder (empty = the default; VOCALIS_MODELS overrides it)")


def _settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_runtime_settings() -> RuntimeSettings:
    """The saved settings, or the defaults when none were saved or the file is unreadable."""
    try:
        return from_dict(RuntimeSettings, json.loads(_settings_path().read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return RuntimeSettings()


def save_runtime_settings(settings: RuntimeSettings) -> Path:
    return write_text_atomic(_settings_path(), json.dumps(to_dict(settings), indent=2))
