"""MossFormer2 speech separation: the model and its checkpoint loader.

``load_model`` reads the official ClearerVoice ``last_best_checkpoint.pt`` (weights under ``model``,
possibly ``module.``-prefixed; the optimizer state next to them is memory-mapped and never read) or a
safetensors file with the same names, and checks that every weight is covered.
:func:`architecture_from_checkpoint` reads the configuration of a checkpoint from its tensor names and shapes.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.errors import BadInputError
from engine.models.checkpoint import load_strict, read_tensors
from engine.models.mossformer2.model import MossFormer2

__all__ = ["MossFormer2", "architecture_from_checkpoint", "load_model"]


def architecture_from_checkpoint(path: str | Path) -> dict[str, int]:
    """``load_model``'s architecture arguments (``num_layers``, ``num_speakers``, ``encoder_dim``,
    ``sequence_dim``, ``kernel_size``) of a checkpoint, read from its tensor names and shapes."""
    tensors = read_tensors(path)
    names = {name.split("module.", 1)[-1]: tensor.shape for name, tensor in tensors.items()}
    try:
        encoder = names["enc.conv1d.weight"]
        speakers_out = names["mask_net.conv1d_out.weight"]
        sequence_dim = names["mask_net.conv1d_encoder.weight"][0]
    except KeyError as exc:
        raise BadInputError(path, f"is not a MossFormer2 checkpoint (no {exc.args[0]})") from None
    depth = 1 + max(int(n.split(".layers.")[1].split(".")[0]) for n in names if ".mossformerM.layers." in n)
    return {"num_layers": depth, "num_speakers": speakers_out[0] // sequence_dim, "encoder_dim": encoder[0],
            "sequence_dim": sequence_dim, "kernel_size": encoder[2]}


def load_model(path: str | Path, num_layers: int = 24, num_speakers: int = 2, device: str | torch.device = "cpu",
               *, encoder_dim: int = 512, sequence_dim: int = 512, kernel_size: int = 16) -> MossFormer2:
    """Build the architecture for the given configuration, load ``path`` strictly, return it in eval mode."""
    model = MossFormer2(num_layers=num_layers, num_speakers=num_speakers, encoder_dim=encoder_dim,
                        sequence_dim=sequence_dim, kernel_size=kernel_size)
    load_strict(model, read_tensors(path), source=path)
    return model.to(device).eval()
