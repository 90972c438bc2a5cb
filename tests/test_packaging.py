"""Package hygiene: license, single-sourced version, what the meson build
configures and installs (issue 15 item 7).

The build checks configure the real source tree with the real meson into
temporary build directories (no compilation), with pkg-config pointed at an
empty directory so that DPDK and libpcap are absent whatever this machine has.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import pydpdk

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MESON = BIN / "meson"

requires_meson = pytest.mark.skipif(not MESON.exists(), reason="meson is not in this venv")


def _meson_version() -> str:
    text = (ROOT / "meson.build").read_text()
    match = re.search(r"project\('pydpdk'.*?version:\s*'([^']+)'", text, re.S)
    assert match, "meson.build declares no project version"
    return match.group(1)


def test_version_single_sourced():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert pydpdk.__version__ == _meson_version()
    # the installed metadata (written by meson-python) says the same
    assert metadata.version("pydpdk") == pydpdk.__version__


def test_license_file_matches_the_declaration():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) the pydpdk authors" in text
    assert "Neither the name of the copyright holder" in text     # clause 3
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert "license: 'BSD-3-Clause'" in (ROOT / "meson.build").read_text()
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639


def _setup(tmp: Path, name: str, *options: str) -> subprocess.CompletedProcess[str]:
    empty = tmp / "no-pkgconfig"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(empty), PATH=f"{BIN}:{os.environ['PATH']}")
    env.pop("PKG_CONFIG_PATH", None)
    return subprocess.run([str(MESON), "setup", str(tmp / name), str(ROOT), *options],
                          capture_output=True, text=True, env=env, timeout=300)


def _introspect(build: Path, what: str) -> object:
    out = subprocess.run([str(MESON), "introspect", str(build), what], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    """Build dirs configured without DPDK and libpcap: pip's defaults, and with tests."""
    if not MESON.exists():
        pytest.skip("meson is not in this venv")
    tmp = tmp_path_factory.mktemp("meson")
    plain = _setup(tmp, "plain")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    tests = _setup(tmp, "tests", "-Dtests=true")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    return tmp, plain.stdout + plain.stderr


def test_auto_warns_when_a_backend_is_missing(configured):
    _, output = configured
    assert re.search(r"WARNING: libdpdk >= 22.11 not found .*WITHOUT the DPDK backend", output)
    assert re.search(r"WARNING: libpcap not found .*WITHOUT the pcap file backend", output)


@requires_meson
def test_dpdk_enabled_fails_without_dpdk(tmp_path):
    proc = _setup(tmp_path, "enabled", "-Ddpdk=enabled")
    assert proc.returncode != 0
    assert re.search(r"Dependency \"libdpdk\" not found", proc.stdout + proc.stderr)


@requires_meson
def test_disabled_backends_do_not_warn(tmp_path):
    proc = _setup(tmp_path, "off", "-Ddpdk=disabled", "-Dpcap=disabled")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WITHOUT" not in proc.stdout + proc.stderr


def test_pip_builds_no_test_binaries(configured):
    tmp, _ = configured
    default = {t["name"] for t in _introspect(tmp / "plain", "--targets")
               if t["type"] == "executable"}
    assert default == set()
    with_tests = {t["name"] for t in _introspect(tmp / "tests", "--targets")
                  if t["type"] == "executable"}
    assert {"test_fec", "fuzz_fec_decoder", "test_buf", "test_pipeline"} <= with_tests
    assert _introspect(tmp / "plain", "--tests") == []


def test_installed_files(configured):
    tmp, _ = configured
    installed = [Path(p).name for p in _introspect(tmp / "plain", "--installed").values()]
    # the .pxd files cimport pydpdk/_includes and native/ headers, which are
    # not installed: so they are not installed either
    assert not [n for n in installed if n.endswith(".pxd")]
    assert {"__init__.pyi", "py.typed", "_burst.pyi", "_build_info.py"} <= set(installed)
    assert not [n for n in installed if n.startswith(("test_", "fuzz_"))]
