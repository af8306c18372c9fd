"""The catalog's WavTokenizer: the checkpoint (first file) and its release yaml (the file ending in
``.yaml``, when the entry lists one; else the released architecture)."""

from __future__ import annotations

from typing import Any

import torch

from engine.models.wavtokenizer import load_model

# The ISTFT head and the codebook lookup are only exact in fp32.
HALF_PRECISION_OK = False


def load_installed(installed, device: torch.device, dtype: torch.dtype, **options: Any):
    configs = [path for name, path in installed.files.items() if name.endswith((".yaml", ".yml", ".json"))]
    return load_model(installed.path, config=configs[0] if configs else None, device=device).to(dtype)
