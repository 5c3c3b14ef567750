"""Figures of a quantity's size against width or depth: coord checks and measurements beside theory.

Coord checks and measurements beside theory: the figures of notebooks 00 (overview), 01 (deriving NFD) and
05 (two-layer collapse) that draw a quantity's size per coordinate against width or depth, measured curves
beside closed forms, and the runs of a learning-rate sweep at one rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..coord_any import module_series
from ..diagnostics import LAYER_QUANTITIES, QUANTITY_LABELS, select_series
from ..records import Records
from .base import AXIS_LABELS, legend_outside, plot_band, readable_log_ticks


def plot_coord_check(records: Records, x: str = "L", quantity: str = "dh_rms", *, by: str = "layer",
                     step: int | None = None, layer_fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
                     layer_fraction: float = 1.0, ax=None, title: str | None = None, legend: str | None = "best"):
    """A coord check: log2 ``x`` axis, log y, one line per layer-time (``by="layer"``) or per step
    (``by="step"``), mean over seeds with a min-max band. Non-finite (diverged) sizes are missing points.
    ``legend`` is ``"best"`` (inside the axes), ``"right"`` or ``"below"`` (outside, :func:`legend_outside`) or
    ``None`` (no legend, for panels that share one)."""
    if legend not in ("best", "right", "below", None):
        raise ValueError(f"legend must be 'best', 'right', 'below' or None, got {legend!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.2))
    if by not in ("layer", "step"):
        raise ValueError(f"by must be 'layer' or 'step', got {by!r}")
    if by == "layer" and quantity in LAYER_QUANTITIES:
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(layer_fractions)))
        for frac, color in zip(layer_fractions, colors):
            xs, ys = select_series(records, x, quantity, step=step, layer_fraction=frac)
            plot_band(ax, xs, ys, f"τ = {frac:g} T", color)
        shown = step if step is not None else max(records.where(quantity=quantity).unique("step"))
        legend_title = f"step {shown}"
    else:
        steps = [s for s in records.where(quantity=quantity).unique("step")]
        colors = plt.cm.plasma(np.linspace(0, 0.85, len(steps)))
        for s, color in zip(steps, colors):
            xs, ys = select_series(records, x, quantity, step=s, layer_fraction=layer_fraction)
            plot_band(ax, xs, ys, f"step {s}", color)
        legend_title = f"τ = {layer_fraction:g} T" if quantity in LAYER_QUANTITIES else None
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(f"{AXIS_LABELS[x]} (log2 scale)")
    ax.set_ylabel(QUANTITY_LABELS[quantity] + " (per coordinate)")
    seeds = records.unique("seed")
    name = records[0]["parametrization"] if records else ""
    ax.set_title(title or f"{name}  ({len(seeds)} seeds, band = min-max)", fontsize=9)
    if legend == "best":
        ax.legend(fontsize=7, title=legend_title, title_fontsize=7)
    elif legend is not None:
        legend_outside(ax, where=legend, title=legend_title, title_fontsize=7)
    ax.grid(True, which="major", alpha=0.3)
    readable_log_ticks(ax)
    return ax


def plot_measured_vs_theory(ax, *, bands=(), points=(), theory=(), xlabel: str, ylabel: str,
                            title: str | None = None, log2_x: bool = False, log_y: bool = False,
                            legend: str | None = "right"):
    """Measurements beside theory curves on one ``Axes``, the legend outside the axes.

    ``bands`` lists ``(label, xs, ys)`` with ``ys[i]`` the per-seed values at ``xs[i]`` (drawn by :func:`plot_band`,
    seed mean with a min-max band, colours ``C0, C1, ..``); ``points`` lists ``(label, xs, values, style)`` drawn as
    markers and ``theory`` lists ``(label, xs, values, style)`` drawn as lines (dotted black unless ``style``, a
    dict of line options, says otherwise). ``log2_x`` and ``log_y`` choose the scales.
    """
    for i, (label, xs, ys) in enumerate(bands):
        plot_band(ax, xs, ys, label=label, color=f"C{i}")
    for label, xs, values, style in points:
        ax.plot(xs, values, **({"marker": "o", "ms": 3, "ls": "none"} | dict(style)), label=label)
    for label, xs, values, style in theory:
        ax.plot(xs, values, **({"color": "k", "ls": ":"} | dict(style)), label=label)
    if log2_x:
        ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if legend is not None:
        legend_outside(ax, where=legend)
    ax.grid(True, which="major", alpha=0.3)
    readable_log_ticks(ax)
    return ax


def plot_runs_at_rate(ax, sweep, lr: float, key: str = "test_loss", *, color=None, label: str | None = None):
    """Every seed's ``key`` against the SGD step, at the grid rate of a learning-rate sweep nearest to ``lr``
    (a result of :func:`nfdlib.sweeps.lr_sweep`). Returns the index of that rate in ``sweep["lr"]``."""
    i = int(np.argmin(np.abs(np.asarray(sweep["lr"], float) - lr)))
    for s in range(len(sweep["seed"])):
        ax.plot(sweep["steps"], sweep[key][i, s], color=color, alpha=0.8, label=label if s == 0 else None)
    return i


def plot_coord_data(ax, records: Records, modules: str, *, size: str = "L", statistic: str = "delta_rms",
                    steps: Sequence[int] | None = None, title: str | None = None):
    """A coord check of any model (:func:`nfdlib.coord_any.coord_check` records): one line per training step,
    the seed mean of the modules' ``statistic`` (:func:`nfdlib.coord_any.module_series`) against ``size`` on
    log-log axes, as CompleteP's depth coord checks draw it. Flat lines: the modules' size does not move with
    ``size``."""
    steps = sorted(records.unique("step")) if steps is None else list(steps)
    if statistic == "delta_rms":
        steps = [t for t in steps if t >= 1]  # a change needs a previous step
    for i, step in enumerate(steps):
        xs, ys = module_series(records, modules, step=step, statistic=statistic, size=size)
        sizes = np.unique(xs)
        means = [float(np.mean(ys[xs == x])) for x in sizes]
        ax.plot(sizes, means, "o-", color=plt.cm.viridis(i / max(1, len(steps) - 1)), label=f"step {step}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS.get(size, size))
    ax.set_ylabel(f"{statistic} of {modules}")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)
    return ax
