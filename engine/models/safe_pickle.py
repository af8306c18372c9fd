"""Reading torch checkpoints that hold Python objects besides tensors, without running any of their code.

Training frameworks (Lightning above all) store more than weights in a checkpoint: hyper-parameters that
may be argparse/jsonargparse namespaces or whole module objects, optimizer and scheduler state, callback
state. ``torch.load(weights_only=True)`` refuses such files. Unpickling them the ordinary way would import
and call whatever the file names, which is how a malicious checkpoint runs code.

:func:`load_checkpoint` first tries ``torch.load(weights_only=True, mmap=True)``. When that refuses the
file, it reads the zip container itself with a restricted unpickler:

* the only functions it calls are its own re-implementations of torch's dense tensor rebuilders, plus
  plain containers (``OrderedDict``, ``set``, ...), ``torch.Size``, ``torch.device`` and dtypes;
* any other global named by the file becomes a :class:`PickledObject` subclass that is never imported;
  an instance of it (pickle's ``NEWOBJ`` plus ``BUILD``, how every ordinary object is stored) records the
  class name and the state, and is inert;
* a *call* of such a global (pickle's ``REDUCE``, how a ``__reduce__`` payload such as
  ``os.system("...")`` is stored) is refused: a checkpoint never needs to call anything but a tensor
  rebuilder, so the whole file is rejected and nothing has run.

Tensor data is memory-mapped copy-on-write from the file, so optimizer state next to the weights costs
no memory unless it is touched.
"""

from __future__ import annotations

import collections
import mmap
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from engine.errors import ModelLoadError

__all__ = ["PickledObject", "load_checkpoint"]

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64, "FloatStorage": torch.float32, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
    "UntypedStorage": torch.uint8,
}


class PickledObject:
    """An object the checkpoint stored, kept as data: ``class_name`` ("module.Qualified.Name"), ``args``
    given to ``__new__``, ``state`` (what ``__setstate__`` would have received, usually the instance
    ``__dict__``), ``kwargs`` (protocol-4 keyword arguments), and ``items`` / ``list_items`` for dict- or list-like classes. Never imported, never
    called. Subclasses are made per class name while reading."""

    class_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "PickledObject":
        obj = object.__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.state = None
        obj.items = {}
        obj.list_items = []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Only reached when the pickle *calls* the class (REDUCE/INST); NEWOBJ uses __new__ alone.
        raise _RefusedCall(self.class_name)

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.list_items.append(value)

    def extend(self, values: Any) -> None:
        self.list_items.extend(values)

    def __repr__(self) -> str:
        return f"<pickled {self.class_name}>"


class _RefusedCall(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _StorageType:
    """What the file's ``torch.FloatStorage`` (etc.) global resolves to: just its dtype."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class _Storage:
    def __init__(self, data: torch.UntypedStorage, dtype: torch.dtype):
        self.data = data
        self.dtype = dtype


def _tensor_from(storage: _Storage, offset: int, size: Any, stride: Any, dtype: torch.dtype | None = None
                 ) -> torch.Tensor:
    if not isinstance(storage, _Storage):
        raise _RefusedCall("a tensor rebuild without a storage from this file")
    tensor = torch.empty((0,), dtype=dtype or storage.dtype)
    return tensor.set_(storage.data, offset, tuple(size), tuple(stride))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _tensor_from(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _tensor_from(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):
    return _tensor_from(storage, storage_offset, size, stride, dtype)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    # Tensor subclasses come back as plain tensors: the subclass is not imported.
    if func not in (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
                    _rebuild_parameter_with_state):
        raise _RefusedCall(getattr(func, "class_name", repr(func)))
    return func(*args)


def _get_layout(name: str) -> torch.layout:
    layout = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(layout, torch.layout):
        raise _RefusedCall(f"torch.serialization._get_layout({name!r})")
    return layout


def _encode(text: str, encoding: str = "latin1") -> bytes:
    # Protocol-2 pickles store bytes as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding != "latin1":
        raise _RefusedCall("_codecs.encode")
    return text.encode("latin1")


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch.serialization", "_get_layout"): _get_layout,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "Counter"): collections.Counter,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file)
        self._storages = storages
        self._inert_types: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":  # torch.save writes protocol 2, which names the Python 2 module
            module = "builtins"
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch":
            if name in _STORAGE_DTYPES:
                return _StorageType(_STORAGE_DTYPES[name])
            value = getattr(torch, name, None)
            if isinstance(value, torch.dtype):
                return value
        if module == "torch.storage" and name in ("UntypedStorage", "TypedStorage"):
            return _StorageType(torch.uint8)
        qualified = f"{module}.{name}"
        inert = self._inert_types.get(qualified)
        if inert is None:
            inert = type(name, (PickledObject,), {"class_name": qualified, "__module__": __name__})
            self._inert_types[qualified] = inert
        return inert

    def persistent_load(self, saved_id: Any) -> Any:
        if not (isinstance(saved_id, tuple) and len(saved_id) == 5 and saved_id[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {saved_id!r}")
        _, storage_type, key, _location, numel = saved_id
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"storage of unknown type {storage_type!r}")
        return _Storage(self._storages(str(key), int(numel) * storage_type.dtype.itemsize), storage_type.dtype)


def _member_offset(mapped: mmap.mmap, info: zipfile.ZipInfo) -> int:
    header = mapped[info.header_offset:info.header_offset + 30]
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def _restricted_load(path: Path) -> Any:
    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path}: refused to load: a legacy (non-zip) PyTorch file holding Python objects; "
                             f"re-save it with a current torch or as safetensors")
    with zipfile.ZipFile(path) as archive, open(path, "rb") as handle:
        names = archive.namelist()
        pickles = [name for name in names if name.endswith("/data.pkl") or name == "data.pkl"]
        if not pickles:
            raise ModelLoadError(f"{path}: not a PyTorch checkpoint (no data.pkl in the archive)")
        prefix = pickles[0][: -len("data.pkl")]
        # Copy-on-write mapping: tensors are writable views of the file, and the file itself never changes.
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)

        def storage(key: str, nbytes: int) -> torch.UntypedStorage:
            try:
                info = archive.getinfo(f"{prefix}data/{key}")
            except KeyError:
                raise ModelLoadError(f"{path}: tensor data {key} is missing from the archive") from None
            if info.file_size < nbytes or info.compress_type != zipfile.ZIP_STORED:
                raise ModelLoadError(f"{path}: tensor data {key} is truncated or compressed")
            if nbytes == 0:
                return torch.UntypedStorage(0)
            start = _member_offset(mapped, info)
            return torch.frombuffer(mapped, dtype=torch.uint8, count=nbytes, offset=start).untyped_storage()

        with archive.open(pickles[0]) as data:
            try:
                return _RestrictedUnpickler(data, storage).load()
            except _RefusedCall as refused:
                raise ModelLoadError(
                    f"{path}: refused to load: the file would call {refused.name} while being read, and a "
                    f"checkpoint needs nothing but tensors and data; nothing from it was run") from None
            except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError,
                    RuntimeError) as exc:
                raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc


def load_checkpoint(path: str | Path) -> Any:
    """The whole content of a torch checkpoint (or a safetensors file's tensors), read without running code.

    Tensors are plain CPU tensors; objects of other classes are :class:`PickledObject` records. Raises
    :class:`ModelLoadError` naming the file for a missing, damaged or hostile file.
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
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc):  # no global named at all: a damaged file, not one with objects
            raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    return _restricted_load(path)
