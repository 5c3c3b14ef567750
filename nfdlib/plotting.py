"""Figures in the forms the field reads: coord checks and log-log convergence plots.

Plot functions take tidy :class:`~nfdlib.records.Records`, draw on a given or new ``Axes`` and return it; the
verdict printed under a figure comes from :mod:`nfdlib.diagnostics` / :mod:`nfdlib.stats`, computed from the
same records.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .diagnostics import LAYER_QUANTITIES, QUANTITY_LABELS, select_series
from .records import Records
from .stats import SlopeFit

AXIS_LABELS = {"n": "width n", "L": "depth L (number of blocks)"}


def plot_band(ax, xs, ys, label=None, color=None, marker="o", *, spread: str = "minmax", **line_kwargs):
    """Plot the mean over seeds with a band: ``ys[i]`` lists the per-seed values at ``xs[i]``.

    ``spread="minmax"`` shades from the smallest to the largest seed, ``"se"`` one standard error of the mean
    either side. Sizes whose seeds are all non-finite are left out (missing points). Returns the line, or None.
    """
    if spread not in ("minmax", "se"):
        raise ValueError(f"spread must be 'minmax' or 'se', got {spread!r}")
    mx, mean, lo, hi = [], [], [], []
    for xv, vals in zip(xs, ys):
        vals = np.asarray(vals, float)
        vals = vals[np.isfinite(vals)]
        if len(vals) == 0:
            continue
        mx.append(xv)
        mean.append(vals.mean())
        if spread == "minmax":
            lo.append(vals.min())
            hi.append(vals.max())
        else:
            se = vals.std(ddof=1) / np.sqrt(len(vals)) if len(vals) > 1 else 0.0
            lo.append(vals.mean() - se)
            hi.append(vals.mean() + se)
    if not mx:
        return None
    (line,) = ax.plot(mx, mean, marker=marker, ms=4, label=label, color=color, **line_kwargs)
    ax.fill_between(mx, lo, hi, alpha=0.2, color=line.get_color(), linewidth=0)
    return line


def plot_coord_check(records: Records, x: str = "L", quantity: str = "dh_rms", *, by: str = "layer",
                     step: int | None = None, layer_fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
                     layer_fraction: float = 1.0, ax=None, title: str | None = None):
    """A coord check: log2 ``x`` axis, log y, one line per layer-time (``by="layer"``) or per step
    (``by="step"``), mean over seeds with a min-max band. Non-finite (diverged) sizes are missing points."""
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
    ax.legend(fontsize=7, title=legend_title, title_fontsize=7)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def plot_loglog_fit(ax, x, y, fit: SlopeFit, *, label: str | None = None, guides: Sequence[float] = (),
                    x_name: str = "n", color=None, base: int = 2):
    """Scatter ``(x, y)``, draw the fitted power law with its slope in the legend, and slope guides anchored
    at the first point (for example ``guides=(-1, -0.5)``)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
    pts = ax.scatter(x[ok], y[ok], s=14, color=color, alpha=0.7)
    xx = np.geomspace(x[ok].min(), x[ok].max(), 50)
    fit_label = f"{label + ': ' if label else ''}slope {fit}"
    ax.plot(xx, np.exp(fit.intercept) * xx**fit.slope, color=pts.get_facecolor()[0], label=fit_label)
    x0, y0 = x[ok].min(), np.exp(fit.intercept) * x[ok].min() ** fit.slope
    for g in guides:
        ax.plot(xx, y0 * (xx / x0) ** g, ls=":", color="gray", lw=1)
        ax.annotate(f"{x_name}^{g:g}", (xx[-1], y0 * (xx[-1] / x0) ** g), fontsize=7, color="gray")
    ax.set_xscale("log", base=base)
    ax.set_yscale("log")
    return ax
