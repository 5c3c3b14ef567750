"""The three-outcome verdict rule of nfdlib.stats: agree only inside, disagree only wholly outside."""

import math

import pytest

from nfdlib.stats import OUTCOMES, interval_verdict


@pytest.mark.parametrize("lo, hi, outcome", [
    (-0.55, -0.45, "agree"),        # wholly inside -0.5 +- 0.1
    (-0.60, -0.40, "agree"),        # the edges count as inside
    (-0.70, +0.20, "not resolved"),  # contains the prediction and values far from it
    (-0.30, -0.10, "disagree"),      # wholly outside, above
    (-1.20, -0.65, "disagree"),      # wholly outside, below
    (-0.65, -0.50, "not resolved"),  # straddles the lower edge
])
def test_equivalence_outcomes(lo, hi, outcome):
    v = interval_verdict(lo, hi, prediction=-0.5, tol=0.1)
    assert v.outcome == outcome
    assert v.outcome in OUTCOMES
    assert v.allowed == pytest.approx((-0.6, -0.4))


def test_wide_interval_agrees_with_nothing():
    # The reviewer's case: -0.25 [-0.70, +0.20] must not "agree" with both -0.5 and 0.
    for prediction in (-0.5, 0.0):
        assert interval_verdict(-0.70, 0.20, prediction=prediction, tol=0.1).outcome == "not resolved"


@pytest.mark.parametrize("lo, hi", [(math.nan, 1.0), (0.0, math.nan), (-math.inf, 0.0), (0.2, 0.1)])
def test_undefined_interval_is_not_resolved(lo, hi):
    assert interval_verdict(lo, hi, prediction=0.0, tol=10.0).outcome == "not resolved"


def test_one_sided_claims():
    grows = (0.0, math.inf)
    assert interval_verdict(0.2, 0.9, allowed=grows).outcome == "agree"
    assert interval_verdict(-0.9, -0.2, allowed=grows).outcome == "disagree"
    assert interval_verdict(-0.1, 0.3, allowed=grows).outcome == "not resolved"
    assert "> +0" in str(interval_verdict(0.2, 0.9, allowed=grows))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^interval_verdict needs allowed"):
        interval_verdict(0, 1)
    with pytest.raises(ValueError, match=r"^give allowed=\(a, b\), or prediction and tol, not both"):
        interval_verdict(0, 1, allowed=(0, 1), prediction=0.5, tol=0.1)
    with pytest.raises(ValueError, match=r"^allowed must be a pair \(a, b\) with a <= b"):
        interval_verdict(0, 1, allowed=(1, 0))
    with pytest.raises(ValueError, match=r"^prediction must be finite and tol finite and >= 0"):
        interval_verdict(0, 1, prediction=0.0, tol=-1)
