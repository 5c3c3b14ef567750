"""Figures of the limits in width and depth: error sweeps, bias bounds, trajectories and the two limits.

The infinite-width and infinite-depth limits: the figures of notebooks 02 (simulating NFD) and 04 (the limit
of true backpropagation): error sweeps and their bias bounds, training trajectories, nondegeneracy, gaps against
size, errors against depth, and the validation of the reused-weight solver against wide networks.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..stats import SlopeFit
from .base import AXIS_LABELS, _errorbar, legend_outside, log2_axis, plot_loglog_fit, plot_seed_mean, readable_log_ticks


def plot_error_sweep(ax, errors: dict, fit: SlopeFit, *, label: str, color=None, guides: Sequence[float] = (),
                     x_name: str = "n", bias: bool = True):
    """A convergence plot of one sweep (:func:`nfdlib.nfd.runs.errors_by_size`): each seed's error with the
    fitted power law, and, with ``bias=True``, the bias of the seed mean (open squares) and its noise floor
    (dashed). Log2 ``x``, log ``y``."""
    plot_loglog_fit(ax, errors["x"], errors["per_seed"], fit, label=f"{label}: one network", guides=guides,
                    x_name=x_name, color=color)
    if bias:
        ax.plot(errors["sizes"], errors["bias"], "s", color=color, mfc="white", label=f"{label}: bias of the seed mean")
        ax.plot(errors["sizes"], errors["noise_floor"], "--", color=color, alpha=0.6, lw=1,
                label=f"{label}: noise floor of the mean")
    readable_log_ticks(ax)
    return ax


def plot_bias_bounds(ax, sizes, bias, floor, *, color="C3", fit: SlopeFit | None = None):
    """Biases of seed means that stand above twice their noise floor (squares, with a fitted power law when
    ``fit`` is given), and upper bounds ``2 x floor`` where they do not (open triangles)."""
    sizes, bias, floor = (np.asarray(a, float) for a in (sizes, bias, floor))
    seen = bias > 2 * floor
    ax.scatter(sizes[seen], bias[seen], marker="s", color=color, zorder=3, label="bias of the seed mean (> 2 x floor)")
    ax.scatter(sizes[~seen], 2 * floor[~seen], marker="v", color=color, alpha=0.5,
               label="bias < 2 x noise floor (upper bound)")
    if fit is not None and seen.sum() >= 2:
        xx = np.geomspace(sizes[seen].min(), sizes[seen].max(), 20)
        ax.plot(xx, np.exp(fit.intercept) * xx**fit.slope, color=color, label=f"bias: slope {fit}")
    return ax


def plot_trajectories(axes, runs: dict, styles: dict, labels: dict, targets=None):
    """Four panels of training trajectories for several sets of seed-stacked runs (``{name: runs}`` in the layout
    of :func:`nfdlib.nfd.runs.network_runs`), seed means with one-standard-error bands: training loss, held-out
    loss, the first three training outputs (thin lines: ``targets``), and the mean diagonal of ``Phi_T`` and
    ``G_0``. One line style per name (``styles``), a legend below the first panel."""
    for name, r in runs.items():
        steps = np.arange(r["train_loss"].shape[1])
        plot_seed_mean(axes[0], steps, r["train_loss"], label=labels[name], **styles[name])
        plot_seed_mean(axes[1], steps, r["test_loss"], **styles[name])
        for i in range(3):
            plot_seed_mean(axes[2], steps, r["f_train"][:, :, i, 0], color=f"C{i}", ls=styles[name]["ls"])
        P = r["G"].shape[-1]
        plot_seed_mean(axes[3], steps, np.einsum("skii->sk", r["Phi"][:, -1]) / r["Phi"].shape[-1], **styles[name])
        plot_seed_mean(axes[3], steps, np.einsum("skii->sk", r["G"][:, 0]) / P, **styles[name])
    if targets is not None:
        for i in range(3):
            axes[2].axhline(float(targets[i]), color=f"C{i}", lw=0.5)
    axes[0].set(yscale="log", xlabel="SGD step", ylabel="train loss", title="training loss")
    axes[1].set(xlabel="SGD step", ylabel="test loss", title="held-out loss")
    axes[2].set(xlabel="SGD step", ylabel="f(x_mu)", title="3 training outputs (thin: targets)")
    axes[3].set(xlabel="SGD step", ylabel="mean diagonal entry", title="Phi_T (lower), G_0 (upper)")
    legend_outside(axes[0], where="below")
    readable_log_ticks(axes[0])
    return axes


def plot_nondegeneracy(axes, tau, networks: dict, solvers: dict, fit: SlopeFit, widths_x, minima_y, *,
                       solver_minima: dict, title_depth: str, title_width: str):
    """The nondegeneracy figure of notebook 02 (claim R8): on ``axes[0]`` the smallest eigenvalue along layer-time
    ``tau`` for networks (``{n: (seeds, layers)}``) and solvers (``{name: (seeds, layers)}``), seed means with
    standard-error bands; on ``axes[1]`` the per-seed minimum over layers against width with its fit, and each
    solver's value (``solver_minima[name]``, a number) as a horizontal line."""
    for (n, values), color in zip(networks.items(), plt.cm.viridis(np.linspace(0, 0.85, len(networks)))):
        plot_seed_mean(axes[0], tau, values, color=color, label=f"true networks, n = {n}")
    for (name, values), style in zip(solvers.items(), (dict(color="k", ls="-"), dict(color="C3", ls="--"))):
        plot_seed_mean(axes[0], tau, values, label=f"{name} solver", **style)
        axes[1].axhline(solver_minima[name], lw=1, label=f"{name} solver (n = infinity)", **style)
    axes[0].set(yscale="log", xlabel="layer-time tau = l T / L", ylabel="smallest eigenvalue of C_l", title=title_depth)
    plot_loglog_fit(axes[1], widths_x, minima_y, fit, label="true networks (min over layers)", x_name="n", color="C0")
    axes[1].set(xlabel="width n (log2)", ylabel="min over layers of the smallest eigenvalue", title=title_width)
    for ax in axes:
        legend_outside(ax, where="below")
        readable_log_ticks(ax)
    return axes


def plot_gap_errorbars(ax, sizes, gaps, noises, *, x_name: str, title: str, guide: float | None = None):
    """Relative gaps with 2-standard-error bars against a size on a log2 axis; ``guide`` draws ``size^guide``
    through the first point (for example ``-2`` for a coupling that vanishes like ``L^-2``)."""
    sizes, gaps, noises = (np.asarray(a, float) for a in (sizes, gaps, noises))
    ax.errorbar(sizes, gaps, yerr=2 * noises, fmt="o-", capsize=2, label="true vs decoupled (+- 2 s.e.)")
    if guide is not None:
        ax.plot(sizes, gaps[0] * (sizes / sizes[0]) ** guide, "k:", lw=1,
                label=f"{x_name}^{guide:g} from the first point")
    ax.set_xscale("log", base=2)
    ax.set(xlabel=f"{AXIS_LABELS.get(x_name, x_name)} (log2)", ylabel="relative output gap", ylim=(0, None),
           title=title)
    legend_outside(ax, where="below")
    readable_log_ticks(ax)
    return ax


def plot_depth_errors(ax, per_seed: dict, fitted: Sequence[int], fit: SlopeFit, networks: dict, *, label: str):
    """Errors against depth on a log2 axis: the solver's per-seed errors ``per_seed[K]`` (black; the depths in
    ``fitted`` carry the fitted power law ``fit``, the others are crosses, not fitted) and, for each name of
    ``networks`` (``{name: errors_by_size result}``), the bias of the seed mean (open squares) and its noise floor."""
    seeds = len(next(iter(per_seed.values())))
    plot_loglog_fit(ax, np.repeat(fitted, seeds), np.concatenate([per_seed[K] for K in fitted]), fit, label=label,
                    guides=(-1,), x_name="L", color="k")
    rest = [K for K in per_seed if K not in fitted]
    if rest:
        ax.scatter(np.repeat(rest, seeds), np.concatenate([per_seed[K] for K in rest]), s=14, color="k", marker="x",
                   label="not fitted")
    for (name, errs), color in zip(networks.items(), ("C0", "C3")):
        ax.plot(errs["sizes"], errs["bias"], "s", color=color, mfc="white", label=f"{name}: bias of the seed mean")
        ax.plot(errs["sizes"], errs["noise_floor"], "--", color=color, alpha=0.6, lw=1, label=f"{name}: noise floor")
    legend_outside(ax, where="right")
    readable_log_ticks(ax)
    return ax


def plot_limit_validation(Ls, Ks, net_limits: dict, solver: dict, rate: dict, function: Sequence, *, steps: int,
                          seeds: int, ns: Sequence[int]):
    """Notebook 04, section 2: the reused-weight solver against wide true networks, with the decoupled pair as
    control. Left: the ``n -> infinity`` extrapolation of each network kind's train loss after ``steps`` steps
    (``net_limits[backward]``: one :class:`nfdlib.stats.ExtrapolationFit` per depth in ``Ls``) beside each solver
    at ``K = L`` (``solver[mode] = (mean, standard error)`` over ``Ks``). Middle: true networks' relative
    distance to the reused solver against width (``rate = {"err": {L: values over ns}, "floor": seed-noise
    floor}``). Right: relative distance of the held-out function (``function``: rows ``(L, (d, se) true to
    reused, (d, se) true to decoupled, (d, se) decoupled control)``)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    ax = axes[0]
    for b, color, marker in (("true", "k", "o"), ("decoupled", "r", "s")):
        fits = net_limits[b]
        lim = np.array([f.limit for f in fits])
        _errorbar(ax, np.asarray(Ls, float), lim, np.array([f["lo"] for f in fits]), np.array([f["hi"] for f in fits]),
                  marker, color=color, label=f"{b} networks, n → ∞ (95% CI)")
    for mode, style in (("reused", "k-"), ("decoupled", "r--")):
        m, se = solver[mode]
        ax.fill_between(Ks, m - 2 * se, m + 2 * se, color=style[0], alpha=0.2)
        ax.plot(Ks, m, style, label=f"{mode} solver, K = L (band: 2 SE)")
    ax.set_yscale("log")
    ax.set_ylabel(f"train loss after {steps} steps (MSE)")
    ax.set_title(f"validation ({seeds} network seeds, n = {ns[0]}..{ns[-1]})", fontsize=9)
    ax = axes[1]
    for L, err in rate["err"].items():
        ax.plot(ns, err, "o-", ms=4, label=f"L = {L}")
    first = next(iter(rate["err"].values()))[0]
    ax.axhline(rate["floor"], color="gray", ls=":", lw=1, label="seed-noise floor at the largest n")
    ax.plot(ns, first * (np.asarray(ns, float) / ns[0]) ** -1.0, "k:", lw=1, label="slope −1 guide")
    ax.set_yscale("log")
    log2_axis(ax, ns, label="width n (log2 scale)")
    ax.set_ylabel("|mean loss(true nets) − reused| / reused")
    ax.set_title("true networks converge to the reused solver", fontsize=9)
    ax = axes[2]
    for j, (label, style) in enumerate((("true nets vs reused solver", "o-"), ("true nets vs decoupled solver", "s--"),
                                        ("decoupled nets vs decoupled solver (control)", "^:"))):
        d = np.array([row[1 + j][0] for row in function])
        se = np.array([row[1 + j][1] for row in function])
        _errorbar(ax, np.array([row[0] for row in function], float), d, d - 2 * se, d + 2 * se, style, label=label)
    ax.set_ylabel("relative distance of f(S) − f(0), held out")
    ax.set_title("held-out function (error bars: 2 SE)", fontsize=9)
    for ax in (axes[0], axes[2]):
        log2_axis(ax, list(Ls) + list(Ks), label="depth L = solver grid K (log2 scale)")
    for ax in axes:
        readable_log_ticks(ax)
        legend_outside(ax, where="below", ncol=1)
    return fig


def plot_two_limits(Ks, curves: dict, fits: dict, joint: Sequence, solver_losses: dict, *, M: int, seeds: int):
    """Notebook 04, section 3. Left: against the solver grid ``K``, the relative differences between the two
    limits (``curves[name] = (mean, lo, hi)`` for ``"ratio"``, the train-loss ratio minus 1, and ``"function"``,
    the held-out function gap) and the reused solver's own convergence (``curves["conv"]``, one value per ``K``
    but the last), with their fits (``fits``, same keys) and a slope -1 guide. Right: the true networks' train
    loss extrapolated to ``n, L -> infinity`` step by step (``joint``: :class:`nfdlib.stats.ExtrapolationFit` per
    step) against both solvers at the finest grid (``solver_losses[mode]``: loss per step)."""
    Ks = np.asarray(Ks, float)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    ax = axes[0]
    for key, style, label in (("ratio", "o-", "loss(decoupled) / loss(reused) − 1"),
                              ("function", "s--", "|f_reused − f_decoupled| / |f_reused| (held out)")):
        m, lo, hi = curves[key]
        _errorbar(ax, Ks, m, lo, hi, style, label=f"{label}: slope {fits[key]}")
    conv = curves["conv"]
    ax.plot(Ks[:-1], conv, "^:", label=f"|loss_reused(K) − loss_reused(K_max)|: slope {fits['conv']}")
    ax.plot(Ks, conv[0] * (Ks / Ks[0]) ** -1.0, "k:", lw=1, label="slope −1 guide")
    ax.set_yscale("log")
    log2_axis(ax, Ks, label="solver grid K (log2 scale)")
    readable_log_ticks(ax)
    ax.set_ylabel("relative difference")
    ax.set_title(f"the two limits, M = {M} particles, {seeds} seeds (95% CI)", fontsize=9)
    ax = axes[1]
    steps = np.arange(len(joint))
    ax.fill_between(steps, [f["lo"] for f in joint], [f["hi"] for f in joint], alpha=0.3, color="C0")
    ax.plot(steps, [f.limit for f in joint], "o-", color="C0", ms=3, label="true networks, n, L → ∞ (95% CI)")
    ax.plot(steps, solver_losses["reused"], "k-", label=f"reused solver, K = {int(Ks[-1])}")
    ax.plot(steps, solver_losses["decoupled"], "r--", label=f"decoupled solver (NFD), K = {int(Ks[-1])}")
    ax.set_yscale("log")
    readable_log_ticks(ax)
    ax.set_xlabel("GD step")
    ax.set_ylabel("train loss (MSE)")
    for ax in axes:
        legend_outside(ax, where="below", ncol=1)
    return fig
