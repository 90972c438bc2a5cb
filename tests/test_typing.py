"""The typed surface a user sees: ``pydpdk.Burst`` & co. are classes for a type
checker (``pydpdk/__init__.pyi``), not the ``object`` of the lazy module
``__getattr__``; and the examples pass ``mypy --strict``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USER_CODE = """\
import pydpdk
from pydpdk import Burst, PacketPool


def count(burst: Burst) -> int:
    return len(burst)


def shut(pool: PacketPool) -> None:
    pool.close()


reveal_type(pydpdk.Pipeline)
reveal_type(pydpdk.Packet)
reveal_type(pydpdk.PortBase)
reveal_type(pydpdk.__version__)
reveal_type(pydpdk.dpdk.Mempool)
"""


def _mypy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy")
    # an editable install is an import hook mypy cannot follow: point it at
    # the source tree
    env = dict(os.environ, MYPYPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_top_level_names_are_typed(tmp_path):
    (tmp_path / "user.py").write_text(USER_CODE)
    proc = _mypy("--strict", "user.py", cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert '"def () -> pydpdk.pipeline.Pipeline"' in out
    assert '"def () -> pydpdk._burst.Packet"' in out
    assert "pydpdk._burst.PortBase" in out
    assert 'Revealed type is "str"' in out or 'Revealed type is "builtins.str"' in out
    assert "-> pydpdk._dpdk_mbuf.Mempool" in out
    assert "builtins.object" not in out


def test_examples_pass_mypy_strict():
    proc = _mypy("--strict", "examples", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
