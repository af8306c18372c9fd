"""StableVC (Yao et al., AAAI 2025): voice conversion that takes the content of one speaker, the timbre of a
second and the speaking style of a third, by a conditional flow-matching DiT whose blocks attend to timbre and
style through a dual attention with an adaptive gate. No official code or weights exist: this family holds
the architecture (:mod:`.model`), its front ends (:mod:`.features`, :mod:`.units`), the training recipe
(:mod:`.train`) and conversion (:mod:`.convert`); models are trained run folders (:mod:`.run`).

``load_model(path, config=None, device="cpu")`` loads a run folder's EMA model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.models.stablevc.config import PRESETS, RECOMMENDED, TINY, StableVCConfig, read_config
from engine.models.stablevc.model import Conditions, StableVC
from engine.models.stablevc.run import is_run, load_run

__all__ = ["Conditions", "PRESETS", "RECOMMENDED", "StableVC", "StableVCConfig", "TINY", "is_run", "load_model",
           "read_config"]


def load_model(path: str | Path, config: None = None, device: str | torch.device = "cpu") -> StableVC:
    """A trained run folder's model (its own ``config.json`` describes it; ``config`` is not used)."""
    return load_run(path, device)
