"""Seed-VC v1 (``Plachta/Seed-VC``): zero-shot voice conversion by a DiT trained with conditional flow
matching on 22.05 kHz mel spectrograms, written for Vocalis from the published recipe (the reference code
is GPL-3.0 and is not used).

``load_model(path, config=None, device="cpu")`` reads an official checkpoint (``{'net': {'cfm': …,
'length_regulator': …}}``, an ``'ema'`` entry ignored) and returns :class:`SeedVC` in eval mode:
``model.regulate(content[B, Tc, C_in], target_lengths[B])`` → ``[B, T, C]`` and
``model.sample(mu[B, T, C], prompt_mel[B, 80, T_ref], style[B, 192], noise[B, 80, T], n_steps, cfg_rate)``
→ mel ``[B, 80, T]`` with the prompt frames zero. ``log_mel(wave, model.config.mel)`` is the matching front end.
"""

from __future__ import annotations

from engine.models.seedvc.config import OFFLINE, PRESETS, REALTIME, MelSettings, SeedVCConfig, read_config
from engine.models.seedvc.loading import MODULES, load_model, read_checkpoint
from engine.models.seedvc.mel import log_mel
from engine.models.seedvc.model import SeedVC, checkpoint_layout

__all__ = ["MODULES", "MelSettings", "OFFLINE", "PRESETS", "REALTIME", "SeedVC", "SeedVCConfig", "checkpoint_layout",
           "load_model", "log_mel", "read_checkpoint", "read_config"]
