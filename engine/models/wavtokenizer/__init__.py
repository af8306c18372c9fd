"""WavTokenizer (Ji et al., 2024): the audio codec of Lina-Speech — encoder for prompts and voice data,
decoder for synthesis — and its checkpoint loader.

``load_model`` reads the official Lightning checkpoint (``wavtokenizer_medium_speech_320_24k.ckpt``:
weights under ``state_dict``) or a safetensors/torch file holding the codec's own state dict. As the
reference loader does, only the codec's modules (``feature_extractor.``, ``backbone.``, ``head.``) are
taken; the discriminators and loss buffers stored beside them are training state. Within the codec the
load is strict.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ModelLoadError
from engine.models.checkpoint import load_strict, read_tensors
from engine.models.wavtokenizer.config import (RELEASED_CONFIG, SeanetConfig, WavTokenizerConfig,
                                               read_config)
from engine.models.wavtokenizer.model import WavTokenizerCodec

__all__ = ["CODEC_MODULES", "RELEASED_CONFIG", "SeanetConfig", "WavTokenizerCodec", "WavTokenizerConfig",
           "load_model", "read_checkpoint", "read_config"]

log = logging.getLogger(__name__)

CODEC_MODULES = ("feature_extractor.", "backbone.", "head.")


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a checkpoint's state dict. The one place this package reads a checkpoint file:
    ``torch.load(weights_only=True, mmap=True)`` (through ``read_tensors``), or safetensors."""
    return read_tensors(path, nested_keys=("state_dict",))


def codec_tensors(tensors: Mapping[str, torch.Tensor], source: str | Path) -> dict[str, torch.Tensor]:
    """The codec's tensors out of a training checkpoint's state dict (the rest is logged, not loaded)."""
    kept = {name: tensor for name, tensor in tensors.items() if name.startswith(CODEC_MODULES)}
    if not kept:
        found = sorted({name.split(".", 1)[0] for name in tensors})
        raise ModelLoadError(f"{source}: no WavTokenizer weights in this checkpoint (expected names under "
                             f"{', '.join(CODEC_MODULES)}; found {', '.join(found[:10]) or 'nothing'})")
    dropped = sorted({name.split(".", 1)[0] for name in tensors if name not in kept})
    if dropped:
        log.info("%s: not loading training-only modules %s", source, ", ".join(dropped))
    return kept


def load_model(path: str | Path, config: str | Path | Mapping[str, Any] | WavTokenizerConfig | None = None,
               device: str | torch.device = "cpu") -> WavTokenizerCodec:
    """The codec in eval mode on ``device``, weights from ``path``; ``config`` is a mapping, a ``.json``
    (golden layout) or ``.yaml`` (release layout) file, or None for the released architecture."""
    config = read_config(config)
    tensors = codec_tensors(read_checkpoint(path), path)
    with torch.device("meta"):   # no time spent initialising weights the checkpoint overwrites
        codec = WavTokenizerCodec(config)
    codec.to_empty(device="cpu")
    load_strict(codec, tensors, source=path)
    uninitialised = [i for i, book in enumerate(codec.quantizer.codebooks()) if float(book.inited) == 0.0]
    if uninitialised:
        raise ModelLoadError(f"{path}: codebook(s) {uninitialised} were never initialised (inited = 0); the "
                             f"checkpoint was saved before training started and cannot encode audio")
    return codec.to(device).eval()
