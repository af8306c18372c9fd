"""``vocalis models …`` and ``vocalis devices``: output, --json documents and exit codes."""

from __future__ import annotations

import json
import os

from engine.cli import main
from engine.models.catalog import default_catalog


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_list_shows_the_catalog_with_states(capsys):
    assert main(["models", "install-embedded", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    document = _json(capsys)
    states = {m["id"]: m["state"] for m in document["models"]}
    assert set(states) == {entry.id for entry in default_catalog()}
    assert states["whisper-base"] == "installed" and states["mossformer2-ss-16k"] == "missing"
    lina = next(m for m in document["models"] if m["id"] == "lina-speech-gigaspeech")
    assert "non-commercial" in lina["licence"] and lina["downloadable"] is True
    assert document["models_folder"] == os.environ["VOCALIS_MODELS"]
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert "whisper-base" in table and "installed" in table and "CC-BY-NC-4.0" in table


def test_path_prints_the_models_folder(capsys):
    assert main(["models", "path"]) == 0
    assert capsys.readouterr().out.strip() == os.environ["VOCALIS_MODELS"]
    assert main(["models", "path", "--json"]) == 0
    assert _json(capsys) == {"models_folder": os.environ["VOCALIS_MODELS"]}


def test_import_verify_delete_round_trip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VOCALIS_MODELS", str(tmp_path / "models"))
    checkpoint = tmp_path / "hdemucs.pt"
    checkpoint.write_bytes(os.urandom(4096))  # the catalog size is an estimate, so any size imports
    assert main(["models", "import", "hdemucs-high", str(checkpoint), "--json"]) == 0
    assert _json(capsys)["state"] == "installed"
    assert main(["models", "verify", "--json"]) == 0
    assert [m["id"] for m in _json(capsys)["models"]] == ["hdemucs-high"]
    (tmp_path / "models" / "hdemucs-high" / "hdemucs_high_trained.pt").write_bytes(b"x")
    assert main(["models", "verify", "hdemucs-high", "--json"]) == 1
    report = _json(capsys)["models"][0]
    assert report["state"] == "corrupt" and "sha256" in report["problem"]
    assert main(["models", "delete", "hdemucs-high", "--json"]) == 0
    assert _json(capsys)["state"] == "missing"
    assert checkpoint.exists()


def test_errors_and_usage_have_their_exit_codes(tmp_path, capsys):
    assert main(["models", "download", "mossformer2-ss-8k", "--accept-licence"]) == 1
    assert "vocalis models import mossformer2-ss-8k PATH" in capsys.readouterr().err
    assert main(["models", "verify", "no-such-model"]) == 1
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert main(["models", "import", "mossformer2-ss-16k", str(tmp_path / "absent.pt")]) == 1
    assert "absent.pt: no such file or folder" in capsys.readouterr().err
    assert main(["models", "download", "lina-speech-gigaspeech"]) == 2  # stdin is not a terminal
    assert "CC-BY-NC-4.0" in capsys.readouterr().err
    assert main(["models"]) == 2


def test_devices_lists_the_cpu(capsys):
    assert main(["devices", "--json"]) == 0
    document = _json(capsys)
    assert document["devices"][0]["id"] == "cpu" and document["cpu_threads"] >= 1
    assert main(["devices"]) == 0
    assert "chosen device:" in capsys.readouterr().out
