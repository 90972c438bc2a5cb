"""Text of the ``pydpdk`` command's reports: progress lines and summaries.

Every function here turns a result dictionary (of :func:`pydpdk.demo.run_demo`,
:func:`pydpdk.gateway.run_gateway`, ``pydpdk info``) into lines of text; the
command prints them.  Nothing here prints or reads anything.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PortDrops",
    "adaptive_line",
    "demo_summary_lines",
    "fec_progress_line",
    "fec_summary_lines",
    "info_lines",
    "interface_lines",
    "pct",
    "progress_line",
    "queue_lines",
    "udp_line",
]

# Stage counters the fec summary shows, in this order, where a stage has them.
_FEC_KEYS = ("packets_in", "packets_out", "drops", "repair_packets",
             "recovered", "unrecoverable", "malformed", "foreign",
             "duplicate", "late", "too_big", "mss_clamped",
             "icmp_too_big", "fragmented", "mtu_dropped",
             "reply_dropped", "ecn_dropped", "sealed", "opened",
             "bad_tag", "replayed", "too_old", "stale_epoch",
             "unknown_key", "rate_limited")


def pct(x: float) -> str:
    """A fraction as a percentage: four decimals below 0.1 %, else two.

    Parameters
    ----------
    x : float
        The fraction (0.02 is 2 %).

    Returns
    -------
    str
        E.g. ``"2.00%"``, ``"0.0150%"``.
    """
    return f"{x * 100:.4f}%" if x < 0.001 else f"{x * 100:.2f}%"


def progress_line(s: dict[str, Any]) -> str:
    """The demo's live progress line (two with ``adaptive``).

    Parameters
    ----------
    s : dict
        A snapshot passed to ``run_demo``'s *on_progress*.

    Returns
    -------
    str
        The line(s), without a final newline.
    """
    offered = max(s["offered"], 1)
    line = (f"  t={s['elapsed_s']:5.1f}s  offered {s['offered']:>10,}  "
            f"lost on link {s['lost_on_link']:>8,}  recovered {s['recovered']:>8,}  "
            f"residual {pct((s['offered'] - s['delivered']) / offered):>8}  "
            f"{s['rate_mpps']:.2f} Mpps")
    if "adaptive" in s:
        line += "\n" + adaptive_line(s["adaptive"])
    return line


def adaptive_line(a: dict[str, Any]) -> str:
    """The adaptive controller's choice and why, for live progress.

    Parameters
    ----------
    a : dict
        The controller's status (``setting``, ``report``).

    Returns
    -------
    str
        One line.
    """
    st, rep = a["setting"], a.get("report")
    seen = f"measured loss {pct(rep['loss_rate'])}" if rep else "no report yet"
    return (f"    adaptive: {st['code'].upper()}({st['k']},{st['m']}) depth {st['depth']} "
            f"overhead {st['overhead']:.0%}  {seen}  ({st['reason'] or 'initial'})")


def demo_summary_lines(s: dict[str, Any], plot: str | None = None) -> list[str]:
    """The demo's summary, as ``pydpdk demo`` prints it.

    Parameters
    ----------
    s : dict
        What :func:`pydpdk.demo.run_demo` returned.
    plot : str, optional
        The file the plot was written to, if any.

    Returns
    -------
    list of str
        The lines, the first one empty.
    """
    c = s["config"]
    model = (f"random {c['loss']:.1%}" + (
        f" + Gilbert-Elliott bursts (p={c['burst_p']}, r={c['burst_r']}, "
        f"loss in bad state {c['burst_loss']:.0%})" if c["burst_p"] else ""))
    spread = (f"window {c.get('window') or c['k']}" if c["code"] == "rlc"
              else f"interleaving depth {c['depth']}")
    lines = [
        "",
        f"pydpdk demo summary ({s['backend']} backend"
        + (", interrupted" if s["interrupted"] else "") + ")",
        f"  code                 {c['code'].upper()} k={c['k']} m={c['m']}, {spread}, "
        f"block deadline {c['deadline'] * 1e3:g} ms",
        f"  link loss model      {model}",
        f"  packets offered      {s['offered']:,} ({s['offered_bytes'] / 1e6:,.1f} MB, "
        f"frames of {', '.join(map(str, c['sizes']))} bytes)",
        f"  lost on the link     {s['lost_on_link']:,} of {s['wire_packets']:,} wire packets "
        f"({pct(s['link_loss'])}; predicted {pct(s['predicted_link_loss'])})",
        f"  recovered by FEC     {s['recovered']:,}",
        f"  delivered intact     {s['delivered']:,} (corrupted {s['corrupted']}, "
        f"duplicates {s['duplicates']})",
        f"  residual loss        {pct(s['residual_loss'])} "
        f"(predicted{' for RS k+m' if c['code'] == 'rlc' else ''} "
        f"{pct(s['predicted_residual_loss'])}; without FEC "
        f"{pct(s['link_loss'])})",
        f"  throughput           {s['rate_mpps']:.2f} Mpps, {s['throughput_gbps']:.2f} Gbit/s "
        f"of payload on one core ({s['elapsed_s']:.1f} s)",
        f"  overhead             {s['overhead_packets']:.1%} packets, {s['overhead_bytes']:.1%} "
        f"bytes (parity + headers)",
        f"  latency through it   mean {s['latency_mean_us']:.1f} us, max "
        f"{s['latency_max_us']:.0f} us",
        f"  buffers leaked       {s['buffers_leaked']}",
    ]
    if "adaptive" in s:
        lines.append(f"  adaptive             target {s['adaptive']['target_loss']:g} "
                     f"within {s['adaptive']['max_delay_ms']:g} ms, "
                     f"{s['adaptive']['changes']} change(s)")
        lines.append(adaptive_line(s["adaptive"]))
    if plot:
        lines.append(f"  plot                 {plot}")
    return lines


def udp_line(c: dict[str, Any]) -> str:
    """One line on a UDP peer port: state, address, what it dropped.

    Parameters
    ----------
    c : dict
        The port's ``stats()``.

    Returns
    -------
    str
        One line.
    """
    return (f"peer {c['peer_state']} {c['peer']} (dead {c['dead_events']}x, moved "
            f"{c['peer_changes']}x) keepalives {c['keepalives_tx']:,}/{c['keepalives_rx']:,} "
            f"unknown-source {c['rx_unknown_source']:,} malformed {c['rx_malformed']:,} "
            f"kernel-drops {c['kernel_drops']:,} tx-errors {c['oerrors']:,}")


def queue_lines(queues: list[dict[str, dict[str, int]]]) -> list[str]:
    """One line per queue of a multi-queue gateway: what its fec stages took in.

    Parameters
    ----------
    queues : list of dict
        The report's ``queue_counters``.

    Returns
    -------
    list of str
        ``queue <q>: ...`` lines.
    """
    lines = []
    for q, stages in enumerate(queues):
        parts = [f"{name.split('.')[-1]} {c.get('packets_in', 0):,}"
                 for name, c in stages.items() if name.endswith(("fec-encode", "fec-decode"))]
        lines.append(f"  queue {q}: " + ", ".join(parts))
    return lines


def fec_progress_line(counters: dict[str, dict[str, Any]],
                      previous: dict[str, dict[str, Any]], seconds: float) -> str:
    """The gateway's live progress line.

    Parameters
    ----------
    counters : dict
        The pipeline's counters now (``run_gateway``'s *on_progress*).
    previous : dict
        The counters of the line before (``{}`` for the first).
    seconds : float
        Time since the line before, > 0 (packet rates are over it).

    Returns
    -------
    str
        One line (a second with the adaptive controller's state).
    """
    parts = []
    for name, c in counters.items():
        if name.endswith(("fec-encode", "fec-decode")):
            prev = previous.get(name, {}).get("packets_in", 0)
            rate = (c["packets_in"] - prev) / seconds / 1e6
            extra = (f"repair {c['repair_packets']:,}" if "encode" in name else
                     f"recovered {c['recovered']:,} unrecoverable {c['unrecoverable']:,} "
                     f"malformed {c['malformed']:,} foreign {c['foreign']:,}")
            parts.append(f"{name.split('.')[-1]} {c['packets_in']:,} pkts "
                         f"({rate:.3f} Mpps) {extra}")
        elif name.startswith("udp."):
            parts.append(udp_line(c))
    line = "  " + " | ".join(parts)
    if "adaptive" in counters:
        line += "\n" + adaptive_line(counters["adaptive"])
    return line


class PortDrops:
    """The frames ports lost since the last look, as lines (live, while a
    gateway runs: its *on_ports* callback)."""

    def __init__(self) -> None:
        self._missed: dict[str, int] = {}
        self._lost: dict[tuple[str, str, str], int] = {}

    def new_lines(self, stats: dict[str, dict[str, int]]) -> list[str]:
        """Lines for what grew since the last call: ring overflows, then
        every other reason a port lost frames.

        Parameters
        ----------
        stats : dict
            Each port's ``stats()`` by role.

        Returns
        -------
        list of str
            One line per role and reason that grew (empty: nothing new).
        """
        from .gateway import drop_report

        lines = []
        for role, st in stats.items():
            n = int(st.get("imissed", 0))
            if n > self._missed.get(role, 0):
                lines.append(f"  ring overflow: {role} port lost "
                             f"{n - self._missed.get(role, 0):,} frames "
                             f"(receive ring full; {n:,} in all)")
            self._missed[role] = n
        for role, dirs in drop_report({}, stats)["ports"].items():
            for direction, reasons in dirs.items():
                for reason, count in reasons.items():
                    key = (role, direction, reason)
                    if reason != "ring_overflow" and count > self._lost.get(key, 0):
                        lines.append(f"  drops: {role} port {direction} {reason} "
                                     f"+{count - self._lost.get(key, 0):,} ({count:,} in all)")
                    self._lost[key] = count
        return lines


def interface_lines(plan: dict[str, Any]) -> list[str]:
    """What the gateway found on its interfaces and its MTU policy.

    Parameters
    ----------
    plan : dict
        ``run_gateway``'s *on_start* argument (``interfaces``, ``mtu``).

    Returns
    -------
    list of str
        One line per interface, then the MTU policy if any.
    """
    lines = []
    for role, i in plan["interfaces"].items():
        offl = " ".join(f"{k}:{'on' if v else 'off'}" for k, v in i["offloads"].items())
        lines.append(f"  {role} {i['ifname']}: mtu {i['mtu']}, {offl or 'offloads unknown'}; "
                     f"{i['plan']}")
    if plan["mtu"]:
        lines.append(f"  MTU: {plan['mtu']['policy']}")
    return lines


def fec_summary_lines(report: dict[str, Any], mode: str, fault: BaseException | None
                      ) -> list[str]:
    """The gateway's final summary, as ``pydpdk fec MODE`` prints it.

    Parameters
    ----------
    report : dict
        What :func:`pydpdk.gateway.run_gateway` returned (or the report of
        the PortError it raised).
    mode : str
        ``"encode"``, ``"decode"`` or ``"tunnel"``.
    fault : BaseException or None
        The port fault that ended the run, if one did.

    Returns
    -------
    list of str
        The lines.
    """
    from .cli_json import stage_key

    stopped = report["signal"] or ("port fault" if fault else report.get("stopped_by"))
    lines = [f"pydpdk fec {mode} ({report['backend']}): {report.get('packets', 0):,} packets "
             f"in {report.get('elapsed_s', 0):.1f} s, stopped by {stopped}"]
    if "next_hop" in report:
        h = report["next_hop"]
        lines.append(f"  next hop towards {h['peer']}: {h['next_hop']} "
                     f"{'(route gateway) ' if h['via_gateway'] else ''}is {h['mac']}")
    for name, c in report["counters"].items():
        if name.startswith("udp."):
            lines.append(f"  {name}: {udp_line(c)}")
            continue
        keys = [k for k in _FEC_KEYS if k in c]
        lines.append(f"  {stage_key(name, mode)}: " + ", ".join(f"{k} {c[k]:,}" for k in keys))
    if report.get("queue_counters"):
        lines += queue_lines(report["queue_counters"])
    if "adaptive" in report:
        lines.append(adaptive_line(report["adaptive"]) + f" [{report['adaptive']['changes']} "
                     "change(s)]")
    drops = report["drops"]
    lines.append(f"  frames not carried: {drops['total']:,}")
    for role, dirs in drops["ports"].items():
        st = report["ports"][role]
        rx = ", ".join(f"{k} {v:,}" for k, v in dirs["rx"].items() if v) or "none lost"
        tx = ", ".join(f"{k} {v:,}" for k, v in dirs["tx"].items() if v) or "none lost"
        lines.append(f"  port {role}: rx {st.get('ipackets', 0):,} ({rx}); "
                     f"tx {st.get('opackets', 0):,} ({tx})")
    return lines


def _telemetry_lines(tel: dict[str, Any] | None) -> list[str]:
    """The telemetry lines of `pydpdk info` (docs/telemetry.md)."""
    if tel is None:
        return []
    lines = []
    if tel["enabled"]:
        lines.append(f"  telemetry: {tel['socket']} (dpdk-telemetry.py -f {tel['file_prefix']})")
    else:
        lines.append("  telemetry: off in this EAL (on with --eal=--telemetry, or "
                     "Eal(telemetry=True) in a program)")
    if tel["error"]:
        lines.append(f"    {tel['error']}")
    if tel["commands"]:
        lines.append(f"    pydpdk endpoints: {' '.join(tel['commands'])}")
    return lines


def info_lines(info: dict[str, Any], dpdk_built: bool) -> list[str]:
    """What ``pydpdk info`` prints.

    Parameters
    ----------
    info : dict
        ``pydpdk``, ``build``, ``backend`` (:func:`pydpdk.backend.describe`),
        ``cpu_features``, ``fec_kernel``, ``fec_kernels``, ``crypto`` and,
        with an EAL, ``dpdk`` (:meth:`pydpdk.dpdk.Eal.info`).
    dpdk_built : bool
        Whether DPDK is built into this installation.

    Returns
    -------
    list of str
        The lines.
    """
    lines = [f"pydpdk {info['pydpdk']}"]
    for key, value in info["build"].items():
        lines.append(f"  build {key}: {value}")
    b = info["backend"]
    lines.append(f"  backend in use: {b['selected']} (chosen {b['chosen_by']}; "
                 f"override with --backend or PYDPDK_BACKEND)")
    for name, why in b["available"].items():
        lines.append(f"    {name}: {'usable' if why is None else why}")
    lines.append(f"  CPU features: {' '.join(info['cpu_features']) or 'unknown'}")
    lines.append(f"  FEC kernel: {info['fec_kernel']} (available: "
                 f"{', '.join(info['fec_kernels'])}; override with PYDPDK_FEC_KERNEL)")
    lines.append(f"  secure mode crypto: {info['crypto']}")
    if "dpdk" in info:
        d = info["dpdk"]
        lines.append(f"{d['version']}: EAL init {d['init_seconds']:.2f} s, hugepages "
                     f"{'yes' if d['hugepages'] else 'no'}, PCI {'yes' if d['pci'] else 'no'}")
        for lc in d["lcores"]:
            lines.append(f"  lcore {lc['lcore']}: cpu {lc['cpu']}, socket {lc['socket']}"
                         + (" (main)" if lc["main"] else ""))
        lines.append(f"  NUMA sockets: {d['sockets']}")
        ports = d["ports"] or "none (add virtual devices with --eal=--vdev=net_null0)"
        lines.append(f"  ports: {ports}")
        lines += _telemetry_lines(d.get("telemetry"))
    elif not dpdk_built:
        lines.append("DPDK: not built into this installation")
    return lines
