"""``pydpdk fec --json`` keys are stable names, and a tunnel refuses one port
given as both --local and --peer (issue 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pydpdk import dpdk
from pydpdk.cli_args import same_port
from pydpdk.cli_json import stage_key
from pydpdk.frames import make_frames, write_pcap


def pydpdk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pydpdk", *args], capture_output=True,
                          text=True, timeout=120)


def keys(doc: Any, path: str = "") -> list[str]:
    """Every key of a JSON document, with its path."""
    out = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.append(f"{path}/{k}")
            out.extend(keys(v, f"{path}/{k}"))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(keys(v, f"{path}[{i}]"))
    return out


STAGES = {"chain0.rx.in", "chain0.fec-encode", "chain0.tx.out"}


def check_document(doc: dict[str, Any], tmp: Path) -> None:
    for key in keys(doc):
        name = key.rsplit("/", 1)[1]
        assert not any(c in name for c in "<>'\"/ "), f"key {key!r} is not a stable name"
        assert str(tmp) not in name, f"key {key!r} holds a file path"
    assert doc["schema"] == "pydpdk.fec/1"
    assert set(doc["counters"]) == STAGES
    assert set(doc["drops"]["elements"]) == STAGES
    assert set(doc["drops"]["stages"]) <= STAGES
    assert set(doc["drops"]["ports"]) == {"in", "out"}


def test_json_keys_native_capture_ports(tmp_path):
    src = tmp_path / "in.pcap"
    write_pcap(src, make_frames(40, 200))
    proc = pydpdk("fec", "encode", "--in", f"pcap:rx={src}", "--out",
                  f"pcap:tx={tmp_path / 'out.pcap'}", "--json")
    assert proc.returncode == 0, proc.stderr
    check_document(json.loads(proc.stdout), tmp_path)


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
def test_json_keys_dpdk_ports(tmp_path):
    # A DPDK port's repr ("<dpdk.Port 0 'net_pcap0' started>") once became a key.
    src = tmp_path / "in.pcap"
    write_pcap(src, make_frames(40, 200))
    proc = pydpdk("fec", "encode", f"--vdev=net_pcap0,rx_pcap={src}",
                  f"--vdev=net_pcap1,tx_pcap={tmp_path / 'out.pcap'}", "--", "--in", "net_pcap0",
                  "--out", "net_pcap1", "--json", "--duration", "0.5")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    check_document(doc, tmp_path)
    assert doc["counters"]["chain0.rx.in"]["packets_out"] == 40


def test_stage_key_of_any_port_repr():
    assert stage_key("chain0.rx:<dpdk.Port 0 'net_pcap0' started>:0", "encode") == "chain0.rx.in"
    assert stage_key("chain1.tx:<PcapPort rx='/a/b:c.pcap'\ntx=None>:2", "tunnel") == \
        "chain1.tx.local.q2"


@pytest.mark.parametrize(("local", "peer", "shared"), [
    ("afpacket:pdx0", "afpacket:pdx0", "interface 'pdx0'"),
    ("pdx0", "afpacket:pdx0", "interface 'pdx0'"),
    ("net_af_packet0,iface=pdx0", "net_af_xdp0,iface=pdx0", "interface 'pdx0'"),
    ("net_ring0", "net_ring0", "device 'net_ring0'"),
    ("0", "0", "device '0'"),
    ("pcap:rx=a.pcap,tx=o.pcap", "pcap:tx=./o.pcap", "file"),
])
def test_tunnel_refuses_one_port_as_local_and_peer(local, peer, shared):
    assert shared in (same_port(local, peer) or "")
    proc = pydpdk("fec", "tunnel", "--local", local, "--peer", peer)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert local in last and peer in last and shared in last, last


@pytest.mark.parametrize(("a", "b"), [
    ("afpacket:pdx0", "afpacket:pdx1"),
    ("net_af_packet0,iface=pdx0", "net_af_packet1,iface=pdx1"),
    ("pcap:rx=a.pcap,tx=a.pcap", "pcap:rx=b.pcap,tx=b2.pcap"),
    ("afpacket:pdx0", "udp:192.0.2.1:4790"),
])
def test_different_ports_are_not_refused(a, b):
    assert same_port(a, b) is None


RUNTIME_BASES = ["/var/run/dpdk", "/tmp/dpdk"]


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
@pytest.mark.parametrize("code", [
    "from pydpdk import dpdk\ne = dpdk.Eal()\nprint(e._own_prefix)\ne.close()",
    "from pydpdk import dpdk\ne = dpdk.Eal()\nprint(e._own_prefix)",      # closed at exit
])
def test_no_dpdk_runtime_directory_left_behind(code):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    prefix = proc.stdout.strip()
    assert prefix.startswith("pydpdk")
    assert not any((Path(base) / prefix).exists() for base in RUNTIME_BASES), prefix


@pytest.mark.parametrize("out", ["a.pcap", "./alias.pcap", "{q}"])
def test_an_output_that_would_overwrite_its_input_is_refused(tmp_path, out):
    # The handed case: --out pcap:tx=a.pcap over --in pcap:rx=a.pcap cut the
    # input from 148 KB to 7.6 KB before failing on it.
    src = tmp_path / "a.pcap"
    write_pcap(src, make_frames(200, 300))
    (tmp_path / "alias.pcap").symlink_to(src)
    size = src.stat().st_size
    extra: list[str] = []
    if out == "{q}":                          # per-queue file names: the same template
        src.rename(tmp_path / "a-0.pcap")
        write_pcap(tmp_path / "a-1.pcap", make_frames(10, 300))
        inp = out = str(tmp_path / "a-{q}.pcap")
        extra = ["--queues", "2"]
        src = tmp_path / "a-0.pcap"
    else:
        inp, out = str(src), str(tmp_path / out)
    proc = subprocess.run([sys.executable, "-m", "pydpdk", "fec", "encode", "--", "--backend",
                           "native", "--in", f"pcap:rx={inp}", "--out", f"pcap:tx={out}",
                           *extra], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "overwrite the input capture" in proc.stderr and "Traceback" not in proc.stderr
    assert src.stat().st_size == size


def test_queues_keep_the_interfaces_of_each_queue_input(tmp_path):
    from pydpdk.pcap import CaptureReader, CaptureWriter

    for q in range(2):
        with CaptureWriter(str(tmp_path / f"in-{q}.pcapng"), format="pcapng") as w:
            sll = w.add_interface(link_type=113)
            for i in range(30):
                w.write(make_frames(1, 200)[0], 10**18 + i)
                w.write(b"\x00\x04" + bytes(70), 10**18 + i, interface=sll)
    proc = pydpdk("fec", "encode", "--", "--backend", "native", "--queues", "2",
                  "--in", f"pcap:rx={tmp_path}/in-{{q}}.pcapng",
                  "--out", f"pcap:tx={tmp_path}/e-{{q}}.pcapng")
    assert proc.returncode == 0, proc.stderr
    for q in range(2):
        with CaptureReader(str(tmp_path / f"e-{q}.pcapng")) as reader:
            links = {(r.interface, r.link_type) for r in reader}
        assert links == {(0, 1), (1, 113)}, links
