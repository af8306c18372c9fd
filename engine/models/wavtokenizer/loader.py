"""Catalog WavTokenizer codecs (family ``wavtokenizer``) for :mod:`engine.models.loading`: the checkpoint
is the entry's first file, the architecture its ``.yaml`` file (the release layout) when it lists one, else
the released configuration. fp32 on every device (the codec's parity is measured in fp32)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engine.models.wavtokenizer import WavTokenizerCodec, load_model

if TYPE_CHECKING:  # loaders get an InstalledModel; the family itself never imports the store
    from engine.models.store import InstalledModel

HALF_PRECISION_OK = False


def load_installed(installed: InstalledModel, device: torch.device, dtype: torch.dtype) -> WavTokenizerCodec:
    configs = [path for name, path in installed.files.items() if name.endswith((".yaml", ".yml", ".json"))]
    return load_model(installed.path, configs[0] if configs else None, device=device)
