"""Reading a sweep against hand-computed answers (nfdlib.sweeps): the censoring of the largest stable rate at the
top of the grid, the bootstrap percentiles of a drift, optima of accuracies (maximized), the sweep cache key's
batch size, and the small statistics and table helpers of notebook 06 (the cases of one rule, a claim
over cases or parts, a drift's table cell and a table of drifts, two rules paired case by case, drifts at shorter
budgets, the best depth of each rule). Each test was checked by planting the bug it names in the library and
seeing it fail."""

import math

import numpy as np
import pytest
from scipy import stats as st

from nfdlib import cache, optima, stats, sweeps
from nfdlib.stats import fit_loglog, interval_verdict

LRS = 2.0 ** np.arange(0, 6)  # 1, 2, 4, 8, 16, 32


def _stability_sweep():
    """Depths 2..16, three seeds; the largest stable rate is the top of the grid (32, nothing diverged) at depth 2,
    then 8, 4, 2: one octave down per doubling of depth. Seed 1 at depth 4 diverges only at the top rate."""
    depths = np.array([2, 4, 8, 16])
    edge = np.array([[64.0] * 3, [8.0] * 3, [4.0] * 3, [2.0] * 3])  # the rate above which a run diverges
    diverged = LRS[None, :, None] > edge[:, None, :]
    return {"L": depths, "lr": LRS, "seed": np.arange(3), "diverged": diverged}


def test_max_stable_lr_by_hand():
    sweep = _stability_sweep()
    sweep["diverged"][1, -1, 1] = True  # already diverged at the top rate
    sweep["diverged"][1, :, 2] = True  # diverged at every rate, the smallest included
    expected = np.array([[32, 32, 32], [8, 8, np.nan], [4, 4, 4], [2, 2, 2]], float)
    np.testing.assert_array_equal(optima.max_stable_lr(sweep), expected)
    one_depth = {k: v[1] for k, v in sweep.items() if k == "diverged"} | {"lr": LRS}
    np.testing.assert_array_equal(optima.max_stable_lr(one_depth), expected[1])


def test_stability_drift_censors_the_top_of_the_grid():
    # Depth 2 never diverged: its largest stable rate, 32, is only a lower bound and must be censored (>= the
    # top), leaving the nine exact points of slope -1. Kept as a measurement, it would give a slope of -1.3.
    d = optima.stability_drift(_stability_sweep(), boot=50)
    assert d.censored == 3 and d.points == 9
    assert d.slope == pytest.approx(-1.0, abs=1e-12)
    assert d.fit.lo == pytest.approx(-1.0, abs=1e-9) and d.fit.hi == pytest.approx(-1.0, abs=1e-9)
    assert d.boot_lo == pytest.approx(-1.0) and d.boot_hi == pytest.approx(-1.0)
    assert d.transfers().disagrees and d.moves().outcome == "not resolved"  # censored optima withhold agreement
    via = optima.drift_of(_stability_sweep(), "stable", boot=50)
    assert via.censored == 3 and via.slope == pytest.approx(-1.0, abs=1e-12)
    # a rate one grid step below the top is a real measurement, not censored
    sweep = _stability_sweep()
    sweep["diverged"][0, -1, :] = True  # depth 2 now diverges at 32: its largest stable rate is 16
    d = optima.stability_drift(sweep, boot=50)
    assert d.censored == 0 and d.points == 12


def _optimum_sweep(per_seed_slopes, key="train_loss"):
    """Each seed's optimum moves exactly as eta* = L^slope; the loss is an exact parabola in log2(lr) around it
    (accuracy: a downward parabola), so best_lr recovers every optimum exactly."""
    depths = np.array([2, 4, 8, 16, 32])
    lrs = 2.0 ** np.arange(-3, 6.01, 0.5)
    centre = np.log2(depths)[:, None] * np.asarray(per_seed_slopes, float)[None, :]  # (depths, seeds)
    dist2 = (np.log2(lrs)[None, :, None] - centre[:, None, :]) ** 2  # (depths, lrs, seeds)
    values = np.exp(dist2 / 8) if key.endswith("_loss") else 0.9 - 0.01 * dist2
    sweep = {"L": depths, "lr": lrs, "seed": np.arange(len(per_seed_slopes)),
             "diverged": np.zeros(dist2.shape, bool), key: values[..., None]}
    return sweep, centre


@pytest.mark.parametrize("slopes, lo, hi", [([0.0, 0.0, 0.5], 0.0, 0.5), ([0.0, 0.5, 0.5], 0.0, 0.5)])
def test_drift_bootstrap_is_the_central_95_percent(slopes, lo, hi):
    # With exact per-seed lines on a common depth grid, the pooled slope of a resample of the seeds is the mean
    # of the resampled seeds' slopes. Three seeds drawn with replacement from {0, 0, 0.5} all give 0.5 with
    # probability 1/27 = 3.7%: inside the upper 2.5% tail's reach (the 97.5th percentile is 0.5), outside the
    # 5% tail's (the 95th percentile would be 1/3). The same for the lower end of {0, 0.5, 0.5}.
    sweep, _ = _optimum_sweep(slopes)
    d = optima.optimum_drift(sweep, boot=4000, seed=3)
    assert d.slope == pytest.approx(np.mean(slopes), abs=1e-9)
    assert d.boot_lo == pytest.approx(lo, abs=1e-9) and d.boot_hi == pytest.approx(hi, abs=1e-9)


@pytest.mark.parametrize("key", ["test_acc", "val_acc"])
def test_accuracy_optima_are_maxima(key):
    # An accuracy peaks at the best rate; picking its minimum would choose the worst rate, at the grid's edge.
    sweep, centre = _optimum_sweep([0.0, -0.5], key=key)
    opt = optima.best_lr(sweep["lr"], sweep[key][0, :, 0, -1], maximize=True, log_values=False)
    assert opt.lr == pytest.approx(1.0) and not opt.at_edge and opt.value == pytest.approx(0.9)
    np.testing.assert_allclose(np.log2(optima.per_seed_optima(sweep, key)), centre, atol=1e-9)
    d = optima.optimum_drift(sweep, key, boot=50)
    assert d.censored == 0 and d.slope == pytest.approx(-0.25, abs=1e-9)
    means = optima.seed_mean_optima(sweep, key)  # the seed-mean curve peaks halfway between the two seeds
    np.testing.assert_allclose([math.log2(o.lr) for o in means], centre.mean(1), atol=1e-9)
    rows = optima.best_by_depth(sweep, select=key, report=(key,))
    assert [row["at_edge"] for row in rows] == [False] * 5
    assert [row[key] for row in rows] == pytest.approx(
        [float(np.mean(0.9 - 0.01 * (math.log2(row["grid_lr"]) - centre[d]) ** 2)) for d, row in enumerate(rows)])
    best_grid = sweep[key][..., -1].mean(-1).max(axis=1)  # the highest seed-mean accuracy on the grid
    assert [row[key] for row in rows] == pytest.approx(list(best_grid))


def test_batch_size_is_part_of_the_sweep_cache_key(tmp_path):
    task = {"name": "teacher", "d": 4, "n_train": 8, "n_test": 4}
    args = (task, "depth-mup", "two", 8, [2], [0.1, 0.4], [0], 3)
    configs = [sweeps.depth_sweep_config(*args, batch_size=4), sweeps.depth_sweep_config(*args, batch_size=2),
               sweeps.depth_sweep_config(*args)]
    assert configs[0]["batch_size"] == 4 and configs[1]["batch_size"] == 2 and "batch_size" not in configs[2]
    paths = {cache.cache_path("sweep_test", c, sweeps.SWEEP_VERSION, "npz", tmp_path) for c in configs}
    assert len(paths) == 3
    mini = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False, batch_size=4)
    full = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    assert len(list(tmp_path.glob("sweep_test-*.npz"))) == 2  # the full-batch sweep is not served the minibatch file
    assert not np.allclose(mini["train_loss"][..., -1], full["train_loss"][..., -1])


# -- the small statistics behind the tables of notebook 06 -------------------------------------------------
def test_best_by_depth_reports_the_standard_error_over_seeds():
    sweep, _ = _optimum_sweep([0.0, 0.0, 0.0])
    sweep["train_loss"] = sweep["train_loss"] * np.array([1.0, 2.0, 4.0])[None, None, :, None]
    row = optima.best_by_depth(sweep, report=("train_loss",))[0]
    assert row["train_loss"] == pytest.approx(7 / 3)
    assert row["train_loss_sem"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1) / math.sqrt(3))


def test_paired_difference_is_a_t_interval_over_the_pairs():
    diffs = np.array([0.3, -0.1, 0.4, 0.2])
    rows_a = [{"L": 2, "test_acc_seeds": list(0.5 + diffs[:2])}, {"L": 4, "test_acc_seeds": list(0.5 + diffs[2:])}]
    rows_b = [{"L": 2, "test_acc_seeds": [0.5, 0.5]}, {"L": 4, "test_acc_seeds": [0.5, 0.5]}]
    out = stats.paired_difference(rows_a, rows_b)
    half = st.t.ppf(0.975, 3) * diffs.std(ddof=1) / 2
    assert out["mean"] == pytest.approx(0.2) and out["pairs"] == 4
    assert (out["lo"], out["hi"]) == pytest.approx((0.2 - half, 0.2 + half))


def test_ahead_by_is_judged_on_the_95_percent_interval_of_the_gap():
    # gap 0.1 with a standard error 0.0525: the 95% interval reaches below 0 (not resolved); a 90% one would not
    ahead = {"train_loss": 1.0, "train_loss_sem": 0.0525 / math.sqrt(2)}
    behind = {"train_loss": 1.1, "train_loss_sem": 0.0525 / math.sqrt(2)}
    gap, err, verdict = optima.ahead_by(ahead, behind)
    assert gap == pytest.approx(0.1) and err == pytest.approx(0.0525)
    assert (verdict.lo, verdict.hi) == pytest.approx((0.1 - 1.96 * 0.0525, 0.1 + 1.96 * 0.0525))
    assert verdict.outcome == "not resolved"


def test_best_lr_flags_both_ends_of_the_grid():
    lrs = 2.0 ** np.arange(-4, 4.01, 0.5)
    assert optima.best_lr(lrs, np.exp(np.log2(lrs))).at_edge  # best at the smallest rate
    assert optima.best_lr(lrs, np.exp(-np.log2(lrs))).at_edge  # best at the largest rate
    sweep, _ = _optimum_sweep([0.0, 0.0])
    sweep["train_loss"][0, :, 0, -1] = np.exp(np.log2(sweep["lr"]))  # depth 2, seed 0: optimum below the grid
    assert np.isnan(optima.per_seed_optima(sweep)[0, 0]) and optima.optimum_drift(sweep, boot=20).censored == 1


def test_best_loss_at_budget_excludes_the_start_of_its_window():
    sweep = {"steps": np.array([25, 50, 75, 100]), "lr": np.array([1.0]), "L": np.array([2]),
             "diverged": np.zeros((1, 1, 1), bool), "val_loss": np.array([[[[8.0, 4.0, 2.0, 1.0]]]])}
    # window 0.5 of step 100 is (50, 100]: the evaluations at 75 and 100
    assert optima.best_loss_at_budget(sweep, 100, window=0.5) == pytest.approx([1.5])


def test_cases_of_keeps_one_rule_and_one_kind_keyed_by_task_and_width():
    table = {("mnist1d", 64, "completep", "two", "val_loss"): 1, ("mnist1d", 64, "completep", "two", "stable"): 2,
             ("teacher", 64, "completep", "two", "val_loss"): 3, ("mnist1d", 64, "depth-mup", "two", "val_loss"): 4,
             ("mnist1d", 64, "depth-mup", "one", "val_loss"): 5}  # same parametrization, other block
    assert optima.cases_of(table, ("completep", "two"), "val_loss") == {("mnist1d", 64): 1, ("teacher", 64): 3}
    assert optima.cases_of(table, ("depth-mup", "two")) == {("mnist1d", 64): 4}


def test_claim_over_cases_agrees_only_when_every_case_agrees():
    inside, outside = interval_verdict(-0.1, 0.1, allowed=(-1, 1)), interval_verdict(2, 3, allowed=(-1, 1))
    cases = {("mnist1d", 64): inside, ("teacher", 64): outside}
    measured, verdict = optima.claim_over_cases(cases, judge=lambda v: v, text=lambda v: v.outcome)
    assert measured == "mnist1d n=64: agree; teacher n=64: disagree"
    assert verdict.outcome == "disagree"
    assert optima.claim_over_cases({("mnist1d", 64): inside}, judge=lambda v: v)[1].outcome == "agree"
    with pytest.raises(ValueError, match="cases"):
        optima.claim_over_cases({}, judge=lambda v: v)


def test_drift_cell_names_the_optima_at_the_grid_edge():
    fit = fit_loglog([2, 4, 8, 16, 2, 4, 8, 16], [1, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01])
    assert optima.Drift(fit, 0, 0, 0, 8).cell(0.15) == f"{fit}: **flat**"
    assert optima.Drift(fit, 0, 0, 2, 8).cell(0.15) == f"{fit} (2 at the grid edge): **not resolved**"


def test_claim_of_parts_keeps_a_single_verdict_and_combines_several():
    agree, disagree = interval_verdict(-0.1, 0.1, allowed=(-1, 1)), interval_verdict(2, 3, allowed=(-1, 1))
    table = {"a": ("fit a", agree), "b": ("fit b", disagree)}
    measured, verdict = optima.claim_of_parts(table, ["a"])
    assert measured == "fit a" and verdict is agree  # a single part keeps its own verdict, not a combination
    measured, verdict = optima.claim_of_parts(table, ["a", "b"])
    assert measured == "fit a; fit b" and verdict.outcome == "disagree"
    with pytest.raises(ValueError, match="parts"):
        optima.claim_of_parts(table, [])


def test_drift_table_has_one_row_per_rule_and_one_column_per_kind():
    fit = fit_loglog([2, 4, 8, 2, 4, 8], [1, 1.01, 0.99, 1.0, 1.02, 0.98])
    flat, edge = optima.Drift(fit, 0, 0, 0, 6), optima.Drift(fit, 0, 0, 2, 6)
    cp, control = ("teacher", 16, "completep", "two"), ("mnist1d", 16, "depth-mup", "one")
    drifts = {cp + ("val_loss",): flat, cp + ("stable",): edge, control + ("val_loss",): edge,
              control + ("stable",): flat}
    table = optima.drift_table(drifts, [("val_loss", "val"), ("stable", "edge")], labels={("completep", "two"): "CP"},
                               what="slope")
    lines = table.split("\n")
    assert lines[0] == "| task | n | rule | val: slope | edge: slope |"
    assert lines[2] == f"| teacher | 16 | CP | {flat.cell()} | {edge.cell()} |"  # rows keep the order of drifts
    assert lines[3] == f"| mnist1d | 16 | ('depth-mup', 'one') | {edge.cell()} | {flat.cell()} |"
    assert len(lines) == 4


def test_paired_cases_pairs_two_rules_in_every_case_that_has_both():
    def rows(values):  # two depths, two seeds each
        return [{"L": 2, "test_loss_seeds": values[:2]}, {"L": 4, "test_loss_seeds": values[2:]}]

    table = {("teacher", 16, "depth-mup-corrected", "two"): rows([1.0, 1.0, 1.0, 1.0]),
             ("teacher", 16, "depth-mup", "two"): rows([1.5, 1.6, 1.4, 1.5]),
             ("mnist1d", 16, "depth-mup-corrected", "two"): rows([1.0, 1.0, 1.0, 1.0])}  # no depth-mup: left out
    out = optima.paired_cases(table, ("depth-mup-corrected", "two"), ("depth-mup", "two"))
    assert list(out) == [("teacher", 16, "test_loss")]
    diff, verdict = out[("teacher", 16, "test_loss")]
    assert diff["mean"] == pytest.approx(-0.5) and diff["pairs"] == 4  # a - b: the corrected rule is lower
    assert verdict.outcome == "agree"  # lower test loss is better
    flipped = optima.paired_cases(table, ("depth-mup", "two"), ("depth-mup-corrected", "two"))
    assert flipped[("teacher", 16, "test_loss")][1].outcome == "disagree"


def test_drifts_by_budget_keeps_budgets_with_enough_evaluations_after_step_zero():
    sweep, _ = _optimum_sweep([0.0, 0.5, 0.25])
    steps = np.array([0, 10, 20, 30, 40])
    sweep["steps"] = steps
    sweep["train_loss"] = np.repeat(sweep["train_loss"], len(steps), axis=-1)  # the same curve at every evaluation
    # 10 holds one evaluation after step 0, too few for a mean of two; 25 was never evaluated
    kept, drifts = optima.drifts_by_budget({("teacher", 16, "completep", "two"): sweep}, ["train_loss"],
                                           [10, 20, 25, 40], average=2, boot=50)
    assert kept == [20, 40]
    assert list(drifts) == [(("teacher", 16, "completep", "two"), "train_loss")]
    assert [d.slope for d in drifts[(("teacher", 16, "completep", "two"), "train_loss")]] == pytest.approx([0.25] * 2)


def test_best_depths_judges_each_case_on_accuracy_else_loss():
    acc_rows = [{"L": 2, "test_acc": 0.5, "test_loss": 1.0}, {"L": 4, "test_acc": 0.7, "test_loss": 1.2}]
    loss_rows = [{"L": 2, "test_loss": 0.3}, {"L": 4, "test_loss": 0.2}, {"L": 8, "test_loss": float("nan")}]
    table = {("mnist1d", 16, "completep", "two"): acc_rows, ("mnist1d", 16, "depth-mup", "one"): acc_rows[::-1],
             ("teacher", 16, "completep", "two"): loss_rows}
    out = optima.best_depths(table)
    assert list(out) == [("mnist1d", 16), ("teacher", 16)]
    metric, rows = out[("mnist1d", 16)]
    assert metric == "test_acc" and [row["L"] for row in rows.values()] == [4, 4]  # the highest accuracy, not loss
    assert list(rows) == [("completep", "two"), ("depth-mup", "one")]
    metric, rows = out[("teacher", 16)]
    assert metric == "test_loss" and rows[("completep", "two")]["L"] == 4  # the lowest loss; NaN never wins
    with pytest.raises(ValueError, match="report none"):
        optima.best_depths({("teacher", 16, "completep", "two"): [{"L": 2, "val_loss": 1.0}]})
