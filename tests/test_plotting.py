"""Readable figures (nfdlib.plotting): alt text on every shown figure, legends beside the data, labelled ticks on
short log axes, and the figures of notebooks 03 and 04 drawn from small records."""

import base64

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nfdlib import gia, plotting  # noqa: E402


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
    assert plotting.readable_log_ticks(ax) is ax
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
    plotting.log2_axis(ax, [1, 2])
    plotting.readable_log_ticks(ax)
    ax.plot([1, 2], [1.0, 40.0])  # drawn after the call: the ticks follow the new limits
    fig.canvas.draw()
    labels = _labelled(ax)
    assert "1" in labels and "10" in labels, labels
    assert _labelled(ax, "x") == ["1", "2"]  # the fixed ticks of log2_axis are kept
    fig2, ax2 = plt.subplots()
    ax2.plot([1, 2], [1.2, 1.4])
    locator = ax2.yaxis.get_major_locator()
    plotting.readable_log_ticks(ax2)
    assert ax2.yaxis.get_major_locator() is locator  # a linear axis is left as it is
    plt.close("all")


def test_log2_axis_labels_every_size_as_a_plain_number():
    fig, ax = plt.subplots()
    ax.plot([2, 1024], [1, 2])
    plotting.log2_axis(ax, [2, 8, 32, 1024], label="depth L")
    fig.canvas.draw()
    assert ax.get_xscale() == "log"
    assert _labelled(ax, "x") == ["2", "8", "32", "1024"]
    assert ax.get_xlabel() == "depth L"
    with pytest.raises(ValueError, match=r"^values"):
        plotting.log2_axis(ax, [0, -1])
    plt.close(fig)


@pytest.mark.parametrize("where", ["right", "below"])
def test_legend_outside_puts_the_legend_off_the_data(where):
    fig, ax = plt.subplots(layout="constrained")
    ax.plot([0, 1], [0, 1], label="a")
    ax.plot([0, 1], [1, 0], label="b")
    legend = plotting.legend_outside(ax, where=where)
    fig.canvas.draw()
    box = legend.get_window_extent()
    axes_box = ax.get_window_extent()
    if where == "right":
        assert box.x0 >= axes_box.x1
    else:
        assert box.y1 <= axes_box.y0
    with pytest.raises(ValueError, match=r"^where"):
        plotting.legend_outside(ax, where="inside")
    plt.close(fig)


def test_show_sends_the_png_with_its_alt_text(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False, metadata=None: shown.append((obj, metadata)))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    plotting.show(fig, 'a line from (0, 0) to (1, 1),\n  "rising"')
    assert not plt.fignum_exists(fig.number), "the figure must be closed, so inline plotting does not draw it twice"
    (bundle, metadata), = shown
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG")
    assert metadata["image/png"]["alt"] == 'a line from (0, 0) to (1, 1), "rising"'
    assert 'alt="a line from (0, 0) to (1, 1), &quot;rising&quot;"' in bundle["text/html"]
    assert bundle["image/png"] in bundle["text/html"]
    with pytest.raises(ValueError, match=r"^alt"):
        plotting.show(plt.figure(), "  ")
    plt.close("all")


@pytest.fixture(scope="module")
def small_gia_records():
    init = gia.init_gap_summary(gia.init_gap([16, 32], [2, 4], seeds=range(3), P=3, d=5, progress=False))
    def coupling(widths, depths):
        return gia.coupling_digest(gia.coupling_sweep(widths, depths, seeds=(0, 1), steps=2, P=3, d=5, progress=False))

    return init, coupling([32], [2, 4]), coupling([16, 32], [4])


def test_figures_of_notebook_03_draw_from_small_records(small_gia_records):
    init, coupling, by_width = small_gia_records
    fig, fits = plotting.plot_init_gap(init, init)
    assert set(fits) == {2, 4}
    fig2, rows = plotting.plot_first_step_ratio({1.0: init.where(n=16)})
    val, theory, xs = rows[1.0]
    assert list(xs) == [2, 4] and theory == pytest.approx([gia.first_step_ratio_theory(1.0, L) for L in (2, 4)])
    fig3 = plotting.plot_coupling_depth(coupling)
    assert len(fig3.axes) == 3
    fig4 = plotting.plot_coupling_width_horizon(by_width, {1.0: coupling})
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
    fig, fits = plotting.plot_paired_gaps({"L": rec}, mid=1, last=3)
    assert set(fits) == {"L"}
    plotting.plot_paired_curves(rec)
    # A depth whose every seed goes non-finite after step 1 ends with a cross at its last finite value.
    bad = Records(dict(r, L=8, value=(r["value"] if r["step"] <= 1 else float("nan")))
                  for r in rec.where(L=4, quantity="train_loss"))
    fig = plotting.plot_architectures(Records(list(rec) + list(bad)), ["net"])
    crosses = [ln for ln in fig.axes[0].lines if ln.get_marker() == "x" and len(ln.get_xdata()) == 1]
    assert len(crosses) == 2  # true and decoupled of the diverged depth
    assert all(ln.get_xdata()[0] == 1 for ln in crosses)
    plt.close("all")


def test_figures_of_notebook_04_draw_from_arrays():
    fit = gia.extrapolate([16, 32, 64, 16, 32, 64], None, [1.1, 1.05, 1.02, 1.12, 1.04, 1.03], terms=("1/n",))
    Ks = [2, 4, 8]
    solver = {m: (np.array([1.0, 0.9, 0.85]), np.array([0.01, 0.01, 0.01])) for m in ("reused", "decoupled")}
    fig = plotting.plot_limit_validation([2, 4], Ks, {"true": [fit, fit], "decoupled": [fit, fit]}, solver,
                                         {"err": {2: np.array([0.1, 0.05]), 4: np.array([0.2, 0.1])}, "floor": 0.01},
                                         [(2, (0.1, 0.01), (0.2, 0.01), (0.1, 0.02))], steps=3, seeds=2, ns=[16, 32])
    assert len(fig.axes) == 3
    curves = {"ratio": (np.array([1.0, 1.1, 1.2]),) * 3, "function": (np.array([0.1, 0.1, 0.1]),) * 3,
              "conv": np.array([0.2, 0.1])}
    fits = {k: "+0.00 [-0.1, +0.1]" for k in ("ratio", "function", "conv")}
    fig = plotting.plot_two_limits(Ks, curves, fits, [fit, fit, fit],
                                   {"reused": np.ones(3), "decoupled": 2 * np.ones(3)}, M=64, seeds=1)
    assert len(fig.axes) == 2
    plt.close("all")


def test_legend_outside_draws_no_empty_box():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert plotting.legend_outside(ax) is None and ax.get_legend() is None
    plt.close(fig)


def test_slopes_by_rule_keep_coinciding_rules_visible_and_guides_where_asked():
    from nfdlib.stats import fit_loglog

    xs, ys = np.array([2.0, 4.0, 8.0, 16.0]), np.array([1.0, 0.7, 0.5, 0.35])
    labels = {"a": "rule a", "b": "rule b", "c": "rule c"}
    colors = {"a": "C0", "b": "C1", "c": "C2"}
    series = {"b": (xs, ys), "c": (xs, ys)}  # equal by construction, as two rules can be at the first step
    fits = {k: fit_loglog(*v) for k, v in series.items()}
    fig, ax = plt.subplots()
    plotting.plot_slopes_by_rule(ax, series, fits, labels=labels, colors=colors)
    scatters = ax.collections
    assert len(scatters) == 2
    x_b, x_c = (np.asarray(sc.get_offsets())[:, 0] for sc in scatters)
    assert np.all(x_b < x_c) and np.allclose(x_c / x_b, x_c[0] / x_b[0])  # side by side, the same factor apart
    assert not any("guide" in (ln.get_label() or "") for ln in ax.lines)  # no guide unless asked
    markers = [ln.get_marker() for ln in ax.lines]
    assert markers == [plotting.RULE_MARKERS[1], plotting.RULE_MARKERS[2]]  # by place in labels, not in series
    fig2, ax2 = plt.subplots()
    plotting.plot_slopes_by_rule(ax2, series, fits, labels=labels, colors=colors, guide=(-0.5, "b"))
    guide = [ln for ln in ax2.lines if "guide" in ln.get_label()]
    assert len(guide) == 1
    gx, gy = guide[0].get_data()
    slope = np.log(gy[-1] / gy[0]) / np.log(gx[-1] / gx[0])
    assert slope == pytest.approx(-0.5)
    assert gy[0] == pytest.approx(np.exp(fits["b"].intercept) * 2.0 ** fits["b"].slope)  # anchored at b's fit
    plt.close("all")
