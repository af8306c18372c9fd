"""CAM++ speaker embeddings (3D-Speaker / FunASR ``campplus``): the style condition of Seed-VC and the voice
similarity figure shown with a conversion.

``load_model`` reads ``campplus_cn_common.bin`` (a flat state dict, the 192-d model trained on 200k
speakers) or a safetensors file with the same names, checks full coverage, and returns the model in eval
mode with its BatchNorms folded. ``model.embed(fbank[B, frames, 80])`` → ``[B, 192]``;
``model.embed_waveform(wave, sample_rate)`` does the resampling and features itself.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.models.campplus.features import SAMPLE_RATE, fbank
from engine.models.campplus.model import CAMPPlus
from engine.models.checkpoint import load_strict, read_tensors

__all__ = ["CAMPPlus", "SAMPLE_RATE", "cosine_similarity", "fbank", "load_model"]

# The file stores the embedding layer under ``xvector.dense``; the module Seed-VC ships keeps it at the top
# level (``dense``), so state dicts saved from that module name it so.
REFERENCE_MODULE_PREFIX = "dense."
CHECKPOINT_PREFIX = "xvector.dense."


def load_model(path: str | Path, device: str | torch.device = "cpu") -> CAMPPlus:
    """Build CAM++ with the embedding size the file holds, load it strictly, fold its BatchNorms."""
    tensors = read_tensors(path)
    tensors = {(CHECKPOINT_PREFIX + name[len(REFERENCE_MODULE_PREFIX):]
                if name.startswith(REFERENCE_MODULE_PREFIX) else name): tensor
               for name, tensor in tensors.items()}
    projection = tensors.get(CHECKPOINT_PREFIX + "linear.weight")
    model = CAMPPlus(embedding_size=192 if projection is None else projection.shape[0])
    load_strict(model, tensors, source=path)
    return model.fold_batchnorms().to(device)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of embeddings along the last axis (``[..., size]`` each, broadcast) → ``[...]``;
    1 for the same direction. Computed in float64 so near-identical voices are not rounded to 1."""
    return torch.nn.functional.cosine_similarity(a.double(), b.to(a.device).double(), dim=-1)
