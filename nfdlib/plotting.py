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
from matplotlib import ticker

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


def plot_error_sweep(ax, errors: dict, fit: SlopeFit, *, label: str, color=None, guides: Sequence[float] = (),
                     x_name: str = "n", bias: bool = True):
    """A convergence plot of one sweep (:func:`nfdlib.nfd_sweeps.errors_by_size`): each seed's error with the
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


def plot_seed_mean(ax, x, runs, **line_kwargs):
    """The seed mean of ``runs`` (shape ``(seeds, len(x))``) with a band of one standard error either side."""
    return plot_band(ax, x, np.asarray(runs, float).T, marker=None, spread="se", **line_kwargs)


def plot_trajectories(axes, runs: dict, styles: dict, labels: dict, targets=None):
    """Four panels of training trajectories for several sets of seed-stacked runs (``{name: runs}`` in the layout
    of :func:`nfdlib.nfd_sweeps.network_runs`), seed means with one-standard-error bands: training loss, held-out
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


# ----------------------------------------------------------------------------------------------------------
# Readable figures: alt text, legends beside the data, tick labels on log axes
# ----------------------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------------------
# Figures of notebooks 03 and 04 (gradient independence, the limit of true backpropagation). Each takes the
# records or arrays of nfdlib.gia, draws, and returns the figure (and the fits it drew, where a verdict needs
# them); the notebook shows it with show and its alt text.
# ----------------------------------------------------------------------------------------------------------
THETA = "Θ"  # the tangent kernel (docs/reconstruction.md, section 2)


def _shades(count: int, cmap=None):
    return (cmap or plt.cm.viridis)(np.linspace(0, 0.85, max(count, 1)))


def _errorbar(ax, xs, val, lo, hi, fmt, **kwargs):
    """Error bars from interval ends; undefined ends (NaN) draw no bar."""
    lower = np.nan_to_num(val - lo, nan=0.0)
    upper = np.nan_to_num(hi - val, nan=0.0)
    return ax.errorbar(xs, val, yerr=[np.maximum(lower, 0), np.maximum(upper, 0)], fmt=fmt, capsize=2, **kwargs)


def plot_init_gap(fluct: Records, bias: Records):
    """Notebook 03, section 2. Left: one network's gap ``|G_true - E_B G| / |G_true|`` at ``tau = 0`` against
    ``n``, per depth, with fitted slopes (``G_rb`` rows of :func:`nfdlib.gia.init_gap_summary`). Right: ``n``
    times the seed-mean relative bias of ``G_0`` and of the tangent kernel, with 95% intervals (flat if
    ``O(1/n)``). Returns ``(fig, fits)`` with the fit of each depth."""
    from . import gia
    from .stats import fit_loglog

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    ax, fits = axes[0], {}
    depths = sorted(fluct.unique("L"))
    for L, color in zip(depths, _shades(len(depths))):
        xs, val, lo, hi = gia.series(fluct, "n", "G_rb", L=L)
        fits[L] = fit_loglog(xs, val)
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
    return fig, fits


def plot_first_step_ratio(cross: dict):
    """Notebook 03, section 3: the first-step ratio ``Theta_x / Theta`` against depth for each horizon ``T``
    (``cross[T]``: :func:`nfdlib.gia.init_gap_summary` records), with the infinite-width value at each ``L``
    (lines) and its ``L -> infinity`` limit (dotted). Returns ``(fig, rows)`` with ``rows[T] = (measured,
    theory at the measured depths, depths)``."""
    from . import gia

    fig, ax = plt.subplots(figsize=(7.2, 3.6), layout="constrained")
    rows, depths = {}, []
    for t, color in zip(cross, _shades(len(cross), plt.cm.plasma)):
        xs, val, lo, hi = gia.series(cross[t], "L", "cross_ratio")
        _errorbar(ax, xs, val, lo, hi, "o", color=color, label=f"measured, T = {t:g}")
        grid = np.array(sorted(set(np.geomspace(1, 2 * xs.max(), 40).astype(int))))
        ax.plot(grid, [gia.first_step_ratio_theory(t, int(L)) for L in grid], color=color, lw=1,
                label=f"infinite width, T = {t:g}")
        ax.axhline(gia.first_step_ratio_theory(t), color=color, ls=":", lw=1)
        rows[t] = (val, np.array([gia.first_step_ratio_theory(t, int(L)) for L in xs]), xs)
        depths += list(xs)
    log2_axis(ax, depths, label="depth L (log2 scale)")
    ax.set_ylabel(f"{THETA}_× / {THETA} (mean diagonal)")
    n = cross[next(iter(cross))][0]["n"]
    ax.set_title(f"first-step update ratio, n = {n}; dotted: L → ∞", fontsize=9)
    legend_outside(ax)
    return fig, rows


def plot_coupling_depth(coupling: Records):
    """Notebook 03, section 4, against depth (records of :func:`nfdlib.gia.coupling_digest`): per layer at
    step 1 (the reused-weight term, the drift, the noise floor, the decoupled control's upper bound), summed over
    layers (also every reused-weight term at the last step), and the profile along layer-time times ``L``."""
    from . import gia

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


def plot_coupling_width_horizon(by_width: Records, by_horizon: dict):
    """Notebook 03, section 4, continued. Left: the summed term, drift and floor against width (true network,
    step 1) with fitted slopes. Right: summed term over summed drift against depth, one curve per horizon
    (``by_horizon[T]``: :func:`nfdlib.gia.coupling_digest` records)."""
    from . import gia
    from .stats import fit_loglog

    s = by_width.where(kind="summary", step=1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    ax = axes[0]
    for q, label in (("sum_excess", "reused-weight term (sum)"), ("sum_drift", "drift (sum)"),
                     ("sum_floor", "noise floor (sum)")):
        xs, val, _, _ = gia.series(s, "n", q, backward="true")
        plot_loglog_fit(ax, xs, val, fit_loglog(xs, val), label=label, x_name="n",
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
    size (``by = {"L": records, "n": records, "T": records}``). Returns ``(fig, fits)``: the log-log fit of the
    output gap at step ``mid`` against each size."""
    from . import gia
    from .stats import fit_loglog

    names = {"L": "depth L", "n": "width n", "T": "horizon T"}
    fig, axes = plt.subplots(1, len(by), figsize=(5 * len(by), 4.2), layout="constrained", squeeze=False)
    fits = {}
    for ax, (x, rec) in zip(axes[0], by.items()):
        for q, step, style, label in (("out_gap", mid, "o-", f"output gap, step {mid}"),
                                      ("out_gap", last, "o:", f"output gap, step {last}"),
                                      ("update_ratio", 1, "s--", "update ratio, step 1")):
            summary = gia.paired_gap_summary(rec, q, by=(x,), step=step)
            xs, val, lo, hi = gia.series(summary, x, q)
            _errorbar(ax, xs, val, lo, hi, style, label=label)
            if q == "out_gap" and step == mid:
                fits[x] = fit_loglog(xs, val)
        log2_axis(ax, rec.unique(x), label=f"{names.get(x, x)} (log2 scale)")
        ax.set_ylabel("relative size (dimensionless)")
        ax.set_title(f"{len(rec.unique('seed'))} seeds, 95% CI", fontsize=9)
        legend_outside(ax, where="below", ncol=1)
    return fig, fits


def plot_paired_curves(records: Records):
    """Notebook 03, section 5: the output gap against the GD step for every depth, and the train loss of true
    and decoupled networks at the shallowest and deepest depth (seed means)."""
    from . import gia

    depths = sorted(records.unique("L"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    ax = axes[0]
    for L, color in zip(depths, _shades(len(depths))):
        steps = sorted({r["step"] for r in records.where(L=L, quantity="out_gap")})
        vals = [gia.mean_ci([r["value"] for r in records.where(L=L, quantity="out_gap", step=k)])[0] for k in steps]
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


def plot_limit_validation(Ls, Ks, net_limits: dict, solver: dict, rate: dict, function: Sequence, *, steps: int,
                          seeds: int, ns: Sequence[int]):
    """Notebook 04, section 2: the reused-weight solver against wide true networks, with the decoupled pair as
    control. Left: the ``n -> infinity`` extrapolation of each network kind's train loss after ``steps`` steps
    (``net_limits[backward]``: one :class:`nfdlib.gia.ExtrapolationFit` per depth in ``Ls``) beside each solver
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
    loss extrapolated to ``n, L -> infinity`` step by step (``joint``: :class:`nfdlib.gia.ExtrapolationFit` per
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


# ----------------------------------------------------------------------------------------------------------
# Figures of notebooks 05 and 06 (two-layer blocks, the learning-rate correction, transfer across depth)
# ----------------------------------------------------------------------------------------------------------
RULE_MARKERS = "osD^v"


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


def plot_optima_by_depth(results: dict, tasks: dict, rules: Sequence, *, labels: dict, colors: dict, optima):
    """Notebook 06: the mean of the per-seed ``log2 eta*`` against depth, one panel per task, one line per rule and
    width (``results[(task, n, *rule)]``: depth sweeps of :mod:`nfdlib.sweeps`; ``optima(sweep)`` returns the
    per-seed optima per depth). Rules are offset slightly along ``L`` so that equal optima stay visible."""
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.4), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, task in zip(axes[0], tasks):
        depths = []
        for j, rule in enumerate(rules):
            for n, marker in zip(tasks[task]["widths"], "os^"):
                res = results[(task, n) + tuple(rule)]
                L = np.asarray(res["L"], float)
                mean = np.array([np.nanmean(np.log2(e)) if np.isfinite(e).any() else np.nan for e in optima(res)])
                ax.plot(L * 2 ** (0.04 * (j - 1.5)), mean, marker=marker, ms=4, color=colors[rule],
                        ls="-" if n == max(tasks[task]["widths"]) else ":", label=f"{labels[rule]}, n = {n}")
                depths += list(L)
        log2_axis(ax, depths, label="depth L (log2 scale)")
        ax.set_title(f"{task}: optimum per depth (mean of per-seed log2 η*)", fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0, 0].set_ylabel("log2 η* (base rate)")
    legend_outside(axes[0, -1])
    return fig


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


def plot_best_by_depth(best: dict, task: str, widths: Sequence[int], rules: Sequence, metrics: Sequence, *,
                       labels: dict, colors: dict, ylabel: str = "{label} at the best rate"):
    """Notebook 06: at each depth, each rule's metrics at its best rate (``best[(task, n, *rule)]``: rows of
    :func:`nfdlib.sweeps.best_by_depth` with ``metric`` and ``metric_sem``), one column per ``(metric, label)``
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


def plot_budget_drift(plateau: dict, kinds: Sequence, budgets: Sequence[int], drift_at, *, labels: dict,
                      colors: dict, flat_tol: float):
    """Notebook 06, trained to a plateau: the drift of each optimum (``kinds``: ``(kind, label)``) read from the
    same runs after shorter budgets, one line per sweep of ``plateau`` (``drift_at(sweep, kind, step)`` returns a
    :class:`nfdlib.sweeps.Drift`), with the band of "transfers" (``+-flat_tol``) shaded."""
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.0), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, (kind, label) in zip(axes[0], kinds):
        for j, key in enumerate(plateau):
            ds = [drift_at(plateau[key], kind, b) for b in budgets]
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


def _rule_marker(rule, labels: dict) -> str:
    return RULE_MARKERS[list(labels).index(rule) % len(RULE_MARKERS)]


def plot_quantities_by_rule(records: Records, quantities: Sequence, rules: Sequence, *, step: int, labels: dict,
                            colors: dict, ylabel: str, guides: dict | None = None, x: str = "L",
                            panel: tuple[float, float] = (4.5, 4.6)):
    """Notebook 06, section 2: one log-log panel per ``(quantity, title)`` of ``quantities``, the block-averaged
    quantity at ``step`` against ``x`` for each rule (``(parametrization, block)``, the rows of ``records`` of
    that rule), one point per seed and its fitted power law (:func:`nfdlib.two_layer.pooled_series`,
    :func:`nfdlib.two_layer.fit_against`, drawn by :func:`plot_slopes_by_rule`). A rule without rows of a
    quantity (one-layer blocks have no first internal layer) is left out of that panel. ``guides[quantity] =
    (slope, rule)`` draws a slope guide in that panel. The panels share the y axis, labelled ``ylabel``."""
    from .two_layer import fit_against, pooled_series

    guides = guides or {}
    fig, axes = plt.subplots(1, len(quantities), figsize=(panel[0] * len(quantities), panel[1]), sharey=True,
                             squeeze=False, layout="constrained")
    for ax, (quantity, title) in zip(axes[0], quantities):
        recs = {tuple(r): records.where(parametrization=r[0], block=r[1]) for r in rules}
        shown = [r for r, rec in recs.items() if rec.where(quantity=quantity, step=step)]
        series = {r: pooled_series(recs[r], quantity, step=step, x=x) for r in shown}
        fits = {r: fit_against(recs[r], quantity, step=step, x=x) for r in shown}
        plot_slopes_by_rule(ax, series, fits, labels=labels, colors=colors, x_name=x, guide=guides.get(quantity))
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


def plot_transfer_grid(sweeps_by_rule: dict, keys: Sequence[str] = ("train_loss",), *, labels: dict, where: str,
                       step: int | None = None, average: int = 1, ylabel_suffix: str = "",
                       panel: tuple[float, float] = (4.5, 3.9)):
    """Notebook 06: transfer plots (:func:`nfdlib.sweeps.plot_transfer`) of several rules side by side, one
    column per entry of ``sweeps_by_rule`` (rule -> depth sweep), one row per metric of ``keys`` (read after
    ``step`` steps, averaged over ``average`` evaluations), the y axis shared along each row. The top row is
    titled ``"<rule> · <where>"``, the first column carries the metric (with ``ylabel_suffix``), and the
    legend of depths sits outside the last panel of the top row. Each row's range is set by the bulk of its
    seed-mean points (:func:`robust_limits`); a rate whose mean lies outside (a run close to diverging) is marked
    on the edge with its value (:func:`mark_outside`)."""
    from .sweeps import METRIC_LABELS, final_metric, plot_transfer

    if not sweeps_by_rule:
        raise ValueError("sweeps_by_rule must hold at least one sweep")
    cols, rows = len(sweeps_by_rule), len(keys)
    fig, axes = plt.subplots(rows, cols, figsize=(panel[0] * cols, panel[1] * rows), sharey="row", squeeze=False,
                             layout="constrained")
    for j, (rule, sweep) in enumerate(sweeps_by_rule.items()):
        for i, key in enumerate(keys):
            ax = axes[i, j]
            plot_transfer(sweep, key, ax=ax, legend=False, step=step, average=average,
                          title=f"{labels[rule]} · {where}" if i == 0 else None)
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
    (:func:`nfdlib.sweeps.best_curve`), its plateau ``plateaus[key]["plateau_step"]`` (a row of
    :func:`nfdlib.sweeps.plateau_budget`, ``None``: not reached) dotted in the rule's colour, and ``budget``, the
    steps of the sweeps that follow, dashed. ``title`` is formatted with ``task`` and ``n``."""
    from .sweeps import best_curve

    fig, axes = plt.subplots(1, len(widths), figsize=(6.5 * len(widths), 4.6), squeeze=False, layout="constrained")
    for ax, (task, n) in zip(axes[0], widths.items()):
        for key, sweep in pilot.items():
            if tuple(key[:2]) != (task, n):
                continue
            rule = tuple(key[2:])
            ax.plot(sweep["steps"], best_curve(sweep)[0], color=colors[rule], lw=1.2, label=labels[rule])
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


# ----------------------------------------------------------------------------------------------------------
# Figures of notebook 07 (scaling laws against the computed limit)
# ----------------------------------------------------------------------------------------------------------
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
    compute-optimal frontier predicted by that law (rows of :func:`nfdlib.scaling.frontier` at ``budgets``: the
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
