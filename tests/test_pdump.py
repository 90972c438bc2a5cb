"""Packet capture of a running pydpdk port with DPDK's own tools.

A pydpdk primary process (EAL with hugepages, its own --file-prefix and
``Eal(pdump=True)``) sends generated frames out of a net_ring port to its
twin, where a verifier receives them.  dpdk-dumpcap (pcapng; stops after the
expected count) or dpdk-pdump (pcap through net_pcap; runs until Ctrl-C), both
from the dpdk-dev package, attaches as a secondary process and captures the
port; tcpdump reads the file, and the primary's verifier checks every
captured frame byte for byte (each carries a CRC-32C of the whole frame).

The test reserves 2 MiB hugepages itself (256 of them on top of what is there,
restored afterwards) on a hugetlbfs mount of its own, and skips with the
reason only where the kernel refuses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from pydpdk import dpdk

DUMPCAP = shutil.which("dpdk-dumpcap")
PDUMP = shutil.which("dpdk-pdump")
TCPDUMP = shutil.which("tcpdump")
HUGEPAGES = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")
RESERVE = 256          # 2 MiB pages: 512 MiB
NEEDED = 128           # the primary maps 128 MiB, the capture pool comes on top
COUNT = 300

pytestmark = pytest.mark.skipif(
    not dpdk.AVAILABLE or None in (DUMPCAP, PDUMP, TCPDUMP),
    reason="needs pydpdk with DPDK, dpdk-dumpcap and dpdk-pdump (Debian package dpdk-dev) "
           "and tcpdump")


@pytest.fixture
def hugepages(tmp_path):
    """A private hugetlbfs mount with at least NEEDED free 2 MiB pages."""
    if os.geteuid() != 0:
        pytest.skip("reserving hugepages needs root")
    if not HUGEPAGES.is_dir():
        pytest.skip("this kernel offers no 2 MiB hugepages")
    nr = HUGEPAGES / "nr_hugepages"
    before = int(nr.read_text())
    mnt = tmp_path / "huge"
    mnt.mkdir()
    try:
        try:
            nr.write_text(str(before + RESERVE))
        except OSError as exc:
            pytest.skip(f"the kernel refused to reserve hugepages: {exc}")
        free = int((HUGEPAGES / "free_hugepages").read_text())
        if free < NEEDED:
            pytest.skip(f"the kernel reserved too few hugepages: {free} free, "
                        f"{NEEDED} needed (memory fragmented?)")
        done = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev",
                               str(mnt)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount hugetlbfs: {done.stderr.strip()}")
        try:
            yield mnt
        finally:
            # Unmounting frees the pages whose files DPDK left behind (retried:
            # a process that just exited may still be releasing its mappings).
            for _ in range(100):
                if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
    finally:
        for _ in range(100):
            nr.write_text(str(before))
            if int(nr.read_text()) == before:
                break
            time.sleep(0.1)


PRIMARY = textwrap.dedent(r"""
    import json, struct, sys, threading
    from pydpdk import dpdk
    from pydpdk.pipeline import Pipeline
    from pydpdk._pipeline import Discard, Generator, PortSink, PortSource, Verifier

    prefix, huge, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def say(**kw):
        print(json.dumps(kw), flush=True)

    with dpdk.Eal([f"--huge-dir={huge}"], hugepages=True, memory_mb=128,
                  file_prefix=prefix, pdump=True) as eal:
        a, b = eal.ring_pair("cap_a", "cap_b")
        pool = dpdk.Mempool(4095)
        with dpdk.Port(a, pool) as pa, dpdk.Port(b, pool) as pb:
            pa.start(); pb.start()
            gen = Generator(pool, sizes=(128, 300, 1000), count=count, rate_pps=3000)
            ver = Verifier(pool, marker_offset=gen.marker_offset)
            pipe = Pipeline()
            pipe.add_chain(gen, [], PortSink(pa))
            pipe.add_chain(PortSource(pb), [], ver)
            say(step="ready", port=a, info=eal.info()["pdump"])
            sys.stdin.readline()
            result = pipe.run(duration=120)
            say(step="sent", result=result, generator=gen.counters, verifier=ver.counters)
            path = sys.stdin.readline().strip()
            if path == "filler":
                # Frames to another UDP port until told to stop: they push the
                # counted frames through a capture tool's buffers.
                tmpl = bytearray(gen.template)
                tmpl[36:38] = (9999).to_bytes(2, "big")
                filler = Pipeline()
                filler.add_chain(Generator(pool, sizes=(1000,), rate_pps=2000, stream=1,
                                           template=bytes(tmpl)), [], PortSink(pa))
                filler.add_chain(PortSource(pb), [], Discard(pool))
                th = threading.Thread(target=filler.run, kwargs={"duration": 300})
                th.start()
                say(step="filling")
                sys.stdin.readline()
                filler.request_stop()
                th.join()
                say(step="filled")
                path = sys.stdin.readline().strip()
            data = open(path, "rb").read()
            magic, = struct.unpack_from("<I", data, 0)
            endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
            at, frames = 24, []
            while at < len(data):
                _, _, incl, orig = struct.unpack_from(endian + "IIII", data, at)
                frames.append((data[at + 16:at + 16 + incl], orig))
                at += 16 + incl
            checks = [ver.check(f) for f, _ in frames]
            say(step="checked", frames=len(frames),
                truncated=sum(len(f) != orig for f, orig in frames),
                valid=sum(kind == "valid" for kind, _ in checks),
                seqs=sorted(seq for kind, seq in checks if kind == "valid"))
        pool.close()
""")


class Lines:
    """Collect a process's output lines in the background."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, text: str, proc: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in ln for ln in self.lines):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {text!r} from {proc.args}: {''.join(self.lines)}")
            time.sleep(0.1)


def test_dumpcap_captures_a_running_pipeline_port(hugepages, tmp_path):
    prefix = f"pydpdk-pdump{os.getpid()}"
    pcapng = tmp_path / "capture.pcapng"
    primary = subprocess.Popen([sys.executable, "-c", PRIMARY, prefix, str(hugepages),
                                str(COUNT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    dumpcap = None
    try:
        line = primary.stdout.readline()
        if not line:
            pytest.fail(f"the pydpdk primary failed: {primary.communicate(timeout=60)[1]}")
        ready = json.loads(line)
        assert ready["step"] == "ready" and ready["info"] is True
        # stdbuf: its "Capturing on" line must arrive while it runs, not at exit.
        dumpcap = subprocess.Popen(["stdbuf", "-oL", "-eL", DUMPCAP, f"--file-prefix={prefix}",
                                    "-i", ready["port"], "-w", str(pcapng), "-c", str(COUNT)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = Lines(dumpcap.stdout)
        out.wait_for("Capturing on", dumpcap, timeout=120)
        primary.stdin.write("\n")
        primary.stdin.flush()
        sent = json.loads(primary.stdout.readline())
        assert sent["generator"]["sent"] == COUNT
        assert sent["verifier"]["valid"] == COUNT      # capturing took nothing away
        assert dumpcap.wait(timeout=120) == 0, "".join(out.lines)
        out.thread.join(timeout=10)
        assert f"{COUNT}/0" in "".join(out.lines)      # received/dropped on the interface

        # tcpdump reads the pcapng: every frame is the generator's UDP frame.
        read = subprocess.run([TCPDUMP, "-nn", "-r", str(pcapng)], capture_output=True,
                              text=True, timeout=120)
        assert read.returncode == 0, read.stderr
        text = read.stdout.splitlines()
        assert len(text) == COUNT
        assert all("IP 10.0.0.1.12345 > 10.0.0.2.12346: UDP" in ln for ln in text), text[:3]
        # Byte for byte: the primary's verifier checks each frame's CRC and sequence.
        pcap = tmp_path / "capture.pcap"
        subprocess.run([TCPDUMP, "-r", str(pcapng), "-w", str(pcap)], capture_output=True,
                       timeout=120, check=True)
        primary.stdin.write(f"{pcap}\n")
        primary.stdin.flush()
        checked = json.loads(primary.stdout.readline())
        assert checked["frames"] == COUNT and checked["truncated"] == 0
        assert checked["valid"] == COUNT
        assert checked["seqs"] == list(range(COUNT))
        _, err = primary.communicate(timeout=120)
        assert primary.returncode == 0, err
    finally:
        for proc in (dumpcap, primary):
            if proc is not None and proc.poll() is None:
                proc.kill()
            if proc is not None:
                proc.communicate(timeout=60)
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


def test_pdump_captures_a_running_pipeline_port(hugepages, tmp_path):
    prefix = f"pydpdk-pdump{os.getpid()}"
    # dpdk-pdump 22.11 cuts long file paths (56 characters became 55): keep it short.
    short = Path(tempfile.mkdtemp(prefix="pdmp", dir="/tmp"))
    captured = short / "tx.pcap"
    primary = subprocess.Popen([sys.executable, "-c", PRIMARY, prefix, str(hugepages),
                                str(COUNT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)

    def tell(line: str, expect: str) -> dict:
        primary.stdin.write(line + "\n")
        primary.stdin.flush()
        reply = primary.stdout.readline()
        assert reply, primary.communicate(timeout=60)[1]
        msg = json.loads(reply)
        assert msg["step"] == expect, msg
        return msg

    pdump = None
    try:
        line = primary.stdout.readline()
        if not line:
            pytest.fail(f"the pydpdk primary failed: {primary.communicate(timeout=60)[1]}")
        ready = json.loads(line)
        pdump = subprocess.Popen(["stdbuf", "-oL", "-eL", PDUMP, "-l", "0",
                                  f"--file-prefix={prefix}", "--", "--pdump",
                                  f"device_id={ready['port']},queue=*,tx-dev={captured}"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = Lines(pdump.stdout)
        out.wait_for("capture for", pdump, timeout=120)
        sent = tell("", "sent")
        assert sent["generator"]["sent"] == COUNT and sent["verifier"]["valid"] == COUNT
        # dpdk-pdump writes through stdio buffers and leaves its ring unread on
        # Ctrl-C: keep other frames coming until the counted ones are in the file.
        tell("filler", "filling")
        counted = 24 + COUNT * 16 + sum((128, 300, 1000)) * COUNT // 3
        deadline = time.monotonic() + 120
        while not captured.exists() or captured.stat().st_size < counted + 16384:
            assert time.monotonic() < deadline and pdump.poll() is None, (
                captured.exists() and captured.stat().st_size, out.lines[-5:])
            time.sleep(0.1)
        pdump.send_signal(signal.SIGINT)
        pdump.wait(timeout=120)
        out.thread.join(timeout=10)
        tell("stop", "filled")
        pcap = tmp_path / "counted.pcap"
        filtered = subprocess.run([TCPDUMP, "-r", str(captured), "-w", str(pcap),
                                   "udp dst port 12346"], capture_output=True, text=True,
                                  timeout=120)
        assert filtered.returncode == 0, filtered.stderr
        text = subprocess.run([TCPDUMP, "-nn", "-r", str(pcap)], capture_output=True,
                              text=True, timeout=120, check=True).stdout.splitlines()
        assert len(text) == COUNT
        assert all("IP 10.0.0.1.12345 > 10.0.0.2.12346: UDP" in ln for ln in text), text[:3]
        checked = tell(str(pcap), "checked")
        assert checked["frames"] == COUNT and checked["truncated"] == 0
        assert checked["valid"] == COUNT
        assert checked["seqs"] == list(range(COUNT))
        _, err = primary.communicate(timeout=120)
        assert primary.returncode == 0, err
    finally:
        for proc in (pdump, primary):
            if proc is not None and proc.poll() is None:
                proc.kill()
            if proc is not None:
                proc.communicate(timeout=60)
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
        shutil.rmtree(short, ignore_errors=True)


def test_pdump_needs_hugepages():
    with pytest.raises(ValueError, match="hugepages"):
        dpdk.Eal(pdump=True)

