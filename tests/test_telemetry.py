"""DPDK telemetry: the /pydpdk endpoints seen by DPDK's own client.

A pydpdk process (its own EAL with telemetry) runs a two-chain pipeline over
a net_ring pair: generator -> FEC encoder -> ring a, ring b -> FEC decoder ->
verifier.  dpdk-telemetry.py (dpdk-dev package) connects with the process's
file prefix and reads the counters while the loop runs and after it stopped;
they must equal what the Python objects report.  The registry itself (ids,
snapshots, unregistering before the native state is freed) is tested
in-process, with and without DPDK.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from pydpdk import _telemetry, dpdk, fec

TELEMETRY_TOOL = shutil.which("dpdk-telemetry.py")

requires_tool = pytest.mark.skipif(
    not dpdk.AVAILABLE or TELEMETRY_TOOL is None,
    reason="needs pydpdk with DPDK and dpdk-telemetry.py (Debian package dpdk-dev)")

# The pydpdk process: prints one JSON line per step, obeys one stdin line per step.
PRIMARY = textwrap.dedent(r"""
    import json, sys, threading
    from pydpdk import dpdk
    from pydpdk.pipeline import FecDecodeStage, FecEncodeStage, Pipeline
    from pydpdk._pipeline import Generator, PortSink, PortSource, Verifier

    def say(**kw):
        print(json.dumps(kw), flush=True)

    with dpdk.Eal(telemetry=True) as eal:
        a, b = eal.ring_pair("tel_a", "tel_b")
        pool = dpdk.Mempool(8191)
        with dpdk.Port(a, pool) as pa, dpdk.Port(b, pool) as pb:
            pa.start(); pb.start()
            gen = Generator(pool, sizes=(200, 700), count=4000, rate_pps=2000)
            enc = FecEncodeStage(pool, k=4, m=2, deadline=0.002)
            dec = FecDecodeStage(pool)
            ver = Verifier(pool, marker_offset=gen.marker_offset)
            pipe = Pipeline()
            pipe.add_chain(gen, [enc], PortSink(pa))
            pipe.add_chain(PortSource(pb), [dec], ver)
            result = {}
            th = threading.Thread(target=lambda: result.update(pipe.run(duration=120)))
            th.start()
            info = eal.telemetry()
            say(step="running", prefix=info["file_prefix"], socket=info["socket"],
                commands=info["commands"], pipeline=pipe.telemetry.id,
                encoder=enc.telemetry.id, decoder=dec.telemetry.id)
            sys.stdin.readline()
            pipe.request_stop()
            th.join()
            say(step="stopped", result=result, generator=gen.counters, encoder=enc.counters,
                decoder=dec.counters, verifier=ver.counters,
                elements=[[e.counters for e in (src, *stages, snk)]
                          for src, stages, snk in pipe.elements])
            sys.stdin.readline()
            enc_id = enc.telemetry.id
            del pipe, enc, dec, gen, ver
            import gc; gc.collect()
            import pydpdk._telemetry as t
            say(step="freed", pipelines=t.ids("pipeline"), encoders=t.ids("fec_encoder"),
                enc_id=enc_id)
            sys.stdin.readline()
        pool.close()
""")


def ask(prefix: str, *commands: str) -> dict:
    """Run dpdk-telemetry.py -f prefix with the commands on stdin; {command: value}."""
    out = subprocess.run([TELEMETRY_TOOL, "-f", prefix], input="\n".join(commands) + "\n",
                         capture_output=True, text=True, timeout=120, check=True)
    replies: dict = {}
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            replies.update(json.loads(line))
    missing = [c.split(",")[0] for c in commands if c.split(",")[0] not in replies]
    assert not missing, f"no reply to {missing}: {out.stdout!r} {out.stderr!r}"
    return replies


class Primary:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PRIMARY], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read(self, step: str) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=60)
            pytest.fail(f"the pydpdk process ended early: {self.proc.stderr.read()}")
        msg = json.loads(line)
        assert msg["step"] == step, msg
        return msg

    def next(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=60)   # also closes the pipes


@requires_tool
def test_dpdk_telemetry_shows_pipeline_and_fec_counters():
    p = Primary()
    try:
        run = p.read("running")
        prefix, pid = run["prefix"], run["pipeline"]
        assert run["socket"] and os.path.exists(run["socket"])
        assert set(run["commands"]) >= {"/pydpdk/pipelines", "/pydpdk/pipeline",
                                        "/pydpdk/fec/encoder", "/pydpdk/fec/decoder"}
        # While the loop runs (the generator sends 2000 packets/s for 2 s).
        first = ask(prefix, "/", "/pydpdk/pipelines", f"/pydpdk/pipeline,{pid}")
        assert "/pydpdk/pipeline" in first["/"] and "/ethdev/stats" in first["/"]
        assert pid in first["/pydpdk/pipelines"]
        live = first["/pydpdk/pipeline"]
        assert live["running"] == 1 and live["chains"] == 2
        assert live["chain0/source/name"] == "generator"
        assert live["chain0/stage0/name"] == "fec-encode"
        assert live["chain0/stage0/fec_encoder"] == run["encoder"]
        assert live["chain1/stage0/fec_decoder"] == run["decoder"]
        deadline = time.monotonic() + 60
        while True:   # counters move while the loop runs
            later = ask(prefix, f"/pydpdk/pipeline,{pid}")["/pydpdk/pipeline"]
            if later["chain0/source/packets_out"] > live["chain0/source/packets_out"]:
                break
            assert time.monotonic() < deadline, "pipeline counters did not move"
            time.sleep(0.2)
        p.next()
        final = p.read("stopped")
        replies = ask(prefix, f"/pydpdk/pipeline,{pid}", f"/pydpdk/fec/encoder,{run['encoder']}",
                      f"/pydpdk/fec/decoder,{run['decoder']}", "/pydpdk/info")
        shown = replies["/pydpdk/pipeline"]
        assert shown["running"] == 0
        # Every element's counters, exactly as the Python objects report them.
        for c, chain in enumerate(final["elements"]):
            roles = ["source"] + [f"stage{i}" for i in range(len(chain) - 2)] + ["sink"]
            for role, counters in zip(roles, chain):
                for key in ("packets_in", "bytes_in", "packets_out", "bytes_out", "drops",
                            "bursts", "time_ns"):
                    assert shown[f"chain{c}/{role}/{key}"] == counters[key], (c, role, key)
        assert shown["chain0/source/packets_out"] == final["generator"]["sent"] > 0
        encoder = replies["/pydpdk/fec/encoder"]
        for key in ("source_packets", "repair_packets", "blocks", "blocks_partial", "out_full"):
            assert encoder[key] == final["encoder"][key], key
        assert encoder["kind"] == "stage" and encoder["name"] == "rs(4,2)"
        decoder = replies["/pydpdk/fec/decoder"]
        for key in ("received", "delivered", "recovered", "unrecoverable", "malformed",
                    "foreign"):
            assert decoder[key] == final["decoder"][key], key
        # in = out: what the encoder sent arrived and was delivered to the verifier.
        assert decoder["delivered"] == final["verifier"]["valid"] == encoder["source_packets"]
        assert replies["/pydpdk/info"]["pipelines"] >= 1
        p.next()
        freed = p.read("freed")
        assert pid not in freed["pipelines"] and freed["enc_id"] not in freed["encoders"]
        gone = ask(prefix, f"/pydpdk/pipeline,{pid}", f"/pydpdk/fec/encoder,{freed['enc_id']}",
                   "/pydpdk/pipelines")
        assert gone["/pydpdk/pipeline"] is None and gone["/pydpdk/fec/encoder"] is None
        assert pid not in gone["/pydpdk/pipelines"]
        p.next()
        _, err = p.proc.communicate(timeout=120)
        assert p.proc.returncode == 0, err
    finally:
        p.close()


@requires_tool
def test_bad_parameters_answer_null():
    p = Primary()
    try:
        run = p.read("running")
        replies = ask(run["prefix"], "/pydpdk/pipeline,999999")
        assert replies["/pydpdk/pipeline"] is None
        replies = ask(run["prefix"], "/pydpdk/fec/decoder,-1")
        assert replies["/pydpdk/fec/decoder"] is None
        replies = ask(run["prefix"], "/pydpdk/fec/encoder,x")
        assert replies["/pydpdk/fec/encoder"] is None
        replies = ask(run["prefix"], "/pydpdk/fec/encoder")
        assert replies["/pydpdk/fec/encoder"] is None
        replies = ask(run["prefix"], f"/pydpdk/fec/encoder,{run['encoder']}")
        assert replies["/pydpdk/fec/encoder"]["id"] == run["encoder"]
    finally:
        p.close()


def test_stream_codecs_register_and_unregister():
    enc = fec.Encoder(k=3, m=1)
    dec = fec.Decoder()
    eid, did = enc.telemetry.id, dec.telemetry.id
    assert eid in _telemetry.ids("fec_encoder") and did in _telemetry.ids("fec_decoder")
    wire = enc.encode([b"a" * 100, b"b" * 50, b"c" * 70])
    shown = _telemetry.snapshot("fec_encoder", eid)
    assert shown["source_packets"] == 3 and shown["repair_packets"] == 1
    assert shown["name"] == "rs(3,1)" and shown["kind"] == "stream"
    dec.decode(wire[1:])            # the first packet lost: rebuilt from parity
    shown = _telemetry.snapshot("fec_decoder", did)
    assert shown["recovered"] == 1 and shown["received"] == 3
    enc.close()
    assert eid not in _telemetry.ids("fec_encoder")
    with pytest.raises(KeyError):
        _telemetry.snapshot("fec_encoder", eid)
    del dec
    gc.collect()
    assert did not in _telemetry.ids("fec_decoder")
    with pytest.raises(ValueError):
        _telemetry.ids("nonsense")


def test_ids_are_never_reused():
    a = fec.Encoder(k=2, m=1)
    first = _telemetry.ids("fec_encoder")[-1]
    a.close()
    b = fec.Encoder(k=2, m=1)
    assert _telemetry.ids("fec_encoder")[-1] > first
    b.close()


@requires_tool
def test_pydpdk_info_shows_socket_and_endpoints():
    out = subprocess.run([sys.executable, "-m", "pydpdk.cli", "info", "--eal=--telemetry"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.strip().startswith("telemetry:"))
    assert "dpdk_telemetry.v2" in line and "dpdk-telemetry.py -f pydpdk" in line
    assert "/pydpdk/pipeline " in out.stdout and "/pydpdk/fec/decoder" in out.stdout
    out = subprocess.run([sys.executable, "-m", "pydpdk.cli", "info", "--json"],
                         capture_output=True, text=True, timeout=120)
    tel = json.loads(out.stdout)["dpdk"]["telemetry"]
    assert tel["enabled"] is False and tel["socket"] is None
    assert "/pydpdk/pipelines" in tel["commands"]


@pytest.mark.skipif(not dpdk.AVAILABLE, reason="pydpdk built without DPDK")
def test_pipeline_in_a_reference_cycle_unregisters_before_its_elements_go(mempool):
    from pydpdk._pipeline import Discard, Generator, Pipeline, PyStage

    seen = []
    pipe = Pipeline()
    # A Python stage refers back to its pipeline: a cycle only the collector frees.
    pipe.add_chain(Generator(mempool, count=50), [PyStage(lambda b: seen.append(len(b)))],
                   Discard(mempool))
    pid = pipe.telemetry.id
    pipe.run(duration=30)
    shown = _telemetry.snapshot("pipeline", pid)
    assert shown["chain0/stage0/name"] == "<lambda>" and shown["chain0/sink/packets_in"] == 50
    assert sum(seen) == 50
    del pipe
    gc.collect()
    assert pid not in _telemetry.ids("pipeline")
