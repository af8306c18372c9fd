"""Catalog MossFormer2 models (family ``mossformer2``) for :mod:`engine.models.loading`: the architecture
comes from the entry's ``[model.config]`` (ClearerVoice's names), or from the tensors of a checkpoint the
user points at. Weights stay fp32 whatever ``dtype`` is: the separation task runs them under autocast in
half precision on a GPU, which keeps norms accurate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from engine.models.mossformer2 import MossFormer2, architecture_from_checkpoint, load_model

if TYPE_CHECKING:  # loaders get an InstalledModel; the family itself never imports the store
    from engine.models.store import InstalledModel


def load_installed(installed: InstalledModel, device: torch.device, dtype: torch.dtype) -> MossFormer2:
    config = installed.config
    return load_model(installed.path, int(config["num_mossformer_layer"]), int(config["num_spks"]), device,
                      encoder_dim=int(config["encoder_embedding_dim"]),
                      sequence_dim=int(config["mossformer_sequence_dim"]),
                      kernel_size=int(config["encoder_kernel_size"]))


def load_path(path: Path, device: torch.device, dtype: torch.dtype) -> MossFormer2:
    """A checkpoint file outside the catalog, its depth and speaker count read from its tensors."""
    return load_model(path, device=device, **architecture_from_checkpoint(path))
