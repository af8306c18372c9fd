"""Fixed-step ODE solvers for flow-matching models, shared by every family that samples a flow (StableVC;
Seed-VC keeps its own Euler loop because it re-zeroes its prompt frames between steps).

A flow model gives a velocity ``v(x, t)`` that carries noise at t = 0 to data at t = 1. :func:`time_grid`
places the step boundaries (evenly, or denser near t = 0 with *sway sampling*, F5-TTS: ``t = u + s·(cos(πu/2)
− 1 + u)``, which spends more steps where the flow still decides the coarse structure); :func:`integrate`
walks the grid with Euler (one velocity per step) or the explicit midpoint rule (two per step, second order).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SOLVERS = ("euler", "midpoint")


def time_grid(steps: int, sway: float | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """``steps + 1`` increasing times from 0 to 1; ``sway`` (typically −1, F5-TTS) bends them towards 0."""
    if steps < 1:
        raise ValueError(f"a flow needs at least one step, got {steps}")
    u = torch.linspace(0.0, 1.0, steps + 1, device=device, dtype=torch.float64)
    if sway is not None and sway != 0:
        u = u + sway * (torch.cos(math.pi / 2 * u) - 1 + u)
    return u.float()


def integrate(velocity: Velocity, x: torch.Tensor, steps: int, *, method: str = "euler", sway: float | None = None,
              on_step: Callable[[int], None] | None = None) -> torch.Tensor:
    """Integrate ``dx/dt = velocity(x, t)`` from t = 0 to 1 in ``steps`` steps; ``t`` is passed as a ``(B,)``
    tensor. The state stays float32. ``on_step(step)`` runs after each step (progress, cancel checks)."""
    if method not in SOLVERS:
        raise ValueError(f"unknown solver {method!r} (one of {', '.join(SOLVERS)})")
    grid = time_grid(steps, sway, x.device)
    x = x.float()
    batch = x.shape[0]
    for step in range(steps):
        t, dt = grid[step], grid[step + 1] - grid[step]
        if method == "euler":
            x = x + dt * velocity(x, t.expand(batch)).float()
        else:
            half = x + dt / 2 * velocity(x, t.expand(batch)).float()
            x = x + dt * velocity(half, (t + dt / 2).expand(batch)).float()
        if on_step is not None:
            on_step(step + 1)
    return x
