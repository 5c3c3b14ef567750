# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Explorer: move depth and width, and watch the limit hold or fail
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfd-notebooks/nfd-notebooks/blob/main/notebooks/08_explorer.ipynb)
#
# The earlier notebooks each measured one claim at sizes fixed in advance. Here every size is a slider. Each
# move trains small residual networks, solves their NFD limit with the particle solver (unless the move leaves
# the limit as it was: a width, seeds, rule or backward-pass move), and redraws four panels; nothing is
# precomputed. The explorer also runs alone as a web page: `make explore` serves it with
# Voila (code hidden) on `127.0.0.1`, where each guided experiment's answer is computed only when you press its
# button.
#
# **After this notebook you can**
#
# 1. predict, before you move a slider, what depth $L$, width $n$, the horizon $T$ and the parametrization do to
#    the size of the features and to training, and check the prediction live;
# 2. read the gap between finite networks and their NFD limit with its 95% interval, which holds both the seed
#    error of the networks and the Monte Carlo error of the limit, and say which limit (decoupled or reused)
#    the networks match at a given width, or that the interval cannot tell yet;
# 3. tell a feature-learning parametrization from a lazy one by how the feature change scales with width.
#
# **Prerequisites.** Notebook 00 (the registry of parametrizations, depth-μP, coord checks, the verdict rule),
# notebook 01 (the NFD limit, its variance $q_T=q_0e^{T/2}$ for ReLU), notebook 02 (the particle solver: $M$
# particles on $K$ Euler steps in layer-time), notebooks 03 and 04 (the decoupled and the reused limit), and
# for panel (c) notebooks 05 and 06 (two-layer blocks and the correction).
#
# **Run time** on 2 CPU cores (shared machine): quick mode (`NFD_QUICK=1`) about 35 s; full mode about 90 s,
# all of it computed on the spot (no cache: every number comes from the sliders' own code). A cold explorer
# update one slider move from the start takes about 1.3 CPU-seconds on this machine (median; about three times
# slower than a laptop), most of it the limit's solves, which a width move reuses; `benchmarks/widgets.py`
# times every part.
#
# **Symbols.** Width $n$, depth $L$ (residual blocks), horizon $T$ and layer-time $\tau=\ell T/L$, base rate
# $\eta$, activation $\phi$, residual stream $h_\ell$ with last layer $h_T=h_L$ (panel (d) reads it on the first
# training input $x_1$). In a two-layer block
# $z_\ell=m_1W^{(1)}_\ell\phi(h_{\ell-1})$, $h_\ell=h_{\ell-1}+\sqrt{T/L}\,m_2W^{(2)}_\ell\phi(z_\ell)$, where
# $m_1$ and $m_2$ are the two matrices' multipliers ($1/\sqrt n$ under depth-μP; notebook 05).

# %% tags=["parameters"]
# Every size lives here. NFD_QUICK=1 (CI) runs the small version in well under a minute on 2 CPU cores.
import os

QUICK = os.environ.get("NFD_QUICK", "0").strip().lower() in ("1", "true", "yes", "on")
# Where the explorer starts (any field of nfdlib.explore.ExploreConfig); the experiments start there too.
START = {"n": 64, "L": 4, "steps": 4, "seeds": 2} if QUICK else {"n": 128, "L": 8, "steps": 6, "seeds": 4}
L_SHALLOW, L_DEEP = 4, (16 if QUICK else 64)  # experiment 1
WIDTHS = (32, 64) if QUICK else (32, 128, 512)  # experiments 3, 5 and 6 (the last is the widest)
HORIZONS = (0.25, 1.0, 4.0)  # experiment 2
# One tolerance per claim, stated once and used everywhere below.
MATCH_TOL = 0.10  # networks match a limit: the gap's 95% interval within +-10% of the limit's final loss
GROWTH_TOL = 0.05  # panel (a) follows q_T = q_0 e^(T/2): measured rms ratio / e^(T/4) within 1 +- 0.05
SLOPE_TOL = 0.15  # width exponent of the feature change: 0 (feature learning) or -1/2 (lazy), +- 0.15
KS_TOL = 0.10  # a unit is a particle: the two laws within Kolmogorov-Smirnov distance 0.1

# %%
# Colab only: fetch the collection and install nfdlib with its notebook extras. Elsewhere this cell
# does nothing (on your machine `make lab` has installed everything).
import os
import sys

REPOSITORY = "https://github.com/nfd-notebooks/nfd-notebooks"
if "google.colab" in sys.modules and not os.path.isdir("/content/nfd-notebooks"):
    import subprocess

    subprocess.run(f"git clone -q --depth 1 --branch main {REPOSITORY} /content/nfd-notebooks"
                   " && pip install -q -e '/content/nfd-notebooks[notebooks]'", shell=True, check=True)
    sys.path.insert(0, "/content/nfd-notebooks")
    from google.colab import output

    output.enable_custom_widget_manager()  # the live widgets

# %%
import time

import numpy as np
from IPython.display import display

import nfdlib
from nfdlib import explore, stats, widgets
from nfdlib.config import get_device

DEVICE = get_device()  # CUDA, then MPS, then CPU; override with NFD_DEVICE=cpu
CAPS = explore.caps_for(DEVICE)
print(f"nfdlib {nfdlib.__version__} on {DEVICE}; quick mode: {QUICK}; largest sizes on this device: n = {CAPS.n}, "
      f"L = {CAPS.L}, {CAPS.steps} steps, {CAPS.seeds} seeds")
T0 = time.time()

# %% [markdown]
# ## The explorer
#
# Sliders react when you let go of them. Width $n$ and depth $L$ move in powers of two, the rate $\eta$ in
# octaves; `rule` is any parametrization of the registry (notebook 00), `block` one- or two-layer residual
# blocks, `activation at` pre- or post-activation blocks, `backward` true backpropagation or the decoupled
# (GIA) backward pass. The four panels, for the configuration the controls describe:
#
# * **(a) Feature size per layer** against $\tau$: the rms of $h_\ell$ at initialization (dashed) and after
#   training (solid), one colour per seed: the coord check of notebook 00 along depth. The line under the
#   figure gives $\mathrm{rms}\,h_L/\mathrm{rms}\,h_0$ at initialization and how far $h_L$ moved in training.
# * **(b) Training loss** against SGD step: the networks (mean over seeds, min-max band) and the NFD limit,
#   once with independent backward weights (*decoupled*, the gradient-independence assumption) and once with
#   the reused-weight terms of true backpropagation (*reused*). The limit does not depend on $n$: it is the
#   mean of four independent solves of $M=2048$ particles each (`nfdlib.explore.LIMIT_PARTICLES`, chosen by
#   measuring its error, `benchmarks/widgets.py --particles`), on $K=L$ Euler steps, and the line under the
#   panel gives its Monte Carlo standard error and the 95% interval of the gap. The solver covers depth-μP
#   with one-layer pre-activation blocks; elsewhere the panel says so.
# * **(c) The first internal layer's own update** in two-layer blocks: the rms of
#   $m_1\,\Delta W^{(1)}_\ell\,\phi(h_{\ell-1})$ after one SGD step, per block, under depth-μP and under the
#   correction $\eta_1=\eta\,n\sqrt L$ (notebooks 05 and 06).
# * **(d) One coordinate of $h_T$** on the first training input, across the units of the networks, against the
#   solver's particles: in the limit a unit is a particle, so the two histograms should match. For another
#   rule with one-layer pre-activation blocks the particles of the depth-μP limit are drawn as a reference.
#
# The task is small on purpose (8 Gaussian inputs, a random teacher, mean-squared error, full-batch SGD): the
# solver's cost grows with the square of (steps x inputs), and a slider has to keep up. The status line says
# which device computed the update, how long it took, what came from the memo (a revisited setting, or the
# limit after a width move, is not computed again), and which sizes were capped. On a CPU the sizes are capped
# at $n=512$ and $L=64$ (a larger request is shrunk and the status line says so; an update at the caps takes
# tens of seconds); on a GPU the sliders reach their ends, $n=4096$ and $L=256$: 8 times wider and 4 times
# deeper than a CPU.

# %%
app = widgets.explorer(**START)
app

# %% [markdown]
# ## Guided experiments
#
# Each experiment asks you to predict, then move the sliders. The hidden answer quotes the numbers you should
# see, computed by the same code at the explorer's starting sizes (so they match the panels), with a verdict
# where the experiment makes a claim: *agree* only when the whole 95% interval lies within the tolerance stated
# in the parameters cell, *disagree* when it lies wholly outside, *not resolved* otherwise. Configurations not
# named keep the starting values (depth-μP, one-layer pre-activation blocks, ReLU, $T=1$, $\eta=0.5$).
#
# ### 1. Depth at fixed width: which rules keep features O(1)?
#
# Set $L=4$, then $L=64$, under depth-μP. Then switch `rule` to μP (no branch multiplier) at $L=64$. What
# happens to panel (a), and why does the loss in panel (b) vanish under μP?

# %%
def run(parts=explore.PARTS, **changes):
    """The explorer's computation for its starting configuration with some fields changed."""
    return explore.explore(explore.ExploreConfig(**{**START, **changes}), device=DEVICE, parts=parts)


def answer_depth():
    g = {(p, L): explore.stream_growth(run(("networks",), parametrization=p, L=L)["networks"])
         for p in ("depth-mup", "mup") for L in (L_SHALLOW, L_DEEP)}
    diverged = run(("networks",), parametrization="mup", L=L_DEEP)["networks"]["diverged_at"]
    stops = ", ".join(str(int(k)) if k >= 0 else "none" for k in diverged)
    return (f"Under depth-μP, rms $h_L$/rms $h_0$ at initialization is {g[('depth-mup', L_SHALLOW)]:.3g} at "
            f"$L={L_SHALLOW}$ and {g[('depth-mup', L_DEEP)]:.3g} at $L={L_DEEP}$: the branch multiplier "
            "$\\sqrt{T/L}$ makes the $L$ increments add up to a depth-independent variance, $q_T=q_0e^{T/2}$ for "
            f"ReLU (notebook 01), so the rms grows by $e^{{1/4}}\\approx{np.exp(0.25):.3g}$ whatever $L$. Under μP "
            f"each block adds $O(1)$ and the variance multiplies: the ratio is {g[('mup', L_SHALLOW)]:.3g} at "
            f"$L={L_SHALLOW}$ and {g[('mup', L_DEEP)]:.3g} at $L={L_DEEP}$, and the networks diverge (at step "
            f"{stops}, seed by seed; 'none' where a seed trained); panel (b) marks the seeds that diverged.")


display(widgets.on_demand_answer(answer_depth))

# %% [markdown]
# ### 2. The horizon $T$
#
# Keep depth-μP at $L=8$ and move `horizon T` from 1 to 4, then to 0.25. Predict panel (a)'s ratio
# $\mathrm{rms}\,h_L/\mathrm{rms}\,h_0$ at initialization from $q_T=q_0e^{T/2}$, and predict whether a longer
# horizon (a "deeper" limit at the same $L$) trains faster in 6 steps. Does the limit still describe the
# networks at $T=4$?

# %%
def answer_horizon():
    rows = []
    for T in HORIZONS:
        r = run(T=T)
        h, gap = r["networks"]["h_rms_init"], r["gap"]
        ratio = h[:, -1] / h[:, 0]  # per seed
        _, lo, hi = stats.mean_interval(ratio / np.exp(T / 4))
        growth = stats.interval_verdict(lo, hi, prediction=1.0, tol=GROWTH_TOL)
        limit = r["limit"]["reused"]
        at_L = (1 + T / (2 * START["L"])) ** (START["L"] / 2)  # L ReLU blocks at infinite width
        rows.append([f"{T:g}", f"{ratio.mean():.3g}", f"{np.exp(T / 4):.3g}", growth.outcome, f"{at_L:.3g}",
                     f"{limit['loss'][-1]:.3g} ± {limit['loss_se'][-1]:.2g}",
                     f"{gap['net_mean']:.3g} ± {gap['net_se']:.2g}",
                     explore.gap_verdict(gap, "reused", MATCH_TOL).outcome])
    header = ["T", "rms h_L / rms h_0 (init)", "e^(T/4)", f"ratio within {GROWTH_TOL:.0%}", "(1 + T/2L)^(L/2)",
              "reused limit, final loss", f"networks (n = {START['n']})", f"gap within {MATCH_TOL:.0%}"]
    return (f"At $L={START['L']}$, $n={START['n']}$, after {START['steps']} steps:\n\n"
            + stats.markdown_table(header, rows) + "\n\n"
            "The horizon is the limit's depth: $T$ sets how far the stream diffuses, $q_T=q_0e^{T/2}$, and how "
            "much every step can move the features, while $L$ only sets how finely the network discretizes "
            "$[0,T]$. The fifth column is what $L$ ReLU blocks give at infinite width, $q_L=q_0(1+T/2L)^L$, "
            "which tends to $q_0e^{T/2}$ as $L$ grows: their difference is the depth discretization, largest "
            "when $T/L$ is large. Read the verdict columns for whether the ratio follows $e^{T/4}$ and whether the networks "
            "match the reused limit at each $T$ (± are standard errors: seeds for the networks, solves for the "
            "limit).")


display(widgets.on_demand_answer(answer_horizon))

# %% [markdown]
# ### 3. Width: which limit do the networks approach, and from what width?
#
# Depth-μP, pre-activation, $L=8$, true backpropagation. Move $n$ from 32 to 512 and read the line under
# panel (b). The dashed and dotted curves stay put: the limit does not depend on $n$. Which limit, decoupled
# (GIA) or reused, do the networks match, and at which widths can the interval tell?

# %%
def measure_width():
    return {n: run(n=n)["gap"] for n in WIDTHS}


def gap_cell(gap, coupling):
    """The gap to one limit, its 95% interval and the verdict, for a table cell."""
    lo, hi = gap[f"gap_{coupling}_interval"]
    return (f"{gap['gap_' + coupling]:+.2g} [{lo:+.2g}, {hi:+.2g}]: "
            f"{explore.gap_verdict(gap, coupling, MATCH_TOL).outcome}")


def widths_by_outcome(gaps, coupling):
    """'agree at n = ...; disagree at ...; not resolved at ...' for one limit over the widths tried."""
    found = {o: [str(n) for n, g in gaps.items() if explore.gap_verdict(g, coupling, MATCH_TOL).outcome == o]
             for o in stats.OUTCOMES}
    return "; ".join(f"{o} at $n$ = {', '.join(ns)}" for o, ns in found.items() if ns)


def answer_width():
    gaps = measure_width()
    rows = [[n, f"{g['net_mean']:.3g} ± {g['net_se']:.2g}", gap_cell(g, "reused"), gap_cell(g, "decoupled")]
            for n, g in gaps.items()]
    g = gaps[WIDTHS[-1]]
    return (f"The limits, the same at every width: reused {g['reused']:.3g} ± {g['reused_se']:.2g}, decoupled "
            f"{g['decoupled']:.3g} ± {g['decoupled_se']:.2g} (final train loss after {START['steps']} steps, "
            "Monte Carlo standard error over 4 solves). The networks, and their gap to each limit with its "
            f"95% interval and verdict (tolerance ±{MATCH_TOL:.0%} of the limit):\n\n"
            + stats.markdown_table(["n", "networks (seed SE)", "gap to reused", "gap to decoupled"], rows)
            + f"\n\nNetworks = reused limit: {widths_by_outcome(gaps, 'reused')}. Networks = decoupled limit: "
            f"{widths_by_outcome(gaps, 'decoupled')}. The reused system is the limit of true backpropagation "
            "(notebook 04); the decoupled one is the limit of a network with independent backward weights. A "
            "*not resolved* row says that four seeds cannot tell the networks from the limit within the tolerance, "
            "in either direction. Notebook 02 fits how the gap shrinks with $n$, with many more seeds.")


display(widgets.on_demand_answer(answer_width))

# %% [markdown]
# ### 4. The gradient-independence assumption, live
#
# At $n=512$, $L=8$, switch `backward` from true to decoupled. The networks now backpropagate through an
# independent copy of each $W_\ell(0)$. Which limit curve, the dashed (decoupled) or the dotted (reused),
# do they follow now?

# %%
def answer_gia():
    gap = run(n=WIDTHS[-1], backward="decoupled")["gap"]
    verdicts = {c: explore.gap_verdict(gap, c, MATCH_TOL) for c in ("decoupled", "reused")}
    says = {"agree": "they follow it within the tolerance", "disagree": "the interval excludes it",
            "not resolved": "the interval cannot tell"}
    split = {}
    for L in (2, 16):  # the two limits' difference, paired by solver seed (each solve pair shares its seed)
        limit = run(("limit",), L=L)["limit"]
        split[L] = stats.mean_interval(limit["decoupled"]["final"] - limit["reused"]["final"])
    lines = [f"gap to the {c} limit {gap_cell(gap, c)} ({says[v.outcome]})" for c, v in verdicts.items()]
    return (f"Decoupled networks at $n={WIDTHS[-1]}$: final loss {gap['net_mean']:.3g} ± {gap['net_se']:.2g}.\n\n* "
            + "\n* ".join(lines) + "\n\n"
            "Each kind of network has its own limit: the decoupled system is what the gradient-independence "
            "assumption predicts, and it is the limit of networks built to satisfy it, not of true "
            "backpropagation. Between the limits themselves the difference (decoupled minus reused, 95% interval "
            f"over the paired solves) is {split[2][0]:+.2g} [{split[2][1]:+.2g}, {split[2][2]:+.2g}] at $L=2$ "
            f"and {split[16][0]:+.2g} [{split[16][1]:+.2g}, {split[16][2]:+.2g}] at $L=16$: move $L$ and compare "
            "(notebook 03 measures how the coupling that reusing the weights keeps behaves with depth).")


display(widgets.on_demand_answer(answer_gia))

# %% [markdown]
# ### 5. Feature learning or lazy: NTK against depth-μP as the width grows
#
# At $L=8$, move $n$ from 32 to 512 under depth-μP and watch the second number under the figure, the rms
# change of $h_L$ over training. Then switch `rule` to NTK (the same $\sqrt{T/L}$ branch, but a $1/\sqrt n$
# readout and $O(1)$ rates) and move $n$ again. Predict how the change scales with $n$ under each rule.

# %%
def answer_lazy():
    rows = []
    for rule, expected in (("depth-mup", 0.0), ("ntk", -0.5)):
        changes = {n: explore.feature_change(run(("networks",), n=n, parametrization=rule)["networks"])
                   for n in WIDTHS}
        fit = stats.fit_loglog([n for n, c in changes.items() for _ in c], np.concatenate(list(changes.values())))
        verdict = stats.slope_verdict(fit, expected, tol=SLOPE_TOL)
        rows.append([widgets.RULE_LABELS[rule], ", ".join(f"{c.mean():.3g}" for c in changes.values()),
                     f"{fit.slope:+.2f} [{fit.lo:+.2f}, {fit.hi:+.2f}]", f"{expected:+.1f}", verdict.outcome])
    header = ["rule", "rms change of h_L at n = " + ", ".join(map(str, WIDTHS)), "width exponent (95%)",
              "predicted", f"within ±{SLOPE_TOL}"]
    return (stats.markdown_table(header, rows) + "\n\n"
            "Under depth-μP the readout multiplier is $1/n$ and the rates $\\eta n$: each step moves every "
            "feature by $O(1)$ whatever the width, the regime the NFD limit describes. Under NTK each feature "
            "moves by $O(1/\\sqrt n)$, so at large width the features freeze and the network is a kernel "
            "machine: no feature learning, and no NFD dynamics to speak of (the explorer has no limit for it).")


display(widgets.on_demand_answer(answer_lazy))

# %% [markdown]
# ### 6. Is a unit a particle?
#
# Depth-μP, $L=8$, true backpropagation. Compare panel (d) at $n=32$ and at $n=512$: the histogram of one
# coordinate of $h_T$ across the units of the networks against the reused limit's particles. Then, at
# $n=512$, switch `activation at` to post: these networks have no NFD limit, and panel (d) keeps the
# pre-activation limit's particles as a reference. Predict which comparisons the Kolmogorov-Smirnov test can
# tell apart.

# %%
def answer_particles():
    lines, verdicts = [], {}
    for n, preact in ((WIDTHS[0], True), (WIDTHS[-1], True), (WIDTHS[-1], False)):
        r = run(n=n, preact=preact)
        units = r["networks"]["h_T"][r["networks"]["diverged_at"] < 0]
        particles = r["limit"]["reused"]["h_T"]
        distance, verdicts[n, preact] = explore.particle_verdict(units, particles, KS_TOL)
        v = verdicts[n, preact]
        lines.append(f"{'pre' if preact else 'post'}-activation, $n={n}$: {units.size} units against "
                     f"{particles.size} particles, distance {distance:.3f}, the laws differ by [{v.lo:.3f}, "
                     f"{v.hi:.3f}]: **{v.outcome}**")
    post = verdicts[WIDTHS[-1], False]
    return (f"Kolmogorov-Smirnov distance between units and the reused limit's particles, with the 95% interval "
            "of the distance between the two laws (it accounts for both sample sizes) and the verdict on 'the "
            f"laws are within {KS_TOL}':\n\n* " + "\n* ".join(lines) + "\n\n"
            "Few units give a wide interval, so the test can neither confirm nor exclude a match; many units "
            "narrow it. In a post-activation block the ReLU comes after the matrix, so every increment of the "
            "stream has a positive mean that compounds along depth (notebook 00, section 5); "
            + ("the test sees that those units are not particles of the pre-activation limit. " if post.disagrees
               else f"here the test's verdict on those units is *{post.outcome}*. ")
            + "A match in one coordinate's histogram is necessary, not sufficient: notebook 02 compares kernels "
            "and outputs.")


display(widgets.on_demand_answer(answer_particles))

# %% [markdown]
# ### Also try
#
# Set `block` to two-layer and move $L$ from 4 to 64: panel (c) shows the first internal layer's own update
# falling like $L^{-1/2}$ under depth-μP and held by the correction (notebooks 05 and 06 measure it). Switch
# `activation at` to post at $L=64$: the stream grows with depth whatever the multiplier (notebook 00, section 5).
#
# ## Takeaways
#
# Computed from the experiments' results (each a memoized explorer result, so nothing is computed twice):

# %%
def takeaways():
    depth = {L: explore.stream_growth(run(("networks",), L=L)["networks"]) for L in (L_SHALLOW, L_DEEP)}
    gaps = measure_width()
    start_gap = gaps.get(START["n"])
    at_start = ("" if start_gap is None else f" At the starting width $n={START['n']}$ the verdict on 'networks = "
                f"reused limit' is *{explore.gap_verdict(start_gap, 'reused', MATCH_TOL).outcome}*.")
    exponents = []
    for rule in ("depth-mup", "ntk"):
        changes = {n: explore.feature_change(run(("networks",), n=n, parametrization=rule)["networks"])
                   for n in WIDTHS}
        fit = stats.fit_loglog([n for n, c in changes.items() for _ in c], np.concatenate(list(changes.values())))
        exponents.append(f"{widgets.RULE_LABELS[rule]} {fit.slope:+.2f} [{fit.lo:+.2f}, {fit.hi:+.2f}]")
    return "\n".join([
        f"* Under depth-μP panel (a)'s ratio is {depth[L_SHALLOW]:.3g} at $L={L_SHALLOW}$ and "
        f"{depth[L_DEEP]:.3g} at $L={L_DEEP}$: with pre-activation blocks the depth does not change the size of "
        "the features; the horizon $T$ does (experiments 1 and 2).",
        f"* The limit beside the networks is fixed: it does not move with the width. Networks = reused limit "
        f"(±{MATCH_TOL:.0%}): {widths_by_outcome(gaps, 'reused')}; networks = decoupled limit: "
        f"{widths_by_outcome(gaps, 'decoupled')} (experiment 3).{at_start}",
        "* The decoupled (GIA) system is the limit of a different network, one with independent backward "
        "weights (experiment 4).",
        "* Whether features learn is read from a width exponent of the feature change (95% intervals): "
        + ", ".join(exponents) + "; 0 means feature learning, $-1/2$ lazy (experiment 5).",
        "* Notebooks 02 to 07 measure each of these with many seeds and fitted rates; the explorer is for seeing "
        "them move."])


display(widgets.on_demand_answer(takeaways, hidden=False))

# %% [markdown]
# ## Appendix: what this run computed
#
# The explorer's memo (`nfdlib.explore.MEMO`) holds every part computed above, keyed by what it depends on:
# the networks by the whole configuration, each limit by the task, $T$, $\eta$, the steps, the activation and
# the solver's sizes (not by $n$, the seeds or the backward mode), and the collapse scans by rule and
# configuration.

# %%
print(f"notebook ran in {time.time() - T0:.0f} s; the explorer memo holds {len(explore.MEMO)} results "
      f"({explore.MEMO.hits} hits, {explore.MEMO.misses} computed)")
