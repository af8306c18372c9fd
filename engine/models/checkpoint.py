"""Safe, strict checkpoint loading shared by every model family.

Checkpoints are read with ``torch.load(weights_only=True, mmap=True)`` (no pickled code runs, and tensors
are memory-mapped so optimizer state next to the weights is never copied into memory) or with
safetensors. Loading into a module is strict: every checkpoint tensor must be used and every module
tensor filled, with matching shapes; otherwise :class:`ModelLoadError` lists what is wrong.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Iterable, Mapping

import torch

from engine.errors import ModelLoadError

WRAPPER_PREFIXES = ("module.", "model.", "_orig_mod.")


def read_tensors(path: str | Path, *, nested_keys: Iterable[str] = ("state_dict", "model", "net"),
                 ) -> dict[str, torch.Tensor]:
    """Read a flat name → tensor mapping from a ``.safetensors`` file or a torch checkpoint.

    For torch checkpoints the weights may sit under one of ``nested_keys`` (Lightning's ``state_dict``,
    ClearerVoice's ``model``); other entries (optimizer state, hyper-parameters) are left unread on disk.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file for the user
            raise ModelLoadError(f"{path}: not a valid safetensors file ({exc})") from exc
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc):  # no class or function is referenced: a damaged file, not an unsafe one
            reason = [line for line in str(exc).splitlines() if line.strip() and "documentation" not in line]
            raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint ({reason[-1].strip()})") from exc
        raise ModelLoadError(
            f"{path}: refused to load: the checkpoint contains Python objects beyond tensors "
            f"(it would run code when unpickled). Convert it to safetensors or plain tensors. ({exc})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    return _find_tensors(data, tuple(nested_keys), path)


def _find_tensors(data: object, nested_keys: tuple[str, ...], path: Path) -> dict[str, torch.Tensor]:
    if isinstance(data, Mapping):
        for key in nested_keys:
            inner = data.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return dict(inner)
        if data and all(isinstance(v, torch.Tensor) for v in data.values()):
            return dict(data)
    raise ModelLoadError(f"{path}: no tensor dictionary found (looked at the top level and under "
                         f"{', '.join(nested_keys)})")


def strip_prefixes(tensors: Mapping[str, torch.Tensor], expected: Iterable[str],
                   prefixes: Iterable[str] = WRAPPER_PREFIXES) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (``module.`` from DataParallel, ``model.`` from Lightning) when doing so
    makes the names match the module's; names already matching are left alone."""
    expected = set(expected)
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        key = name
        while key not in expected:
            for prefix in prefixes:
                if key.startswith(prefix):
                    key = key[len(prefix):]
                    break
            else:
                key = name
                break
        out[key] = tensor
    return out


def load_strict(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], *, source: str | Path = "checkpoint",
                ) -> torch.nn.Module:
    """Copy ``tensors`` into ``module`` after checking full coverage and shapes; raise a listing otherwise."""
    own = module.state_dict()
    tensors = strip_prefixes(tensors, own.keys())
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(f"{k}: checkpoint {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}"
                   for k in set(own) & set(tensors) if tuple(own[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or wrong:
        lines = [f"{source}: the checkpoint does not fit the {type(module).__name__} architecture"]
        for title, items in (("missing in checkpoint", missing), ("unexpected in checkpoint", unexpected),
                             ("wrong shape", wrong)):
            if items:
                shown = items[:20]
                more = f" … and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
                lines.append(f"  {title} ({len(items)}): " + ", ".join(shown) + more)
        raise ModelLoadError("\n".join(lines))
    module.load_state_dict(dict(tensors), strict=True)
    return module
