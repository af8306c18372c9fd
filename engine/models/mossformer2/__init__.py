"""MossFormer2 speech separation: the model and its checkpoint loader.

``load_model`` reads the official ClearerVoice ``last_best_checkpoint.pt`` (weights under ``model``,
possibly ``module.``-prefixed; the optimizer state next to them is memory-mapped and never read) or a
safetensors file with the same names, and checks that every weight is covered.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.models.checkpoint import load_strict, read_tensors
from engine.models.mossformer2.model import MossFormer2

__all__ = ["MossFormer2", "load_model"]


def load_model(path: str | Path, num_layers: int = 24, num_speakers: int = 2, device: str | torch.device = "cpu",
               *, encoder_dim: int = 512, sequence_dim: int = 512, kernel_size: int = 16) -> MossFormer2:
    """Build the architecture for the given configuration, load ``path`` strictly, return it in eval mode."""
    model = MossFormer2(num_layers=num_layers, num_speakers=num_speakers, encoder_dim=encoder_dim,
                        sequence_dim=sequence_dim, kernel_size=kernel_size)
    load_strict(model, read_tensors(path), source=path)
    return model.to(device).eval()
