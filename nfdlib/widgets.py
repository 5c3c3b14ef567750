"""Live widgets: depth and width sliders that rerun the library's own code and redraw (notebook 08, and small
widgets in notebooks 00 to 06).

Built from ipywidgets 8 and plain matplotlib (each figure is rendered to a PNG and shown in an ``Image``
widget), so they work in JupyterLab, Colab and Voila without ipympl, and run head-less: every widget computes
and draws once when it is created, and setting a control's ``.value`` from code updates it exactly as a
slider move does.

* :func:`explorer` is the full explorer: every control of :class:`nfdlib.explore.ExploreConfig` and four
  panels, (a) feature size per layer at init and after training (the coord check), (b) the networks' loss
  against the NFD limit, decoupled and reused, (c) the first internal layer's own update in two-layer blocks,
  depth-muP against the corrected rate, and (d) one coordinate of ``h_T`` across units against the solver's
  particles.
* :func:`coord_check_widget` (notebook 00), :func:`limit_widget` (02), :func:`collapse_widget` (05, 06) and
  :func:`transfer_widget` (06) are small views of the same machinery.

Each update runs in :func:`nfdlib.explore.explore`, on the GPU when there is one; sizes beyond the device's
caps are shrunk and the status line says so. A starting value between two stops of a slider starts at the nearest
stop, one beyond a slider's end extends the slider; the message line says which until a control moves. Results
and rendered figures are memoized per configuration, so returning to a setting is instant. A failure
(divergence, a bad combination) is shown in the panel or in the message line; it never raises out of a callback.

:func:`on_demand_answer` shows a guided experiment's answer: computed at once in a notebook, behind a button when
the notebook is served as an app by Voila (:func:`served_by_voila`), so that the app shows the explorer without
first computing every answer.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace

import ipywidgets as W
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from . import explore as ex
from . import stats
from .activations import ACTIVATIONS
from .config import get_device
from .parametrization import names as parametrization_names
from .validation import check_bool, check_choice, check_int

POWERS_N = [2**k for k in range(4, 13)]  # 16 .. 4096
POWERS_L = [2**k for k in range(1, 9)]  # 2 .. 256
RATES = [2.0**k for k in range(-5, 5)]  # 1/32 .. 8
HORIZONS = [0.25, 0.5, 1.0, 2.0, 4.0]
RULE_LABELS = {"depth-mup": "depth-μP", "depth-mup-corrected": "corrected (η₁ = η n √L)", "completep": "CompleteP",
               "mup": "μP", "sp": "SP", "ntk": "NTK"}
PANEL_TITLES = {"a": "(a) feature size per layer", "u": "feature change over training",
                "b": "(b) training loss: networks and NFD limit", "c": "(c) first internal layer's own update",
                "d": "(d) one coordinate of h_T across units"}
FIGURE_DPI = 80


def _rate_label(eta: float) -> str:
    k = math.log2(eta)
    return f"2^{k:g} = {eta:g}" if k < 0 else f"{eta:g}"


def _on_grid(name: str, value, grid) -> tuple[list, object, str | None]:
    """A slider's options and starting value for a requested ``value``, and a note when they differ from the
    grid's. On the grid: as it is. Beyond either end: the grid is extended to ``value``, so that what is computed
    is what was asked (the device's caps may still shrink it, and their note then shows ``value``). Between two
    grid values: the nearest on a log scale (every grid here is geometric), and the note says from what to what."""
    grid = list(grid)
    if value in grid:
        return grid, value, None
    if value < grid[0] or value > grid[-1]:
        return (sorted([*grid, value]), value,
                f"{name} = {value:g} is beyond the slider's {grid[0]:g} to {grid[-1]:g}: the slider was extended to it")
    nearest = min(grid, key=lambda g: abs(math.log(g) - math.log(value)))
    return grid, nearest, (f"{name} = {value:g} is not on the slider's grid ({', '.join(f'{g:g}' for g in grid)}): "
                           f"snapped to {nearest:g}")


def _int_slider(name: str, description: str, value: int, minimum: int, maximum: int) -> tuple[W.IntSlider,
                                                                                               str | None]:
    """An integer slider from ``minimum`` to ``maximum``, extended to ``value`` beyond it (ipywidgets would clamp
    it silently), with a note when it was."""
    note = None
    if value > maximum:
        note = f"{name} = {value} is beyond the slider's {minimum} to {maximum}: the slider was extended to it"
        maximum = value
    slider = W.IntSlider(value=value, min=minimum, max=maximum, description=description, continuous_update=False,
                         style={"description_width": "90px"}, layout=W.Layout(width="330px"))
    return slider, note


def _slider(description: str, options, value, fmt=str) -> W.SelectionSlider:
    return W.SelectionSlider(options=[(fmt(v), v) for v in options], value=value, description=description,
                             continuous_update=False, style={"description_width": "90px"},
                             layout=W.Layout(width="330px"))


def _toggle(description: str, options, value) -> W.ToggleButtons:
    return W.ToggleButtons(options=options, value=value, description=description,
                           style={"description_width": "90px", "button_width": "82px"})


def _dropdown(description: str, options, value) -> W.Dropdown:
    return W.Dropdown(options=options, value=value, description=description, style={"description_width": "90px"},
                      layout=W.Layout(width="330px"))


# -------------------------------------------------------------------------------------------------------------
# The machinery every widget shares
# -------------------------------------------------------------------------------------------------------------
class LiveFigure:
    """Controls, a figure that ``compute`` then ``draw`` produce from the controls' values, a status line and a
    message line.

    ``compute(values) -> result`` (a dict; may carry ``notes``, ``cached`` and ``device``) and
    ``draw(result) -> Figure``. The rendered PNG is memoized per ``values``, so a revisited setting skips both.
    After each update ``result`` holds the last result, ``error`` the last failure (or ``None``) and
    ``updates`` counts updates; ``computed`` counts those that were not served from the figure memo. ``notes``
    (what the widget changed in the requested start) are shown in the message line until a control moves.
    """

    def __init__(self, controls: Mapping[str, W.ValueWidget], compute: Callable[[dict], dict],
                 draw: Callable[[dict], Figure], *, columns: int = 2, title: str = "", cache_size: int = 64,
                 notes: Sequence[str] = ()):
        if not isinstance(controls, Mapping):
            raise ValueError(f"controls must be a mapping of names to widgets, got {type(controls).__name__}")
        check_int("columns", columns)
        self.controls = dict(controls)
        # What was changed in the requested start (a value off a slider's grid, a slider extended): shown until a
        # control moves, when the controls themselves say what is computed.
        self.notes = list(notes)
        self._compute, self._draw = compute, draw
        self._pngs = ex.Memo(cache_size)
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.status = W.HTML(layout=W.Layout(min_height="1.4em"))
        self.message = W.HTML(layout=W.Layout(min_height="1.2em"))
        self.readout = W.HTML()
        self.result: dict | None = None
        self.error: str | None = None
        self.updates = 0
        self.computed = 0
        self.last_seconds = float("nan")
        items = list(self.controls.values())
        rows = [W.HBox(items[i:i + columns]) for i in range(0, len(items), columns)]
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        self.box = W.VBox([*header, *rows, self.status, self.message, self.readout, self.image])
        self.box.add_class("nfd-live")
        for widget in items:
            widget.observe(self._on_change, names="value")
        self.update()

    def values(self) -> dict:
        return {name: widget.value for name, widget in self.controls.items()}

    def _on_change(self, change) -> None:
        self.notes = []
        self.update()

    def _notes_html(self) -> str:
        if not self.notes:
            return ""
        return "<span class='nfd-note' style='color:#a60'>" + _escape("; ".join(self.notes)) + "</span><br>"

    def _render(self, values: dict) -> tuple[bytes, dict, str]:
        result = self._compute(values)
        fig = self._draw(result)
        return render_png(fig), result, readout_html(fig)

    def update(self) -> None:
        """Recompute (or fetch from the memo) and redraw; never raises."""
        start = time.perf_counter()
        values = self.values()
        key = tuple(sorted(values.items(), key=lambda kv: kv[0]))
        self.updates += 1
        if key not in self._pngs:  # shown while the kernel computes (a large setting can take seconds on a CPU)
            self.status.value = "<span style='color:#666'>computing this setting…</span>"
        try:
            (png, result, readout), from_memo = self._pngs.get(key, lambda: self._render(values))
        except Exception as err:  # noqa: BLE001 - a widget callback must never raise into the front end
            self.error = f"{type(err).__name__}: {err}"
            self.message.value = self._notes_html() + (
                f"<span class='nfd-error' style='color:#b00'>This setting could not be computed: "
                f"{_escape(self.error)}. The figure shows the previous setting.</span>")
            seconds = time.perf_counter() - start
            self.status.value = f"<span style='color:#666'>update failed after {seconds:.2f} s</span>"
            return
        self.error = None
        self.result = result
        self.computed += not from_memo
        self.image.value = png
        self.readout.value = readout
        self.last_seconds = time.perf_counter() - start
        self.message.value = self._notes_html() + _messages(result)
        self.status.value = _status(result, self.last_seconds, from_memo)

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def render_png(fig) -> bytes:
    """The figure as PNG bytes (fast zlib level: a third less time than the default, files about as small)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=FIGURE_DPI, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _status(result: dict, seconds: float, from_memo: bool) -> str:
    device = result.get("device", str(get_device()))
    if from_memo:
        source = "figure from cache"
    else:
        parts = result.get("cached", {})
        fresh = [k for k, v in parts.items() if not v]
        reused = [k for k, v in parts.items() if v]
        source = "computed: " + (", ".join(fresh) or "drawing only")
        if reused:
            source += "; from cache: " + ", ".join(reused)
    text = f"device <b>{device}</b> · last update {seconds:.2f} s · {source}"
    notes = result.get("notes") or []
    if notes:
        text += f" · <span style='color:#a60'>capped on {device.split(':')[0]}: {', '.join(notes)}</span>"
    return f"<span style='color:#444;font-size:90%'>{text}</span>"


def _messages(result: dict) -> str:
    errors = []
    for part in ("networks",):
        if isinstance(result.get(part), dict) and "error" in result[part]:
            errors.append(f"{part}: {result[part]['error']}")
    for name, group in (("limit", result.get("limit")), ("collapse", result.get("collapse"))):
        for key, res in (group or {}).items():
            if "error" in res:
                errors.append(f"{name} {key}: {res['error']}")
    if not errors:
        return ""
    return "<span class='nfd-error' style='color:#b00'>" + _escape("; ".join(errors)) + "</span>"


def _figure(panels: str, width_per_panel: float = 4.6, height: float = 3.4) -> tuple[Figure, list]:
    # Fixed margins rather than a layout engine: constrained or tight layout draws the figure twice, and drawing
    # is most of an update's time on a laptop CPU (benchmarks/widgets.py).
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    # Titles, readouts and captions are HTML beside the image (text is most of the drawing time).
    fig = Figure(figsize=(width_per_panel * cols, height * rows))
    top = 1 - 0.3 / (height * rows)
    fig.subplots_adjust(left=0.09 if cols == 2 else 0.16, right=0.98, bottom=0.1 if rows > 1 else 0.15, top=top,
                        wspace=0.3, hspace=0.4)
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(len(panels))]
    return fig, axes


def _log_y(ax) -> None:
    """A log y axis with ticks at 1, 2 and 5 times powers of ten, plainly labelled, and no minor ticks (those cost
    a third of the drawing time)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_locator(NullLocator())


def _note(ax, text: str, color: str = "#555") -> None:
    ax.text(0.5, 0.5, textwrap.fill(text, 58), ha="center", va="center", transform=ax.transAxes, fontsize=8.5,
            color=color)
    ax.set_xticks([])
    ax.set_yticks([])


def _readout(ax, text: str, error: bool = False) -> None:
    """A line of numbers for the panel drawn on ``ax``. It is shown as HTML under the figure, not rendered into
    the image: text is most of the drawing time (benchmarks/widgets.py), and HTML can be read and selected."""
    ax.figure.readouts = getattr(ax.figure, "readouts", [])
    title = ax.get_title().split(" ", 1)[0]
    ax.figure.readouts.append((title if title.startswith("(") else "", text, error))


def readout_html(fig) -> str:
    """The title and the panels' readout lines of a figure from :func:`draw_panels`, as HTML."""
    lines = [f"<b>{_escape(fig.title_text)}</b>"] if getattr(fig, "title_text", "") else []
    for label, text, error in getattr(fig, "readouts", []):
        style = " style='color:#b00'" if error else ""
        lines.append(f"<span{style}>{_escape(label)} {_escape(text)}</span>")
    return "<div class='nfd-readout' style='font-size:90%;line-height:1.35'>" + "<br>".join(lines) + "</div>"


# -------------------------------------------------------------------------------------------------------------
# The panels: each draws one part of an explore() result on an Axes
# -------------------------------------------------------------------------------------------------------------
def panel_a(ax, result: dict) -> None:
    """(a) rms of ``h_l`` over inputs and units against layer-time, at init (dashed) and after training (solid),
    one line per seed."""
    net, cfg = result["networks"], result["config"]
    ax.set_title(PANEL_TITLES["a"], fontsize=9)
    if "error" in net:
        _note(ax, net["error"], "#b00")
        return
    for s in range(cfg.seeds):
        color = f"C{s}"
        ax.plot(net["tau"], net["h_rms_init"][s], "--", color=color, lw=1, alpha=0.8)
        final = net["h_rms_final"][s]
        stop = int(net["diverged_at"][s])
        label = f"seed {s}" + (f" (diverged at step {stop})" if stop >= 0 else "")
        if stop < 0 and np.all(np.isfinite(final)):
            ax.plot(net["tau"], final, "-", color=color, lw=1.5, label=label)
        elif stop >= 0:
            ax.plot([], [], "x", color=color, label=label)
    ax.plot([], [], "k--", lw=1, label="at init")
    ax.plot([], [], "k-", lw=1.5, label=f"after {cfg.steps} steps")
    _log_if_wide(ax, np.concatenate([net["h_rms_init"].ravel(), net["h_rms_final"].ravel()]))
    ax.set_xlabel("layer-time τ = l T / L")
    ax.set_ylabel("rms of h_l per unit")
    ratio = net["h_rms_init"][:, -1].mean() / net["h_rms_init"][:, 0].mean()
    change = net["dh_rms"][:, -1]
    moved = f"{np.mean(change):.3g}" if np.all(np.isfinite(change)) else "not finite (a seed diverged)"
    _readout(ax, f"rms h_L / rms h_0 at init: ×{ratio:.3g}; rms change of h_L over training: {moved} "
                 "(means of seeds)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)


def panel_u(ax, result: dict) -> None:
    """The rms change of ``h_l`` over training against layer-time, one line per seed (the coord check of
    feature learning)."""
    net, cfg = result["networks"], result["config"]
    ax.set_title(PANEL_TITLES["u"], fontsize=9)
    if "error" in net:
        _note(ax, net["error"], "#b00")
        return
    shown = False
    for s in range(cfg.seeds):
        d = net["dh_rms"][s]
        if np.all(np.isfinite(d)):
            ax.plot(net["tau"], d, "-", color=f"C{s}", lw=1.5, label=f"seed {s}")
            shown = True
    if not shown:
        _note(ax, "every seed diverged: no finite change to show", "#b00")
        return
    _log_if_wide(ax, net["dh_rms"].ravel())
    ax.set_xlabel("layer-time τ = l T / L")
    ax.set_ylabel(f"rms of h_l(step {cfg.steps}) - h_l(0)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def panel_b(ax, result: dict) -> None:
    """(b) training loss against SGD step: the networks (mean over seeds, min-max band) and the NFD solves."""
    net, cfg, limit, gap = result["networks"], result["config"], result.get("limit"), result.get("gap")
    ax.set_title(PANEL_TITLES["b"], fontsize=9)
    if "error" in net:
        _note(ax, net["error"], "#b00")
        return
    steps = np.arange(cfg.steps + 1)
    loss = net["loss"]
    finite_rows = np.all(np.isfinite(loss), axis=1)
    label = f"networks ({int(finite_rows.sum())} seeds)"
    if finite_rows.any():
        good = loss[finite_rows]
        ax.plot(steps, good.mean(0), "-o", ms=3, color="C0", label=label)
        ax.fill_between(steps, good.min(0), good.max(0), color="C0", alpha=0.2, linewidth=0)
    for s in np.flatnonzero(~finite_rows):  # a diverged seed: its loss up to the divergence
        ax.plot(steps, loss[s], "x-", color="#b00", lw=1, label=f"seed {s} (diverged)")
    diverged = [(s, int(k)) for s, k in enumerate(net["diverged_at"]) if k >= 0]
    sizes = ""
    if limit and result.get("limit_applies", True):
        styles = {"decoupled": ("--", "C3", "NFD, decoupled"), "reused": (":", "k", "NFD, reused")}
        for coupling, res in limit.items():
            if "error" not in res:
                ls, color, name = styles[coupling]
                ax.plot(steps, res["loss"], ls, color=color, lw=2, label=name)
                sizes = (f"limit: mean of {res['solves']} solves of M = {res['M']} particles, K = {res['K']} "
                         "Euler steps, whatever n")
    _log_y(ax)
    ax.set_ylabel(f"training loss (MSE, {cfg.P} inputs)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6.5, loc="lower left")
    lines = []
    if diverged:
        lines.append("diverged: " + ", ".join(f"seed {s} at step {k}" for s, k in diverged))
    if gap is not None:
        se = f" ± {gap['net_se']:.2g}" if np.isfinite(gap["net_se"]) else ""
        match = gap["match"]
        lo, hi = gap["gap_interval"]
        lines.append(f"final loss {gap['net_mean']:.3g}{se} (seed SE) against the {match} limit "
                     f"{gap[match]:.3g} ± {gap[match + '_se']:.2g} (Monte Carlo SE): gap {gap['gap']:+.2g}, "
                     f"95% interval [{lo:+.2g}, {hi:+.2g}]")
        lines.append(sizes)
    elif limit is None or not result.get("limit_applies", True):
        lines.append("no NFD limit here: the solver covers depth-μP with one-layer pre-activation blocks")
    ax.set_xlabel("SGD step (full batch)")
    for line in lines:
        _readout(ax, line, error=line.startswith("diverged"))


def panel_c(ax, result: dict) -> None:
    """(c) the first internal layer's own update after one SGD step, per block, for each rule."""
    collapse = result.get("collapse")
    ax.set_title(PANEL_TITLES["c"], fontsize=9)
    if collapse is None:
        _note(ax, "Two-layer blocks only: set block = two to see the first internal layer's own update, "
                  "depth-μP against the corrected rate.")
        return
    values = {}
    for i, (rule, res) in enumerate(collapse.items()):
        if "error" in res:
            continue
        mean = np.nanmean(res["dz_own"], axis=0)
        values[rule] = float(np.sqrt(np.nanmean(res["dz_own"] ** 2)))
        color = {"depth-mup": "C0", "depth-mup-corrected": "C3"}.get(rule, f"C{i + 2}")
        ax.plot(res["tau"], mean, "-o", ms=2.5, color=color, label=RULE_LABELS.get(rule, rule))
        if res["dz_own"].shape[0] > 1:
            ax.fill_between(res["tau"], np.nanmin(res["dz_own"], 0), np.nanmax(res["dz_own"], 0), color=color,
                            alpha=0.2, linewidth=0)
    if not values:
        _note(ax, "no rule could be computed", "#b00")
        return
    _log_y(ax)
    ax.set_ylabel("rms of m₁ ΔW₁ φ(h) after one step")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    readout = ", ".join(f"{RULE_LABELS.get(r, r).split(' (')[0]} {v:.2g}" for r, v in values.items())
    ax.set_xlabel("layer-time τ of the block")
    _readout(ax, f"own update, rms over blocks: {readout}")


def panel_d(ax, result: dict) -> None:
    """(d) histogram of the coordinates of ``h_T`` on the first training input: the network's units (pooled over
    seeds) against the solver's particles for the matching coupling (all solves; for networks outside the
    solver's family, the particles of the depth-muP pre-activation limit as a reference)."""
    net, cfg, limit = result["networks"], result["config"], result.get("limit")
    ax.set_title(PANEL_TITLES["d"], fontsize=9)
    if "error" in net:
        _note(ax, net["error"], "#b00")
        return
    kept = np.asarray(net["diverged_at"]) < 0
    units = net["h_T"][kept].ravel()
    units = units[np.isfinite(units)]
    if units.size == 0:
        _note(ax, "every seed diverged: no trained h_T to show", "#b00")
        return
    bins = np.histogram_bin_edges(units, bins=30)
    ax.hist(units, bins=bins, density=True, color="C0", alpha=0.45,
            label="network units")
    match = "reused" if cfg.backward == "true" else "decoupled"
    text = f"after {cfg.steps} SGD steps"
    solve = (limit or {}).get(match, {"error": "no limit"})
    particles = np.asarray(solve.get("h_T", []), float)
    particles = particles[np.isfinite(particles)]
    if "error" not in solve and particles.size == 0:
        text += ": the limit's particles are not finite"
    elif "error" not in solve:
        applies = result.get("limit_applies", True)
        # Every particle of every solve: a smooth reference; the interval below accounts for both sample sizes.
        name = f"NFD particles ({match})" if applies else "depth-μP pre-activation limit (reference)"
        ax.hist(particles, bins=bins, density=True, histtype="step", lw=2, color="k", label=name)
        ks, lo, hi = stats.ks_interval(units, particles)
        whose = ("" if applies else
                 " of the depth-μP pre-activation limit (a reference: these networks have no limit here)")
        text += (f": {units.size} units ({int(kept.sum())} seeds) against {particles.size} particles{whose}, "
                 f"Kolmogorov-Smirnov distance {ks:.3f}; the two laws differ by {lo:.3f} to {hi:.3f} (95%)")
    ax.set_xlabel("coordinate of h_T(x₁)")
    _readout(ax, text)
    ax.set_ylabel("density")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)


PANELS = {"a": panel_a, "u": panel_u, "b": panel_b, "c": panel_c, "d": panel_d}


def _log_if_wide(ax, values) -> None:
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() / v.min() > 20:
        _log_y(ax)


def draw_panels(result: dict, panels: str = "abcd", title: str | None = None) -> Figure:
    """A figure of the given panels (letters of :data:`PANELS`) for one :func:`nfdlib.explore.explore` result."""
    if not isinstance(panels, str) or not panels:
        raise ValueError(f"panels must be a non-empty string of letters from {''.join(PANELS)!r}, got {panels!r}")
    for p in panels:
        if p not in PANELS:
            raise ValueError(f"panels must be letters from {''.join(PANELS)!r}, got {panels!r}")
    fig, axes = _figure(panels)
    for ax, p in zip(axes, panels):
        PANELS[p](ax, result)
    cfg = result["config"]
    if title is None:
        where = "pre" if cfg.preact else "post"
        title = (f"{cfg.parametrization}, {cfg.block}-layer {where}-activation blocks, {cfg.activation}, n = {cfg.n}, "
                 f"L = {cfg.L}, T = {cfg.T:g}, η = {cfg.eta:g}, {cfg.steps} SGD steps, seeds 0-{cfg.seeds - 1}")
    fig.title_text = title
    return fig


# -------------------------------------------------------------------------------------------------------------
# The widgets
# -------------------------------------------------------------------------------------------------------------
GRIDS = {"n": ("width n", POWERS_N, str), "L": ("depth L", POWERS_L, str),
         "T": ("horizon T", HORIZONS, lambda v: f"{v:g}"), "eta": ("rate η", RATES, _rate_label)}
INT_SLIDERS = {"steps": ("SGD steps", 0, 40), "seeds": ("seeds", 1, 6)}


def _config_controls(config: ex.ExploreConfig, which: Sequence[str]) -> tuple[dict[str, W.ValueWidget], list[str]]:
    """The controls named in ``which``, set to ``config``, and a note for each value that a slider could not show
    as it is (:func:`_on_grid`, :func:`_int_slider`)."""
    others = {
        "parametrization": lambda: _dropdown("rule", [(RULE_LABELS.get(p, p), p) for p in parametrization_names()],
                                             config.parametrization),
        "activation": lambda: _dropdown("activation φ", list(ACTIVATIONS), config.activation),
        "block": lambda: _toggle("block", [("one-layer", "one"), ("two-layer", "two")], config.block),
        "preact": lambda: _toggle("activation at", [("pre", True), ("post", False)], config.preact),
        "backward": lambda: _toggle("backward", [("true", "true"), ("decoupled", "decoupled")], config.backward),
    }
    allowed = sorted([*GRIDS, *INT_SLIDERS, *others])
    for name in which:
        if name not in allowed:
            raise ValueError(f"controls must be names from {allowed}, got {name!r}")
    controls, notes = {}, []
    for name in which:
        note = None
        if name in GRIDS:
            description, grid, fmt = GRIDS[name]
            options, value, note = _on_grid(name, getattr(config, name), grid)
            controls[name] = _slider(description, options, value, fmt)
        elif name in INT_SLIDERS:
            description, lowest, highest = INT_SLIDERS[name]
            controls[name], note = _int_slider(name, description, getattr(config, name), lowest, highest)
        else:
            controls[name] = others[name]()
        if note:
            notes.append(note)
    return controls, notes


def _start(widget: str, config: Mapping, defaults: Mapping | None = None) -> ex.ExploreConfig:
    """The starting configuration of ``widget`` from its keyword arguments; a name that is neither a field of
    :class:`nfdlib.explore.ExploreConfig` nor ``device``/``memo`` is refused with the list of both."""
    allowed = [f.name for f in fields(ex.ExploreConfig)]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"{widget} takes no argument {', '.join(unknown)}; it takes device, memo and the fields of "
                         f"ExploreConfig: {', '.join(allowed)}")
    return ex.ExploreConfig(**{**(defaults or {}), **config})


def _check_memo(memo) -> None:
    if memo is not None and not isinstance(memo, ex.Memo):
        raise ValueError(f"memo must be an explore.Memo or None, got {type(memo).__name__}")


def _config_widget(config: ex.ExploreConfig, controls: Sequence[str], panels: str, *, parts: Sequence[str],
                   device=None, memo: ex.Memo | None = None, collapse_rules=None, title: str = "",
                   columns: int = 2) -> LiveFigure:
    _check_memo(memo)
    get_device(device)  # an unknown device is refused here, not inside the first update

    def compute(values: dict) -> dict:
        cfg = replace(config, **values)
        rules = collapse_rules(values) if callable(collapse_rules) else collapse_rules
        return ex.explore(cfg, device=device, memo=memo, parts=parts, collapse_rules=rules)

    widgets, notes = _config_controls(config, controls)
    return LiveFigure(widgets, compute, lambda r: draw_panels(r, panels), title=title, columns=columns, notes=notes)


EXPLORER_CONTROLS = ("n", "L", "T", "eta", "steps", "seeds", "parametrization", "activation", "block", "preact",
                     "backward")


def explorer(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """The full explorer (notebook 08): every control and panels (a) to (d). Keyword arguments set the starting
    configuration (fields of :class:`nfdlib.explore.ExploreConfig`); ``device`` overrides the automatic choice.
    A value between two stops of a slider starts at the nearest stop, one beyond a slider's end extends the
    slider; the message line says which (``LiveFigure.notes``)."""
    return _config_widget(_start("explorer", config), EXPLORER_CONTROLS, "abcd",
                          parts=("networks", "limit", "collapse"), device=device, memo=memo,
                          title="NFD explorer: move depth and width and watch the limit hold or fail")


def coord_check_widget(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """Notebook 00: a depth slider, a parametrization choice and a rate on the coord check: panel (a) and the
    feature change over training."""
    base = _start("coord_check_widget", config, {"n": 128, "steps": 4, "eta": 0.25})
    return _config_widget(base, ("L", "parametrization", "eta"), "au", parts=("networks",), device=device,
                          memo=memo)


def limit_widget(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """Notebook 02: width and depth sliders on the networks against the NFD solves, panels (b) and (d)."""
    return _config_widget(_start("limit_widget", config), ("n", "L", "backward", "steps"), "bd",
                          parts=("networks", "limit"), device=device, memo=memo)


def collapse_widget(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """Notebooks 05 and 06: a depth slider on the collapse profile of two-layer blocks, with the correction
    switched on or off (panel (c) only). ``parametrization`` starts the switch (default: on)."""
    # The widget shows two-layer blocks under depth-muP with the correction on or off, nothing else: another
    # block or rule would be silently replaced, so it is refused.
    if "block" in config:
        check_choice("block", config["block"], ("two",))
    if "parametrization" in config:
        check_choice("parametrization", config["parametrization"], ex.COLLAPSE_RULES)
    _check_memo(memo)
    get_device(device)
    base = _start("collapse_widget", config, {"block": "two", "n": 128, "parametrization": "depth-mup-corrected"})
    controls, notes = _config_controls(base, ("L",))
    controls["parametrization"] = _toggle("correction", [("off", "depth-mup"), ("on", "depth-mup-corrected")],
                                          base.parametrization)

    def compute(values: dict) -> dict:
        rules = ("depth-mup",) if values["parametrization"] == "depth-mup" else ex.COLLAPSE_RULES
        return ex.explore(replace(base, **values), device=device, memo=memo, parts=("collapse",),
                          collapse_rules=rules)

    return LiveFigure(controls, compute, lambda r: draw_panels(r, "c", title=(
        f"two-layer blocks, n = {r['config'].n}, η = {r['config'].eta:g}, seeds 0-{r['config'].seeds - 1}")),
        notes=notes)


def transfer_widget(sweeps_by_label: Mapping[str, Mapping], key: str = "train_loss") -> LiveFigure:
    """Notebook 06: a rate slider over cached learning-rate sweeps. Left, the transfer plot with the chosen rate
    marked and each depth's optimum dotted; right, the metric against depth at the chosen rate, next to the
    best over the grid. ``sweeps_by_label`` maps a label to one :func:`nfdlib.sweeps.depth_sweep` result."""
    from . import sweeps

    if not isinstance(sweeps_by_label, Mapping) or not sweeps_by_label:
        got = "an empty mapping" if isinstance(sweeps_by_label, Mapping) else type(sweeps_by_label).__name__
        raise ValueError(f"sweeps_by_label must hold at least one sweep (a mapping of labels to sweeps), got {got}")
    check_choice("key", key, sweeps.METRICS)
    labels = list(sweeps_by_label)
    lrs = sorted({float(v) for s in sweeps_by_label.values() for v in np.asarray(s["lr"], float)})
    controls = {"label": _dropdown("sweep", labels, labels[0]),
                "lr": _slider("rate η", lrs, lrs[len(lrs) // 2], _rate_label)}

    def compute(values: dict) -> dict:
        sweep = sweeps_by_label[values["label"]]
        grid = np.asarray(sweep["lr"], float)
        final = sweeps.final_metric(sweep, key)  # (depths, rates, seeds)
        i = int(np.argmin(np.abs(np.log2(grid) - np.log2(values["lr"]))))
        best = [o.value for o in sweeps.mean_curve_optima(sweep, key)]
        return {"sweep": sweep, "label": values["label"], "lr": float(grid[i]), "at_rate": final[:, i, :],
                "depths": np.asarray(sweep["L"]), "best": np.asarray(best, float),
                "optima": [o.lr for o in sweeps.mean_curve_optima(sweep, key)], "cached": {"sweep (cached)": True}}

    def draw(r: dict) -> Figure:
        fig, (left, right) = _figure("xy", 4.8, 3.5)
        sweeps.plot_transfer(r["sweep"], key, ax=left, title=r["label"])
        left.axvline(r["lr"], color="k", lw=1, ls="--")
        at = r["at_rate"]
        ok = np.isfinite(at)
        mean = np.where(ok.all(1), np.nanmean(np.where(ok, at, np.nan), axis=1), np.nan)
        right.plot(r["depths"], mean, "-o", color="k", label=f"at η = {r['lr']:g} (mean of seeds)")
        right.plot(r["depths"], r["best"], "s--", color="C2", ms=4, label="at each depth's own best η")
        for L, v in zip(r["depths"], mean):
            if not np.isfinite(v):
                right.annotate("diverged", (L, np.nanmax(r["best"])), fontsize=7, color="#b00", ha="center")
        right.set_xscale("log", base=2)
        if key != "test_acc":
            _log_y(right)
        right.set_xlabel("depth L (log2 scale)")
        right.set_ylabel(sweeps.METRIC_LABELS[key])
        right.legend(fontsize=7)
        right.grid(alpha=0.3)
        fig.title_text = "dashed line: the chosen rate; dots: each depth's optimum (open: at the grid's edge)"
        return fig

    return LiveFigure(controls, compute, draw)


def served_by_voila() -> bool:
    """True in a kernel that Voila started (Voila puts ``SERVER_SOFTWARE=voila/<version>`` in its environment)."""
    return os.environ.get("SERVER_SOFTWARE", "").startswith("voila/")


def on_demand_answer(compute: Callable[[], str], *, eager: bool | None = None, summary: str = "Answer",
                     hidden: bool = True):
    """A guided experiment's answer: ``compute()`` returns its markdown. With ``eager`` (default: not
    :func:`served_by_voila`) it is computed now and returned as a :func:`hidden_answer` (plain markdown when
    ``hidden`` is false); otherwise a button computes it when pressed and shows it below, so that a served app
    draws the explorer first."""
    from IPython.display import Markdown, display

    if not callable(compute):
        raise ValueError(f"compute must be a function returning the answer's markdown, got {type(compute).__name__}")
    if eager is not None and not isinstance(eager, (bool, np.bool_)):
        raise ValueError(f"eager must be True, False or None (computed at once unless served by Voila), got {eager!r}")
    check_bool("hidden", hidden)

    def shown(text: str):
        return hidden_answer(text, summary) if hidden else Markdown(text)

    if eager is None:
        eager = not served_by_voila()
    if eager:
        return shown(compute())

    button = W.Button(description="Compute the answer", tooltip="runs the experiment (seconds to a minute)")
    out = W.Output()

    def press(_):
        button.disabled = True
        button.description = "computing…"
        with out:
            try:
                display(shown(compute()))
            except Exception as err:  # noqa: BLE001 - a callback must never raise into the front end
                display(shown(f"The experiment failed: {type(err).__name__}: {err}"))
        button.layout.display = "none"

    button.on_click(press)
    return W.VBox([button, out])


def hidden_answer(text: str, summary: str = "Answer"):
    """A collapsed block (``<details>``) holding ``text`` (markdown), for predict-then-check questions; display it
    with IPython's ``display``."""
    from IPython.display import Markdown

    return Markdown(f"<details><summary>{summary}</summary>\n\n{text}\n\n</details>")


__all__ = ["LiveFigure", "hidden_answer", "on_demand_answer", "served_by_voila", "render_png", "readout_html",
           "explorer", "coord_check_widget", "limit_widget", "collapse_widget",
           "transfer_widget",
           "draw_panels", "PANELS", "panel_a", "panel_u", "panel_b", "panel_c", "panel_d"]
