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
        return f"{value:.3g}"

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
