"""Figures of hyperparameter transfer across depth: block quantities by rule, optima and drifts, transfer grids.

Hyperparameter transfer across depth: the figures of notebooks 05 (two-layer collapse) and 06 (learning-rate
correction): slopes of block quantities by rule, optima and best metrics by depth, the drift of the optimum with
the budget, the tangent kernel's growth, transfer plots side by side, and the plateau pilot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..optima import best_loss_by_step, final_metric
from .base import AXIS_LABELS, legend_outside, log2_axis, mark_outside, readable_log_ticks, robust_limits

RULE_MARKERS = "osD^v"


def _rule_marker(rule, labels: dict) -> str:
    return RULE_MARKERS[list(labels).index(rule) % len(RULE_MARKERS)]


def plot_slopes_by_rule(ax, series: dict, fits: dict, *, labels: dict, colors: dict, x_name: str = "L",
                        guide: tuple | None = None):
    """Log-log scatter and fitted power law of one quantity for several rules on one ``Axes``.

    ``series[rule] = (xs, ys)`` (one point per seed), ``fits[rule]`` its :class:`~nfdlib.stats.SlopeFit`. Each
    rule gets its own marker (by its place in ``labels``, the same in every panel) and a small offset along ``x``
    (the fitted lines are not shifted), so two rules whose values coincide by construction stay visible side by
    side. ``guide = (slope, rule)`` draws a dotted slope
    guide anchored at that rule's fit; leave it out where the prediction is flat."""
    rules = list(series)
    for j, rule in enumerate(rules):
        xs, ys = (np.asarray(v, float) for v in series[rule])
        ok = np.isfinite(xs) & np.isfinite(ys) & (ys > 0)
        shift = 2 ** (0.05 * (j - (len(rules) - 1) / 2))
        marker = RULE_MARKERS[list(labels).index(rule) % len(RULE_MARKERS)]
        ax.scatter(xs[ok] * shift, ys[ok], s=16, marker=marker, color=colors[rule], alpha=0.75)
        fit = fits[rule]
        xx = np.geomspace(xs[ok].min(), xs[ok].max(), 50)
        ax.plot(xx, np.exp(fit.intercept) * xx ** fit.slope, color=colors[rule], marker=marker, markevery=[0, -1],
                ms=4, label=f"{labels[rule]}: slope {fit}")
    if guide is not None:
        slope, rule = guide
        fit, xs = fits[rule], np.asarray(series[rule][0], float)
        xx = np.geomspace(xs.min(), xs.max(), 50)
        y0 = np.exp(fit.intercept) * xs.min() ** fit.slope
        ax.plot(xx, y0 * (xx / xs.min()) ** slope, ls=":", color="gray", lw=1.2,
                label=f"{x_name}^{slope:+g} guide (prediction for {labels[rule]})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    log2_axis(ax, np.concatenate([np.asarray(series[r][0], float) for r in rules]))
    readable_log_ticks(ax)
    return ax


def plot_optima_by_depth(results: dict, tasks: dict, rules: Sequence, *, labels: dict, colors: dict, per_seed: dict):
    """Notebook 06: the mean of the per-seed ``log2 eta*`` against depth, one panel per task, one line per rule and
    width (``results[(task, n, *rule)]``: depth sweeps of :mod:`nfdlib.sweeps`; ``per_seed`` under the same key:
    the per-seed optima per depth, :func:`nfdlib.optima.per_seed_optima`). Rules are offset slightly along ``L``
    so that equal optima stay visible."""
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.4), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, task in zip(axes[0], tasks):
        depths = []
        for j, rule in enumerate(rules):
            for n, marker in zip(tasks[task]["widths"], "os^"):
                key = (task, n) + tuple(rule)
                L = np.asarray(results[key]["L"], float)
                mean = np.array([np.nanmean(np.log2(e)) if np.isfinite(e).any() else np.nan for e in per_seed[key]])
                ax.plot(L * 2 ** (0.04 * (j - 1.5)), mean, marker=marker, ms=4, color=colors[rule],
                        ls="-" if n == max(tasks[task]["widths"]) else ":", label=f"{labels[rule]}, n = {n}")
                depths += list(L)
        log2_axis(ax, depths, label="depth L (log2 scale)")
        ax.set_title(f"{task}: optimum per depth (mean of per-seed log2 η*)", fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("log2 η* (base rate)")
    legend_outside(axes[0, -1])
    return fig


def plot_best_by_depth(best: dict, task: str, widths: Sequence[int], rules: Sequence, metrics: Sequence, *,
                       labels: dict, colors: dict, ylabel: str = "{label} at the best rate"):
    """Notebook 06: at each depth, each rule's metrics at its best rate (``best[(task, n, *rule)]``: rows of
    :func:`nfdlib.optima.best_by_depth` with ``metric`` and ``metric_sem``), one column per ``(metric, label)``
    of ``metrics`` and one row per width that has results, one line per rule, offset slightly along ``L``. The
    y-range of a panel is set by the bulk of its points (:func:`robust_limits`); a point outside is marked on the
    edge (:func:`mark_outside`), so one noisy depth cannot flatten the others."""
    shown = [n for n in widths if any((task, n) + tuple(rule) in best for rule in rules)]
    if not shown:
        raise ValueError(f"best holds no result for task {task!r} at widths {list(widths)}")
    fig, axes = plt.subplots(len(shown), len(metrics), figsize=(4.6 * len(metrics), 3.3 * len(shown)),
                             squeeze=False, layout="constrained")
    for i, n in enumerate(shown):
        for ax, (metric, label) in zip(axes[i], metrics):
            depths, values, drawn = [], [], []
            for j, rule in enumerate(rules):
                rows = best.get((task, n) + tuple(rule))
                if rows is None:
                    continue
                L = np.array([r["L"] for r in rows], float) * 2 ** (0.04 * (j - 1.5))
                mean = np.array([r[metric] for r in rows], float)
                sem = np.nan_to_num(np.array([r[f"{metric}_sem"] for r in rows], float))
                ax.errorbar(L, mean, yerr=sem, marker=RULE_MARKERS[j % 5], ms=4, capsize=2, color=colors[rule],
                            label=labels[rule])
                depths += [r["L"] for r in rows]
                values += [*mean, *(mean - sem), *(mean + sem)]
                drawn.append((L, mean, colors[rule]))
            limits = robust_limits(values, k=1.5)  # Tukey's inner fences: a long error bar runs off the panel
            ax.set_ylim(*limits)
            for L, mean, color in drawn:
                mark_outside(ax, L, mean, limits, color=color)
            log2_axis(ax, depths, label="depth L (log2 scale)")
            ax.set_ylabel(ylabel.format(label=label))
            ax.set_title(f"{task}, n = {n}", fontsize=9)
            ax.grid(True, alpha=0.3)
    legend_outside(axes[0, -1])
    return fig


def plot_budget_drift(drifts: dict, kinds: Sequence, budgets: Sequence[int], *, labels: dict, colors: dict,
                      flat_tol: float):
    """Notebook 06, trained to a plateau: the drift of each optimum (``kinds``: ``(kind, label)``) read from the
    same runs after shorter budgets, one line per sweep: ``drifts[(key, kind)]`` lists the
    :class:`nfdlib.optima.Drift` (:func:`nfdlib.optima.drift_of`) of the sweep ``key = (task, n, *rule)`` after
    each of ``budgets`` steps. The band of "transfers" (``+-flat_tol``) is shaded."""
    keys = list(dict.fromkeys(key for key, _ in drifts))
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.0), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, (kind, label) in zip(axes[0], kinds):
        for j, key in enumerate(keys):
            ds = drifts[(key, kind)]
            err = np.array([[d.slope - d.fit.lo, d.fit.hi - d.slope] if d.fit is not None else [np.nan, np.nan]
                            for d in ds]).T
            ax.errorbar(np.asarray(budgets, float) * 2 ** (0.03 * (j - 1.5)), [d.slope for d in ds], yerr=err,
                        marker=RULE_MARKERS[j % 5], ms=3, capsize=2, color=colors[key[2:]],
                        label=f"{labels[key[2:]]} ({key[0]}, n={key[1]})")
        ax.axhspan(-flat_tol, flat_tol, color="0.85", zorder=0)
        ax.axhline(0, color="k", lw=0.6)
        log2_axis(ax, budgets, label="budget: SGD steps (log2 scale)")
        ax.set_title(f"drift of the {label.split(' at ')[0]} (95% CI)", fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("slope of log2 η* against log2 L")
    legend_outside(axes[0, -1])
    return fig


def plot_quantities_by_rule(series: dict, fits: dict, quantities: Sequence, rules: Sequence, *, step: int,
                            labels: dict, colors: dict, ylabel: str, guides: dict | None = None, x: str = "L",
                            panel: tuple[float, float] = (4.5, 4.6)):
    """Notebook 06, section 2: one log-log panel per ``(quantity, title)`` of ``quantities``, the block-averaged
    quantity at ``step`` against ``x`` for each rule of ``rules``, one point per seed and its fitted power law
    (``series`` and ``fits`` keyed ``(rule, quantity)``: :func:`nfdlib.two_layer.quantities_by_rule`, drawn by
    :func:`plot_slopes_by_rule`). A rule without an entry for a quantity (one-layer blocks have no first internal
    layer) is left out of that panel. ``guides[quantity] = (slope, rule)`` draws a slope guide in that panel. The
    panels share the y axis, labelled ``ylabel``."""
    guides = guides or {}
    fig, axes = plt.subplots(1, len(quantities), figsize=(panel[0] * len(quantities), panel[1]), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, (quantity, title) in zip(axes[0], quantities):
        shown = [r for r in dict.fromkeys(tuple(r) for r in rules) if (r, quantity) in series]
        plot_slopes_by_rule(ax, {r: series[(r, quantity)] for r in shown}, {r: fits[(r, quantity)] for r in shown},
                            labels=labels, colors=colors, x_name=x, guide=guides.get(quantity))
        ax.set_title(f"{title}, step {step}", fontsize=8)
        ax.set_xlabel(f"{AXIS_LABELS[x].split(' (')[0]} (log2 scale)")
        legend_outside(ax, where="below", ncol=1)
    axes[0, 0].set_ylabel(ylabel)
    return fig


def plot_kernel_growth(series: dict, fits: dict, rules: Sequence, *, labels: dict, colors: dict, title: str,
                       guide: tuple | None = None):
    """Notebook 06, section 3: the tangent kernel at initialization against depth, three panels from
    ``series[(rule, what)] = (L, values)`` (one point per seed): ``"lambda"``, the largest eigenvalue of
    ``Theta/P``, and ``"odds"``, ``Theta_1/Theta_rest`` of the first internal layers, both log-log with the
    fitted power laws ``fits[(rule, what)]`` (:func:`plot_slopes_by_rule`; ``guide = (slope, rule)`` drawn in
    both), and ``"share"``, ``tr Theta_1 / tr Theta``, on a log2 depth axis. A rule without a series of a kind is
    left out of that panel; ``title`` heads the first panel."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8), layout="constrained")
    for ax, what in zip(axes, ("lambda", "odds")):
        shown = [r for r in rules if (r, what) in series]
        plot_slopes_by_rule(ax, {r: series[(r, what)] for r in shown}, {r: fits[(r, what)] for r in shown},
                            labels=labels, colors=colors, guide=guide)
    shown = [r for r in rules if (r, "share") in series]
    for j, rule in enumerate(shown):
        xs, share = (np.asarray(v, float) for v in series[(rule, "share")])
        axes[2].plot(xs * 2 ** (0.05 * (j - (len(shown) - 1) / 2)), share, _rule_marker(rule, labels), ms=4,
                     color=colors[rule], label=labels[rule])
    if shown:
        log2_axis(axes[2], series[(shown[0], "share")][0])
    for ax, ylabel, head in zip(axes, ("λ_max(Θ/P) at initialization (per unit η)", "odds Θ₁ / Θ_rest (traces)",
                                       "share tr Θ₁ / tr Θ"), (title, "kernel odds of the first internal layers",
                                                               "kernel share of the first internal layers")):
        ax.set(xlabel="depth L (log2 scale)", ylabel=ylabel)
        ax.set_title(head, fontsize=9)
        legend_outside(ax, where="below", ncol=1)
    return fig


def plot_transfer_grid(sweeps_by_rule: dict, keys: Sequence[str] = ("train_loss",), *, curve_optima: dict,
                       labels: dict, where: str, step: int | None = None, average: int = 1, ylabel_suffix: str = "",
                       panel: tuple[float, float] = (4.5, 3.9)):
    """Notebook 06: transfer plots (:func:`plot_transfer`) of several rules side by side, one
    column per entry of ``sweeps_by_rule`` (rule -> depth sweep), one row per metric of ``keys`` (read after
    ``step`` steps, averaged over ``average`` evaluations), the y axis shared along each row; ``curve_optima[(rule,
    key)]`` are the optima marked in each panel (:func:`nfdlib.optima.transfer_grid_optima` with the same ``keys``,
    ``step`` and ``average``). The top row is
    titled ``"<rule> · <where>"``, the first column carries the metric (with ``ylabel_suffix``), and the
    legend of depths sits outside the last panel of the top row. Each row's range is set by the bulk of its
    seed-mean points (:func:`robust_limits`); a rate whose mean lies outside (a run close to diverging) is marked
    on the edge with its value (:func:`mark_outside`)."""
    if not sweeps_by_rule:
        raise ValueError("sweeps_by_rule must hold at least one sweep")
    cols, rows = len(sweeps_by_rule), len(keys)
    fig, axes = plt.subplots(rows, cols, figsize=(panel[0] * cols, panel[1] * rows), sharey="row", squeeze=False,
                             layout="constrained")
    for j, (rule, sweep) in enumerate(sweeps_by_rule.items()):
        for i, key in enumerate(keys):
            ax = axes[i, j]
            plot_transfer(sweep, key, curve_optima=curve_optima[(rule, key)], ax=ax, legend=False, step=step,
                          average=average, title=f"{labels[rule]} · {where}" if i == 0 else None)
            ax.set_ylabel(METRIC_LABELS[key] + ylabel_suffix if j == 0 else "")
    for i, key in enumerate(keys):  # one range per row, set by the bulk of the seed-mean curves
        means = {rule: final_metric(sweep, key, step, average).reshape(-1, len(sweep["lr"]), len(sweep["seed"]))
                 .mean(-1) for rule, sweep in sweeps_by_rule.items()}
        limits = robust_limits(np.concatenate([m.ravel() for m in means.values()]), log=not key.endswith("_acc"))
        for j, (rule, sweep) in enumerate(sweeps_by_rule.items()):
            axes[i, j].set_ylim(*limits)
            lrs = np.broadcast_to(np.asarray(sweep["lr"], float), means[rule].shape)
            mark_outside(axes[i, j], lrs, means[rule], limits)
            readable_log_ticks(axes[i, j])
    legend_outside(axes[0, -1])
    return fig


def plot_pilot(pilot: dict, plateaus: dict, widths: dict, *, labels: dict, colors: dict, budget: int, title: str):
    """Notebook 06, trained to a plateau: one panel per task of ``widths`` (task -> width), for each pilot sweep
    ``pilot[(task, n, *rule)]`` (one depth) the best validation loss over the rates against the SGD step
    (:func:`nfdlib.optima.best_loss_by_step`), its plateau ``plateaus[key]["plateau_step"]`` (a row of
    :func:`nfdlib.optima.plateau_budget`, ``None``: not reached) dotted in the rule's colour, and ``budget``, the
    steps of the sweeps that follow, dashed. ``title`` is formatted with ``task`` and ``n``."""
    fig, axes = plt.subplots(1, len(widths), figsize=(6.5 * len(widths), 4.6), squeeze=False, layout="constrained")
    for ax, (task, n) in zip(axes[0], widths.items()):
        for key, sweep in pilot.items():
            if tuple(key[:2]) != (task, n):
                continue
            rule = tuple(key[2:])
            ax.plot(sweep["steps"], best_loss_by_step(sweep)[0], color=colors[rule], lw=1.2, label=labels[rule])
            if plateaus[key]["plateau_step"] is not None:
                ax.axvline(plateaus[key]["plateau_step"], color=colors[rule], ls=":", lw=1.2)
        ax.axvline(budget, color="k", lw=0.8, ls="--", label="budget of the sweeps below")
        ax.set_yscale("log")
        readable_log_ticks(ax)
        ax.set_xlabel("SGD steps (batch 64)")
        ax.set_ylabel("best validation loss over the rates")
        ax.set_title(title.format(task=task, n=n), fontsize=9)
        legend_outside(ax, where="below", ncol=2)
        ax.grid(True, alpha=0.3)
    return fig


# -- transfer plots (notebooks 00, 05, 06, 07 and the transfer widget) ---------------------------------------
METRIC_LABELS = {"train_loss": "training loss after training", "test_loss": "test loss after training",
                 "test_acc": "test accuracy after training", "val_loss": "validation loss after training",
                 "val_acc": "validation accuracy after training"}


def plot_transfer(sweep: Mapping, key: str = "train_loss", *, curve_optima: Sequence, ax=None,
                  title: str | None = None, cmap: str = "viridis", legend: bool = True, color=None,
                  label: str | None = None, step: int | None = None, average: int = 1):
    """A transfer plot: ``key`` at the end of training against ``log2 eta``, one curve per depth (mean over
    seeds with a min-max band), a dot at each curve's optimum, ``curve_optima[d]`` (the
    :class:`nfdlib.optima.Optimum` of depth ``d``'s seed-mean curve, :func:`nfdlib.optima.seed_mean_optima` with
    the same ``key``, ``step`` and ``average``). ``color`` and ``label`` override the per-depth colours and labels
    (for comparing single-depth sweeps). ``step`` and ``average`` read ``key`` as
    :func:`nfdlib.optima.final_metric` does (after ``step`` steps, averaged over the last ``average`` evaluations).

    A rate at which any seed diverged is a missing point; the optimum of a curve whose best point is at the
    edge of the grid is drawn as an open circle (it is only a bound).
    """
    values = final_metric(sweep, key, step, average)
    if values.ndim == 2:
        values = values[None]
    depths = np.atleast_1d(sweep.get("L", [0]))
    lrs = np.asarray(sweep["lr"], float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.4, 3.3))
    colors = plt.get_cmap(cmap)(np.linspace(0, 0.9, len(depths)))
    if color is not None:
        colors = [color] * len(depths)
    for d, (L, color) in enumerate(zip(depths, colors)):
        mean = values[d].mean(-1)
        lo, hi = values[d].min(-1), values[d].max(-1)
        ax.plot(lrs, mean, "-", marker=".", ms=4, color=color, label=label if label is not None else f"L = {L}")
        ax.fill_between(lrs, lo, hi, color=color, alpha=0.18, linewidth=0)
        opt = curve_optima[d]
        if math.isfinite(opt.lr):
            i = int(np.argmin(np.abs(lrs - opt.grid_lr)))
            ax.plot([opt.lr], [mean[i]], "o", ms=7, color=color, mfc="none" if opt.at_edge else color,
                    mec="k", mew=0.8, zorder=5)
    ax.set_xscale("log", base=2)
    if not key.endswith("_acc"):
        ax.set_yscale("log")
    ax.set_xlabel("base learning rate η (log2 scale)")
    ax.set_ylabel(METRIC_LABELS[key])
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    return ax
