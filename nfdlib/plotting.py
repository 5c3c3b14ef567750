"""Figures in the forms the field reads: coord checks and log-log convergence plots.

Plot functions take tidy :class:`~nfdlib.records.Records`, draw on a given or new ``Axes`` and return it; the
verdict printed under a figure comes from :mod:`nfdlib.diagnostics` / :mod:`nfdlib.stats`, computed from the
same records. :func:`show` displays a finished figure with its alternative text (the notebooks call it in place of
``plt.show()``).
"""

from __future__ import annotations

import base64
import html
import io
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
    readable_log_ticks(ax)
    return ax


def readable_log_ticks(ax, *, max_decades: float = 1.5):
    """Plain-number tick labels on the log axes of ``ax``: powers of two on a base-2 axis (``64``, ``128``, not
    ``2^6``), and on a base-10 axis that spans fewer than ``max_decades`` decades, ticks at 1, 2 and 5 times the
    powers of ten (otherwise such an axis shows one or two labels). Call it after the data are drawn."""
    from matplotlib import ticker

    def plain(value, _pos=None):
        return f"{value:g}"

    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        if axis.get_scale() != "log":
            continue
        base = getattr(axis.get_transform(), "base", 10)
        lo, hi = sorted(abs(v) for v in limits)
        if base == 2:
            axis.set_major_formatter(ticker.FuncFormatter(plain))
        elif lo > 0 and np.log10(hi / lo) < max_decades:
            axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ticker.FuncFormatter(plain))
            axis.set_minor_formatter(ticker.NullFormatter())
    return ax


# ---------------------------------------------------------------------------------------------------------
# Displaying a figure with alternative text
# ---------------------------------------------------------------------------------------------------------
def figure_bundle(fig, alt: str, *, dpi: int = 100) -> tuple[dict, dict]:
    """The display bundle of a figure with alternative text ``alt``: ``(data, metadata)`` for
    ``IPython.display.display(data, raw=True, metadata=metadata)``.

    The figure is rendered once as PNG (``bbox_inches="tight"``, so legends placed outside the axes are kept)
    and offered three ways: ``text/html``, an ``<img>`` that carries ``alt`` (what nbconvert's HTML export and the
    browser front ends show, and what screen readers read; nbconvert does not read alternative text from
    ``image/png`` outputs, it reports them as missing), ``image/png`` with ``alt`` in its metadata for front ends
    that read it there, and ``text/plain``, the description itself.
    """
    text = " ".join(str(alt).split()) if alt is not None else ""
    if not text:
        raise ValueError("alt must be a non-empty description of the figure (what it shows and what to see in it)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    data = {"text/html": f'<img src="data:image/png;base64,{png}" alt="{html.escape(text, quote=True)}"/>',
            "image/png": png, "text/plain": f"[figure: {text}]"}
    return data, {"image/png": {"alt": text}}


def show(fig, alt: str, *, dpi: int = 100) -> None:
    """Display ``fig`` with its alternative text ``alt`` and close it (use in place of ``plt.show()``)."""
    from IPython.display import display

    data, metadata = figure_bundle(fig, alt, dpi=dpi)
    plt.close(fig)
    display(data, raw=True, metadata=metadata)


def legend_outside(ax, *, where: str = "right", fontsize: float = 7, **kwargs):
    """A legend outside the axes, so that it never covers data: to the ``"right"`` of ``ax`` or ``"below"`` it."""
    if where not in ("right", "below"):
        raise ValueError(f"where must be 'right' or 'below', got {where!r}")
    if where == "right":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=fontsize,
                         **kwargs)
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), borderaxespad=0.0, fontsize=fontsize,
                     **kwargs)


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
