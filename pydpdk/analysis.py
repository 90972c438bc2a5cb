"""Analytical residual loss of packet-level FEC, to compare measurements with.

A systematic (k, m) MDS code (Reed-Solomon; XOR parity is the m = 1 case)
rebuilds every lost source packet of a block as long as at most m of its
k + m packets are lost.  A source packet is therefore lost for good exactly
when it is lost on the link *and* at least m of the other k + m - 1 packets of
its block are lost too.

Two link models are covered, matching pydpdk's impairment stage:

* independent (Bernoulli) loss with probability p: a binomial tail;
* Gilbert-Elliott: a two-state Markov chain (good/bad) with per-packet
  transition probabilities p (good -> bad) and r (bad -> good) and a loss
  probability in each state.  The chain advances once per packet on the link,
  then the packet is lost with its state's probability.  Where a block's
  packets sit on the wire matters: with interleaving depth D its sources are
  D apart, and its parity packets follow when it closes.
  :func:`interleaved_positions` gives those positions for pydpdk's encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

__all__ = [
    "GilbertElliott",
    "interleaved_positions",
    "residual_loss_gilbert_elliott",
    "residual_loss_random",
]


def _check_code(k: int, m: int) -> None:
    if k < 1 or m < 0 or k + m > 255:
        raise ValueError(f"need k >= 1, m >= 0 and k + m <= 255, got k={k}, m={m}")


def residual_loss_random(p: float, k: int, m: int) -> float:
    """Probability that a source packet is lost for good under independent loss.

    A source packet is lost for good when it is lost and at least *m* of the
    other ``k + m - 1`` packets of its block are lost too (binomial tail).

    Parameters
    ----------
    p : float
        Loss probability of every packet on the link, independently, in [0, 1].
    k : int
        Source packets per block, >= 1.
    m : int
        Parity packets per block, >= 0, with ``k + m <= 255``.

    Returns
    -------
    float
        The residual loss probability per source packet, in [0, p].

    Raises
    ------
    ValueError
        When *p* is outside [0, 1] or (k, m) is not a valid code.
    """
    _check_code(k, m)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"loss probability must be within [0, 1], got {p}")
    n = k + m
    others_lost_m_or_more = sum(
        comb(n - 1, j) * p**j * (1.0 - p) ** (n - 1 - j) for j in range(m, n)
    )
    return p * others_lost_m_or_more


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state burst-loss model (see the module docstring).

    The chain advances once per packet on the link, then the packet is lost
    with its state's loss probability; *random_loss* adds independent loss on
    top in both states, as pydpdk's :class:`~pydpdk.pipeline.Impairment` does.

    Parameters
    ----------
    p : float
        Probability of the good -> bad transition per packet, in [0, 1].
    r : float
        Probability of the bad -> good transition per packet, in [0, 1].
    loss_good : float, default 0
        Loss probability of a packet in the good state, in [0, 1].
    loss_bad : float, default 1
        Loss probability of a packet in the bad state, in [0, 1].
    random_loss : float, default 0
        Independent loss added in both states, in [0, 1].

    Raises
    ------
    ValueError
        When a probability is outside [0, 1], or *p* and *r* are both 0 (no
        stationary distribution).
    """

    p: float                 # P(good -> bad) per packet
    r: float                 # P(bad -> good) per packet
    loss_good: float = 0.0
    loss_bad: float = 1.0
    random_loss: float = 0.0  # independent loss added on top, as the impair stage does

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_good", "loss_bad", "random_loss"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.p + self.r == 0:
            raise ValueError("p and r cannot both be 0")

    @property
    def stationary_bad(self) -> float:
        """Stationary probability of the bad state, ``p / (p + r)``."""
        return self.p / (self.p + self.r)

    def state_loss(self) -> tuple[float, float]:
        """Loss probability in each state with *random_loss* included.

        Returns
        -------
        tuple of float
            ``(good, bad)``, each in [0, 1].
        """
        keep = 1.0 - self.random_loss
        return (1.0 - keep * (1.0 - self.loss_good), 1.0 - keep * (1.0 - self.loss_bad))

    @property
    def mean_loss(self) -> float:
        """Long-run fraction of packets lost, in [0, 1]."""
        lg, lb = self.state_loss()
        pi_b = self.stationary_bad
        return (1.0 - pi_b) * lg + pi_b * lb

    def transition(self, steps: int = 1) -> list[list[float]]:
        """Transition matrix of the chain over *steps* packets.

        Parameters
        ----------
        steps : int, default 1
            Number of packets, >= 0 (0 gives the identity).

        Returns
        -------
        list of list of float
            The 2 x 2 matrix ``[[gg, gb], [bg, bb]]``: row = state now,
            column = state *steps* packets later; rows sum to 1.
        """
        lam = 1.0 - self.p - self.r          # second eigenvalue
        pi_b = self.stationary_bad
        pi_g = 1.0 - pi_b
        lk = lam**steps
        return [
            [pi_g + pi_b * lk, pi_b - pi_b * lk],
            [pi_g - pi_g * lk, pi_b + pi_g * lk],
        ]


def interleaved_positions(k: int, m: int, depth: int = 1) -> list[list[int]]:
    """Wire positions of the packets of each of the *depth* interleaved blocks.

    pydpdk's encoder keeps *depth* blocks (lanes) open, gives arriving packets
    to them in turn, and sends a block's m parity packets as soon as its k-th
    source passed, so the lanes close one after another and each has its own
    pattern.  This replays that order and returns, for every lane in steady
    state, the relative positions of its k sources then m parity packets.

    Parameters
    ----------
    k : int
        Source packets per block, >= 1.
    m : int
        Parity packets per block, >= 0, with ``k + m <= 255``.
    depth : int, default 1
        Interleaving depth (blocks open at once), >= 1.

    Returns
    -------
    list of list of int
        *depth* lists (one per lane) of ``k + m`` increasing wire positions,
        in packets, relative to the lane's first source (position 0).

    Raises
    ------
    ValueError
        When (k, m) is not a valid code or *depth* < 1.
    """
    _check_code(k, m)
    if depth < 1:
        raise ValueError(f"interleave depth must be >= 1, got {depth}")
    lanes: list[list[int]] = [[] for _ in range(depth)]
    patterns: dict[int, list[int]] = {}
    wire = source = rounds = 0
    while len(patterns) < depth or rounds < 2 * depth:
        lane = source % depth
        block = lanes[lane]
        block.append(wire)
        wire += 1
        source += 1
        if len(block) == k:
            block.extend(range(wire, wire + m))
            wire += m
            patterns[lane] = [pos - block[0] for pos in block]
            block.clear()
            rounds += 1
    return [patterns[lane] for lane in range(depth)]


def residual_loss_gilbert_elliott(
    model: GilbertElliott, k: int, m: int, interleave: int = 1,
    positions: list[int] | None = None,
) -> float:
    """Mean probability that a source packet is lost for good under *model*.

    Exact for the model: a forward pass over the block keeps, per chain state,
    the distribution of the number of losses so far (capped at m + 1) and
    whether the source packet under study was lost.  The block starts in the
    chain's stationary distribution.

    Parameters
    ----------
    model : GilbertElliott
        The link's loss model.
    k : int
        Source packets per block, >= 1.
    m : int
        Parity packets per block, >= 0, with ``k + m <= 255``.
    interleave : int, default 1
        Interleaving depth of pydpdk's encoder, >= 1; used when *positions*
        is None: the result is averaged over the lanes of
        :func:`interleaved_positions`.
    positions : list of int, optional
        Wire positions (in packets) of one block's ``k + m`` packets, sources
        first, strictly increasing.

    Returns
    -------
    float
        The residual loss probability per source packet, in [0, 1].

    Raises
    ------
    ValueError
        When (k, m) is not a valid code, *interleave* < 1, or *positions* is
        not ``k + m`` increasing positions.
    """
    _check_code(k, m)
    if positions is None:
        lanes = interleaved_positions(k, m, interleave)
        return sum(residual_loss_gilbert_elliott(model, k, m, positions=p)
                   for p in lanes) / len(lanes)
    if len(positions) != k + m or any(b <= a for a, b in zip(positions, positions[1:])):
        raise ValueError("positions must be k + m increasing wire positions")
    n = k + m
    cap = m + 1
    loss = model.state_loss()
    pi_b = model.stationary_bad
    # steps[i]: transition matrix from packet i to packet i + 1 of the block
    steps = [model.transition(b - a) for a, b in zip(positions, positions[1:])]

    def empty() -> list[list[list[float]]]:
        return [[[0.0, 0.0] for _ in range(cap + 1)] for _ in range(2)]

    total = 0.0
    for target in range(k):
        # dist[state][lost_count][target_lost]
        dist = empty()
        for pos in range(n):
            prior = empty()
            if pos == 0:
                prior[0][0][0], prior[1][0][0] = 1.0 - pi_b, pi_b
            else:
                step = steps[pos - 1]
                for s_from in range(2):
                    for c in range(cap + 1):
                        for t in range(2):
                            mass = dist[s_from][c][t]
                            if mass:
                                for s_to in range(2):
                                    prior[s_to][c][t] += mass * step[s_from][s_to]
            dist = empty()
            for s in range(2):
                pl = loss[s]
                for c in range(cap + 1):
                    for t in range(2):
                        mass = prior[s][c][t]
                        if not mass:
                            continue
                        dist[s][c][t] += mass * (1.0 - pl)
                        lost_t = 1 if pos == target else t
                        dist[s][min(c + 1, cap)][lost_t] += mass * pl
        total += sum(dist[s][cap][1] for s in range(2))
    return total / k
