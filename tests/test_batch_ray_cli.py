"""``vocalis batch --backend ray`` flags, without starting Ray: a missing Ray says how to install it, and the
Ray-only flags are refused with the local backend (both usage errors, exit 2, nothing written)."""

from __future__ import annotations

import sys

import pytest

from engine.cli import EXIT_USAGE, main


@pytest.fixture
def folders(tmp_path):
    (tmp_path / "in").mkdir()
    return tmp_path / "in", tmp_path / "out"


def test_ray_backend_without_ray_says_how_to_install_it(monkeypatch, capsys, folders):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when Ray is not installed
    code = main(["batch", "convert", str(folders[0]), str(folders[1]), "--backend", "ray", "--address", "auto"])
    assert code == EXIT_USAGE
    assert 'pip install "vocalis[cluster]"' in capsys.readouterr().err
    assert not folders[1].exists()


@pytest.mark.parametrize("flag", [["--address", "auto"], ["--max-in-flight", "4"], ["--gpus-per-task", "1"],
                                  ["--cpus-per-task", "2"]])
def test_ray_flags_need_the_ray_backend(capsys, folders, flag):
    code = main(["batch", "convert", str(folders[0]), str(folders[1]), *flag])
    assert code == EXIT_USAGE
    assert f"{flag[0]} only applies with --backend ray" in capsys.readouterr().err
    assert not folders[1].exists()
