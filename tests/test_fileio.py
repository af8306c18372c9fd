"""engine.fileio: outputs get the mode a new file gets under the user's umask, and the atomic writer
flushes the file before the rename and the folder after it."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from engine import fileio
from engine.audio import io
from engine.audio.clip import Clip


@pytest.fixture
def umask():
    """Set a umask for the test and restore the old one afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600)])
def test_new_outputs_get_the_umask_mode(tmp_path, umask, mask, expected):
    umask(mask)
    assert fileio.current_umask() == mask
    text = fileio.write_text_atomic(tmp_path / "out.txt", "hello")
    audio = io.save(Clip(np.zeros((1, 100), np.float32), 8000), tmp_path / "out.wav")
    assert mode(text) == expected
    assert mode(audio) == expected
    plain = tmp_path / "plain.txt"
    plain.write_text("made the ordinary way")
    assert mode(plain) == expected  # the same mode as any program would create


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "private.txt"
    target.write_text("old")
    target.chmod(0o600)
    fileio.write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o600


def test_file_is_flushed_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        size = os.fstat(fd).st_size
        events.append(("fsync", kind, size))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename",))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    fileio.write_text_atomic(tmp_path / "out.txt", "twelve bytes")
    assert events == [("fsync", "file", 12), ("rename",), ("fsync", "folder", events[2][2])]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(target) as temp:
            temp.write_text("half")
            raise RuntimeError("killed midway")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
