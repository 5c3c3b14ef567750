"""Figures of gradient independence: true against decoupled backpropagation, at init and in training.

Gradient independence: the figures of notebook 03, the gap between true and decoupled backpropagation at
initialization, the first-step update ratio, the reused-weight coupling against depth, width and horizon, seed-
paired training and other architectures. The fits a verdict reads are computed by :mod:`nfdlib.gia` and passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .. import gia
from ..nfd.theory import first_step_ratio_theory
from ..records import Records
from ..stats import mean_interval
from .base import _errorbar, _shades, legend_outside, log2_axis, plot_loglog_fit, readable_log_ticks

THETA = "Θ"  # the tangent kernel (docs/reconstruction.md, section 2)


def plot_init_gap(fluct: Records, bias: Records, fits: dict):
    """Notebook 03, section 2. Left: one network's gap ``|G_true - E_B G| / |G_true|`` at ``tau = 0`` against
    ``n``, per depth, with the fitted slope of each depth, ``fits[L]`` (:func:`nfdlib.gia.init_gap_fits` of the
    ``G_rb`` rows of :func:`nfdlib.gia.init_gap_summary`). Right: ``n`` times the seed-mean relative bias of
    ``G_0`` and of the tangent kernel, with 95% intervals (flat if ``O(1/n)``). Returns the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    ax = axes[0]
    depths = sorted(fluct.unique("L"))
    for L, color in zip(depths, _shades(len(depths))):
        xs, val, lo, hi = gia.series(fluct, "n", "G_rb", L=L)
        plot_loglog_fit(ax, xs, val, fits[L], label=f"L = {L}", color=color, guides=(-0.5,) if L == depths[0] else ())
        _errorbar(ax, xs, val, lo, hi, "none", color=color, alpha=0.5)
    log2_axis(ax, fluct.unique("n"), label="width n (log2 scale)")
    readable_log_ticks(ax)
    ax.set_ylabel("|G_true − E_B G| / |G_true| at τ = 0")
    ax.set_title(f"fluctuation of one network ({fluct[0]['seeds']} seeds, 95% CI)", fontsize=9)
    legend_outside(ax, where="below")
    ax = axes[1]
    depths = sorted(bias.unique("L"))
    for i, (L, color) in enumerate(zip(depths, _shades(len(depths)))):
        for q, marker, name in (("G0_bias", "o", "G_0"), ("K_bias", "s", THETA)):
            xs, val, lo, hi = gia.series(bias, "n", q, L=L)
            shift = 1 + 0.04 * (i - (len(depths) - 1) / 2) + (0.02 if q == "K_bias" else 0)
            _errorbar(ax, xs * shift, xs * val, xs * lo, xs * hi, marker, ms=4, color=color,
                      label=f"{name}, L = {L}")
    ax.axhline(0, color="k", lw=0.8)
    log2_axis(ax, bias.unique("n"), label="width n (log2 scale)")
    ax.set_ylabel("n × relative bias (flat if O(1/n))")
    ax.set_title(f"bias of GIA: seed mean over {bias[0]['seeds']} seeds, 95% CI", fontsize=9)
    legend_outside(ax, where="below", ncol=3)
    return fig


def plot_first_step_ratio(cross: dict):
    """Notebook 03, section 3: the first-step ratio ``Theta_x / Theta`` against depth for each horizon ``T``
    (``cross[T]``: :func:`nfdlib.gia.init_gap_summary` records), with the infinite-width value at each ``L``
    (lines) and its ``L -> infinity`` limit (dotted); :func:`nfdlib.gia.first_step_ratios` gives the measured
    values beside the theory. Returns the figure."""
    fig, ax = plt.subplots(figsize=(7.2, 3.6), layout="constrained")
    depths = []
    for t, color in zip(cross, _shades(len(cross), plt.cm.plasma)):
        xs, val, lo, hi = gia.series(cross[t], "L", "cross_ratio")
        _errorbar(ax, xs, val, lo, hi, "o", color=color, label=f"measured, T = {t:g}")
        grid = np.array(sorted(set(np.geomspace(1, 2 * xs.max(), 40).astype(int))))
        ax.plot(grid, [first_step_ratio_theory(t, int(L)) for L in grid], color=color, lw=1,
                label=f"infinite width, T = {t:g}")
        ax.axhline(first_step_ratio_theory(t), color=color, ls=":", lw=1)
        depths += list(xs)
    log2_axis(ax, depths, label="depth L (log2 scale)")
    ax.set_ylabel(f"{THETA}_× / {THETA} (mean diagonal)")
    n = cross[next(iter(cross))][0]["n"]
    ax.set_title(f"first-step update ratio, n = {n}; dotted: L → ∞", fontsize=9)
    legend_outside(ax)
    return fig


def plot_coupling_depth(coupling: Records):
    """Notebook 03, section 4, against depth (records of :func:`nfdlib.coupling.coupling_digest`): per layer at
    step 1 (the reused-weight term, the drift, the noise floor, the decoupled control's upper bound), summed over
    layers (also every reused-weight term at the last step), and the profile along layer-time times ``L``."""
    def summary(step):
        return coupling.where(kind="summary", step=step)

    s1, last = summary(1), max(coupling.where(kind="summary").unique("step"))
    depths = sorted(s1.unique("L"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.0), layout="constrained")
    ax = axes[0]
    for q, style, label in (("layer_excess", "o-", "reused-weight term (excess over the floor)"),
                            ("layer_drift", "s--", "drift (weight updates)"), ("layer_floor", "^:", "noise floor")):
        _errorbar(ax, *gia.series(s1, "L", q, backward="true"), style, ms=4, label=label)
    xs, _, _, hi = gia.series(s1, "L", "layer_excess", backward="decoupled")
    ax.plot(xs, np.maximum(hi, 1e-4), "rv", ms=6, label="decoupled: 95% upper bound of the same term")
    first = gia.series(s1, "L", "layer_excess", backward="true")[1][0]
    ax.plot(xs, first * (xs / xs[0]) ** -1.0, "k:", lw=1, label="slope −1 guide")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-4)
    ax.set_ylabel("rms per coordinate, per layer")
    ax.set_title(f"per layer, step 1 (n = {s1[0]['n']}, {s1[0]['seeds']} seeds)", fontsize=9)
    ax = axes[1]
    for q, b, style, label in (("sum_excess", "true", "o-", "reused-weight term"),
                               ("sum_drift", "true", "s--", "drift"),
                               ("sum_floor", "true", "^:", "noise floor of the sum"),
                               ("sum_excess", "decoupled", "x-", "decoupled (control)")):
        _errorbar(ax, *gia.series(s1, "L", q, backward=b), style, ms=4, label=label + ", step 1")
    for b, style in (("true", "D-"), ("decoupled", "d:")):
        _errorbar(ax, *gia.series(summary(last), "L", "sum_total", backward=b), style, ms=4,
                  label=f"all reused-weight terms at step {last} ({b})")
    ax.set_ylabel("rms per coordinate of the sum over layers")
    ax.set_title("summed over the L layers", fontsize=9)
    ax = axes[2]
    prof = coupling.where(kind="profile", backward="true", quantity="excess_ms")
    for L, color in zip(depths, _shades(len(depths))):
        rows = sorted(prof.where(L=L), key=lambda r: r["layer"])
        bins = np.array_split(np.arange(len(rows)), min(4, len(rows)))  # one layer of a deep network is noisy
        tau = [np.mean([rows[i]["tau"] for i in idx]) for idx in bins]
        val = [L * np.sqrt(max(np.mean([rows[i]["value"] for i in idx]), 0)) for idx in bins]
        ax.plot(tau, val, "o-", color=color, ms=3, label=f"L = {L}")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("layer-time τ = ℓT/L (4 bins)")
    ax.set_ylabel("L × per-layer term (rms)")
    ax.set_title("profile along depth, true network (collapses if ∝ 1/L)", fontsize=9)
    for ax in axes[:2]:
        log2_axis(ax, depths, label="depth L (log2 scale)")
    readable_log_ticks(axes[0])
    for ax in axes:
        legend_outside(ax, where="below", ncol=1)
    return fig


def plot_coupling_width_horizon(by_width: Records, by_horizon: dict, fits: dict):
    """Notebook 03, section 4, continued. Left: the summed term, drift and floor against width (true network,
    step 1) with their fitted slopes ``fits[quantity]`` (:func:`nfdlib.gia.coupling_width_fits`). Right: summed
    term over summed drift against depth, one curve per horizon (``by_horizon[T]``:
    :func:`nfdlib.coupling.coupling_digest` records)."""
    s = by_width.where(kind="summary", step=1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ax = axes[0]
    for q, label in (("sum_excess", "reused-weight term (sum)"), ("sum_drift", "drift (sum)"),
                     ("sum_floor", "noise floor (sum)")):
        xs, val, _, _ = gia.series(s, "n", q, backward="true")
        plot_loglog_fit(ax, xs, val, fits[q], label=label, x_name="n",
                        guides=(-0.5,) if q == "sum_floor" else ())
    log2_axis(ax, s.unique("n"), label="width n (log2 scale)")
    readable_log_ticks(ax)
    ax.set_ylabel("rms per coordinate")
    ax.set_title(f"true network, L = {s[0]['L']}, step 1", fontsize=9)
    ax = axes[1]
    depths = []
    for j, (t, color) in enumerate(zip(by_horizon, _shades(len(by_horizon), plt.cm.plasma))):
        st = by_horizon[t].where(kind="summary", step=1)
        xs, val, lo, hi = gia.series(st, "L", "ratio_sum", backward="true")
        shift = 2 ** (0.06 * (j - (len(by_horizon) - 1) / 2))  # side by side, so no error bar hides another
        _errorbar(ax, xs * shift, val, lo, hi, "o-", color=color, label=f"T = {t:g}")
        depths += list(xs)
    log2_axis(ax, depths, label="depth L (log2 scale)")
    ax.set_ylabel("summed term / summed drift")
    first = by_horizon[next(iter(by_horizon))].where(kind="summary")[0]
    ax.set_title(f"horizon dependence (n = {first['n']}, step 1)", fontsize=9)
    for ax in axes:
        legend_outside(ax, where="below", ncol=1)
    return fig


def plot_paired_gaps(by: dict, mid: int, last: int):
    """Notebook 03, section 5: the output gap at steps ``mid`` and ``last`` and the first-step update ratio of
    seed-paired true and decoupled networks (:func:`nfdlib.gia.paired_training` records), one panel per swept
    size (``by = {"L": records, "n": records, "T": records}``). Returns the figure; the log-log fit of the output
    gap at step ``mid`` against each size is :func:`nfdlib.gia.paired_gap_fits`."""
    names = {"L": "depth L", "n": "width n", "T": "horizon T"}
    fig, axes = plt.subplots(1, len(by), figsize=(5 * len(by), 4.2), layout="constrained", squeeze=False)
    for ax, (x, rec) in zip(axes[0], by.items()):
        for q, step, style, label in (("out_gap", mid, "o-", f"output gap, step {mid}"),
                                      ("out_gap", last, "o:", f"output gap, step {last}"),
                                      ("update_ratio", 1, "s--", "update ratio, step 1")):
            summary = gia.paired_gap_summary(rec, q, by=(x,), step=step)
            xs, val, lo, hi = gia.series(summary, x, q)
            _errorbar(ax, xs, val, lo, hi, style, label=label)
        log2_axis(ax, rec.unique(x), label=f"{names.get(x, x)} (log2 scale)")
        ax.set_ylabel("relative size (dimensionless)")
        ax.set_title(f"{len(rec.unique('seed'))} seeds, 95% CI", fontsize=9)
        legend_outside(ax, where="below", ncol=1)
    return fig


def plot_paired_curves(records: Records):
    """Notebook 03, section 5: the output gap against the GD step for every depth, and the train loss of true
    and decoupled networks at the shallowest and deepest depth (seed means)."""
    depths = sorted(records.unique("L"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    ax = axes[0]
    for L, color in zip(depths, _shades(len(depths))):
        steps = sorted({r["step"] for r in records.where(L=L, quantity="out_gap")})
        vals = [mean_interval([r["value"] for r in records.where(L=L, quantity="out_gap", step=k)])[0] for k in steps]
        ax.plot(steps, vals, "-", color=color, label=f"L = {L}")
    ax.set_xlabel("GD step")
    ax.set_ylabel("output gap (seed mean)")
    ax = axes[1]
    for L, color in zip((depths[0], depths[-1]), ("C0", "C3")):
        for b, style in (("true", "-"), ("decoupled", "--")):
            rows = records.where(L=L, backward=b, quantity="train_loss")
            steps = sorted({r["step"] for r in rows})
            mean = [np.mean([r["value"] for r in rows if r["step"] == k]) for k in steps]
            ax.plot(steps, mean, style, color=color, label=f"L = {L}, {b}")
    ax.set_yscale("log")
    readable_log_ticks(ax)
    ax.set_xlabel("GD step")
    ax.set_ylabel("train loss (mean squared error, seed mean)")
    for ax in axes:
        legend_outside(ax)
    return fig


def plot_architectures(records: Records, names: Sequence[str]):
    """Notebook 03, section 6: train loss against the SGD step of true (solid) and decoupled (dashed) networks,
    one panel per architecture in ``names`` (the ``arch`` column of :func:`nfdlib.gia.paired_sweep` records),
    one colour per depth. Each panel has its own log axis, so a slow architecture does not flatten the others.
    Non-finite losses (diverged seeds) are left out of the mean; a curve whose every seed diverged ends with a
    cross at its last finite value."""
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2), layout="constrained", squeeze=False)
    for ax, name in zip(axes[0], names):
        depths = sorted(records.where(arch=name).unique("L"))
        for L, color in zip(depths, _shades(len(depths))):
            for b, style in (("true", "-"), ("decoupled", "--")):
                rows = records.where(arch=name, L=L, backward=b, quantity="train_loss")
                steps = sorted({r["step"] for r in rows})
                mean = [np.mean(v) if (v := [r["value"] for r in rows if r["step"] == k and np.isfinite(r["value"])])
                        else np.nan for k in steps]
                ax.plot(steps, mean, style, color=color, label=f"L = {L}" if b == "true" else None)
                finite = [i for i, v in enumerate(mean) if np.isfinite(v)]
                if finite and finite[-1] < len(mean) - 1:  # every seed diverged after this step: mark where
                    ax.plot(steps[finite[-1]], mean[finite[-1]], "x", color=color, ms=7, mew=2)
        ax.plot([], [], "kx", ms=7, mew=2, label="last finite value of a diverged run")
        ax.set_yscale("log")
        readable_log_ticks(ax)
        ax.set_title(f"{name} (solid: true, dashed: decoupled)", fontsize=9)
        ax.set_xlabel("SGD step")
        ax.set_ylabel("train loss (cross-entropy, seed mean)")
        legend_outside(ax, where="below", ncol=3)
    return fig
