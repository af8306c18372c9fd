"""Reading an official Seed-VC checkpoint: ``torch.load(path)['net'][module]`` for the modules ``cfm`` and
``length_regulator`` (a ``module.`` prefix from DataParallel stripped, an ``'ema'`` entry and the optimizer
state ignored), weight norm folded, each module loaded strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from engine.errors import ModelLoadError
from engine.models.bigvgan.model import fold_weight_norm
from engine.models.checkpoint import load_strict
from engine.models.safe_pickle import load_checkpoint
from engine.models.seedvc.config import PRESETS, SeedVCConfig, read_config
from engine.models.seedvc.model import SeedVC, checkpoint_layout

MODULES = ("cfm", "length_regulator")


def read_checkpoint(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """``{module: {name: tensor}}`` for :data:`MODULES` from the official container (no pickled code runs)."""
    path = Path(path)
    data = load_checkpoint(path)
    net = data.get("net") if isinstance(data, Mapping) else None
    if not isinstance(net, Mapping):
        raise ModelLoadError(f"{path}: not a Seed-VC checkpoint (no 'net' dictionary of modules)")
    modules = {}
    for module in MODULES:
        state = net.get(module)
        if not isinstance(state, Mapping) or not state:
            raise ModelLoadError(f"{path}: not a Seed-VC checkpoint ('net' has no {module!r} weights; it holds "
                                 f"{', '.join(map(str, net)) or 'nothing'})")
        strays = [str(name) for name, value in state.items() if not isinstance(value, torch.Tensor)]
        if strays:
            raise ModelLoadError(f"{path}: {module} entries that are not tensors: {', '.join(strays[:5])}")
        modules[module] = {name.removeprefix("module."): tensor for name, tensor in state.items()}
    return modules


def _layout(tensors: Mapping[str, torch.Tensor]) -> dict[str, list[int]]:
    return {name: list(tensor.shape) for name, tensor in tensors.items()}


def _preset_for(modules: Mapping[str, Mapping[str, torch.Tensor]], path: Path) -> SeedVCConfig:
    """The released preset whose layout the file has exactly (the files carry no configuration)."""
    for config in PRESETS.values():
        with torch.device("meta"):
            model = SeedVC(config)
        if all(_layout(modules[name]) == checkpoint_layout(getattr(model, name)) for name in MODULES):
            return config
    raise ModelLoadError(f"{path}: the weights match no released Seed-VC v1 model ({', '.join(PRESETS)}); pass its "
                         f"configuration (the preset YAML or a model_params JSON)")


def load_model(path: str | Path, config: SeedVCConfig | Mapping[str, Any] | str | Path | None = None,
               device: str | torch.device = "cpu") -> SeedVC:
    """The model of ``path`` in eval mode on ``device``.

    ``config``: a :class:`SeedVCConfig`, a preset/golden mapping or a JSON/YAML path; by default the
    released preset whose tensor layout the file has (offline whisper-small or real-time xlsr-tiny)."""
    path = Path(path)
    modules = read_checkpoint(path)
    resolved = _preset_for(modules, path) if config is None else read_config(config)
    model = SeedVC(resolved)
    for name in MODULES:
        load_strict(getattr(model, name), fold_weight_norm(modules[name], source=path), source=f"{path} [{name}]")
    return model.eval().to(torch.device(device))
