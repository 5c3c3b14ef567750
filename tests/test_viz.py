"""Readable figures (nfdlib.viz): alt text on every shown figure, legends beside the data, labelled ticks on
short log axes, and the figures of notebooks 03 and 04 drawn from small records."""

import base64

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nfdlib import gia, optima, two_layer, viz  # noqa: E402
from nfdlib.coupling import coupling_digest, coupling_sweep  # noqa: E402
from nfdlib.nfd.theory import first_step_ratio_theory  # noqa: E402
from nfdlib.stats import extrapolate  # noqa: E402


def _labelled(ax, axis="y"):
    obj = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    fmt = obj.get_major_formatter()
    return [fmt(t) for t in obj.get_ticklocs() if lo <= t <= hi and fmt(t)]


@pytest.mark.parametrize("limits", [(1.2, 1.45), (0.3, 2.5), (0.02, 0.9), (1e-4, 1.0)])
def test_readable_log_ticks_label_a_short_log_axis(limits):
    fig, ax = plt.subplots()
    ax.plot([1, 2], limits)
    ax.set_yscale("log")
    ax.set_ylim(*limits)
    assert viz.readable_log_ticks(ax) is ax
    fig.canvas.draw()
    labels = _labelled(ax)
    assert 3 <= len(labels) <= 8, labels
    ticks = [t for t in ax.yaxis.get_ticklocs() if limits[0] <= t <= limits[1]]
    assert [float(v) for v in labels] == pytest.approx(ticks, rel=5e-3)  # plain numbers, read back as the values
    if limits[1] / limits[0] >= 1e3:  # a wide axis keeps the powers of 10
        assert ticks == pytest.approx([10.0 ** k for k in range(-4, 1)])
    plt.close(fig)


def test_readable_log_ticks_follow_later_data_and_leave_other_axes_alone():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1.2, 1.4])
    ax.set_yscale("log")
    viz.log2_axis(ax, [1, 2])
    viz.readable_log_ticks(ax)
    ax.plot([1, 2], [1.0, 40.0])  # drawn after the call: the ticks follow the new limits
    fig.canvas.draw()
    labels = _labelled(ax)
    assert "1" in labels and "10" in labels, labels
    assert _labelled(ax, "x") == ["1", "2"]  # the fixed ticks of log2_axis are kept
    fig2, ax2 = plt.subplots()
    ax2.plot([1, 2], [1.2, 1.4])
    locator = ax2.yaxis.get_major_locator()
    viz.readable_log_ticks(ax2)
    assert ax2.yaxis.get_major_locator() is locator  # a linear axis is left as it is
    plt.close("all")


def test_log2_axis_labels_every_size_as_a_plain_number():
    fig, ax = plt.subplots()
    ax.plot([2, 1024], [1, 2])
    viz.log2_axis(ax, [2, 8, 32, 1024], label="depth L")
    fig.canvas.draw()
    assert ax.get_xscale() == "log"
    assert _labelled(ax, "x") == ["2", "8", "32", "1024"]
    assert ax.get_xlabel() == "depth L"
    with pytest.raises(ValueError, match=r"^values"):
        viz.log2_axis(ax, [0, -1])
    plt.close(fig)


@pytest.mark.parametrize("where", ["right", "below"])
def test_legend_outside_puts_the_legend_off_the_data(where):
    fig, ax = plt.subplots(layout="constrained")
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    legend = viz.legend_outside(ax, where=where)
    fig.canvas.draw()
    box = legend.get_window_extent()
    axes_box = ax.get_window_extent()
    if where == "right":
        assert box.x0 >= axes_box.x1
    else:
        assert box.y1 <= axes_box.y0
    with pytest.raises(ValueError, match=r"^where"):
        viz.legend_outside(ax, where="inside")
    plt.close(fig)


def test_show_sends_the_png_with_its_alt_text(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False, metadata=None: shown.append((obj, metadata)))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    viz.show(fig, 'a line from (0, 0) to (1, 1),\n  "rising"')
    assert not plt.fignum_exists(fig.number), "the figure must be closed, so inline plotting does not draw it twice"
    (bundle, metadata), = shown
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG")
    assert metadata["image/png"]["alt"] == 'a line from (0, 0) to (1, 1), "rising"'
    assert 'alt="a line from (0, 0) to (1, 1), &quot;rising&quot;"' in bundle["text/html"]
    assert bundle["image/png"] in bundle["text/html"]
    with pytest.raises(ValueError, match=r"^alt"):
        viz.show(plt.figure(), "  ")
    plt.close("all")


@pytest.fixture(scope="module")
def small_gia_records():
    init = gia.init_gap_summary(gia.init_gap([16, 32], [2, 4], seeds=range(3), P=3, d=5, progress=False))
    def coupling(widths, depths):
        return coupling_digest(coupling_sweep(widths, depths, seeds=(0, 1), steps=2, P=3, d=5, progress=False))

    return init, coupling([32], [2, 4]), coupling([16, 32], [4])


def test_figures_of_notebook_03_draw_from_small_records(small_gia_records):
    init, coupling, by_width = small_gia_records
    fits = gia.init_gap_fits(init)
    assert set(fits) == {2, 4}
    fig = viz.plot_init_gap(init, init, fits)
    assert len(fig.axes) == 2
    viz.plot_first_step_ratio({1.0: init.where(n=16)})
    val, theory, xs = gia.first_step_ratios({1.0: init.where(n=16)})[1.0]
    assert list(xs) == [2, 4] and theory == pytest.approx([first_step_ratio_theory(1.0, L) for L in (2, 4)])
    fig3 = viz.plot_coupling_depth(coupling)
    assert len(fig3.axes) == 3
    width_fits = gia.coupling_width_fits(by_width)
    assert set(width_fits) == {"sum_excess", "sum_drift", "sum_floor"}
    fig4 = viz.plot_coupling_width_horizon(by_width, {1.0: coupling}, width_fits)
    assert len(fig4.axes) == 2
    plt.close("all")


def test_paired_and_architecture_figures_mark_diverged_runs():
    from nfdlib.data import make_teacher_task
    from nfdlib.records import Records

    task = make_teacher_task(d=5, n_train=4, n_test=4, seed=0)
    rec = Records()
    for L in (2, 4):
        rec.extend_rows(gia.paired_training(task, n=16, L=L, seeds=(0, 1), lr=0.5, steps=3, probe=4, progress=False),
                        arch="net")
    assert set(gia.paired_gap_fits({"L": rec}, mid=1)) == {"L"}
    viz.plot_paired_gaps({"L": rec}, mid=1, last=3)
    viz.plot_paired_curves(rec)
    # A depth whose every seed goes non-finite after step 1 ends with a cross at its last finite value.
    bad = Records(dict(r, L=8, value=(r["value"] if r["step"] <= 1 else float("nan")))
                  for r in rec.where(L=4, quantity="train_loss"))
    fig = viz.plot_architectures(Records(list(rec) + list(bad)), ["net"])
    crosses = [ln for ln in fig.axes[0].lines if ln.get_marker() == "x" and len(ln.get_xdata()) == 1]
    assert len(crosses) == 2  # true and decoupled of the diverged depth
    assert all(ln.get_xdata()[0] == 1 for ln in crosses)
    plt.close("all")


def test_figures_of_notebook_04_draw_from_arrays():
    fit = extrapolate([16, 32, 64, 16, 32, 64], None, [1.1, 1.05, 1.02, 1.12, 1.04, 1.03], terms=("1/n",))
    Ks = [2, 4, 8]
    solver = {m: (np.array([1.0, 0.9, 0.85]), np.array([0.01, 0.01, 0.01])) for m in ("reused", "decoupled")}
    fig = viz.plot_limit_validation([2, 4], Ks, {"true": [fit, fit], "decoupled": [fit, fit]}, solver,
                                    {"err": {2: np.array([0.1, 0.05]), 4: np.array([0.2, 0.1])}, "floor": 0.01},
                                    [(2, (0.1, 0.01), (0.2, 0.01), (0.1, 0.02))], steps=3, seeds=2, ns=[16, 32])
    assert len(fig.axes) == 3
    curves = {"ratio": (np.array([1.0, 1.1, 1.2]),) * 3, "function": (np.array([0.1, 0.1, 0.1]),) * 3,
              "conv": np.array([0.2, 0.1])}
    fits = {k: "+0.00 [-0.1, +0.1]" for k in ("ratio", "function", "conv")}
    fig = viz.plot_two_limits(Ks, curves, fits, [fit, fit, fit],
                              {"reused": np.ones(3), "decoupled": 2 * np.ones(3)}, M=64, seeds=1)
    assert len(fig.axes) == 2
    plt.close("all")


def test_legend_outside_draws_no_empty_box():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert viz.legend_outside(ax) is None and ax.get_legend() is None
    plt.close(fig)


def test_slopes_by_rule_keep_coinciding_rules_visible_and_guides_where_asked():
    from nfdlib.stats import fit_loglog

    xs, ys = np.array([2.0, 4.0, 8.0, 16.0]), np.array([1.0, 0.7, 0.5, 0.35])
    labels = {"a": "rule a", "b": "rule b", "c": "rule c"}
    colors = {"a": "C0", "b": "C1", "c": "C2"}
    series = {"b": (xs, ys), "c": (xs, ys)}  # equal by construction, as two rules can be at the first step
    fits = {k: fit_loglog(*v) for k, v in series.items()}
    fig, ax = plt.subplots()
    viz.plot_slopes_by_rule(ax, series, fits, labels=labels, colors=colors)
    scatters = ax.collections
    assert len(scatters) == 2
    x_b, x_c = (np.asarray(sc.get_offsets())[:, 0] for sc in scatters)
    assert np.all(x_b < x_c) and np.allclose(x_c / x_b, x_c[0] / x_b[0])  # side by side, the same factor apart
    assert not any("guide" in (ln.get_label() or "") for ln in ax.lines)  # no guide unless asked
    markers = [ln.get_marker() for ln in ax.lines]
    assert markers == [viz.RULE_MARKERS[1], viz.RULE_MARKERS[2]]  # by place in labels, not in series
    fig2, ax2 = plt.subplots()
    viz.plot_slopes_by_rule(ax2, series, fits, labels=labels, colors=colors, guide=(-0.5, "b"))
    guide = [ln for ln in ax2.lines if "guide" in ln.get_label()]
    assert len(guide) == 1
    gx, gy = guide[0].get_data()
    slope = np.log(gy[-1] / gy[0]) / np.log(gx[-1] / gx[0])
    assert slope == pytest.approx(-0.5)
    assert gy[0] == pytest.approx(np.exp(fits["b"].intercept) * 2.0 ** fits["b"].slope)  # anchored at b's fit
    plt.close("all")


# -- figures of notebook 06 -------------------------------------------------------------------------------------
RULES6 = [("depth-mup", "one"), ("depth-mup", "two"), ("completep", "two")]
LABELS6 = {r: f"{r[0]} {r[1]}" for r in RULES6}
COLORS6 = dict(zip(RULES6, ("C0", "C1", "C2")))


def _collapse_records(slopes):
    """Depth scans as collapse_scan returns them: ``slopes[(rule, quantity)]`` gives ``value = L^slope`` (two
    layers per depth, two seeds) at step 1; a rule without an entry has no rows of that quantity."""
    from nfdlib.records import Records

    rows = Records()
    for (rule, quantity), slope in slopes.items():
        for L in (2, 4, 8, 16):
            for seed in (0, 1):
                for layer in (0, 1):
                    rows.append({"parametrization": rule[0], "block": rule[1], "n": 32, "L": L, "seed": seed,
                                 "step": 1, "layer": layer, "quantity": quantity,
                                 "value": (1 + 0.1 * seed) * L**slope})
    return rows


def _fitted_slope(line):
    x, y = (np.asarray(v, float) for v in line.get_data())
    return np.log(y[-1] / y[0]) / np.log(x[-1] / x[0])


def test_quantities_by_rule_leave_out_rules_without_the_quantity():
    records = _collapse_records({(RULES6[1], "dz_own"): -0.5, (RULES6[2], "dz_own"): 0.0,
                                 (RULES6[0], "du_own"): -0.5, (RULES6[1], "du_own"): -0.5, (RULES6[2], "du_own"): 0.0})
    series, fits = two_layer.quantities_by_rule(records, ["dz_own", "du_own"], RULES6, step=1)
    assert (RULES6[0], "dz_own") not in series and (RULES6[0], "du_own") in fits
    fig = viz.plot_quantities_by_rule(series, fits, [("dz_own", "own update"), ("du_own", "second layer")], RULES6,
                                      step=1, labels=LABELS6, colors=COLORS6, ylabel="rms change",
                                      guides={"du_own": (-0.5, RULES6[1])})
    ax1, ax2 = fig.axes[:2]
    assert len(ax1.collections) == 2 and len(ax2.collections) == 3  # one-layer blocks have no dz_own
    fits1 = [ln for ln in ax1.lines if "slope" in ln.get_label() and "guide" not in ln.get_label()]
    assert [_fitted_slope(ln) for ln in fits1] == pytest.approx([-0.5, 0.0])
    assert [ln.get_color() for ln in fits1] == [COLORS6[RULES6[1]], COLORS6[RULES6[2]]]
    assert not any("guide" in ln.get_label() for ln in ax1.lines)  # a guide only where one is given
    guide = [ln for ln in ax2.lines if "guide" in ln.get_label()]
    assert len(guide) == 1 and _fitted_slope(guide[0]) == pytest.approx(-0.5)
    assert ax1.get_title() == "own update, step 1" and ax1.get_ylabel() == "rms change"
    assert ax1.get_xlabel() == "depth L (log2 scale)"
    plt.close(fig)


def test_kernel_growth_draws_three_panels_and_offsets_the_shares():
    from nfdlib.stats import fit_loglog

    L = np.repeat([2.0, 4.0, 8.0], 2)
    series = {(RULES6[0], "lambda"): (L, 2.0 * L**0.0), (RULES6[1], "lambda"): (L, 1.0 * L**0.1),
              (RULES6[2], "lambda"): (L, 1.5 * L**0.0), (RULES6[1], "odds"): (L, 0.5 * L**0.5),
              (RULES6[2], "odds"): (L, 0.5 + 0 * L), (RULES6[1], "share"): (L, L / (L + 2)),
              (RULES6[2], "share"): (L, 0.3 + 0 * L)}
    fits = {k: fit_loglog(*v) for k, v in series.items() if k[1] != "share"}
    fig = viz.plot_kernel_growth(series, fits, RULES6, labels=LABELS6, colors=COLORS6, title="size",
                                 guide=(0.5, RULES6[1]))
    lam, odds, share = fig.axes[:3]
    assert len(lam.collections) == 3 and len(odds.collections) == 2  # one-layer blocks have no odds
    for ax in (lam, odds):
        guide = [ln for ln in ax.lines if "guide" in ln.get_label()]
        assert len(guide) == 1 and _fitted_slope(guide[0]) == pytest.approx(0.5)
    lines = [ln for ln in share.lines if ln.get_label() in LABELS6.values()]
    assert [ln.get_label() for ln in lines] == [LABELS6[RULES6[1]], LABELS6[RULES6[2]]]
    x1, x2 = (np.asarray(ln.get_xdata()) for ln in lines)
    assert np.allclose(x1 * x2, L**2) and np.all(x1 < L)  # offset symmetrically about the true depth
    np.testing.assert_allclose(lines[0].get_ydata(), L / (L + 2))
    assert lam.get_title() == "size" and share.get_ylabel() == "share tr Θ₁ / tr Θ"
    plt.close(fig)


def _small_depth_sweep(shift):
    lrs = 2.0 ** np.arange(-3, 3.01)
    depths = np.array([2, 4, 8])
    steps = np.array([0, 10, 20])
    loss = np.empty((3, lrs.size, 2, steps.size))
    for d in range(3):
        loss[d] = (1 + 0.1 * (np.log2(lrs)[:, None, None] - shift - 0.3 * d) ** 2) * np.array([3.0, 1.5, 1.0])
    return {"L": depths, "lr": lrs, "seed": np.array([0, 1]), "steps": steps, "train_loss": loss,
            "val_loss": loss * 1.1, "diverged": np.zeros(loss.shape[:3], bool), "diverged_at": -np.ones(loss.shape[:3])}


def test_transfer_grid_puts_rules_in_columns_and_metrics_in_rows():
    grid = {RULES6[0]: _small_depth_sweep(0.0), RULES6[2]: _small_depth_sweep(1.0)}
    keys = ("val_loss", "train_loss")
    fig = viz.plot_transfer_grid(grid, keys, curve_optima=optima.transfer_grid_optima(grid, keys, 10),
                                 labels=LABELS6, where="task, n = 8", step=10, ylabel_suffix=" (10 steps)")
    axes = np.array(fig.axes[:4]).reshape(2, 2)
    assert [ax.get_title() for ax in axes[0]] == [f"{LABELS6[r]} · task, n = 8" for r in grid]
    assert [ax.get_title() for ax in axes[1]] == ["", ""]
    assert axes[0, 0].get_ylabel() == "validation loss after training (10 steps)" and axes[0, 1].get_ylabel() == ""
    assert axes[1, 0].get_ylabel() == "training loss after training (10 steps)"
    np.testing.assert_allclose(axes[1, 1].lines[0].get_ydata(), grid[RULES6[2]]["train_loss"][0, :, 0, 1])  # step 10
    assert axes[0, 1].get_legend() is not None and axes[0, 0].get_legend() is None  # depths, beside the last panel
    assert axes[0, 0].get_shared_y_axes().joined(axes[0, 0], axes[0, 1])
    assert not axes[0, 0].get_shared_y_axes().joined(axes[0, 0], axes[1, 0])
    plt.close(fig)
    with pytest.raises(ValueError, match="sweeps_by_rule"):
        viz.plot_transfer_grid({}, curve_optima={}, labels=LABELS6, where="")


def test_pilot_marks_the_plateaus_and_the_budget():
    sweep = _small_depth_sweep(0.0)
    one = {k: (v[:1] if k in ("L", "train_loss", "val_loss", "diverged", "diverged_at") else v)
           for k, v in sweep.items()}
    pilot = {("a", 16, *RULES6[1]): one, ("a", 16, *RULES6[2]): one}
    rows = {("a", 16, *RULES6[1]): {"plateau_step": 10}, ("a", 16, *RULES6[2]): {"plateau_step": None}}
    fig = viz.plot_pilot(pilot, rows, {"a": 16, "b": 32}, labels=LABELS6, colors=COLORS6, budget=15,
                         title="pilot {task}, n = {n}")
    a, b = fig.axes[:2]
    curves = [ln for ln in a.lines if ln.get_label() in LABELS6.values()]
    assert len(curves) == 2
    from nfdlib.optima import best_loss_by_step

    np.testing.assert_allclose(curves[0].get_ydata(), best_loss_by_step(one)[0])
    vertical = sorted((ln.get_xdata()[0], ln.get_linestyle()) for ln in a.lines if ln not in curves)
    assert vertical == [(10, ":"), (15, "--")]  # the plateau reached (dotted), the budget (dashed), none for None
    assert a.get_title() == "pilot a, n = 16" and b.get_title() == "pilot b, n = 32"
    assert [ln.get_xdata()[0] for ln in b.lines] == [15]  # a task without results still shows the budget
    plt.close(fig)


@pytest.mark.parametrize("log", [False, True])
def test_robust_limits_leave_one_spike_out_and_mark_it_on_the_edge(log):
    bulk = np.linspace(1.0, 1.3, 40)
    lo, hi = viz.robust_limits(np.r_[bulk, 50.0, np.nan], log=log)
    assert lo < 1.0 and 1.3 < hi < 2.0  # the bulk sets the range, not the spike (nor the NaN)
    assert viz.robust_limits(bulk, log=log)[1] == pytest.approx(hi)  # so the range is the bulk's alone
    lo2, hi2 = viz.robust_limits(np.r_[bulk, 1.6], log=log)
    assert lo2 < 1.0 and hi2 > 1.6  # a point near the bulk is never cut off
    fig, ax = plt.subplots()
    assert viz.mark_outside(ax, [1, 2, 3], [1.1, 50.0, np.nan], (lo, hi)) == 1
    (mark,) = ax.lines
    assert mark.get_marker() == "^" and mark.get_ydata()[0] == pytest.approx(hi)  # on the top edge, pointing out
    assert "50" in ax.texts[0].get_text()
    plt.close(fig)
    fig, ax = plt.subplots()  # two points beyond the top at one x share a triangle and list both values
    assert viz.mark_outside(ax, [4, 4, 1], [60.0, 50.0, 0.1], (lo, hi)) == 3
    assert [ln.get_marker() for ln in ax.lines] == ["v", "^"] and ax.texts[1].get_text() == "60, 50"
    plt.close(fig)
    with pytest.raises(ValueError, match="values"):
        viz.robust_limits([np.nan, -1.0], log=True)


def test_transfer_grid_and_best_by_depth_ranges_are_not_set_by_one_spike():
    spiked = _small_depth_sweep(0.0)
    spiked["val_loss"] = spiked["val_loss"].copy()
    spiked["val_loss"][1, -1] = 300.0  # one depth close to diverging at the top rate
    grid = {RULES6[0]: spiked, RULES6[2]: _small_depth_sweep(1.0)}
    fig = viz.plot_transfer_grid(grid, ("val_loss",), curve_optima=optima.transfer_grid_optima(grid, ("val_loss",), 10),
                                 labels=LABELS6, where="w", step=10)
    assert fig.axes[0].get_ylim()[1] < 10 and fig.axes[1].get_ylim() == fig.axes[0].get_ylim()
    assert sum(ln.get_marker() == "^" for ln in fig.axes[0].lines) == 1  # the spike, marked on the edge
    assert not any(ln.get_marker() == "^" for ln in fig.axes[1].lines)
    plt.close(fig)
    rows = [{"L": L, "test_loss": v, "test_loss_sem": 0.01} for L, v in zip((2, 4, 8, 16), (0.05, 0.051, 0.9, 0.049))]
    best = {("t", 64, *RULES6[0]): rows, ("t", 64, *RULES6[2]): [dict(r, test_loss=0.052) for r in rows]}
    fig = viz.plot_best_by_depth(best, "t", [64, 128], RULES6, [("test_loss", "test loss")], labels=LABELS6,
                                 colors=COLORS6)
    (ax,) = fig.axes[:1]
    assert ax.get_ylim()[1] < 0.2 and ax.get_title() == "t, n = 64"  # one row: width 128 has no results
    assert sum(ln.get_marker() == "^" for ln in ax.lines) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="best holds no result"):
        viz.plot_best_by_depth(best, "other", [64], RULES6, [("test_loss", "test loss")], labels=LABELS6,
                               colors=COLORS6)


# -- figures of notebook 07 -------------------------------------------------------------------------------------
def test_limit_extrapolation_draws_the_solver_and_the_fitted_limit():
    from nfdlib import scaling as sc

    Ks = np.array([2, 4, 8, 16])
    losses = 0.2 + 0.4 / Ks[:, None] + np.array([[0.0, 0.002, -0.002]])  # three seeds, E_NFD = 0.2
    est = sc.limit_estimate(Ks, losses, K_min=4)
    fig = viz.plot_limit_extrapolation(Ks, losses, est, M=64, K_min=4, steps=10,
                                       particles={"Ms": [32, 64], "K": 4}, particle_means=[0.31, 0.30])
    left, right = fig.axes
    bars = left.containers[0]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), losses.mean(1))
    se = losses.std(1, ddof=1) / np.sqrt(3)
    seg = bars.lines[2][0].get_segments()
    np.testing.assert_allclose([s[1, 1] - s[0, 1] for s in seg], 4 * se)  # bars of two standard errors
    fit = [ln for ln in left.lines if ln.get_label() == "fit E_NFD + b/K"][0]
    assert fit.get_xdata()[0] == 4 and fit.get_xdata()[-1] == 64  # from K_min to four times the largest grid
    np.testing.assert_allclose(fit.get_ydata()[0], est["fit"].predict(L=4))
    limit = [ln for ln in left.lines if ln.get_label().startswith("E_NFD")][0]
    assert limit.get_ydata()[0] == pytest.approx(est["limit"]) and est["limit"] == pytest.approx(0.2, abs=1e-3)
    np.testing.assert_allclose(right.lines[0].get_ydata(), [0.31, 0.30])
    assert right.get_xlabel() == "particles M at K = 4 (log2 scale)" and "3 seeds" in left.get_title()
    plt.close(fig)


def _size_table():
    from nfdlib import scaling as sc

    n = np.repeat([16, 32, 64, 16, 32], 2)
    L = np.repeat([2, 2, 2, 4, 4], 2)
    loss = 0.1 + 1.0 / n + 0.5 / L + np.tile([0.001, -0.001], 5)
    return sc.size_table(n, L, np.tile([0, 1], 5), loss)


def test_depth_limits_draw_one_line_and_one_limit_per_depth():
    table = _size_table()
    fig, ax = plt.subplots()
    viz.plot_depth_limits(ax, table, [2, 4, 8], lambda L: 0.1 + 0.5 / L, 0.1)
    assert len(ax.containers) == 2  # no line for L = 8, absent from the table
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(), 0.1 + 1.0 / np.array([16, 32, 64]) + 0.25,
                               rtol=1e-9)
    flat = sorted(float(ln.get_ydata()[0]) for ln in ax.lines if list(ln.get_xdata()) == [0, 1])  # axhline
    assert flat == pytest.approx([0.1, 0.1 + 0.5 / 4, 0.1 + 0.5 / 2])  # E_NFD and each depth's own limit
    plt.close(fig)


def test_deviations_split_fitted_and_unresolved_biases():
    from nfdlib.stats import fit_loglog

    n = np.array([16.0, 32, 64, 128])
    dev = {"n": n, "spread": 0.4 * n**-0.5, "bias": np.array([0.05, 0.025, 0.001, -0.001])}
    ok_s, ok_b = np.ones(4, bool), np.array([True, True, False, False])
    fig = viz.plot_deviations(dev, ok_s, ok_b, fit_loglog(n, dev["spread"]), fit_loglog(n[:2], dev["bias"][:2]),
                              title="seeds")
    ax = fig.axes[0]
    spread, bias, unresolved = ax.collections
    np.testing.assert_allclose(spread.get_offsets()[:, 1], dev["spread"])
    np.testing.assert_allclose(bias.get_offsets()[:, 0], [16, 32])
    np.testing.assert_allclose(unresolved.get_offsets()[:, 1], [0.001, 0.001])  # |bias|
    assert [_fitted_slope(ln) for ln in ax.lines] == pytest.approx([-0.5, -1.0])
    assert ax.lines[0].get_ydata()[0] == pytest.approx(dev["spread"].max())
    assert "slope -0.50" in spread.get_label() and ax.get_title() == "seeds"
    plt.close(fig)


def test_limit_moves_draw_each_setting_and_the_steps():
    sweeps_ = {"lr": {"values": [0.25, 0.5, 1.0]}, "T": {"values": [0.5, 1.0]}}
    moves = {("lr", "train_loss"): np.array([0.5, 0.3, 0.2]), ("lr", "test_loss"): np.array([0.9, 0.8, 0.85]),
             ("T", "train_loss"): np.array([0.4, 0.3]), ("T", "test_loss"): np.array([0.7, 0.6])}
    curves = {"train_loss": np.array([1.0, 0.5, 0.2]), "test_loss": np.array([1.0, 0.8, 0.7])}
    fig = viz.plot_limit_moves(sweeps_, moves, {"lr": "rate", "T": "horizon"}, curves)
    lr, T, steps = fig.axes
    np.testing.assert_allclose(lr.lines[0].get_ydata(), moves[("lr", "train_loss")])
    np.testing.assert_allclose(T.lines[1].get_ydata(), moves[("T", "test_loss")])
    assert lr.get_xlabel() == "rate (log2 scale)" and [ln.get_linestyle() for ln in lr.lines] == ["-", "--"]
    np.testing.assert_allclose(steps.lines[0].get_xdata(), [0, 1, 2])
    np.testing.assert_allclose(steps.lines[1].get_ydata(), curves["test_loss"])
    plt.close(fig)


def test_frontier_splits_fitted_and_held_out_runs():
    table = _size_table()
    held = np.array([False, False, True, False, True])
    budgets = np.array([1e3, 1e4])
    front = [{"loss": 0.5, "loss_lo": 0.4, "loss_hi": 0.6}, {"loss": 0.3}]
    fig = viz.plot_frontier(table, held, budgets, front)
    ax = fig.axes[0]
    fitted, out = ax.collections[:2]
    np.testing.assert_allclose(fitted.get_offsets()[:, 1], table.mean[~held])
    np.testing.assert_allclose(out.get_offsets()[:, 0], table.var("flops")[held])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.5, 0.3])
    plt.close(fig)
