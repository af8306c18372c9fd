"""Loading a Lina checkpoint: the released Lightning ``last.ckpt`` (weights under ``state_dict`` with a
``model.`` prefix, configuration under ``hyper_parameters``, optimizer state beside them) or a safetensors
file of ``LinaModel.state_dict()``; read without running pickled code, loaded strictly.

:func:`load_installed` serves :mod:`engine.models.loading` for the family's two kinds of catalog entry: the
model (task "tts"; it ``requires`` its codec and its tokenizer, loaded by their own ids) and the text
tokenizer file (task "tokenizer"). The model stays fp32 on every device until its half-precision decoding
is measured against the golden data."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, TYPE_CHECKING

import torch

from engine.errors import ModelLoadError
from engine.models.checkpoint import load_strict
from engine.models.lina.config import LinaConfig, from_hparams, infer_from_weights, read_config
from engine.models.lina.model import LinaModel
from engine.models.lina.tokenizer import TextTokenizer
from engine.models.safe_pickle import load_checkpoint

if TYPE_CHECKING:  # loaders get an InstalledModel; the family itself never imports the store
    from engine.models.store import InstalledModel

log = logging.getLogger(__name__)


def _weights_and_hparams(data: Any, path: Path) -> tuple[dict[str, torch.Tensor], Mapping[str, Any] | None]:
    if not isinstance(data, Mapping):
        raise ModelLoadError(f"{path}: not a Lina checkpoint (no dictionary at the top level)")
    weights = data.get("state_dict", data)
    if not isinstance(weights, Mapping):
        raise ModelLoadError(f"{path}: not a Lina checkpoint (its state_dict is not a dictionary)")
    tensors = {name: value for name, value in weights.items() if isinstance(value, torch.Tensor)}
    strays = sorted(set(weights) - set(tensors))
    if "state_dict" in data and strays:
        raise ModelLoadError(f"{path}: state_dict entries that are not tensors: {', '.join(map(str, strays[:5]))}")
    if not tensors:
        raise ModelLoadError(f"{path}: not a Lina checkpoint (no weights found)")
    hparams = data.get("hyper_parameters")
    return ({name.removeprefix("model."): tensor for name, tensor in tensors.items()},
            hparams if isinstance(hparams, Mapping) else None)


def load_model(path: str | Path, config: LinaConfig | Mapping[str, Any] | str | Path | None = None,
               device: str | torch.device = "cpu") -> LinaModel:
    """The model of ``path`` in eval mode on ``device``.

    The configuration comes from the checkpoint's ``hyper_parameters`` when they hold it, else from
    ``config`` (a :class:`LinaConfig`, a dict or a JSON path in the golden ``config_*.json`` format), else
    from the weights' shapes (logged, since the codebook/special-token split is then assumed).
    """
    path = Path(path)
    tensors, hparams = _weights_and_hparams(load_checkpoint(path), path)
    resolved = from_hparams(hparams, source=str(path)) if hparams is not None else None
    if resolved is None and config is not None:
        resolved = read_config(config)
    if resolved is None:
        resolved = infer_from_weights(tensors, source=str(path))
        log.info("%s: no readable configuration in the checkpoint; inferred from the weights: %d+%d GLA blocks, "
                 "%d heads, text encoder %d layers x %d heads, d_model %d", path, resolved.n_layer,
                 resolved.n_layer, resolved.heads, resolved.text_layers, resolved.text_heads, resolved.d_model)
    model = LinaModel(resolved)
    load_strict(model, tensors, source=path)
    return model.to(torch.device(device)).eval()


HALF_PRECISION_OK = False
TOKENIZER_TASK = "tokenizer"


def load_installed(installed: InstalledModel, device: torch.device, dtype: torch.dtype) -> LinaModel | TextTokenizer:
    """The Lina model of a "tts" entry, or the :class:`TextTokenizer` of a "tokenizer" entry."""
    if installed.entry.task == TOKENIZER_TASK:
        return TextTokenizer(installed.path)
    return load_model(installed.path, device=device)
