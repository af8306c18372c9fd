"""Downloads through the real huggingface_hub client against a local Hub stand-in (tests/hf_server.py)."""

from __future__ import annotations

import hashlib
import os

import pytest
from huggingface_hub import constants as hf_constants

from engine.errors import BadInputError, Cancelled, DownloadError
from engine.jobs import CancelToken, Progress
from engine.models.catalog import CATALOG_PATH, read_catalog
from engine.models.install import install_one
from engine.models.install.huggingface import install as download
from engine.models.store import ModelState, ModelStore
from tests.hf_server import FakeHub, serve

REPO = "acme/tiny-model"
# Larger than two of the client's read chunks: it writes (and so can resume from) whole chunks only.
CHUNK = hf_constants.DOWNLOAD_CHUNK_SIZE
WEIGHTS = os.urandom(2 * CHUNK + 12345)
CONFIG = b'{"layers": 2}'


def _catalog(tmp_path, weights_sha: str):
    path = tmp_path / "catalog.toml"
    path.write_text(f"""
[[model]]
id = "tiny"
name = "Tiny test model"
task = "separate"
family = "test"
licence = "Apache-2.0"
sample_rate = 16000
memory_mb = 10
[model.source]
kind = "huggingface"
repo = "{REPO}"
revision = "main"
[[model.files]]
name = "weights.bin"
remote = "checkpoints/weights.bin"
size = {len(WEIGHTS)}
sha256 = "{weights_sha}"
[[model.files]]
name = "config.json"
size = {len(CONFIG)}
""")
    return read_catalog(path)


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeHub()
    fake.add(REPO, "checkpoints/weights.bin", WEIGHTS)
    fake.add(REPO, "config.json", CONFIG)
    server = serve(fake)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    yield fake
    server.shutdown()
    server.server_close()


def _store(tmp_path, sha=None):
    return ModelStore(tmp_path / "models", _catalog(tmp_path, sha or hashlib.sha256(WEIGHTS).hexdigest()))


def test_download_installs_files_with_progress(tmp_path, hub):
    store = _store(tmp_path)
    updates = []
    status = download(store, "tiny", progress=Progress(updates.append))
    assert status.state is ModelState.INSTALLED
    assert store.status("tiny").state is ModelState.INSTALLED
    folder = store.folder("tiny")
    assert (folder / "weights.bin").read_bytes() == WEIGHTS
    assert (folder / "config.json").read_bytes() == CONFIG
    assert not (store.root / ".staging" / "tiny").exists()
    fractions = [u.fraction for u in updates]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(" MB at " in u.message and "MB/s" in u.message for u in updates)  # bytes and speed
    requests_so_far = len(hub.requests)
    assert download(store, "tiny").state is ModelState.INSTALLED  # already there: nothing is fetched
    assert len(hub.requests) == requests_so_far
    heads = [r for r in hub.requests if r.method == "HEAD"]
    assert {r.path for r in heads} == {f"/{REPO}/resolve/main/checkpoints/weights.bin", f"/{REPO}/resolve/main/config.json"}


def test_interrupted_transfer_resumes_with_a_range_request(tmp_path, hub):
    hub.drop_first_get_after[(REPO, "checkpoints/weights.bin")] = CHUNK + CHUNK // 2
    store = _store(tmp_path)
    status = download(store, "tiny")
    assert status.state is ModelState.INSTALLED
    gets = hub.gets("weights.bin")
    assert [g.range for g in gets] == [None, f"bytes={CHUNK}-"]  # the first chunk is not fetched again
    assert (store.folder("tiny") / "weights.bin").read_bytes() == WEIGHTS


def test_hash_mismatch_is_refused_and_the_model_is_corrupt(tmp_path, hub):
    store = _store(tmp_path, sha="0" * 64)
    with pytest.raises(BadInputError, match="sha256"):
        download(store, "tiny")
    status = store.status("tiny")
    assert status.state is ModelState.CORRUPT
    assert "sha256" in status.problem
    assert not (store.folder("tiny") / "vocalis-model.json").exists()


@pytest.mark.slow  # huggingface_hub retries the unreachable host for about 25 s before giving up
def test_offline_gives_a_clear_message(tmp_path, monkeypatch):
    store = _store(tmp_path)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with pytest.raises(DownloadError, match=r"cannot reach 127\.0\.0\.1:9 \(offline or behind a proxy\?\)"):
        download(store, "tiny", endpoint="http://127.0.0.1:9")
    assert store.status("tiny").state is ModelState.MISSING


def test_missing_file_on_the_hub_is_named(tmp_path, hub):
    del hub.files[(REPO, "config.json")]
    store = _store(tmp_path)
    with pytest.raises(DownloadError, match="no config.json in acme/tiny-model"):
        download(store, "tiny")
    assert store.status("tiny").state is ModelState.MISSING


def test_cancel_stops_the_transfer_and_installs_nothing(tmp_path, hub):
    store = _store(tmp_path)
    cancel = CancelToken()

    def cancel_after_first_bytes(update):
        if update.fraction > 0.05:
            cancel.cancel()

    with pytest.raises(Cancelled):
        download(store, "tiny", progress=Progress(cancel_after_first_bytes), cancel=cancel)
    assert store.status("tiny").state is ModelState.MISSING


def test_import_only_models_say_how_to_install_them(tmp_path):
    store = ModelStore(tmp_path / "models", read_catalog(CATALOG_PATH))
    with pytest.raises(DownloadError, match="vocalis models import mossformer2-ss-8k PATH"):
        install_one(store, "mossformer2-ss-8k")
