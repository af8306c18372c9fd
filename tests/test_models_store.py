"""Model store states on real files in a temporary models folder; import, verify, delete, resolve; the
model cache."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

from engine.errors import BadInputError, MissingModelError
from engine.jobs import Progress
from engine.models import store as store_module
from engine.models.cache import ModelCache, estimate_bytes
from engine.models.catalog import read_catalog
from engine.models.install.importer import import_path
from engine.models.store import INCOMPLETE_MARKER, INSTALLED_MARKER, ModelState, ModelStore, default_store

CHECKPOINT = os.urandom(200_000)
VOCAB = b"a\nb\nc\n"


@pytest.fixture
def store(tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(f"""
[[model]]
id = "one-file"
name = "One checkpoint"
task = "separate"
family = "test"
licence = "MIT"
sample_rate = 8000
memory_mb = 5
[model.source]
kind = "import"
hint = "a test checkpoint"
[[model.files]]
name = "model.pt"
size = {len(CHECKPOINT)}
sha256 = "{hashlib.sha256(CHECKPOINT).hexdigest()}"
[model.config]
num_spks = 3

[[model]]
id = "two-files"
name = "Checkpoint and vocabulary"
task = "transcribe"
family = "test"
licence = "MIT"
sample_rate = 16000
memory_mb = 5
[model.source]
kind = "huggingface"
repo = "acme/two"
[[model.files]]
name = "model.pt"
size = {len(CHECKPOINT)}
[[model.files]]
name = "vocab.txt"
size = 1
size_exact = false
""")
    return ModelStore(tmp_path / "models", read_catalog(catalog))


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "downloads" / "my-checkpoint.pt"
    path.parent.mkdir()
    path.write_bytes(CHECKPOINT)
    return path


def test_a_model_never_installed_is_missing(store):
    status = store.status("one-file")
    assert status.state is ModelState.MISSING
    assert status.folder == store.root / "one-file"


def test_import_copies_verifies_and_leaves_the_input_alone(store, checkpoint):
    before = (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes())
    updates = []
    status = import_path(store, "one-file", checkpoint, progress=Progress(updates.append))
    assert status.state is ModelState.INSTALLED
    assert store.status("one-file").state is ModelState.INSTALLED
    installed = store.folder("one-file") / "model.pt"
    assert installed.read_bytes() == CHECKPOINT and installed.stat().st_ino != checkpoint.stat().st_ino
    assert (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes()) == before
    assert updates[-1].fraction == 1.0
    marker = (store.folder("one-file") / INSTALLED_MARKER).read_text()
    assert hashlib.sha256(CHECKPOINT).hexdigest() in marker and str(checkpoint) in marker


def test_import_by_link_uses_a_hard_link(store, checkpoint):
    import_path(store, "one-file", checkpoint, link=True)
    assert (store.folder("one-file") / "model.pt").stat().st_ino == checkpoint.stat().st_ino


def test_import_of_a_folder_takes_every_file(store, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "model.pt").write_bytes(CHECKPOINT)
    (folder / "vocab.txt").write_bytes(VOCAB)
    assert import_path(store, "two-files", folder).state is ModelState.INSTALLED
    resolved = store.resolve("two-files")
    assert resolved.files == {"model.pt": folder.parent / "models" / "two-files" / "model.pt",
                              "vocab.txt": folder.parent / "models" / "two-files" / "vocab.txt"}
    assert resolved.files["vocab.txt"].read_bytes() == VOCAB


def test_import_refuses_a_file_that_is_not_the_catalogued_one(store, tmp_path):
    wrong = tmp_path / "other.pt"
    wrong.write_bytes(os.urandom(len(CHECKPOINT)))  # right size, wrong content
    with pytest.raises(BadInputError, match=r"other\.pt.*sha256"):
        import_path(store, "one-file", wrong)
    status = store.status("one-file")
    assert status.state is ModelState.CORRUPT and "sha256" in status.problem
    with pytest.raises(MissingModelError, match="damaged"):
        store.resolve("one-file")


def test_import_names_what_is_wrong_with_the_path(store, tmp_path, checkpoint):
    with pytest.raises(BadInputError, match="no such file or folder"):
        import_path(store, "one-file", tmp_path / "nowhere.pt")
    with pytest.raises(BadInputError, match="needs 2 files"):
        import_path(store, "two-files", checkpoint)
    with pytest.raises(BadInputError, match="the folder has no model.pt, vocab.txt"):
        import_path(store, "two-files", checkpoint.parent)


def test_truncated_file_is_corrupt(store, checkpoint):
    import_path(store, "one-file", checkpoint)
    installed = store.folder("one-file") / "model.pt"
    installed.write_bytes(CHECKPOINT[:1000])
    status = store.status("one-file")
    assert status.state is ModelState.CORRUPT
    assert "model.pt is 1000 bytes" in status.problem


def test_changed_content_is_noticed_by_status_and_by_verify(store, checkpoint):
    import_path(store, "one-file", checkpoint)
    installed = store.folder("one-file") / "model.pt"
    stat = installed.stat()
    installed.write_bytes(bytes(len(CHECKPOINT)))  # same size, different bytes
    assert store.status("one-file").state is ModelState.CORRUPT  # mtime changed -> rehashed
    os.utime(installed, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # hide the change from the quick check
    report = store.verify("one-file")
    assert report.state is ModelState.CORRUPT and "sha256" in report.problem
    assert store.status("one-file").state is ModelState.CORRUPT  # verify's verdict sticks


def test_partial_marker_means_corrupt(store, checkpoint):
    import_path(store, "one-file", checkpoint)
    (store.folder("one-file") / INCOMPLETE_MARKER).write_text("download interrupted")
    status = store.status("one-file")
    assert (status.state, status.problem) == (ModelState.CORRUPT, "download interrupted")


def test_files_without_the_installed_marker_are_corrupt(store):
    folder = store.root / "one-file"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(CHECKPOINT)
    status = store.status("one-file")
    assert status.state is ModelState.CORRUPT and "never completed" in status.problem
    assert store.verify("one-file").state is ModelState.INSTALLED  # the catalog's sha256 vouches for it
    assert store.status("one-file").state is ModelState.INSTALLED


def test_touched_but_unchanged_file_stays_installed(store, checkpoint, monkeypatch):
    import_path(store, "one-file", checkpoint)
    installed = store.folder("one-file") / "model.pt"
    os.utime(installed, ns=(1, 1_000_000_000))
    marker = (store.folder("one-file") / INSTALLED_MARKER).read_text()
    assert store.status("one-file").state is ModelState.INSTALLED
    assert (store.folder("one-file") / INSTALLED_MARKER).read_text() == marker  # a status never writes
    hashed = []
    real_sha = store_module.sha256_of
    monkeypatch.setattr(store_module, "sha256_of", lambda path, *a, **k: hashed.append(path) or real_sha(path, *a, **k))
    assert store.status("one-file").state is ModelState.INSTALLED and hashed == []  # remembered
    store.verify("one-file")  # an explicit check records the new mtime
    assert '"mtime_ns": 1000000000' in (store.folder("one-file") / INSTALLED_MARKER).read_text()


def test_delete_removes_the_model(store, checkpoint):
    import_path(store, "one-file", checkpoint)
    store.delete("one-file")
    assert store.status("one-file").state is ModelState.MISSING
    assert not store.folder("one-file").exists()
    assert checkpoint.read_bytes() == CHECKPOINT


def test_resolve_gives_files_and_config_or_says_how_to_install(store, checkpoint):
    with pytest.raises(MissingModelError, match=r"vocalis models install two-files`"):
        store.resolve("two-files")
    with pytest.raises(MissingModelError, match=r"vocalis models import one-file PATH"):
        store.resolve("one-file")
    with pytest.raises(MissingModelError, match="unknown model 'nope'"):
        store.resolve("nope")
    import_path(store, "one-file", checkpoint)
    model = store.resolve("one-file")
    assert model.path == store.root / "one-file" / "model.pt"
    assert model.config["num_spks"] == 3 and model.entry.sample_rate == 8000
    assert os.fspath(model) == str(store.root / "one-file")


def test_default_store_honours_vocalis_models(tmp_path, monkeypatch):
    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path / "elsewhere"))
    store = default_store()
    assert store.root == tmp_path / "elsewhere"
    assert "whisper-base" in store.catalog


def test_cache_builds_once_and_evicts_least_recently_used():
    layer_bytes = estimate_bytes(torch.nn.Linear(100, 100))
    assert layer_bytes == (100 * 100 + 100) * 4
    cache = ModelCache(budget_bytes=2 * layer_bytes)
    built = []

    def factory(name):
        def build():
            built.append(name)
            return torch.nn.Linear(100, 100)
        return build

    first = cache.get("a", factory("a"))
    assert cache.get("a", factory("a")) is first and built == ["a"]
    cache.get("b", factory("b"))
    cache.get("a", factory("a"))  # "a" becomes the most recently used
    cache.get("c", factory("c"))  # over budget: "b" goes
    assert cache.keys() == ["a", "c"] and cache.used_bytes == 2 * layer_bytes
    assert cache.release("a") and not cache.release("a")
    cache.clear()
    assert cache.keys() == [] and cache.used_bytes == 0
