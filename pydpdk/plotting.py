"""The demo's plots (matplotlib, an optional dependency: ``pydpdk[plot]``).

:func:`plot_residual_loss` draws ``pydpdk demo --plot``'s sweep of residual
loss against link loss; :func:`plot_adaptive` the adaptive demo's timeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import PydpdkError

__all__ = ["check_plot_file", "plot_adaptive", "plot_residual_loss", "require_matplotlib"]


def check_plot_file(path: str) -> str | None:
    """Why matplotlib cannot write *path*, or None when it can.

    Parameters
    ----------
    path : str
        The image file asked for.

    Returns
    -------
    str or None
        A one-line reason (its format is not one matplotlib writes).

    Raises
    ------
    PydpdkError
        matplotlib is not installed.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in Figure().canvas.get_supported_filetypes():
        return (f"--plot {path!r}: matplotlib writes no {fmt or 'unnamed'!r} format "
                "(use .png, .svg or .pdf)")
    return None


def require_matplotlib() -> None:
    """Check that matplotlib imports.

    Raises
    ------
    PydpdkError
        It does not; the message says how to install it.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PydpdkError("--plot needs matplotlib: pip install 'pydpdk[plot]' "
                          "(or pip install matplotlib)") from None


def plot_adaptive(adaptive: dict[str, Any], path: str) -> None:
    """Plot link loss, chosen overhead and residual loss over time (demo --adaptive).

    Parameters
    ----------
    adaptive : dict
        The demo summary's ``adaptive`` entry (``timeline``, ``target_loss``).
    path : str
        The image file to write (its suffix picks the format).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tl = adaptive["timeline"]
    t = [p["t_s"] for p in tl]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    ax1.plot(t, [p["scheduled_loss"] for p in tl], "--", color="grey", label="link loss (set)")
    ax1.plot(t, [p["link_loss"] for p in tl], "-", label="link loss (measured, 1 s window)")
    ax1.plot(t, [p["overhead"] for p in tl], "-", label="overhead chosen (m/k)")
    ax1.set_ylabel("fraction")
    ax1.legend()
    ax1.grid(True, alpha=0.3)
    lost = [p for p in tl if p["residual_loss"] > 0]
    none = [p for p in tl if p["residual_loss"] == 0 and p["offered"] > 0]
    ax2.semilogy([p["t_s"] for p in lost], [p["residual_loss"] for p in lost], ".",
                 label="residual loss per 100 ms")
    ax2.semilogy([p["t_s"] for p in none], [1.0 / p["offered"] for p in none], "v",
                 color="C2", fillstyle="none", label="none lost (below 1/packets)")
    ax2.axhline(adaptive["target_loss"], color="C3", linestyle=":", label="target")
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("residual loss")
    ax2.legend()
    ax2.grid(True, which="both", alpha=0.3)
    fig.suptitle("pydpdk demo --adaptive")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_residual_loss(points: list[dict[str, float]], cfg: Any, path: str) -> None:
    """Plot residual loss against random link loss, measured and predicted.

    Parameters
    ----------
    points : list of dict
        What :func:`pydpdk.demo.sweep_link_loss` returned.
    cfg : DemoConfig
        The code (``code``, ``k``, ``m``) the prediction is drawn for.
    path : str
        The image file to write (its suffix picks the format).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .analysis import residual_loss_random

    seen = [p for p in points if p["residual_loss"] > 0]
    none_lost = [p for p in points if p["residual_loss"] == 0]
    grid = [x / 1000 for x in range(1, 251)]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.loglog(grid, grid, ":", color="grey", label="no FEC")
    ax.loglog(grid, [residual_loss_random(x, cfg.k, cfg.m) for x in grid], "-",
              label=f"predicted, {cfg.code.upper()}({cfg.k},{cfg.m}) binomial")
    ax.loglog([p["link_loss"] for p in seen], [p["residual_loss"] for p in seen], "o",
              label="measured (pydpdk demo)")
    if none_lost:   # nothing lost: the residual is below one packet in what was sent
        ax.loglog([p["link_loss"] for p in none_lost],
                  [1.0 / max(p["offered"], 1) for p in none_lost], "v", color="C1",
                  fillstyle="none", label="measured: none lost (below 1/packets sent)")
    ax.set_xlabel("link loss")
    ax.set_ylabel("residual loss after FEC")
    ax.set_title("Residual loss against random link loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
