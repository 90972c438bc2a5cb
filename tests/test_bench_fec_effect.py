"""bench/fec_effect.py --quick: it runs, writes the JSON it promises, and counts
every source packet (sent = delivered + never delivered) in every row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "fec_effect.py"


def test_quick_run_structure_and_accounting(tmp_path: Path) -> None:
    out = tmp_path / "fec_effect.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--output", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "== schedule" in proc.stdout
    res = json.loads(out.read_text())
    assert res["quick"] is True
    assert len(res["schedule"]) == 5
    sweep = res["sweep"]
    assert sweep["candidates"], "the sweep ran no candidate"
    assert sweep["best"] is not None
    assert set(res["scenarios"]) == {"schedule", "random 1%", "random 5%", "GE bursts"}
    for name, scen in res["scenarios"].items():
        names = [r["name"] for r in scen["rows"]]
        assert "no FEC" in names and "RS 10+4" in names
        assert any("UDPspeeder" in n for n in names)
        assert any("sweep best" in n for n in names)
        for row in scen["rows"]:
            acc = row["accounting"]
            # every source packet is delivered or counted lost, none twice
            assert acc["sent"] == acc["delivered"] + acc["never_delivered"], (name, row["name"])
            assert acc["delivered"] == acc["direct"] + acc["recovered"], (name, row["name"])
            assert acc["duplicates"] == 0 and row["corrupt"] == 0, (name, row["name"])
            # a source packet that reached the decoder is always delivered
            assert acc["arrived_not_delivered"] == 0, (name, row["name"])
            assert len(row["phases"]) == len(scen["phases"])
            assert sum(p["all"]["sent"] for p in row["phases"]) == acc["sent"]
            assert sum(p["all"]["lost"] for p in row["phases"]) == acc["never_delivered"]
            tot = row["total"]
            assert tot["sent"] == acc["sent"] and tot["lost"] == acc["never_delivered"]
            lo, hi = tot["ci_events"]
            assert lo <= tot["residual"] <= hi
            if row["row"]["code"] == "none":
                # without FEC what the link lost is what the receiver misses
                assert tot["recovered"] == 0
                assert tot["lost"] == round(tot["link_loss"] * tot["sent"])
            else:
                assert tot["overhead_packets"] > 0
                assert tot["lost"] <= round(tot["link_loss"] * tot["sent"])
                if tot["recovered"]:
                    # rebuilt packets come out after their original arrival time
                    assert tot["delay_mean_ms"] >= 0 and tot["delay_p99_ms"] >= 0
    sched = res["scenarios"]["schedule"]
    for key, verdict in sched["verdicts"].items():
        assert isinstance(verdict["pass"], bool), key
    adaptive = [r for r in sched["rows"] if r["row"]["code"] == "adaptive"]
    for row in adaptive:
        assert len(row["settling"]) == len(sched["phases"]) - 1
        assert row["feedback"]["sent"] > 0 and row["feedback"]["reports"] > 0
    # 20 % loss without FEC loses about a fifth of a phase's packets
    nofec = next(r for r in res["scenarios"]["schedule"]["rows"] if r["name"] == "no FEC")
    assert 0.15 < nofec["phases"][3]["all"]["residual"] < 0.25
