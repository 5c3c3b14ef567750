"""The drawing tools every figure shares: seed bands, log-log fits, log ticks, legends, robust limits and ``show``.

The drawing tools every figure shares: seed bands, log-log fits, readable log ticks, legends outside the axes,
robust axis limits, and :func:`show`, which displays a finished figure with its alternative text.

Used by the figures of every notebook (00-09); the figure functions of :mod:`nfdlib.viz` draw with these.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

from ..stats import SlopeFit

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


def plot_seed_mean(ax, x, runs, **line_kwargs):
    """The seed mean of ``runs`` (shape ``(seeds, len(x))``) with a band of one standard error either side."""
    return plot_band(ax, x, np.asarray(runs, float).T, marker=None, spread="se", **line_kwargs)


def figure_bundle(fig, alt: str, *, dpi: int = 100) -> tuple[dict, dict]:
    """The display bundle of ``fig`` with alternative text ``alt`` (what a screen reader says instead of the
    image): ``(data, metadata)`` for ``IPython.display.display(data, raw=True, metadata=metadata)``.

    The PNG (``bbox_inches="tight"``, so a legend outside the axes is kept) is offered as ``text/html``, an
    ``<img alt=...>`` (what JupyterLab, Colab and nbconvert's default HTML template show; nbconvert reads no alt
    text from an ``image/png`` output and warns that it is missing), as ``image/png`` with ``alt`` in its metadata
    (for front ends that read it there), and as ``text/plain``, the description itself.
    """
    text = " ".join(str(alt).split()) if alt is not None else ""
    if not text:
        raise ValueError(f"alt must be a non-empty description of the figure, got {alt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    data = {"text/html": f'<img src="data:image/png;base64,{png}" alt="{html.escape(text, quote=True)}"/>',
            "image/png": png, "text/plain": f"[figure: {text}]"}
    return data, {"image/png": {"alt": text}}


def show(fig, alt: str, *, dpi: int = 100) -> None:
    """Display ``fig`` with its alternative text ``alt`` and close it (in place of ``plt.show()``, which would
    leave the image without a description; closing keeps ``%matplotlib inline`` from drawing it twice)."""
    from IPython.display import display

    data, metadata = figure_bundle(fig, alt, dpi=dpi)
    plt.close(fig)
    display(data, raw=True, metadata=metadata)


def legend_outside(ax, *, where: str = "right", fontsize: float = 7, **kwargs):
    """A legend outside the axes, so that it never covers data: to the ``"right"`` of ``ax`` or ``"below"`` it
    (other keyword arguments go to :meth:`matplotlib.axes.Axes.legend`). Use ``layout="constrained"`` or
    :func:`show` (``bbox_inches="tight"``) so that the figure holds it. Returns the legend, or None when nothing
    on ``ax`` has a label."""
    if where not in ("right", "below"):
        raise ValueError(f"where must be 'right' or 'below', got {where!r}")
    if not ax.get_legend_handles_labels()[0]:  # nothing labelled (for example, no data yet): no empty legend box
        return None
    if where == "right":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=fontsize,
                         **kwargs)
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), borderaxespad=0.0, fontsize=fontsize,
                     **kwargs)


def _tick_label(value: float, _pos=None) -> str:
    """Whole numbers as integers (1024, not 1.02e+03 or 2^10), others with three significant digits."""
    if abs(value) >= 1 and float(value).is_integer() and abs(value) < 1e7:
        return str(int(value))
    return f"{value:.3g}"


class ReadableLogLocator(ticker.Locator):
    """Major ticks of a log axis that always label a few values, whatever its span.

    Matplotlib labels only powers of the base, so an axis spanning less than a decade or two shows one or two
    labels. At every draw this tries powers of the base, then (base 10) 1-2-5 steps, then 1-to-9 steps in each
    decade, then evenly spaced round values, and keeps the first that puts ``min_ticks`` to ``max_ticks`` ticks
    inside the view."""

    def __init__(self, base: float = 10, min_ticks: int = 3, max_ticks: int = 8):
        self.base, self.min_ticks, self.max_ticks = base, min_ticks, max_ticks

    def __call__(self):
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        lo, hi = sorted((float(vmin), float(vmax)))
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= 0:
            return []
        lo = max(lo, hi * 1e-12)
        candidates = [ticker.LogLocator(base=self.base, subs=(1.0,), numticks=99)]
        if self.base == 10:
            candidates += [ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=99),
                           ticker.LogLocator(base=10, subs=tuple(range(1, 10)), numticks=99)]
        candidates.append(ticker.MaxNLocator(nbins=max(self.min_ticks, 4), steps=[1, 2, 2.5, 5, 10]))
        ticks = []
        for locator in candidates:
            ticks = [t for t in locator.tick_values(lo, hi) if lo <= t <= hi and t > 0]
            if self.min_ticks <= len(ticks) <= self.max_ticks:
                break
        return ticks


def readable_log_ticks(ax, *, min_ticks: int = 3, max_ticks: int = 8):
    """Readable tick labels on the log axes of ``ax``: at least ``min_ticks`` labelled values however short the
    axis (:class:`ReadableLogLocator`), written as plain numbers (``64``, ``0.02``; not ``2^6`` or
    ``2×10^-2``). An axis whose ticks were fixed on purpose (:func:`log2_axis`) keeps them. Returns ``ax``."""
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() != "log" or isinstance(axis.get_major_locator(), ticker.FixedLocator):
            continue
        axis.set_major_locator(ReadableLogLocator(getattr(axis.get_transform(), "base", 10), min_ticks, max_ticks))
        axis.set_major_formatter(ticker.FuncFormatter(_tick_label))
        axis.set_minor_formatter(ticker.NullFormatter())
    return ax


def log2_axis(ax, values, axis: str = "x", label: str | None = None):
    """A log2 ``axis`` with a labelled tick at each of ``values`` (sizes such as depths 2, 4, ..., 64), written
    as plain numbers rather than powers of 2."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    values = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
    if not values:
        raise ValueError("values must hold at least one positive size")
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    obj = ax.xaxis if axis == "x" else ax.yaxis
    obj.set_major_locator(ticker.FixedLocator(values))
    obj.set_major_formatter(ticker.FuncFormatter(_tick_label))
    obj.set_minor_locator(ticker.NullLocator())
    if label is not None:
        (ax.set_xlabel if axis == "x" else ax.set_ylabel)(label)
    return ax


def robust_limits(values, *, log: bool = False, k: float = 3.0, pad: float = 0.05) -> tuple[float, float]:
    """Axis limits set by the bulk of ``values``, not by one spike: the range of the values inside Tukey's far
    fences (the quartiles -+ ``k`` interquartile ranges, on log10 values when ``log``), padded by ``pad`` of it.
    Draw what falls outside with :func:`mark_outside`, so that a clipped point is shown, not hidden."""
    v = np.asarray(values, float).ravel()
    v = v[np.isfinite(v) & (v > 0)] if log else v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError(f"values must hold at least one finite{' positive' if log else ''} value")
    if log:
        v = np.log10(v)
    q1, q3 = np.percentile(v, [25, 75])
    inside = v[(v >= q1 - k * (q3 - q1)) & (v <= q3 + k * (q3 - q1))]  # never empty: it holds the quartiles
    lo, hi = inside.min(), inside.max()
    span = hi - lo if hi > lo else max(abs(hi) * 0.1, 1e-12)
    lo, hi = lo - pad * span, hi + pad * span
    return (10.0**lo, 10.0**hi) if log else (float(lo), float(hi))


def mark_outside(ax, xs, ys, limits: tuple[float, float], *, color=None) -> int:
    """Each point of ``(xs, ys)`` beyond ``limits`` drawn as an open triangle on the edge it crosses (pointing
    out of the panel), with its value written beside it (points at one ``x`` beyond one edge share a triangle and
    list their values); returns how many points were outside."""
    xs, ys = np.asarray(xs, float).ravel(), np.asarray(ys, float).ravel()
    out = np.isfinite(ys) & ((ys < limits[0]) | (ys > limits[1]))
    for x, top in sorted({(float(x), bool(y > limits[1])) for x, y in zip(xs[out], ys[out])}):
        values = sorted(ys[out & (xs == x) & ((ys > limits[1]) == top)], reverse=top)
        edge = limits[1] if top else limits[0]
        ax.plot([x], [edge], "^" if top else "v", ms=7, mfc="none", mec=color or "k", mew=1.2, clip_on=False,
                zorder=6)
        ax.annotate(", ".join(f"{y:.3g}" for y in values), (x, edge), textcoords="offset points",
                    xytext=(-6, -9 if top else 3), fontsize=6, ha="right", color=color or "k")
    return int(out.sum())


def _shades(count: int, cmap=None):
    return (cmap or plt.cm.viridis)(np.linspace(0, 0.85, max(count, 1)))


def _errorbar(ax, xs, val, lo, hi, fmt, **kwargs):
    """Error bars from interval ends; undefined ends (NaN) draw no bar."""
    lower = np.nan_to_num(val - lo, nan=0.0)
    upper = np.nan_to_num(hi - val, nan=0.0)
    return ax.errorbar(xs, val, yerr=[np.maximum(lower, 0), np.maximum(upper, 0)], fmt=fmt, capsize=2, **kwargs)
