"""engine.models.loading: catalog id → store → family loader → cache → device, with dependencies."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from engine.errors import BadInputError, DeviceOutOfMemoryError, MissingModelError
from engine.models import loading
from engine.models.cache import model_cache
from engine.models.catalog import read_catalog
from engine.models.store import ModelStore

CATALOG = """
[[model]]
id = "{id}"
name = "{id} model"
task = "test"
family = "fake-family"
licence = "MIT"
sample_rate = 16000
memory_mb = 1
requires = [{requires}]
[model.source]
kind = "import"
hint = "test file"
[[model.files]]
name = "weights.bin"
size = 4
"""


def write_catalog(path, models: dict[str, list[str]]):
    text = "".join(CATALOG.format(id=model_id, requires=", ".join(f'"{d}"' for d in deps))
                   for model_id, deps in models.items())
    path.write_text(text)
    return read_catalog(path)


@pytest.fixture
def fake_family(monkeypatch):
    """A family package ``engine.models.fake_family`` whose loader records what it was given."""
    calls = []
    package = types.ModuleType("engine.models.fake_family")
    package.__path__ = []
    loader = types.ModuleType("engine.models.fake_family.loader")

    def load_installed(installed, device, dtype, **options):
        calls.append((installed.entry.id, device, dtype, options))
        if options.get("explode"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return {"id": installed.entry.id, "weights": installed.path.read_bytes(), "options": options}

    loader.load_installed = load_installed
    monkeypatch.setitem(sys.modules, "engine.models.fake_family", package)
    monkeypatch.setitem(sys.modules, "engine.models.fake_family.loader", loader)
    yield calls
    model_cache.clear()


def install(store, tmp_path, model_id):
    source = tmp_path / f"{model_id}.bin"
    source.write_bytes(model_id[:4].ljust(4).encode())
    store.install(model_id, {"weights.bin": source}, origin="test", mode="copy")


def test_dependencies_come_first_and_cycles_are_refused(tmp_path):
    catalog = write_catalog(tmp_path / "c.toml", {"codec": [], "tok": [], "tts": ["codec", "tok"],
                                                  "app": ["tts", "codec"]})
    assert catalog.with_dependencies("app") == ["codec", "tok", "tts", "app"]
    cyclic = write_catalog(tmp_path / "cyclic.toml", {"a": ["b"], "b": ["a"]})
    with pytest.raises(BadInputError, match="requires itself"):
        cyclic.with_dependencies("a")
    with pytest.raises(BadInputError, match="unknown model"):
        write_catalog(tmp_path / "unknown.toml", {"a": ["nowhere"]})


def test_one_error_names_every_missing_model(tmp_path, fake_family):
    catalog = write_catalog(tmp_path / "c.toml", {"codec": [], "tok": [], "tts": ["codec", "tok"]})
    store = ModelStore(tmp_path / "models", catalog)
    install(store, tmp_path, "codec")
    with pytest.raises(MissingModelError) as error:
        loading.load_catalog_model("tts", device="cpu", store=store)
    message = str(error.value)
    assert "tok" in message and "tts" in message and "codec," not in message
    assert "vocalis models install tts" in message
    assert fake_family == []


def test_the_family_loader_builds_once_on_the_resolved_device(tmp_path, fake_family):
    catalog = write_catalog(tmp_path / "c.toml", {"codec": [], "tts": ["codec"]})
    store = ModelStore(tmp_path / "models", catalog)
    install(store, tmp_path, "codec")
    install(store, tmp_path, "tts")
    first = loading.load_catalog_model("tts", device="cpu", precision="fp16", store=store, variant=2)
    again = loading.load_catalog_model("tts", device="cpu", precision="fp16", store=store, variant=2)
    assert first is again and first["weights"] == b"tts "
    assert fake_family == [("tts", torch.device("cpu"), torch.float32, {"variant": 2})]  # the CPU stays fp32
    other = loading.load_catalog_model("tts", device="cpu", store=store, variant=3)
    assert other is not first and len(fake_family) == 2


def test_out_of_memory_while_loading_becomes_a_clear_error(tmp_path, fake_family):
    catalog = write_catalog(tmp_path / "c.toml", {"big": []})
    store = ModelStore(tmp_path / "models", catalog)
    install(store, tmp_path, "big")
    with pytest.raises(DeviceOutOfMemoryError, match="loading big model"):
        loading.load_catalog_model("big", device="cpu", store=store, explode=True)


def test_a_family_without_a_loader_is_named(tmp_path):
    with pytest.raises(MissingModelError, match="no loader for model family 'no-such-family'"):
        loading.family_loader("no-such-family")
