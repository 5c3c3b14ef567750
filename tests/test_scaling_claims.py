"""The claims of notebook 07 (issue 18): the limit's interval with its own Monte Carlo error (checked by coverage on
synthetic solves with a known limit), the bias fitted at every size whatever its sign (coverage, and no bias from
sizes below zero), the law with an n x L interaction and the width above which depth pays, the "stalls" verdict
with a stated tolerance, and the helpers of the frontier and the floor."""

import math

import numpy as np
import pytest

from nfdlib import scaling as sc
from nfdlib.cache import config_key
from nfdlib.scaling.laws import _interval
from nfdlib.scaling.limit import _solver_config

KS = np.array([4, 8, 16, 32, 64])


def synthetic_solves(rng, *, E=0.005, b=0.006, c=4.0, seeds=3, seed_sd=1.5e-4, grid_sd=2e-5,
                     particle_sd=(1.2e-3, 5e-4), particle_seeds=9):
    """Solves at the largest particle count M2 = 16384 on the grids KS (a seed effect shared across K, as shared
    Brownian paths give, plus a small per-grid noise), and particle series at K = 16: M1 = 4096, 8192, and M2 with
    the grid's seeds first and more seeds after them. Every solve carries the finite-M bias c / M; the limit is E."""
    M2 = 16384
    u = seed_sd * rng.standard_normal(seeds + particle_seeds)
    values = E + b / KS[:, None] + c / M2 + u[None, :seeds] + grid_sd * rng.standard_normal((KS.size, seeds))
    particles = {M: E + b / 16 + c / M + sd * rng.standard_normal(particle_seeds)
                 for M, sd in zip((4096, 8192), particle_sd)}
    more = E + b / 16 + c / M2 + u[seeds:] + grid_sd * rng.standard_normal(particle_seeds)
    particles[M2] = np.concatenate([values[list(KS).index(16)], more])
    return values, particles


def test_limit_with_particles_recovers_a_known_limit_without_noise():
    rng = np.random.default_rng(0)
    values, particles = synthetic_solves(rng, seed_sd=1e-12, grid_sd=0.0, particle_sd=(1e-12, 1e-12))
    est = sc.limit_with_particles(KS, values, particles, K_ref=16)
    assert est["limit"] == pytest.approx(0.005, abs=1e-9)
    assert est["delta"] == pytest.approx(4.0 / 16384, rel=1e-5)
    assert est["lo"] <= est["limit"] <= est["hi"]
    for K in (8, 128):  # each depth's own limit, at the solves' particle count
        assert sc.limit_at(est, K) == pytest.approx(0.005 + 0.006 / K + 4.0 / 16384, abs=1e-9)
    values, particles = synthetic_solves(np.random.default_rng(5), seed_sd=5e-4)  # every seed's level at K_ref
    est = sc.limit_with_particles(KS, values, particles, K_ref=16)
    assert abs(particles[16384].mean() - values[2].mean()) > 1e-4  # the three seeds' level is off
    assert sc.limit_at(est, 16) == pytest.approx(particles[16384].mean(), abs=3e-5)


@pytest.mark.parametrize("particle_sd", [(1.2e-3, 5e-4), (2e-4, 1e-4)])
def test_limit_with_particles_covers_the_limit(particle_sd):
    """The 95% interval holds the known limit in at least 93% of 400 synthetic data sets, where the particle
    error is large and where it is small (an interval without the finite-M error, as the notebook had before,
    covers about half the time in the first case)."""
    rng = np.random.default_rng(1)
    hits = []
    for _ in range(400):
        values, particles = synthetic_solves(rng, particle_sd=particle_sd)
        est = sc.limit_with_particles(KS, values, particles, K_ref=16)
        hits.append(est["lo"] <= 0.005 <= est["hi"])
    assert 0.93 <= np.mean(hits) <= 0.995, np.mean(hits)


def test_limit_with_particles_bad_input():
    rng = np.random.default_rng(0)
    values, particles = synthetic_solves(rng)
    with pytest.raises(ValueError, match="values must have shape"):
        sc.limit_with_particles(KS[:-1], values, particles, K_ref=16)
    with pytest.raises(ValueError, match="particles must hold"):
        sc.limit_with_particles(KS, values, {16384: particles[16384]}, K_ref=16)
    with pytest.raises(ValueError, match="must start with"):
        sc.limit_with_particles(KS, values, {**particles, 16384: particles[16384][::-1]}, K_ref=16)
    with pytest.raises(ValueError, match="K_ref"):
        sc.limit_with_particles(KS, values, particles, K_ref=12)


def test_added_solves_share_the_cache_key_layout_of_limit_reference():
    """The added seeds and particle counts are read from files keyed like limit_reference's own (same fields):
    a changed key would recompute hours of solves, or read nothing."""
    shared = dict(Ks=[4, 8], M=256, seeds=[0, 1], T=1.0, lr=0.5, steps=5, noise_grid=8, coupling="reused")
    keys = ("M", "seeds", "T", "lr", "steps", "noise_grid")
    theirs = dict({k: shared.get(k) for k in keys if k != "M"}, M=128, Ks=[4], coupling="reused")
    ours = _solver_config(shared, M=128, Ks=[4])
    ours["seeds"] = shared["seeds"]
    assert config_key("scaling_limit_particles", ours, sc.VERSION) == \
        config_key("scaling_limit_particles", theirs, sc.VERSION)


def signed_biases(rng, *, p=1.0, a=0.5, d=-2e-4, widths=(16, 32, 64, 128, 256, 512, 1024, 2048), depths=7,
                  sd0=0.02):
    """Per size (width x depth): a bias a n^-p + d measured with the standard error of a seed mean whose spread
    falls like 1/n and whose seed count falls with the width (as in notebook 07's grid)."""
    n = np.repeat(np.asarray(widths, float), depths)
    seeds = np.maximum(2, (64 * 16 / n).astype(int))
    se = sd0 * (16 / n) / np.sqrt(seeds)
    return n, a * n**-p + d + se * rng.standard_normal(n.size), se


def test_fit_signed_bias_covers_the_exponent_and_keeps_negative_sizes():
    """Coverage of the exponent over 300 data sets, with a negative offset that pushes the widest sizes below
    zero: fitting only the sizes above zero (or with a log-log fit) biases the exponent and fails this."""
    rng = np.random.default_rng(2)
    hits, below = [], 0
    for _ in range(300):
        n, y, se = signed_biases(rng)
        below += int((y < 0).sum())
        fit = sc.fit_signed_bias(n, y, se)
        assert fit.points == y.size  # every size, below zero too
        hits.append(fit.p_lo <= 1.0 <= fit.p_hi)
    assert below > 300  # the test exercises sizes below zero
    assert 0.92 <= np.mean(hits) <= 0.995, np.mean(hits)


def test_fit_signed_bias_without_offset_and_bad_input():
    rng = np.random.default_rng(3)
    n, y, se = signed_biases(rng, d=0.0, p=1.5)
    fit = sc.fit_signed_bias(n, y, se, offset=False)
    assert fit.d == 0.0 and abs(fit.p - 1.5) < 3 * (fit.p_hi - fit.p_lo)
    assert fit.slope == (-fit.p, -fit.p_hi, -fit.p_lo)
    with pytest.raises(ValueError, match="se must be > 0"):
        sc.fit_signed_bias(n, y, np.zeros_like(se))
    with pytest.raises(ValueError, match="same size"):
        sc.fit_signed_bias(n, y[:-1], se)
    with pytest.raises(ValueError, match="finite"):
        sc.fit_signed_bias(n, np.where(n == 16, np.nan, y), se)


def interaction_table(p, *, seeds=4, noise=0.01, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    rows = [(n, L, s) for n in (16, 32, 64, 128, 256, 512) for L in (2, 4, 8, 16, 32, 64) for s in range(seeds)]
    n, L, s = (np.array(c, float) for c in zip(*rows))
    y = sc.interaction_predict(p, n, L) * np.exp(noise * rng.standard_normal(n.size))
    return sc.size_table(n, L, s, y)


INTERACTION = {"E": 0.3, "A": 6.0, "alpha": 0.8, "B": 0.4, "beta": 0.5, "D": 0.05, "gamma": 0.7}


def test_fit_interaction_law_recovers_a_known_law():
    fit = sc.fit_interaction_law(interaction_table(INTERACTION, noise=0.002), boot=30, seed=0)
    for k in ("alpha", "beta", "gamma"):
        assert fit.params[k] == pytest.approx(INTERACTION[k], abs=0.1), k
    lo, hi = fit.interval("gamma")
    assert lo <= INTERACTION["gamma"] <= hi
    held = sc.fit_interaction_law(interaction_table(INTERACTION, noise=0.002), boot=0, E=INTERACTION["E"])
    assert held.params["E"] == INTERACTION["E"] and held.extras["E_fixed"]


def test_depth_pays_width_is_where_the_law_turns():
    """The closed form against the law itself: deeper is worse just below the threshold and better just above."""
    for L in (2, 4, 8, 16):
        n_star = sc.depth_pays_width(INTERACTION, L, 2 * L)
        assert 0 < n_star < 1e4
        for factor, sign in ((0.97, 1), (1.03, -1)):
            diff = sc.interaction_predict(INTERACTION, factor * n_star, 2 * L) - \
                sc.interaction_predict(INTERACTION, factor * n_star, L)
            assert np.sign(diff) == sign, (L, factor)
    assert sc.depth_pays_width(dict(INTERACTION, D=0.0), 2, 4) == 0.0
    assert sc.depth_pays_width(dict(INTERACTION, B=0.0), 2, 4) == math.inf
    with pytest.raises(ValueError, match="L1 < L2"):
        sc.depth_pays_width(INTERACTION, 4, 2)


def test_arm_trend_can_call_a_tight_flat_arm_a_stall():
    """Issue 18 point 6: with tolerance 0 a flat arm can never be a stall; with a stated tolerance a tight flat
    result is one, and a divergence disagrees with "keeps paying"."""
    n = np.repeat([16, 32, 64, 128], 3)
    rng = np.random.default_rng(0)
    runs = {"n": n, "L": np.full(n.size, 4), "test_loss": (0.5 * np.exp(0.002 * rng.standard_normal(n.size)))[:, None],
            "diverged": np.zeros(n.size, bool)}
    assert sc.arm_trend(runs, "n", {"L": 4}, tol=0.0)["verdict"] == "not resolved"
    flat = sc.arm_trend(runs, "n", {"L": 4}, tol=0.03)
    assert flat["verdict"] == "stalls or worsens" and flat["claim"].outcome == "disagree"
    div = sc.arm_trend(dict(runs, diverged=n == 128), "n", {"L": 4}, tol=0.03)
    assert div["verdict"] == "diverges" and div["claim"].outcome == "disagree"


def test_slopes_along_pools_seeds_on_each_line():
    n, L = np.repeat([16, 32], 12), np.tile(np.repeat([2, 4, 8, 16], 3), 2)
    s = np.tile([0, 1, 2], 8)
    y = np.where(n == 16, 1.0, 0.5) * L**np.where(n == 16, 0.0, -0.2) * (1 + 0.01 * (s - 1))
    slopes = sc.slopes_along(sc.size_table(n, L, s, y), "L")
    assert set(slopes) == {16.0, 32.0}
    assert slopes[16.0].slope == pytest.approx(0.0, abs=1e-9)
    assert slopes[32.0].slope == pytest.approx(-0.2, abs=1e-9)
    assert slopes[32.0].points == 12  # every seed of every depth


def test_frontier_helpers_and_floor_identification():
    assert sc.distinct_budgets([2.03e11, 2.05e11, 2.09e11, 1.08e11, 4.1e11, 4.17e11]).tolist() == \
        [1.08e11, 2.09e11, 4.17e11]
    with pytest.raises(ValueError, match="budgets"):
        sc.distinct_budgets([1.0, -1.0])
    table = interaction_table(INTERACTION)
    i = sc.nearest_size(table, 500, 2.2)
    assert (table.n[i], table.L[i]) == (512, 2)
    fit = sc.fit_law(table, "nL", boot=0)
    fit.intervals["E"] = (0.2, 0.3)
    assert sc.floor_identified(fit)
    fit.intervals["E"] = (0.01, 0.3)
    assert not sc.floor_identified(fit)


def test_limit_figure_draws_the_particle_errors_and_the_given_curve():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nfdlib import viz

    Ks = np.array([4, 8, 16])
    losses = 0.2 + 0.4 / Ks[:, None] + np.array([[0.0, 0.002, -0.002]])
    est = {"limit": 0.19, "lo": 0.18, "hi": 0.2}
    fig = viz.plot_limit_extrapolation(Ks, losses, est, M=64, K_min=4, steps=10,
                                       particles={"Ms": [32, 64], "K": 4}, particle_means=[0.31, 0.30],
                                       particle_se=[0.01, 0.005], curve=lambda K: 0.19 + 0.4 / K,
                                       curve_label="moved fit")
    left, right = fig.axes
    seg = right.containers[0].lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in seg], [0.04, 0.02])  # two standard errors each side
    line = [ln for ln in left.lines if ln.get_label() == "moved fit"][0]
    np.testing.assert_allclose(line.get_ydata(), 0.19 + 0.4 / line.get_xdata())
    plt.close(fig)


def test_a_positive_interval_over_hundreds_of_decades_ends_at_infinity():
    """Two seeds (t quantile 12.7) and replicates of a coefficient spread over many decades: notebook 07's quick
    mode overflowed here; the interval must end at infinity instead of raising."""
    reps = np.exp(np.array([-200.0, 0.0, 200.0]))
    lo, hi = _interval(1.0, reps, 0.95, 2, positive=True)
    assert hi == math.inf and 0 <= lo < 1
