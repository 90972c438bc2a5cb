"""The pydpdk command as users run it: demo, fec gateways, bad arguments (subprocesses)."""

import json
import random
import subprocess
import sys
from collections import Counter

import pytest
from conftest import read_pcap_with_libpcap, requires_dpdk, udp_frames, write_pcap

from pydpdk import backend, fec


def run_cli(*args, timeout=120, env=None):
    return subprocess.run([sys.executable, "-m", "pydpdk.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def json_out(proc):
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout[proc.stdout.index("{"):])


BACKENDS = [b for b, why in backend.available().items() if why is None]


@pytest.mark.parametrize("which", BACKENDS)
def test_demo_runs_and_matches_its_prediction(which):
    report = json_out(run_cli("demo", "--backend", which, "--duration", "2", "--json"))
    assert report["backend"] == which
    assert report["offered"] > 50_000
    assert report["corrupted"] == 0 and report["duplicates"] == 0
    assert report["buffers_leaked"] == 0
    assert report["recovered"] > 0
    assert report["link_loss"] == pytest.approx(report["predicted_link_loss"], rel=0.1)
    # well below the link loss, and of the predicted order
    assert report["residual_loss"] < report["link_loss"] / 10
    assert report["residual_loss"] < 4 * report["predicted_residual_loss"] + 1e-4


def test_demo_human_output_has_the_summary():
    proc = run_cli("demo", "--duration", "1", "--no-bursts", "--loss", "1%")
    assert proc.returncode == 0, proc.stderr
    for line in ("packets offered", "lost on the link", "recovered by FEC", "residual loss",
                 "predicted", "throughput", "overhead", "latency", "buffers leaked       0"):
        assert line in proc.stdout
    assert "t=" in proc.stdout          # live progress


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--loss", "2"], "probability"),
        (["demo", "--sizes", "a,b"], "frame sizes"),
        (["demo", "--code", "ldpc"], "invalid choice"),
        (["demo", "-k", "0"], "k >= 1"),
        (["demo", "--code", "xor", "-m", "2"], "m=1"),
        (["nonsense"], "invalid choice"),
        (["fec", "encode", "--", "--in", "0"], "--out"),
        (["fec", "sideways"], "unknown mode"),
    ],
)
def test_bad_arguments_give_usage_errors_not_tracebacks(args, message):
    proc = run_cli(*args)
    assert proc.returncode in (1, 2)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_everywhere():
    for args in (["--help"], ["demo", "--help"], ["info", "--help"], ["fec", "--help"],
                 ["fec", "encode", "--help"], ["fec", "tunnel", "--help"]):
        proc = run_cli(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "usage" in proc.stdout.lower()


def test_info_names_backend_and_fec_kernel():
    info = json_out(run_cli("info", "--json", "--no-eal"))
    assert info["backend"]["selected"] in ("dpdk", "native")
    assert info["fec_kernel"] in info["fec_kernels"]


def _gateway(mode, inp, out, *extra):
    return run_cli("fec", mode, "--", "--backend", "native", "--in", f"pcap:rx={inp}",
                   "--out", f"pcap:tx={out}", "--json", *extra)


def _lossy_copy(src, dst, keep_probability, seed):
    frames = read_pcap_with_libpcap(src)
    rng = random.Random(seed)
    kept = [f for f in frames if rng.random() < keep_probability]
    write_pcap(dst, kept)
    return len(frames) - len(kept)


@pytest.mark.parametrize("encap", ["udp", "ether"])
def test_pcap_through_encode_lossy_link_decode_restores_the_frames(tmp_path, encap):
    frames = udp_frames(2000, payload_len=300) + udp_frames(10, payload_len=1200)
    write_pcap(tmp_path / "in.pcap", frames)
    enc = json_out(_gateway("encode", tmp_path / "in.pcap", tmp_path / "enc.pcap",
                            "-k", "8", "-m", "3", "--encap", encap,
                            "--packets", str(len(frames))))
    assert enc["buffers_leaked"] == 0
    wire = read_pcap_with_libpcap(tmp_path / "enc.pcap")
    assert len(wire) == len(frames) + 3 * -(-len(frames) // 8)   # partial block gets parity
    dropped = _lossy_copy(tmp_path / "enc.pcap", tmp_path / "lossy.pcap", 0.9, seed=3)
    assert dropped > 0
    lossy = read_pcap_with_libpcap(tmp_path / "lossy.pcap")
    dec = json_out(_gateway("decode", tmp_path / "lossy.pcap", tmp_path / "out.pcap",
                            "--encap", encap, "--packets", str(len(lossy))))
    out = read_pcap_with_libpcap(tmp_path / "out.pcap")
    counters = next(c for name, c in dec["counters"].items() if name.endswith("fec-decode"))
    # every frame that comes out is an original, byte for byte, and none twice
    assert not Counter(out) - Counter(frames)
    assert len(set(out)) == len(out)
    # what is missing is exactly what the decoder reported it could not rebuild
    assert len(frames) - len(out) == counters["unrecoverable"]
    assert counters["recovered"] > 0


@requires_dpdk
def test_fec_encode_gateway_over_dpdk_net_pcap(tmp_path):
    frames = udp_frames(500, payload_len=200)
    write_pcap(tmp_path / "in.pcap", frames)
    proc = run_cli("fec", "encode",
                   f"--vdev=net_pcap_gw0,rx_pcap={tmp_path / 'in.pcap'},"
                   f"tx_pcap={tmp_path / 'enc.pcap'}",
                   "--", "--in", "net_pcap_gw0", "--out", "net_pcap_gw0", "-k", "5", "-m", "1",
                   "--code", "xor", "--packets", "500", "--json")
    report = json_out(proc)
    assert report["backend"] == "dpdk" and report["buffers_leaked"] == 0
    wire = read_pcap_with_libpcap(tmp_path / "enc.pcap")
    assert len(wire) == 600
    # the protected frame carries the original after 42 + FEC header bytes
    assert wire[0][42 + fec.HEADER_LEN:] == frames[0]


def test_demo_plot_draws_residual_against_link_loss(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "residual.png"
    report = json_out(run_cli("demo", "--duration", "1", "--plot", str(png), "--json",
                              timeout=300))
    points = report["plot"]["points"]
    assert len(points) == 8
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # more link loss, more residual loss; at 20 % link loss RS(10,3) loses some
    assert points[-1]["residual_loss"] > points[0]["residual_loss"]
    assert points[-1]["residual_loss"] == pytest.approx(points[-1]["predicted_residual_loss"],
                                                         rel=0.3)


@pytest.mark.parametrize("which", BACKENDS)
def test_sigterm_stops_the_demo_cleanly(which):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "pydpdk.cli", "demo", "--backend", which,
                             "--duration", "60", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err      # 143, as a shell reports it
    assert err.strip().splitlines()[-1] == "pydpdk demo: stopped by SIGTERM"
    report = json.loads(out[out.index("{"):])
    assert report["interrupted"] is True and report["signal"] == "SIGTERM"
    assert report["elapsed_s"] < 20
    assert report["buffers_leaked"] == 0 and report["corrupted"] == 0
