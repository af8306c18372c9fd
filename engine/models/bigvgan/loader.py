"""Catalog loader of the ``bigvgan`` family: the release folder (``bigvgan_generator.pt`` + ``config.json``)."""

from __future__ import annotations

from typing import Any

import torch

from engine.models.bigvgan import BigVGAN, load_model

# Snake activations and the anti-aliasing filters lose audible precision in half precision; the vocoder
# stays float32 on every device.
HALF_PRECISION_OK = False


def load_installed(installed: Any, device: torch.device, dtype: torch.dtype, **options: Any) -> BigVGAN:
    return load_model(installed.folder, device=device).to(dtype=dtype)
