"""The explorer's panels: each draws one part of an ``explore`` result on one axis.

The explorer's panels (notebook 08; parts of them in the widgets of notebooks 00, 02 and 05): each draws one
part of an :func:`nfdlib.explore.explore` result on an ``Axes``, and :func:`draw_panels` lays them out.

* :func:`draw_feature_size`, panel (a): feature size per layer at init and after training (the coord check);
* :func:`draw_feature_change`: the change of the features over training, per layer;
* :func:`draw_loss_and_limit`, panel (b): the networks' training loss against the NFD limit, decoupled and reused;
* :func:`draw_own_update`, panel (c): the first internal layer's own update in two-layer blocks, depth-muP
  against the corrected rate;
* :func:`draw_unit_coordinates`, panel (d): one coordinate of ``h_T`` across units against the solver's particles.

:data:`PANELS` names them by the letters :func:`draw_panels` takes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .. import stats
from .live import add_readout, log_y_axis, note_in_panel, panel_figure

RULE_LABELS = {"depth-mup": "depth-μP", "depth-mup-corrected": "corrected (η₁ = η n √L)", "completep": "CompleteP",
               "mup": "μP", "sp": "SP", "ntk": "NTK"}
PANEL_TITLES = {"a": "(a) feature size per layer", "u": "feature change over training",
                "b": "(b) training loss: networks and NFD limit", "c": "(c) first internal layer's own update",
                "d": "(d) one coordinate of h_T across units"}


# -------------------------------------------------------------------------------------------------------------
# The panels: each draws one part of an explore() result on an Axes
# -------------------------------------------------------------------------------------------------------------
def draw_feature_size(ax, result: dict) -> None:
    """(a) rms of ``h_l`` over inputs and units against layer-time, at init (dashed) and after training (solid),
    one line per seed."""
    net, cfg = result["networks"], result["config"]
    ax.set_title(PANEL_TITLES["a"], fontsize=9)
    if "error" in net:
        note_in_panel(ax, net["error"], "#b00")
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
    add_readout(ax, f"rms h_L / rms h_0 at init: ×{ratio:.3g}; rms change of h_L over training: {moved} "
                    "(means of seeds)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)


def draw_feature_change(ax, result: dict) -> None:
    """The rms change of ``h_l`` over training against layer-time, one line per seed (the coord check of
    feature learning)."""
    net, cfg = result["networks"], result["config"]
    ax.set_title(PANEL_TITLES["u"], fontsize=9)
    if "error" in net:
        note_in_panel(ax, net["error"], "#b00")
        return
    shown = False
    for s in range(cfg.seeds):
        d = net["dh_rms"][s]
        if np.all(np.isfinite(d)):
            ax.plot(net["tau"], d, "-", color=f"C{s}", lw=1.5, label=f"seed {s}")
            shown = True
    if not shown:
        note_in_panel(ax, "every seed diverged: no finite change to show", "#b00")
        return
    _log_if_wide(ax, net["dh_rms"].ravel())
    ax.set_xlabel("layer-time τ = l T / L")
    ax.set_ylabel(f"rms of h_l(step {cfg.steps}) - h_l(0)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def draw_loss_and_limit(ax, result: dict) -> None:
    """(b) training loss against SGD step: the networks (mean over seeds, min-max band) and the NFD solves."""
    net, cfg, limit, gap = result["networks"], result["config"], result.get("limit"), result.get("gap")
    ax.set_title(PANEL_TITLES["b"], fontsize=9)
    if "error" in net:
        note_in_panel(ax, net["error"], "#b00")
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
    log_y_axis(ax)
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
        add_readout(ax, line, error=line.startswith("diverged"))


def draw_own_update(ax, result: dict) -> None:
    """(c) the first internal layer's own update after one SGD step, per block, for each rule."""
    collapse = result.get("collapse")
    ax.set_title(PANEL_TITLES["c"], fontsize=9)
    if collapse is None:
        note_in_panel(ax, "Two-layer blocks only: set block = two to see the first internal layer's own update, "
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
        note_in_panel(ax, "no rule could be computed", "#b00")
        return
    log_y_axis(ax)
    ax.set_ylabel("rms of m₁ ΔW₁ φ(h) after one step")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    readout = ", ".join(f"{RULE_LABELS.get(r, r).split(' (')[0]} {v:.2g}" for r, v in values.items())
    ax.set_xlabel("layer-time τ of the block")
    add_readout(ax, f"own update, rms over blocks: {readout}")


def draw_unit_coordinates(ax, result: dict) -> None:
    """(d) histogram of the coordinates of ``h_T`` on the first training input: the network's units (pooled over
    seeds) against the solver's particles for the matching coupling (all solves; for networks outside the
    solver's family, the particles of the depth-muP pre-activation limit as a reference)."""
    net, cfg, limit = result["networks"], result["config"], result.get("limit")
    ax.set_title(PANEL_TITLES["d"], fontsize=9)
    if "error" in net:
        note_in_panel(ax, net["error"], "#b00")
        return
    kept = np.asarray(net["diverged_at"]) < 0
    units = net["h_T"][kept].ravel()
    units = units[np.isfinite(units)]
    if units.size == 0:
        note_in_panel(ax, "every seed diverged: no trained h_T to show", "#b00")
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
    add_readout(ax, text)
    ax.set_ylabel("density")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)


PANELS = {"a": draw_feature_size, "u": draw_feature_change, "b": draw_loss_and_limit, "c": draw_own_update,
          "d": draw_unit_coordinates}


def _log_if_wide(ax, values) -> None:
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size and v.max() / v.min() > 20:
        log_y_axis(ax)


def draw_panels(result: dict, panels: str = "abcd", title: str | None = None) -> Figure:
    """A figure of the given panels (letters of :data:`PANELS`) for one :func:`nfdlib.explore.explore` result."""
    if not isinstance(panels, str) or not panels:
        raise ValueError(f"panels must be a non-empty string of letters from {''.join(PANELS)!r}, got {panels!r}")
    for p in panels:
        if p not in PANELS:
            raise ValueError(f"panels must be letters from {''.join(PANELS)!r}, got {panels!r}")
    fig, axes = panel_figure(panels)
    for ax, p in zip(axes, panels):
        PANELS[p](ax, result)
    cfg = result["config"]
    if title is None:
        rule = cfg.rule
        where = "pre" if rule.preact else "post"
        title = (f"{rule.parametrization}, {rule.block}-layer {where}-activation blocks, {cfg.activation}, "
                 f"n = {cfg.n}, L = {cfg.L}, T = {cfg.T:g}, η = {cfg.eta:g}, {cfg.steps} SGD steps, "
                 f"seeds 0-{cfg.seeds - 1}")
    fig.title_text = title
    return fig


__all__ = ["RULE_LABELS", "PANEL_TITLES", "PANELS", "draw_panels", "draw_feature_size", "draw_feature_change",
           "draw_loss_and_limit", "draw_own_update", "draw_unit_coordinates"]
