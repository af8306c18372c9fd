"""Loaded models kept for reuse: loading a checkpoint costs seconds, running it on the next file costs
nothing extra. Least recently used models are dropped when the total goes over a memory budget, and
everything can be released on request (the Models dialog, a device change, an out-of-memory retry)."""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

import torch

from engine.models.devices import system_memory, free_device_memory


def estimate_bytes(model: Any) -> int:
    """Parameter and buffer bytes of a torch module; 0 for objects whose size torch cannot see."""
    if isinstance(model, torch.nn.Module):
        tensors = list(model.parameters()) + list(model.buffers())
        return sum(t.numel() * t.element_size() for t in tensors)
    return 0


class ModelCache:
    """``get(key, factory)`` returns the cached model or builds it with ``factory()``; thread-safe (a model
    is built once even when two jobs ask for it at the same time)."""

    def __init__(self, budget_bytes: int | None = None):
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, key: Hashable, factory: Callable[[], Any], size_bytes: int | None = None,
            fallback_bytes: int = 0) -> Any:
        """``size_bytes`` overrides the estimate; ``fallback_bytes`` (e.g. the model's files) is used when torch
        cannot see the model's size (a CTranslate2 model)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            model = factory()
            size = (estimate_bytes(model) or fallback_bytes) if size_bytes is None else size_bytes
            self._items[key] = (model, size)
            self._evict(keep=key)
            return model

    def _evict(self, keep: Hashable) -> None:
        if self.budget_bytes is None:
            return
        evicted = False
        while self.used_bytes > self.budget_bytes and len(self._items) > 1:
            oldest = next(iter(self._items))
            if oldest == keep:
                break
            del self._items[oldest]
            evicted = True
        if evicted:
            self._free()

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def release(self, key: Hashable) -> bool:
        """Drop one model; True when it was cached."""
        with self._lock:
            found = self._items.pop(key, None) is not None
        if found:
            self._free()
        return found

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
        self._free()

    @staticmethod
    def _free() -> None:
        gc.collect()  # the dropped model's tensors are only released once nothing refers to them
        free_device_memory()


def _default_budget() -> int | None:
    total, _ = system_memory()
    return None if total is None else total // 2


model_cache = ModelCache(_default_budget())
