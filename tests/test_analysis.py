import random

import pytest

from pydpdk.analysis import (
    GilbertElliott,
    interleaved_positions,
    residual_loss_gilbert_elliott,
    residual_loss_random,
)


def test_no_parity_means_link_loss():
    assert residual_loss_random(0.05, 10, 0) == pytest.approx(0.05)


def test_xor_parity_closed_form():
    # (k, 1): lost for good iff lost and at least one of the other k packets lost
    p, k = 0.1, 4
    assert residual_loss_random(p, k, 1) == pytest.approx(p * (1 - (1 - p) ** k))


def test_more_parity_never_hurts():
    values = [residual_loss_random(0.05, 10, m) for m in range(6)]
    assert values == sorted(values, reverse=True)
    assert 1e-4 < values[4] < 2e-4  # 0.05 * P(>= 4 of 13 lost)


def test_gilbert_elliott_without_memory_equals_binomial():
    # p + r = 1 makes consecutive states independent: P(bad) = p each packet
    ge = GilbertElliott(p=0.05, r=0.95, loss_good=0.0, loss_bad=1.0)
    assert ge.mean_loss == pytest.approx(0.05)
    assert residual_loss_gilbert_elliott(ge, 10, 4) == pytest.approx(
        residual_loss_random(0.05, 10, 4), rel=1e-9
    )


def test_bursts_hurt_and_interleaving_helps():
    ge = GilbertElliott(p=0.01, r=0.2, loss_bad=1.0)
    plain = residual_loss_gilbert_elliott(ge, 10, 2)
    assert plain > residual_loss_random(ge.mean_loss, 10, 2)
    assert residual_loss_gilbert_elliott(ge, 10, 2, interleave=8) < plain


def test_gilbert_elliott_matches_simulation():
    ge = GilbertElliott(p=0.02, r=0.3, loss_good=0.01, loss_bad=0.6)
    k, m, blocks = 6, 2, 40000
    rng = random.Random(5)
    bad = rng.random() < ge.stationary_bad
    lost_for_good = 0
    for _ in range(blocks):
        losses = []
        for _ in range(k + m):
            if bad:
                bad = rng.random() >= ge.r
            else:
                bad = rng.random() < ge.p
            losses.append(rng.random() < (ge.loss_bad if bad else ge.loss_good))
        if sum(losses) > m:
            lost_for_good += sum(losses[:k])
    measured = lost_for_good / (blocks * k)
    predicted = residual_loss_gilbert_elliott(ge, k, m)
    assert measured == pytest.approx(predicted, rel=0.15)


@pytest.mark.parametrize("bad", [dict(k=0, m=1), dict(k=200, m=56), dict(k=4, m=-1)])
def test_bad_code_rejected(bad):
    with pytest.raises(ValueError, match="k"):
        residual_loss_random(0.1, **bad)


def test_bad_probability_rejected():
    with pytest.raises(ValueError, match="within"):
        GilbertElliott(p=1.5, r=0.1)
    with pytest.raises(ValueError, match="within"):
        residual_loss_random(-0.1, 4, 1)


def test_interleaved_positions_follow_the_encoder():
    # depth 1: a block is contiguous
    assert interleaved_positions(4, 2, 1) == [[0, 1, 2, 3, 4, 5]]
    # depth 2: sources every other packet; the first lane's parity follows its
    # last source, and delays the second lane's last source by m
    assert interleaved_positions(3, 1, 2) == [[0, 2, 4, 5], [0, 2, 5, 6]]
    with pytest.raises(ValueError, match="increasing"):
        residual_loss_gilbert_elliott(GilbertElliott(p=0.1, r=0.5), 2, 1, positions=[0, 0, 1])
