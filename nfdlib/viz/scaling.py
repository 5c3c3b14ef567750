"""Figures of scaling laws against the computed limit: the limit, the gap, the frontier and each rule's arms.

Scaling laws against the computed limit: the figures of notebook 07, the limit E_NFD and its extrapolation,
each depth's limit, the distance of trained networks to the limit, what moves the limit, the compute-optimal
frontier, the signed bias, each rule's width and depth arms, and loss along lines of constant aspect ratio.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..stats import SlopeFit
from ..validation import check_choice
from .base import legend_outside


def plot_limit_extrapolation(Ks, losses, estimate: dict, *, M: int, K_min: int, steps: int, particles: dict,
                             particle_means, particle_se=None, curve=None, curve_label: str = "fit E_NFD + b/K"):
    """Notebook 07, section 2.1: the limit ``E_NFD`` and its two checks. Left: the reused solver's loss
    ``losses[K, seed]`` against its grid ``Ks`` (seed mean, two standard errors), the fit ``E_NFD + b/K`` from
    ``estimate`` (:func:`nfdlib.scaling.limit_estimate`: ``fit``, ``limit``, ``lo``, ``hi``) drawn from ``K_min`` to
    four times the largest grid, and the limit with its interval. Right: the seed-mean loss ``particle_means``
    against the particle counts ``particles["Ms"]`` at grid ``particles["K"]``, with two standard errors
    ``particle_se`` when given. ``curve`` (a function of ``K``, labelled ``curve_label``) replaces the fit's line."""
    Ks, losses = np.asarray(Ks), np.asarray(losses, float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
    ax = axes[0]
    seeds = losses.shape[1]
    se = losses.std(1, ddof=1) / np.sqrt(seeds) if seeds > 1 else np.zeros(len(Ks))
    ax.errorbar(Ks, losses.mean(1), yerr=2 * se, fmt="ko", capsize=3, label=f"reused solver, M = {M} (2 SE)")
    KK = np.geomspace(K_min, Ks.max() * 4, 50)
    line = curve if curve is not None else (lambda k: estimate["fit"].predict(L=k))
    ax.plot(KK, [line(k) for k in KK], "k--", lw=1, label=curve_label)
    ax.axhline(estimate["limit"], color="C3", label="E_NFD (K -> infinity)")
    ax.axhspan(estimate["lo"], estimate["hi"], color="C3", alpha=0.2, lw=0)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("solver grid K = depth L of the limit network (log2 scale)")
    ax.set_ylabel(f"train loss after {steps} GD steps")
    ax.set_title(f"the limit of true networks ({seeds} seeds)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    if particle_se is None:
        ax.plot(particles["Ms"], particle_means, "o-", color="k")
    else:
        ax.errorbar(particles["Ms"], particle_means, yerr=2 * np.asarray(particle_se, float), fmt="o-", color="k",
                    capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"particles M at K = {particles['K']} (log2 scale)")
    ax.set_ylabel("seed-mean train loss" + (" (2 SE)" if particle_se is not None else ""))
    ax.set_title("particle check", fontsize=9)
    return fig


def plot_depth_limits(ax, table, depths: Sequence[int], limit_of, limit: float):
    """Notebook 07, section 2.2: the seed-mean loss of a :class:`nfdlib.scaling.SizeTable` against width (one
    standard error), one line per depth of ``depths`` present in the table, each with its own ``n -> infinity``
    limit ``limit_of(L)`` dotted in the same colour, and the joint limit ``limit`` as a black line."""
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(depths)))
    for L, color in zip(depths, colors):
        sel = np.flatnonzero(table.L == L)
        if sel.size:
            ax.errorbar(table.n[sel], table.mean[sel], yerr=table.se[sel], fmt="o-", ms=3, capsize=2, color=color,
                        label=f"L = {L}")
            ax.axhline(limit_of(L), color=color, ls=":", lw=1)
    ax.axhline(limit, color="k", lw=1.2, label="E_NFD")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n (log2 scale)")
    ax.set_ylabel("seed-mean train loss (1 SE)")
    ax.set_title("dotted: each depth's n -> infinity limit (solver at K = L)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return ax


def plot_deviations(dev: dict, spread_ok, bias_ok, fit_spread: SlopeFit, fit_bias: SlopeFit | None, *, title: str):
    """Notebook 07, section 2.4: the distance of trained networks to the limit at their own depth against width,
    from :func:`nfdlib.scaling.deviations` (``n``, ``spread``, ``bias``): one network's spread where ``spread_ok``,
    the bias of the seed mean where ``bias_ok`` (with their fitted slopes; ``fit_bias=None``: not fitted), the
    unresolved biases as open squares, and slope guides ``-1/2`` (dotted) and ``-1`` (dashed) from the largest
    spread."""
    spread_ok, bias_ok = np.asarray(spread_ok, bool), np.asarray(bias_ok, bool)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter(dev["n"][spread_ok], dev["spread"][spread_ok], s=12, color="C0",
               label=f"one network's spread (seed sd): slope {fit_spread}")
    ax.scatter(dev["n"][bias_ok], dev["bias"][bias_ok], s=12, color="C3", marker="s",
               label="bias of the seed mean" + (f": slope {fit_bias}" if fit_bias else ""))
    ax.scatter(dev["n"][~bias_ok], np.abs(dev["bias"][~bias_ok]), s=10, facecolors="none", edgecolors="C3",
               alpha=0.5, label="|bias| within 2 SE of zero (not fitted)")
    nn = np.geomspace(dev["n"].min(), dev["n"].max(), 20)
    for slope, style in ((-0.5, ":"), (-1.0, "--")):
        ax.plot(nn, dev["spread"][spread_ok].max() * (nn / nn[0]) ** slope, "k" + style, lw=0.8,
                label=f"slope {slope}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n (log2 scale)")
    ax.set_ylabel("distance to the limit at the same depth")
    ax.set_title(title, fontsize=7)
    ax.legend(fontsize=6)
    return fig


def plot_limit_moves(sweeps: dict, moves: dict, labels: dict, step_curves: dict):
    """Notebook 07, section 2.6: what moves the limit itself. One panel per setting ``name`` of ``labels``
    (name -> x label): the extrapolated loss after training relative to before, ``moves[(name, key)]`` against
    ``sweeps[name]["values"]``, for the training (``o-``) and test (``s--``) loss; a last panel with the limit
    loss against the GD step, ``step_curves[key]`` (training solid, test dashed)."""
    styles = {"train_loss": ("o-", "-"), "test_loss": ("s--", "--")}
    fig, axes = plt.subplots(1, len(labels) + 1, figsize=(17, 3.5))
    for ax, (name, xlabel) in zip(axes, labels.items()):
        for key in ("train_loss", "test_loss"):
            ax.plot(sweeps[name]["values"], moves[(name, key)], styles[key][0],
                    label=key.replace("_", " ") + " (K -> inf)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel + " (log2 scale)")
        ax.set_ylabel("limit loss / loss before training")
        ax.legend(fontsize=7)
    ax = axes[-1]
    for key, curve in step_curves.items():
        ax.plot(np.arange(len(curve)), curve, "k" + styles[key][1], label=key.replace("_", " ") + " (K -> inf)")
    ax.set_yscale("log")
    ax.set_xlabel("GD steps")
    ax.set_ylabel("limit loss")
    ax.legend(fontsize=7)
    return fig


def plot_frontier(table, held, budgets, frontier: Sequence[dict], *, xlabel: str = "training compute C, FLOPs "
                  "(log scale)", ylabel: str = "seed-mean test loss"):
    """Notebook 07, section 3.1: the seed-mean loss of every size of a :class:`nfdlib.scaling.SizeTable` against
    its training compute, the runs a law was fitted on (gray) and the held-out ones (``held``, orange), and the
    compute-optimal frontier predicted by that law (rows of :func:`nfdlib.scaling.fitted_frontier` at ``budgets``: the
    loss, with the band ``loss_lo`` to ``loss_hi`` where given)."""
    held = np.asarray(held, bool)
    flops = table.var("flops")
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.scatter(flops[~held], table.mean[~held], s=12, color="gray", label="fitted runs")
    ax.scatter(flops[held], table.mean[held], s=18, color="C1", label="held-out runs")
    ax.plot(budgets, [r["loss"] for r in frontier], "k-", label="frontier of the fit on the fitted runs")
    ax.fill_between(budgets, [r.get("loss_lo", np.nan) for r in frontier],
                    [r.get("loss_hi", np.nan) for r in frontier], color="k", alpha=0.15, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return fig


def plot_signed_bias(dev: dict, se, fits: dict, spread_fit: SlopeFit, *, title: str):
    """Notebook 07, section 2.4, every size kept whatever its sign. Left: the seed-mean bias times the width,
    ``n x bias`` (flat for a ``1/n`` bias), against ``n`` with two standard errors ``se`` (from
    :func:`nfdlib.scaling.smoothed_se`), and the fitted ``a n^-p + d`` of each :class:`nfdlib.scaling.BiasFit` in
    ``fits`` (label -> (fit, widths it was fitted on)). Right: one network's spread against ``n`` with its
    ``spread_fit`` and slope guides ``-1/2`` and ``-1``."""
    n, bias, se = np.asarray(dev["n"], float), np.asarray(dev["bias"], float), np.asarray(se, float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    ax = axes[0]
    jitter = np.exp(0.08 * (np.log2(np.asarray(dev["L"], float)) - 3.5))  # depths side by side at each width
    ax.errorbar(n * jitter, n * bias, yerr=2 * n * se, fmt="s", ms=3, color="C3", ecolor="C3", alpha=0.6,
                capsize=0, label="n x seed-mean bias (2 SE), one point per depth")
    ax.axhline(0, color="k", lw=0.8)
    for (label, (fit, widths)), style in zip(fits.items(), ("-", "--", ":")):
        nn = np.geomspace(min(widths), max(widths), 50)
        ax.plot(nn, nn * fit.predict(nn), "k" + style, lw=1.2, label=f"{label}: {fit}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("width n (log2 scale)")
    ax.set_ylabel("n x (seed mean - limit at its depth)")
    ax.set_title(title, fontsize=8)
    legend_outside(ax, where="below", fontsize=6)
    ax = axes[1]
    ok = np.isfinite(dev["spread"]) & (dev["spread"] > 0)
    ax.scatter(n[ok], dev["spread"][ok], s=10, color="C0", label=f"one network's spread (seed sd): {spread_fit}")
    nn = np.geomspace(n.min(), n.max(), 20)
    top = np.exp(spread_fit.intercept) * nn[0] ** spread_fit.slope
    for slope, style in ((-0.5, ":"), (-1.0, "--")):
        ax.plot(nn, top * (nn / nn[0]) ** slope, "k" + style, lw=0.8, label=f"slope {slope}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n (log2 scale)")
    ax.set_ylabel("seed-to-seed sd of the loss")
    legend_outside(ax, where="below", fontsize=6)
    return fig


def plot_rule_arms(trends: dict, labels: dict, *, widths_at: int, depths_at: int, thick: str):
    """Notebook 07, section 3.4: each rule's seed-mean test loss along the width arm (at depth ``widths_at``) and
    the depth arm (at width ``depths_at``), ``trends[(rule, "n" or "L")]`` from :func:`nfdlib.scaling.arm_trend`;
    the rule ``thick`` drawn thick, a cross on each size where a run diverged (at the top of the panel), the
    legend below the panels so that it hides no data."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for (rule, label), color in zip(labels.items(), plt.cm.tab10(np.arange(len(labels)))):
        for ax, along in zip(axes, ("n", "L")):
            tr = trends[(rule, along)]
            ax.plot(tr["sizes"], tr["means"], "o-", ms=4, lw=2.4 if rule == thick else 1, color=color,
                    label=label if along == "n" else None)
            bad = np.asarray(tr["diverged"]) > 0
            if bad.any():
                ax.plot(np.asarray(tr["sizes"])[bad], np.full(bad.sum(), 0.97), "x", ms=8, color=color,
                        transform=ax.get_xaxis_transform())
    for ax, xl in zip(axes, (f"width n at L = {widths_at}", f"depth L at n = {depths_at}")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xl + " (log2 scale)")
        ax.set_ylabel("seed-mean test loss (x: a run diverged)")
        ax.grid(True, alpha=0.3)
    fig.legend(loc="outside lower center", ncol=3, fontsize=7)
    return fig


def plot_by_aspect(ax, lines: Sequence[dict], x: str = "params", *, limit: tuple[float, float, float] | None = None,
                   cmap: str = "viridis", ylabel: str = "loss"):
    """Notebook 07, sections 2.2 and 3.1: seed-mean loss (error bars: one standard error) against ``x``
    (``"params"`` or ``"flops"``) along lines of constant aspect ratio ``L / n``, log-log, one colour per line of
    ``lines`` (:func:`nfdlib.scaling.aspect_lines`), with the fitted law along each line (dashed) where the line
    holds one; with ``limit = (value, lo, hi)``, the computed limit as a line and band."""
    check_choice("x", x, ("params", "flops"))
    colors = plt.get_cmap(cmap)(np.linspace(0, 0.85, max(len(lines), 1)))
    for line, color in zip(lines, colors):
        if len(line["x"]) == 0:
            continue
        r = line["ratio"]
        label = f"L/n = {r:g}" if r >= 1 else f"L/n = 1/{1 / r:g}"
        ax.errorbar(line["x"], line["mean"], yerr=np.nan_to_num(line["se"]), fmt="o-", ms=4, capsize=2,
                    color=color, label=label)
        if line["curve"] is not None:
            ax.plot(*line["curve"], "--", color=color, lw=1)
    if limit is not None:
        value, lo, hi = limit
        ax.axhline(value, color="k", lw=1.2, label="computed limit E_NFD")
        ax.axhspan(lo, hi, color="k", alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel({"params": "parameters N (log scale)", "flops": "training compute C, FLOPs (log scale)"}[x])
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    return ax
