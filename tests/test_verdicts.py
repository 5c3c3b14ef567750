"""The three-outcome verdict rule of nfdlib.stats (agree only inside, disagree only wholly outside) and what is built
on it: slope verdicts, combined verdicts, the sentences under figures, the claims and checks tables."""

import math

import numpy as np
import pytest
from scipy import stats

from nfdlib.stats import (
    OUTCOMES,
    Checks,
    Claims,
    SlopeFit,
    bootstrap_interval,
    combine_verdicts,
    describe_slope,
    fit_loglog,
    interval_verdict,
    ks_interval,
    mean_interval,
    slope_verdict,
)


@pytest.mark.parametrize("lo, hi, outcome", [
    (-0.55, -0.45, "agree"),        # wholly inside -0.5 +- 0.1
    (-0.59, -0.41, "agree"),        # inside, close to both edges
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


@pytest.mark.parametrize("lo, hi", [
    (-0.6, -0.5),  # lower end on the lower boundary, from inside
    (-0.5, -0.4),  # upper end on the upper boundary, from inside
    (-0.6, -0.4),  # both ends on the boundaries
    (-0.9, -0.6),  # upper end on the lower boundary, from outside
    (-0.4, -0.1),  # lower end on the upper boundary, from outside
    (-0.6, -0.6),  # a zero-width interval on a boundary
])
def test_an_end_on_the_tolerance_boundary_is_not_resolved(lo, hi):
    # The boundary is the one value the claim allows that cannot be told from values just beyond it.
    # Binary fractions make -0.5 +- 0.125 exact, so the ends really lie on the boundary.
    scale = 1.25
    lo, hi, prediction, tol = lo * scale, hi * scale, -0.5 * scale, 0.1 * scale
    assert prediction - tol == lo or prediction - tol == hi or prediction + tol in (lo, hi)
    assert interval_verdict(lo, hi, prediction=prediction, tol=tol).outcome == "not resolved"
    assert interval_verdict(lo, hi, allowed=(prediction - tol, prediction + tol)).outcome == "not resolved"


@pytest.mark.parametrize("allowed", [(0.0, math.inf), (-math.inf, 0.0)])
def test_one_sided_claims_on_their_boundary_are_not_resolved(allowed):
    # "the slope is positive" is not shown by an interval that reaches 0, nor refuted by one that ends at 0
    for lo, hi in ((0.0, 0.3), (-0.3, 0.0), (0.0, 0.0)):
        assert interval_verdict(lo, hi, allowed=allowed).outcome == "not resolved"
    # a tolerance of zero ("stalls exactly") can never be shown by an interval, however tight
    assert interval_verdict(0.0, 0.0, prediction=0.0, tol=0.0).outcome == "not resolved"
    # a distance clipped at its floor agrees with "at most b" written as (-inf, b)
    assert interval_verdict(0.0, 0.04, allowed=(-math.inf, 0.05)).agrees


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


def test_infinite_ends_are_one_sided_bounds():
    # A quantity that went non-finite has the growth exponent [inf, inf]: it agrees with "grows faster than 1/2"
    # and disagrees with "flat"; an upper bound below the allowed range disagrees.
    assert interval_verdict(math.inf, math.inf, allowed=(0.5, math.inf)).outcome == "agree"
    assert interval_verdict(math.inf, math.inf, prediction=0.0, tol=0.1).outcome == "disagree"
    assert interval_verdict(-math.inf, 0.2, allowed=(0.5, math.inf)).outcome == "disagree"
    assert interval_verdict(-math.inf, 0.7, allowed=(0.5, math.inf)).outcome == "not resolved"


# -- fits, slopes and the sentences built on the rule ---------------------------------------------------
def test_two_point_fit_has_an_undefined_interval():
    # The reviewer's case: two points gave -0.16 [-0.16, -0.16], which then "drifted down".
    fit = fit_loglog([2, 8], [1, 0.8])
    assert fit.slope == pytest.approx(math.log(0.8) / math.log(4))
    assert math.isnan(fit.lo) and math.isnan(fit.hi)
    assert slope_verdict(fit, 0.0, tol=0.1).outcome == "not resolved"
    assert slope_verdict(fit, sign=-1).outcome == "not resolved"
    assert "not resolved" in describe_slope(fit, "q", "L")
    assert str(fit) == "-0.16 [interval undefined: 2 points]"  # printed as what it is, never "[+nan, +nan]"
    # three points on a line: an exact power law, a zero-width interval that agrees
    exact = fit_loglog([2, 4, 8], [1, 0.5, 0.25])
    assert exact.lo == pytest.approx(-1.0) and exact.hi == pytest.approx(-1.0)
    assert slope_verdict(exact, -1.0, tol=0.01).agrees


@pytest.mark.parametrize("level", [5, 0, 1, -0.5, "high", float("nan")])
def test_bad_level_is_refused(level):
    with pytest.raises(ValueError, match=r"^level must be a number in \(0, 1\)"):
        fit_loglog([1, 2, 4], [1, 2, 3], level=level)
    with pytest.raises(ValueError, match=r"^level must be a number in \(0, 1\)"):
        mean_interval([1.0, 2.0], level=level)


def test_level_sets_the_interval_width():
    rng = np.random.default_rng(1)
    x = np.repeat([2, 4, 8, 16], 3)
    y = x**-0.5 * np.exp(0.1 * rng.standard_normal(x.size))
    narrow, wide = fit_loglog(x, y, level=0.5), fit_loglog(x, y, level=0.99)
    assert narrow.slope == wide.slope and wide.hi - wide.lo > 2 * (narrow.hi - narrow.lo)
    se = stats.linregress(np.log(x), np.log(y)).stderr
    assert wide.hi - narrow.slope == pytest.approx(stats.t.ppf(0.995, x.size - 2) * se)


def test_mean_interval():
    m, lo, hi = mean_interval([1.0, 2.0, 3.0, float("nan")])
    assert m == 2.0 and hi - m == pytest.approx(stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3))
    m, lo, hi = mean_interval([4.0])
    assert m == 4.0 and math.isnan(lo) and math.isnan(hi)  # one value: undefined, never zero width
    assert all(math.isnan(v) for v in mean_interval([]))


def test_slope_verdict_modes():
    near_half = SlopeFit(-0.48, -0.55, -0.41, 0.0, 0.99, 12)
    assert slope_verdict(near_half, -0.5).agrees
    assert slope_verdict(near_half, 0.0).disagrees
    assert slope_verdict(near_half, -0.5, tol=0.05).outcome == "not resolved"  # -0.41 is outside -0.5 +- 0.05
    assert slope_verdict(near_half, sign=-1).agrees and slope_verdict(near_half, sign=+1).disagrees
    assert slope_verdict(near_half, allowed=(-1.0, -0.45)).outcome == "not resolved"
    straddles = SlopeFit(0.1, -0.2, 0.4, 0.0, 0.5, 6)
    assert slope_verdict(straddles, sign=+1).outcome == "not resolved"
    assert slope_verdict(None, 0.0).outcome == "not resolved"
    v = slope_verdict(near_half, -0.5, tol=0.1)
    assert v.claim == "-0.5 +- 0.1" and "-0.5 +- 0.1" in v.cell() and v.allowed == pytest.approx((-0.6, -0.4))
    with pytest.raises(ValueError, match=r"^slope_verdict needs exactly one of expected, sign or allowed"):
        slope_verdict(near_half)
    with pytest.raises(ValueError, match=r"^slope_verdict needs exactly one"):
        slope_verdict(near_half, 0.0, sign=1)
    with pytest.raises(ValueError, match=r"^sign must be \+1 or -1"):
        slope_verdict(near_half, sign=2)


def test_combine_verdicts():
    a = interval_verdict(0.0, 0.1, prediction=0.0, tol=0.2)
    d = interval_verdict(1.0, 1.1, prediction=0.0, tol=0.2)
    u = interval_verdict(-0.5, 0.5, prediction=0.0, tol=0.2)
    assert combine_verdicts(a, a).outcome == "agree"
    assert combine_verdicts(a, d).outcome == "disagree"
    assert combine_verdicts(u, d).outcome == "disagree"
    assert combine_verdicts(a, u).outcome == "not resolved"
    both = combine_verdicts(a, u)
    assert both.parts == (a, u) and "+0 +- 0.2" in both.cell()
    with pytest.raises(ValueError, match=r"^combine_verdicts needs at least one verdict"):
        combine_verdicts()
    with pytest.raises(ValueError, match=r"^combine_verdicts takes Verdict objects"):
        combine_verdicts(a, "agree")


def test_describe_slope_uses_the_rule():
    flat = SlopeFit(0.02, -0.05, 0.08, 0.0, 0.1, 10)
    grows = SlopeFit(0.6, 0.4, 0.8, 0.0, 0.9, 10)
    shrinks = SlopeFit(-0.6, -0.8, -0.4, 0.0, 0.9, 10)
    wide = SlopeFit(0.0, -0.5, 0.5, 0.0, 0.1, 10)  # used to read "flat": it contains 0
    assert "-> flat in L (interval within +-0.1)" in describe_slope(flat, "q", "L")
    assert "grows like n^0.60" in describe_slope(grows, "q", "n")
    assert "shrinks like n^-0.60" in describe_slope(shrinks, "q", "n")
    assert "not resolved" in describe_slope(wide, "q", "L") and "flat" not in describe_slope(wide, "q", "L")


def test_downgrade_only_withdraws_agreement():
    a = interval_verdict(0.0, 0.1, prediction=0.0, tol=0.2)
    d = interval_verdict(1.0, 1.1, prediction=0.0, tol=0.2)
    assert a.downgrade("why").outcome == "not resolved" and "why" in a.downgrade("why").cell()
    assert d.downgrade("why") is d


def test_negated_swaps_agree_and_disagree():
    inside = interval_verdict(-0.05, 0.1, prediction=0.0, tol=0.15)
    outside = interval_verdict(0.2, 0.4, prediction=0.0, tol=0.15)
    both = interval_verdict(0.0, 0.3, prediction=0.0, tol=0.15)
    assert inside.negated("moves").disagrees and outside.negated("moves").agrees
    assert both.negated("moves").outcome == "not resolved" and outside.negated("moves").claim == "moves"


def test_ks_interval():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(4000), rng.standard_normal(4000)
    D, lo, hi = ks_interval(a, b)
    assert lo == 0.0 and D < hi < 0.1
    D2, lo2, _ = ks_interval(a, b + 0.5)
    assert lo2 > 0.1 and D2 > D
    # the DKW width: both samples' bands at half the miss probability each
    eps = 2 * math.sqrt(math.log(4 / 0.05) / (2 * 4000))
    assert hi - D == pytest.approx(eps)
    with pytest.raises(ValueError, match=r"^a and b must be non-empty samples of finite numbers"):
        ks_interval([], [1.0])


# -- tables ----------------------------------------------------------------------------------------------
def test_claims_table_takes_only_verdicts_and_shows_the_tolerance():
    claims = Claims()
    v = claims.add("slope is -1/2", "-0.48 [-0.55, -0.41]", interval_verdict(-0.55, -0.41, prediction=-0.5, tol=0.1),
                   echo=False)
    assert v.agrees and len(claims) == 1
    assert "agree (allowed -0.5 +- 0.1)" in claims.markdown()
    assert claims.counts() == {"agree": 1, "disagree": 0, "not resolved": 0}
    with pytest.raises(ValueError, match=r"^verdict must be an nfdlib.stats.Verdict"):
        claims.add("typed in", "x", "agree")


def test_checks_assert():
    checks = Checks()
    checks.add("recursion = autograd", 1e-14, 1e-10)
    assert "holds" in checks.markdown()
    with pytest.raises(AssertionError, match="check failed: update formula"):
        checks.add("update formula", 1e-3, 1e-10)
    with pytest.raises(AssertionError):
        checks.add("nan is never within a bound", float("nan"), 1.0)


def test_bootstrap_interval():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(2000)
    value, lo, hi = bootstrap_interval(np.mean, x, boot=400)
    assert value == x.mean() and lo < value < hi
    assert hi - lo == pytest.approx(2 * 1.96 / math.sqrt(2000), rel=0.2)  # the standard error of a mean
    with pytest.raises(ValueError, match=r"^boot must be an integer >= 2"):
        bootstrap_interval(np.mean, x, boot=1)
    with pytest.raises(ValueError, match=r"^data must have at least two rows"):
        bootstrap_interval(np.mean, x[:1])


def test_bootstrap_interval_is_the_central_level_of_the_resamples():
    # The mean of three rows drawn with replacement from (0, 0, 1) is 1 with probability 1/27 = 3.7%: the
    # 97.5th percentile of the resampled means is 1, the 95th would be 2/3; symmetrically for (0, 1, 1).
    _, lo, hi = bootstrap_interval(np.mean, np.array([0.0, 0.0, 1.0]), boot=4000, seed=1)
    assert (lo, hi) == pytest.approx((0.0, 1.0))
    _, lo, hi = bootstrap_interval(np.mean, np.array([0.0, 1.0, 1.0]), boot=4000, seed=1)
    assert (lo, hi) == pytest.approx((0.0, 1.0))
    _, lo, hi = bootstrap_interval(np.mean, np.array([0.0, 0.0, 1.0]), boot=4000, level=0.9, seed=1)
    assert (lo, hi) == pytest.approx((0.0, 2 / 3))
