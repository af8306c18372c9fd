"""A StableVC run folder: what training writes and conversion reads.

::

    RUN_DIR/config.json          StableVCConfig (+ "family": "stablevc", the data's mel statistics)
    RUN_DIR/model.safetensors    EMA weights of the flow model and duration predictor, the k-means centroids
    RUN_DIR/state.pt             training state for --resume: raw weights, EMA, optimizer, step, RNG (tensors only)
    RUN_DIR/kmeans.safetensors   the centroids, fitted once before training
    RUN_DIR/features/            cached features, one safetensors file per clip
    RUN_DIR/log.csv              step, losses, learning rate, seconds
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.errors import ModelLoadError
from engine.fileio import atomic_path
from engine.models.checkpoint import load_strict, read_tensors
from engine.models.stablevc.config import CONFIG_NAME, FAMILY, StableVCConfig, read_config
from engine.models.stablevc.model import StableVC

WEIGHTS_NAME = "model.safetensors"
STATE_NAME = "state.pt"


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a trained StableVC run."""
    path = Path(path)
    config = path / CONFIG_NAME
    if not (config.is_file() and (path / WEIGHTS_NAME).is_file()):
        return False
    try:
        return json.loads(config.read_text(encoding="utf-8")).get("family") == FAMILY
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def save_weights(model: StableVC, path: Path) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as temp:
        save_file({name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}, str(temp))


def load_run(folder: str | Path, device: str | torch.device = "cpu") -> StableVC:
    """The EMA model of a run folder, in eval mode."""
    folder = Path(folder)
    if not is_run(folder):
        raise ModelLoadError(f"{folder}: not a trained StableVC run ({CONFIG_NAME} and {WEIGHTS_NAME} expected)")
    config = read_config(folder / CONFIG_NAME)
    tensors = read_tensors(folder / WEIGHTS_NAME)
    centroids = tensors.get("centroids")
    if centroids is None:
        raise ModelLoadError(f"{folder / WEIGHTS_NAME}: no k-means centroids")
    model = StableVC(config, centroids.shape[1])
    load_strict(model, tensors, source=folder / WEIGHTS_NAME)
    return model.eval().to(device)


def build(config: StableVCConfig, centroids: torch.Tensor) -> StableVC:
    model = StableVC(config, centroids.shape[1])
    model.centroids.copy_(centroids)
    return model


def runs_folder() -> Path:
    """Where the GUI looks for trained runs (``vocalis train stablevc DATA --out <this folder>/NAME``)."""
    from engine.paths import data_dir

    return data_dir() / "runs"


def find_runs(folder: Path | None = None) -> list[Path]:
    """The trained runs directly inside ``folder`` (default :func:`runs_folder`), by name."""
    folder = runs_folder() if folder is None else folder
    return sorted(child for child in folder.iterdir() if is_run(child)) if folder.is_dir() else []
