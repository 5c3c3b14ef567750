"""nfdlib.scaling: counts against the model's own tensors and torch's FLOP counter, recovery of known laws from
noisy synthetic curves, model choice by extrapolation, the compute-optimal allocation against its closed form,
the grids and the limit helpers, and bad input."""

import math

import numpy as np
import pytest
import torch

from nfdlib import plans, stats
from nfdlib import scaling as sc
from nfdlib.data import make_teacher_task
from nfdlib.engine import train_stacked
from nfdlib.models import ResNet
from nfdlib.rules import scaling_rule
from nfdlib.scaling import frontier, laws
from nfdlib.stats import richardson

TRUE = {"E": 0.1, "A": 2.0, "alpha": 1.0, "B": 0.5, "beta": 0.5}
WIDTHS, DEPTHS = [16, 32, 64, 128, 256, 512], [2, 4, 8, 16, 32, 64]


def law(n, L, p=TRUE):
    return p["E"] + p["A"] * np.asarray(n, float) ** -p["alpha"] + p["B"] * np.asarray(L, float) ** -p["beta"]


def synthetic(p=TRUE, seeds=6, noise=0.03, rng_seed=0, widths=WIDTHS, depths=DEPTHS, pure=False):
    """Per-run losses law(n, L) * exp(noise * z), with parameter counts and compute of MNIST-1D-sized runs."""
    rng = np.random.default_rng(rng_seed)
    rows = [(n, L, s) for n in widths for L in depths for s in range(seeds)]
    n, L, s = (np.array(c) for c in zip(*rows))
    y = law(n, L, p) * np.exp(noise * rng.standard_normal(n.size))
    compute = sc.compute_model(40, 10, batch_size=64, steps=2000)
    params = np.array([sc.count_params(40, 10, a, b) for a, b in zip(n, L)])
    return sc.size_table(n, L, s, y, params=params, flops=compute(n, L))


# -- counting ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", ["one", "two"])
@pytest.mark.parametrize("n, L", [(8, 1), (16, 3), (24, 5)])
def test_param_count_matches_model_tensors(block, n, L):
    model = ResNet(7, 3, n, L, block=block, seed=0)
    assert sc.count_params(7, 3, n, L, block) == sc.model_params(model)


@pytest.mark.parametrize("block, preact", [("one", True), ("two", True), ("one", False)])
def test_flop_count_matches_torch_flop_counter(block, preact):
    model = ResNet(7, 3, 16, 4, block=block, preact=preact, seed=0, dtype=torch.float64)
    counted = sc.measured_flops_per_example(model, batch=3)
    predicted = sc.flops_per_example(7, 3, 16, 4, block)
    assert predicted.forward == counted.forward
    assert predicted.backward == counted.backward
    assert predicted.total == 6 * (sc.count_params(7, 3, 16, 4, block) - 7 * 16) + 4 * 7 * 16


def test_flops_per_step_and_run_and_the_continuous_model():
    per = sc.flops_per_example(40, 10, 64, 8).total
    assert sc.flops_per_step(40, 10, 64, 8, batch_size=32) == 32 * per
    assert sc.flops_per_run(40, 10, 64, 8, batch_size=32, steps=100) == 100 * 32 * per
    compute = sc.compute_model(40, 10, batch_size=32, steps=100, block="two")
    assert compute(64, 8) == pytest.approx(sc.flops_per_run(40, 10, 64, 8, 32, 100, block="two"), rel=1e-12)


# -- recovering known laws -------------------------------------------------------------------------------------
def test_noise_free_law_is_recovered_exactly():
    fit = sc.fit_law(synthetic(noise=0.0, seeds=1), "nL", boot=0)
    for k, v in TRUE.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-5), k
    assert fit.residual_rms < 1e-8


def test_a_floor_held_fixed():
    table = synthetic(noise=0.0, seeds=1)
    fit = sc.fit_law(table, "nL", boot=0, E=0.1)
    assert fit.params["E"] == pytest.approx(0.1, rel=1e-12) and fit.extras["E_fixed"]
    for k in ("A", "alpha", "B", "beta"):
        assert fit.params[k] == pytest.approx(TRUE[k], rel=1e-5), k
    wrong = sc.fit_law(table, "nL", boot=0, E=0.05)
    assert wrong.objective > 1e3 * max(fit.objective, 1e-20)
    assert "held fixed" in str(sc.fit_law(synthetic(seeds=3), "nL", boot=5, E=0.1))
    with pytest.raises(ValueError, match=r"^E can only be held fixed in a form with a floor"):
        sc.fit_law(table, "nL-pure", boot=0, E=0.1)


def test_exponents_and_floor_recovered_within_their_intervals():
    fit = sc.fit_law(synthetic(), "nL", boot=200, seed=1)
    for k in ("E", "alpha", "beta", "B"):
        lo, hi = fit.interval(k)
        assert lo <= TRUE[k] <= hi, (k, fit.describe(k))
    assert abs(fit.params["alpha"] - 1.0) < 0.15 and abs(fit.params["beta"] - 0.5) < 0.05
    assert abs(fit.params["E"] - 0.1) < 0.01
    # an interval is an interval: it holds the estimate and is not degenerate
    for k in fit.params:
        lo, hi = fit.interval(k)
        assert lo < fit.params[k] < hi


def test_one_stalled_size_does_not_drag_the_fit():
    # one size three times too high (a run that stalled): the Huber loss treats it as an outlier
    table = synthetic(noise=0.01)
    bad = np.flatnonzero((table.n == 64) & (table.L == 8))[0]
    table.values[bad] *= 3.0
    fit = sc.fit_law(table, "nL", boot=0)
    assert abs(fit.params["alpha"] - 1.0) < 0.1 and abs(fit.params["beta"] - 0.5) < 0.05
    assert abs(fit.params["E"] - 0.1) < 0.01


def test_interval_is_the_t_interval_on_the_bootstrap_standard_error():
    reps = np.linspace(-1.0, 1.0, 11)
    reps = 0.3 + reps / reps.std(ddof=1)  # standard deviation 1, centred away from the estimate
    # Student's t: the 0.95 quantile at 1 degree of freedom is 6.313752, the 0.975 quantile at 4 is 2.776445;
    # the seeds' correction is sqrt(R / (R - 1)); the interval is centred on the estimate, not the replicates
    lo, hi = laws._interval(0.0, reps, 0.9, seeds=2)
    assert hi == pytest.approx(6.313752 * math.sqrt(2), rel=1e-6) and lo == pytest.approx(-hi, rel=1e-12)
    lo, hi = laws._interval(1.0, np.exp(reps), 0.95, seeds=5, positive=True)  # in log space
    assert math.log(hi) == pytest.approx(2.776445 * math.sqrt(5 / 4), rel=1e-6)
    assert math.log(lo) == pytest.approx(-math.log(hi), rel=1e-12) and lo > 0
    # undefined, never zero width: one seed, or fewer than two usable replicates
    assert all(math.isnan(v) for v in laws._interval(0.0, reps, 0.95, seeds=1))
    assert all(math.isnan(v) for v in laws._interval(1.0, np.array([2.0, -1.0]), 0.95, seeds=5, positive=True))


def random_law(rng) -> dict:
    """A known law drawn from the range of the fits of notebook 07: floors 0.05-0.3, exponents 0.3-1.5."""
    return {"E": rng.uniform(0.05, 0.3), "A": rng.uniform(0.5, 5.0), "alpha": rng.uniform(0.3, 1.5),
            "B": rng.uniform(0.2, 2.0), "beta": rng.uniform(0.3, 1.2)}


def test_intervals_cover_known_laws_at_five_seeds():
    """Coverage by simulation: 40 laws drawn at random, five seeds, 2% noise, a 6 x 5 grid; every other fit holds
    E at its true value. At nominal 95% the t interval covers about 95% of the 180 (law, parameter) pairs (94% with
    these seeds and a small boot); the percentile interval used before covered 78% (about 85% at boot = 200), so
    the bound 0.90 separates them; the upper bound 0.99 catches intervals made too wide to mean anything."""
    rng = np.random.default_rng(2026)
    hits = []
    for i in range(40):
        p = random_law(rng)
        pinned = i % 2 == 1
        table = synthetic(p, seeds=5, noise=0.02, rng_seed=i, widths=WIDTHS, depths=DEPTHS[:5])
        fit = sc.fit_law(table, "nL", boot=30, seed=i, E=p["E"] if pinned else None)
        for k in fit.params:
            if not (pinned and k == "E"):
                lo, hi = fit.interval(k)
                hits.append(lo <= p[k] <= hi)
    assert len(hits) == 180
    assert 0.90 <= np.mean(hits) <= 0.99, np.mean(hits)


def test_a_floor_held_fixed_is_held_in_every_bootstrap_refit():
    """The refits of a fit with E held must hold it too: each replicate describes the data about as well as the
    fit (2% noise), and the replicates scatter about the estimate, not about the fit of some other law."""
    table = synthetic(seeds=5, noise=0.02)
    fit = sc.fit_law(table, "nL", boot=40, E=TRUE["E"])
    np.testing.assert_allclose(fit.boot["E"], TRUE["E"], rtol=1e-12)
    misfit = np.sqrt(np.mean(np.log(fit.predict_boot(n=table.n, L=table.L) / table.mean) ** 2, axis=1))
    assert np.all(misfit < 3 * fit.residual_rms + 0.01), misfit.max()
    for k in ("A", "alpha", "B", "beta"):
        assert abs(np.median(fit.boot[k]) - fit.params[k]) < 0.5 * np.std(fit.boot[k]), k
        lo, hi = fit.interval(k)
        assert lo <= TRUE[k] <= hi, (k, fit.describe(k))


def test_degrees_of_freedom_follow_the_seeds_of_each_stratum():
    # one stratum of R seeds: R - 1 degrees of freedom and the factor R / (R - 1) for every parameter
    fit = sc.fit_law(synthetic(seeds=4, noise=0.02), "nL", boot=0)
    for k in ("E", "A", "alpha", "B", "beta"):
        assert fit.extras["dof"][k] == pytest.approx(3.0, rel=1e-9) and fit.extras["factor"][k] == pytest.approx(4 / 3)
    # strata by width, eight seeds each but two at the widest: a parameter is judged by the seeds that carry it
    rng = np.random.default_rng(5)
    rows = [(n, L, s) for n in WIDTHS for L in DEPTHS for s in range(2 if n == 512 else 8)]
    n, L, s = (np.array(c) for c in zip(*rows))
    table = sc.size_table(n, L, s, law(n, L) * np.exp(0.02 * rng.standard_normal(n.size)), strata="n")
    fit = sc.fit_law(table, "nL", boot=40)
    for k in ("E", "A", "alpha", "B", "beta"):
        dof, factor = fit.extras["dof"][k], fit.extras["factor"][k]
        assert 1.0 < dof <= 5 * 7 + 1 and 8 / 7 <= factor <= 2.0, (k, dof, factor)
        lo, hi = fit.interval(k)
        lo_min, hi_min = laws._interval(fit.params[k], fit.boot[k], 0.95, seeds=2, positive=k in ("E", "A", "B"))
        assert lo_min < lo < hi < hi_min
    # the floor is set by the widest networks, so their two seeds carry it; the depth coefficient rests on all
    assert fit.extras["dof"]["E"] < 3 and fit.extras["dof"]["B"] > 7


def test_deviations_split_bias_and_spread():
    table = sc.size_table([16] * 4 + [64] * 4, [2] * 8, list(range(4)) * 2, [1.1, 1.3, 1.1, 1.3, 1.0, 1.2, 1.0, 1.2])
    dev = sc.deviations(table, {2: 1.0})
    np.testing.assert_allclose(dev["bias"], [0.2, 0.1])
    np.testing.assert_allclose(dev["spread"], [np.std([1.1, 1.3, 1.1, 1.3], ddof=1)] * 2)
    np.testing.assert_allclose(dev["rms"], [math.sqrt((0.01 + 0.09) / 2), math.sqrt((0.0 + 0.04) / 2)])
    with pytest.raises(ValueError, match=r"^reference must give a value for every depth; missing L = \[2\]"):
        sc.deviations(table, {4: 1.0})


@pytest.mark.parametrize("var", ["params", "flops"])
def test_one_variable_forms_recover_their_exponent(var):
    rng = np.random.default_rng(3)
    x = np.geomspace(1e4, 1e9, 9)
    rows = [(i, s) for i in range(x.size) for s in range(5)]
    idx, s = (np.array(c) for c in zip(*rows))
    y = (0.2 + 40.0 * x[idx] ** -0.3) * np.exp(0.02 * rng.standard_normal(idx.size))
    kw = {var: x[idx]}
    table = sc.size_table(idx + 1, np.ones(idx.size), s, y, **kw)
    fit = sc.fit_law(table, "N" if var == "params" else "C", boot=200)
    for k, v in (("E", 0.2), ("alpha", 0.3)):
        lo, hi = fit.interval(k)
        assert lo <= v <= hi, (k, fit.describe(k))
    assert fit.predict(**{var: 1e12}) == pytest.approx(0.2 + 40.0 * 1e12 ** -0.3, rel=0.05)


def test_extrapolation_prefers_the_law_with_a_floor():
    rows = sc.extrapolation_test(synthetic(noise=0.02), ["nL", "nL-pure", "N-pure", "C-pure"], by="flops",
                                 fraction=0.25)
    assert rows[0]["form"] == "nL"
    err = {r["form"]: r["rms_log_error"] for r in rows}
    assert err["nL"] < 0.5 * err["nL-pure"]
    pure = next(r for r in rows if r["form"] == "nL-pure")
    assert pure["bias"] < 0  # without the floor the law dives below the held-out losses


def test_extrapolation_prefers_the_pure_law_when_there_is_no_floor():
    p = dict(TRUE, E=0.0)
    rows = sc.extrapolation_test(synthetic(p, noise=0.02), ["nL", "nL-pure"], by="flops", fraction=0.25)
    err = {r["form"]: r["rms_log_error"] for r in rows}
    assert err["nL-pure"] < 0.05
    assert err["nL-pure"] <= err["nL"] * 1.05


def test_compute_optimal_matches_the_closed_form():
    fit = sc.fit_law(synthetic(noise=0.0, seeds=1), "nL", boot=0)
    k = 1e5

    def compute(n, L):
        return k * np.asarray(L, float) * np.asarray(n, float) ** 2

    C = 1e13
    p = fit.params
    # minimize A n^-alpha + B (C / (k n^2))^-beta: n^(alpha + 2 beta) = alpha A (C/k)^beta / (2 beta B)
    ratio = p["alpha"] * p["A"] * (C / k) ** p["beta"] / (2 * p["beta"] * p["B"])
    n_star = ratio ** (1 / (p["alpha"] + 2 * p["beta"]))
    opt = sc.compute_optimal(fit, C, compute, n_range=(1, 1e6), L_range=(1e-3, 1e9))
    assert not opt["at_edge"]
    assert opt["n"] == pytest.approx(n_star, rel=1e-4)
    assert opt["L"] == pytest.approx(C / (k * n_star**2), rel=1e-3)
    assert opt["loss"] == pytest.approx(float(law(n_star, C / (k * n_star**2), p)), rel=1e-6)
    # a range that excludes the optimum gives a bound, flagged
    edge = sc.compute_optimal(fit, C, compute, n_range=(1, n_star / 4), L_range=(1e-3, 1e9))
    assert edge["at_edge"] and edge["n"] < n_star


def test_compute_optimal_matches_brute_force_with_the_full_flop_count():
    fit = sc.fit_law(synthetic(noise=0.0, seeds=1), "nL", boot=0)
    compute = sc.compute_model(40, 10, batch_size=64, steps=2000)
    C = float(compute(100, 10))
    opt = sc.compute_optimal(fit, C, compute, n_range=(16, 512), L_range=(1, 64))
    n = np.geomspace(16, 512, 200001)
    L = (C - compute(n, 0)) / (compute(n, 1) - compute(n, 0))
    ok = (L >= 1) & (L <= 64)
    i = np.argmin(np.where(ok, fit.predict(n=n, L=np.where(ok, L, 1)), np.inf))
    assert opt["n"] == pytest.approx(n[i], rel=1e-3) and opt["L"] == pytest.approx(L[i], rel=2e-3)
    assert float(compute(opt["n"], opt["L"])) == pytest.approx(C, rel=1e-9)


def test_frontier_intervals_and_the_empirical_frontier():
    table = synthetic()
    fit = sc.fit_law(table, "nL", boot=60)
    compute = sc.compute_model(40, 10, batch_size=64, steps=2000)
    budgets = [compute(64, 8), compute(256, 16)]
    rows = sc.fitted_frontier(fit, budgets, compute, n_range=(16, 512), L_range=(2, 64))
    t = 2.570582 * math.sqrt(6 / 5)  # Student's t at 97.5% with 5 degrees of freedom, six seeds
    for r in rows:
        assert r["n_lo"] <= r["n"] <= r["n_hi"] and r["loss_lo"] < r["loss"] < r["loss_hi"]
        # the interval comes from the replicates' own optima: to first order each replicate's optimal loss moves
        # like its loss at the fitted optimum (the optimum is stationary), so the two spreads agree
        spread = np.std(np.log(fit.predict_boot(n=r["n"], L=r["L"])), ddof=1)
        assert 0.5 < math.log(r["loss_hi"] / r["loss_lo"]) / (2 * t * spread) < 2.0
    emp = sc.empirical_frontier(table, budgets)
    assert all(e["flops"] <= b * (1 + 1e-9) for e, b in zip(emp, budgets))
    assert emp[1]["loss"] <= emp[0]["loss"]
    # the fitted frontier is no worse than the best measured size at the same budget (up to the noise)
    assert rows[1]["loss"] <= emp[1]["loss"] * 1.05


def test_feasible_frontiers_drop_unspendable_budgets_and_the_tables_show_each_row():
    table = synthetic()
    fit = sc.fit_law(table, "nL", boot=30)
    compute = sc.compute_model(40, 10, batch_size=64, steps=2000)
    # the first budget is below the cheapest size of the ranges (n = 16, L = 2): no size can spend it
    budgets = [0.5 * compute(16, 2), compute(64, 8), compute(256, 16)]
    front, emp = frontier.feasible_frontiers(fit, table, budgets, compute, n_range=(16, 512), L_range=(2, 64))
    assert [r["budget"] for r in front] == [r["budget"] for r in emp] == pytest.approx(budgets[1:])
    assert all(np.isfinite(r["n"]) for r in front)
    lines = frontier.frontier_markdown(front, emp, table).splitlines()
    assert len(lines) == 2 + len(front) and lines[0].startswith("| budget (FLOPs) | predicted n* |")
    i = sc.nearest_size(table, front[1]["n"], front[1]["L"])
    assert f"n = {table.n[i]:.0f}, L = {table.L[i]:.0f}: {table.mean[i]:.3f} +- {table.se[i]:.3f}" in lines[3]
    assert f"{front[1]['n']:.0f} [{front[1]['n_lo']:.3g}, {front[1]['n_hi']:.3g}]" in lines[3]
    assert ("(grid edge)" in lines[2]) == front[0]["at_edge"]
    rows = sc.extrapolation_test(table, ["nL", "nL-pure"], by="flops", fraction=0.25)
    lines = frontier.extrapolation_markdown(rows).splitlines()
    r = rows[0]
    assert len(lines) == 4 and lines[2] == (f"| {r['form']} | {r['rms_log_error']:.3f} | {r['max_log_error']:.3f} | "
                                            f"{r['bias']:+.3f} | {r['held']} / {r['fitted']} |")


def test_floor_pinned_fits_hold_the_floor_at_each_end_and_join_the_intervals():
    table = synthetic(seeds=4)
    limit = {"limit": 0.1, "lo": -0.01, "hi": 0.12}  # an interval reaching below zero: the floor stays positive
    fits, union = frontier.floor_pinned_fits(table, limit, boot=20, seed=3)
    for end, E in (("limit", 0.1), ("lo", 1e-12), ("hi", 0.12)):
        assert fits[end].params["E"] == pytest.approx(E, rel=1e-12)
    assert fits["hi"].params["alpha"] == sc.fit_law(table, "nL", boot=20, seed=3, E=0.12).params["alpha"]
    for k in ("alpha", "beta"):
        assert union[k][0] == min(f.interval(k)[0] for f in fits.values())
        assert union[k][1] == max(f.interval(k)[1] for f in fits.values())
        assert union[k][0] < union[k][1]


def test_limit_moves_extrapolate_the_relative_loss_in_1_over_K_and_skip_nan_seeds():
    Ks, targets = np.array([4.0, 8.0]), np.array([0.3, 0.6])  # the K -> infinity loss after training / before
    before = 2.0
    after = before * targets[:, None, None] * (1 + 0.5 / Ks[None, :, None]) * np.ones((1, 1, 3))
    after[1, :, 2] = np.nan  # a seed that blew up
    loss = np.stack([np.full_like(after, before), after], -1)  # (values, K, seeds, steps + 1)
    sweeps = {"lr": {"Ks": Ks, "train_loss": loss, "test_loss": 2 * loss}}
    moves = frontier.limit_moves(sweeps, names=("lr",))
    assert set(moves) == {("lr", "train_loss"), ("lr", "test_loss")}
    np.testing.assert_allclose(moves[("lr", "train_loss")], targets)
    np.testing.assert_allclose(moves[("lr", "test_loss")], targets)  # a rescaled loss moves alike


def test_holdout_and_empirical_frontier_take_ties_and_budgets_inclusively():
    table = synthetic(seeds=1, noise=0.0)  # 6 widths x 6 depths
    held = sc.holdout_mask(table, by="n", fraction=0.25)  # 9 sizes asked for; n = 256 ties at the threshold
    assert held.sum() == 12 and set(table.n[held].tolist()) == {256, 512}
    # a budget equal to a size's compute admits that size: at the largest compute, every size competes
    largest = float(table.flops.max())
    row = sc.empirical_frontier(table, [largest])[0]
    assert row["loss"] == table.mean.min() and row["flops"] == largest


def test_aspect_lines_follow_each_ratio_and_the_figure_draws_them():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nfdlib import viz

    table = synthetic(seeds=2)
    fit = sc.fit_law(table, "nL", boot=0)
    lines = sc.aspect_lines(table, "flops", ratios=[1 / 8, 1 / 1000], fit=fit)
    first, empty = lines
    assert first["ratio"] == 1 / 8 and empty["x"].size == 0 and empty["curve"] is None
    on = np.isclose(table.L / table.n, 1 / 8)
    order = np.argsort(table.n[on])
    np.testing.assert_array_equal(first["x"], table.flops[on][order])  # ordered by width
    np.testing.assert_array_equal(first["mean"], table.mean[on][order])
    xx, yy = first["curve"]  # the law along the ratio, at the measured compute where it meets a size
    np.testing.assert_allclose([xx[0], xx[-1]], first["x"][[0, -1]], rtol=1e-12)
    n0 = table.n[on][order][0]
    np.testing.assert_allclose(yy[0], fit.predict(n=n0, L=n0 / 8), rtol=1e-12)
    assert sc.aspect_lines(table, "params", ratios=[1 / 8])[0]["curve"] is None  # no fit, no curve
    fig, ax = plt.subplots()
    viz.plot_by_aspect(ax, lines, "flops", limit=(0.1, 0.09, 0.11))
    assert len(ax.containers) == 1 and ax.containers[0].get_label() == "L/n = 1/8"  # the empty line is skipped
    assert ax.get_xlabel().startswith("training compute C")
    plt.close(fig)


def test_bootstrap_resamples_within_strata():
    # width 16 has seeds 0..3, width 32 only seeds 10, 11: a draw must never leave a width without values
    n = [16] * 4 + [32] * 2
    table = sc.size_table(n, [4] * 6, [0, 1, 2, 3, 10, 11], [1.0, 2.0, 3.0, 4.0, 5.0, 7.0], strata="n")
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = laws._resampled_means(table, rng)
        assert 1.0 <= m[0] <= 4.0 and 5.0 <= m[1] <= 7.0
    assert table.count.tolist() == [4, 2]
    assert table.mean.tolist() == [2.5, 6.0]
    assert laws._min_seeds(table) == 2  # the stratum with the fewest seeds decides whether an interval exists


# -- bad input ---------------------------------------------------------------------------------------------------
def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"^n must be finite and > 0"):
        sc.size_table([0, 16], [2, 2], [0, 0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"^L must be finite and > 0"):
        sc.size_table([16, 16], [-2, 2], [0, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"^loss must be finite and > 0 .* at 1 runs"):
        sc.size_table([16, 32], [2, 2], [0, 0], [1.0, float("nan")])
    with pytest.raises(ValueError, match=r"^seed 0 appears twice"):
        sc.size_table([16, 16], [2, 2], [0, 0], [1.0, 1.0])
    small = synthetic(widths=[16, 32, 64], depths=[2, 4], seeds=2)
    with pytest.raises(ValueError, match=r"^form 'nL' has 5 parameters and needs more sizes"):
        sc.fit_law(small.select(np.arange(len(small)) < 5), "nL", boot=0)
    with pytest.raises(ValueError, match=r"^form 'nL' needs at least 3 distinct values of L"):
        sc.fit_law(small, "nL", boot=0)
    with pytest.raises(ValueError, match=r"^form must be one of"):
        sc.fit_law(small, "exponential", boot=0)
    no_flops = sc.size_table([16, 32, 64, 128], [2] * 4, [0] * 4, [4.0, 3.0, 2.0, 1.5])
    with pytest.raises(ValueError, match=r"^form 'C' needs 'flops' for every run"):
        sc.fit_law(no_flops, "C", boot=0)
    with pytest.raises(ValueError, match=r"^held must mark some"):
        sc.extrapolation_test(synthetic(seeds=1), ["nL"], held=np.ones(36, bool))
    with pytest.raises(ValueError, match=r"^compute_optimal needs a fit of form 'nL'"):
        sc.compute_optimal(sc.fit_law(synthetic(seeds=1), "N", boot=0), 1e12, lambda n, L: n * n * L)
    with pytest.raises(ValueError, match=r"^rule must be one of"):
        scaling_rule("resnet")
    with pytest.raises(ValueError, match=r"^max_cost=1 leaves no size"):
        sc.grid_sizes([16], [2], max_cost=1)


# -- grids and the limit -------------------------------------------------------------------------------------------
def test_grid_sizes_keep_everything_below_the_cap():
    sizes = sc.grid_sizes([16, 32, 64], [2, 4, 8], max_cost=64 * 64 * 4)
    assert (64, 8) not in sizes and (64, 4) in sizes and len(sizes) == 8


def test_train_sizes_is_train_stacked_per_size(tmp_path, monkeypatch):
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    task = {"name": "teacher", "d": 4, "n_train": 6, "n_test": 5, "seed": 0}
    runs = sc.size_grid("test", "depth-mup", task, [(8, 2), (8, 3), (16, 2)], {8: [0, 1], 16: [2]}, 3, lr=0.5,
                        eval_every=1, progress=False)
    assert runs["n"].tolist() == [8, 8, 8, 8, 16] and runs["seed"].tolist() == [0, 1, 0, 1, 2]
    data = make_teacher_task(d=4, n_train=6, n_test=5, seed=0)
    ref = train_stacked(lambda s: ResNet(4, 1, 8, 3, seed=s), [0.5, 0.5], [0, 1], data, 3, eval_every=1)
    np.testing.assert_allclose(runs["train_loss"][2:4], ref["train_loss"], rtol=1e-6)
    assert runs["params"][4] == sc.count_params(4, 1, 16, 2)
    assert runs["flops"][4] == sc.flops_per_run(4, 1, 16, 2, batch_size=6, steps=3)
    assert np.all(runs["seconds"] > 0)
    assert len(list(tmp_path.glob("scaling_test_depth-mup_n*.npz"))) == 2
    again = sc.size_grid("test", "depth-mup", task, [(8, 2), (8, 3), (16, 2)], {8: [0, 1], 16: [2]}, 3, lr=0.5,
                         eval_every=1, progress=False)
    np.testing.assert_array_equal(again["train_loss"], runs["train_loss"])
    table, dropped = sc.fit_runs(runs)
    assert dropped == 0 and len(table) == 3


def test_limit_estimate_and_richardson():
    Ks = np.array([4, 8, 16, 32, 64])
    rng = np.random.default_rng(0)
    values = (0.005 + 0.01 / Ks)[:, None] + 1e-5 * rng.standard_normal((5, 3))
    est = sc.limit_estimate(Ks, values, particle_error=1e-4)
    assert est["lo"] <= 0.005 <= est["hi"]
    assert est["hi"] - est["lo"] >= 2e-4
    assert richardson([8, 16], np.array([0.005 + 0.01 / 8, 0.005 + 0.01 / 16])) == pytest.approx(0.005)
    with pytest.raises(ValueError, match=r"^values must have shape"):
        sc.limit_estimate(Ks, values[:3])


def test_solver_runs_match_the_library_solver():
    from nfdlib.nfd.runs import limit_solver

    kw = dict(Ks=[2, 4], M=64, seeds=[0], T=1.0, lr=0.5, steps=2, noise_grid=4)
    mine = sc.solver_runs(**kw, coupling="reused")
    ref = limit_solver(**kw, coupling="reused", progress=False)
    np.testing.assert_allclose(mine["train_loss"], ref["train_loss"], rtol=1e-6)
    assert not mine["failed"].any()


def test_arm_trend_verdicts():
    rows = [(n, s) for n in (16, 32, 64, 128) for s in range(3)]
    n = np.array([r[0] for r in rows])

    def runs(values, diverged=None):
        div = np.zeros(n.size, bool) if diverged is None else diverged
        return {"n": n, "L": np.full(n.size, 4), "test_loss": np.asarray(values, float)[:, None],
                "diverged": div}

    rng = np.random.default_rng(0)
    noise = np.exp(0.01 * rng.standard_normal(n.size))
    assert sc.arm_trend(runs(n ** -0.5 * noise), "n", {"L": 4})["verdict"] == "improves"
    assert sc.arm_trend(runs(n ** 0.3 * noise), "n", {"L": 4})["verdict"] == "stalls or worsens"
    div = n == 128
    assert sc.arm_trend(runs(np.where(div, np.nan, n ** -0.5), div), "n", {"L": 4})["verdict"] == "diverges"


def test_notebook_full_plan_is_cached(monkeypatch):
    """Full mode of notebook 07 reads every result from data/: a changed configuration would silently recompute
    about three CPU-hours, so a missing file fails here instead (and no job runs while the notebook reads)."""
    from pathlib import Path

    import nfdlib.jobs as jobs
    from nfdlib.plans import parameters_cell

    root = Path(__file__).resolve().parent.parent
    monkeypatch.delenv("NFD_DATA_DIR", raising=False)
    plan = parameters_cell(str(root / "notebooks" / "07_scaling_laws.py"))["PLAN"]
    results, waiting = plans.scaling_results(plan)
    missing = [r.name for r in results if not r.is_cached()]
    assert not missing and not waiting, (f"notebook 07 would recompute {missing}: run python -m nfdlib.run "
                                         "notebooks/07_scaling_laws.py")

    def no_job(job, *args, **kwargs):
        raise AssertionError(f"notebook 07 would compute {job.label}")

    monkeypatch.setattr(jobs, "run_job", no_job)
    out = plans.run_scaling_plan(plan, progress=False)
    assert len(out["real_runs"]["n"]) > 0 and set(out["family_runs"]) == set(plan["families"]["families"])


def test_huber_loss_is_quadratic_inside_and_linear_outside():
    np.testing.assert_allclose(sc.huber(np.array([0.5, -1.0, 3.0]), 1.0), [0.125, 0.5, 2.5])
    inside, outside = sc.huber(np.array([1.0 - 1e-9, 1.0 + 1e-9]), 1.0)
    assert abs(inside - outside) < 1e-8  # continuous at delta


def test_smoothed_se_is_the_spread_law_over_the_root_of_the_seed_count():
    table = sc.size_table([16, 16, 16, 16, 64, 64], [2] * 6, [0, 1, 2, 3, 0, 1], [1.0, 1.2, 0.8, 1.1, 0.5, 0.6])
    spread = stats.fit_loglog([16.0, 64.0], [0.4, 0.2])  # sd = 0.4 (n/16)^-1/2
    np.testing.assert_allclose(sc.smoothed_se(table, spread), [0.4 / 2, 0.2 / math.sqrt(2)], rtol=1e-9)
