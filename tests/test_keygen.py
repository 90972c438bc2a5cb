"""pydpdk keygen never replaces anything but a regular key file, and leaves
no key material behind when it cannot write."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

secure = pytest.importorskip("pydpdk.secure")


def keygen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pydpdk.cli", "keygen", *args],
                          capture_output=True, text=True, timeout=60)


def test_keygen_refuses_a_fifo_and_a_directory(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    d = tmp_path / "dir"
    d.mkdir()
    for target in (fifo, d):
        r = keygen("--force", str(target))
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert "not a regular file" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo"]   # no leftovers
    assert not any(d.iterdir())


def test_keygen_missing_directory_is_one_line(tmp_path):
    r = keygen(str(tmp_path / "no" / "k.key"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "does not exist" in r.stderr


def test_keygen_force_replaces_a_key_file(tmp_path):
    k = tmp_path / "k"
    assert keygen(str(k)).returncode == 0
    first = k.read_text()
    assert keygen(str(k)).returncode == 1                  # exists
    assert keygen("--force", str(k)).returncode == 0
    assert k.read_text() != first and (k.stat().st_mode & 0o777) == 0o600
