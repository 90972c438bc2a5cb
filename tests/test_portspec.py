"""Port specs on every build: afpacket:/pcap: run natively without --backend;
mixing with DPDK specs is a clear usage error; UDP datagrams sent by a local
socket (checksums left partial by the kernel) arrive with good checksums."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import netns as nn
import pytest

from pydpdk import portspec

try:
    from pydpdk.pcap import CaptureReader
except Exception:  # noqa: BLE001 - built without the pcap feature
    CaptureReader = None


def test_backend_for_specs():
    assert portspec.backend_for(["afpacket:x", "pcap:rx=a"], None) == "native"
    assert portspec.backend_for(["afpacket:x"], "native") == "native"
    assert portspec.backend_for(["0", "net_null0"], None) is None
    assert portspec.backend_for(["0"], "dpdk") == "dpdk"
    # udp: runs with either backend
    assert portspec.backend_for(["afpacket:x", "udp:192.0.2.1:4790"], None) == "native"
    assert portspec.backend_for(["net_null0", "udp:192.0.2.1:4790"], None) is None
    assert portspec.backend_for(["udp:192.0.2.1:4790"], "dpdk") == "dpdk"
    with pytest.raises(ValueError, match="cannot share a run"):
        portspec.backend_for(["afpacket:x", "net_null0"], None)
    with pytest.raises(ValueError, match="--backend dpdk cannot open afpacket:x"):
        portspec.backend_for(["afpacket:x"], "dpdk")
    with pytest.raises(ValueError, match="EAL arguments"):
        portspec.backend_for(["pcap:rx=a"], None, ["--vdev", "net_null0"])


@pytest.mark.parametrize("rest,message", [
    ("", "needs rx=FILE"), ("rx", "key=value"), ("rx=a,zz=1", "unknown key"),
    ("rx=a,loop=-1", "loop"), ("rx=a,timing=2", "timing"), ("rx=a,speed=inf", "speed"),
    ("tx=a,format=erf", "format"),
])
def test_bad_pcap_specs(rest, message):
    with pytest.raises(ValueError, match=message):
        portspec.parse_pcap_spec(rest)


def test_pcap_spec_options():
    kw = portspec.pcap_port_kwargs(portspec.parse_pcap_spec(
        "rx=a.pcap,tx=b.pcap,format=pcapng,loop=3,timing=1,speed=2.5"))
    assert kw == {"rx_path": "a.pcap", "tx_path": "b.pcap", "format": "pcapng", "passes": 3,
                  "replay_timing": True, "speed": 2.5}


def test_afpacket_spec_without_backend_receives_local_udp_with_good_checksums(tmp_path):
    # The README's case: datagrams from a local socket leave with
    # CHECKSUM_PARTIAL; DPDK's net_af_packet passes them on unfinished, the
    # afpacket: spec (native on every build) completes them.
    nn.require_netns()
    if CaptureReader is None:
        pytest.skip("built without the pcap file backend")
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed (make deps installs it)")
    out = tmp_path / "got.pcap"
    with nn.veth_pair() as pair:
        nn.ns_exec(pair.b, "ip", "addr", "add", "10.98.0.2/24", "dev", pair.if_b)
        nn.ns_exec(pair.b, "ip", "neigh", "add", "10.98.0.1", "lladdr", "02:00:00:00:00:aa",
                   "dev", pair.if_b)
        env = dict(os.environ)
        env.pop("PYDPDK_BACKEND", None)
        gw = subprocess.Popen(["ip", "netns", "exec", pair.a, sys.executable, "-m", "pydpdk.cli",
                               "fec", "encode", "--", "--in", f"afpacket:{pair.if_a}", "--out",
                               f"pcap:tx={out}", "-k", "4", "-m", "1", "--packets", "20",
                               "--stats-interval", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            time.sleep(3)  # the port opens
            sender = ("import socket\n"
                      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                      "for i in range(20): s.sendto(b'x' * (100 + i), ('10.98.0.1', 9999))\n")
            stdout = stderr = ""
            for _ in range(30):
                nn.ns_exec(pair.b, sys.executable, "-c", sender)
                try:
                    stdout, stderr = gw.communicate(timeout=2)
                    break
                except subprocess.TimeoutExpired:
                    continue
            else:
                gw.kill()
                stdout, stderr = gw.communicate()
        finally:
            if gw.poll() is None:
                gw.kill()
                gw.communicate()
    assert gw.returncode == 0, stderr
    assert "(native)" in stdout
    plain = tmp_path / "plain.pcap"
    dec = subprocess.run([sys.executable, "-m", "pydpdk.cli", "fec", "decode", "--", "--in",
                          f"pcap:rx={out}", "--out", f"pcap:tx={plain}"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert dec.returncode == 0, dec.stderr
    check = subprocess.run(["tshark", "-r", str(plain), "-o", "udp.check_checksum:TRUE",
                            "-Y", "udp.dstport == 9999", "-T", "fields",
                            "-e", "udp.checksum.status"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert check and all(s == "1" for s in check), check   # 1: Good
