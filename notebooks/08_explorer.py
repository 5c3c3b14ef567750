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
# # 07 · Explorer: move depth and width, and watch the limit hold or fail
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfd-notebooks/nfd-notebooks/blob/main/notebooks/08_explorer.ipynb)
#
# The earlier notebooks each measured one claim at sizes fixed in advance. Here every size is a slider. Each
# move trains small residual networks, solves their NFD limit with the particle solver, and redraws four
# panels; nothing is precomputed. On a laptop CPU an update at the starting sizes takes about a second, and the
# largest sizes a CPU is allowed (width 512, depth 64) take several seconds; on a GPU the sliders reach 16 times
# wider and 8 times deeper networks. The explorer also runs as a standalone web page: `make
# explore` serves this notebook with Voila (code hidden) on `127.0.0.1`.
#
# What the panels show, for the configuration the controls describe:
#
# * **(a) Feature size per layer** against layer-time $\tau=\ell T/L$: the rms of $h_\ell$ at initialization
#   (dashed) and after training (solid), one colour per seed. This is the coord check of notebook 00 along
#   depth. A parametrization that is stable in depth keeps this curve the same as $L$ grows.
# * **(b) Training loss** against SGD step: the finite networks (mean over seeds, min-max band) and the NFD
#   limit computed by the solver (notebooks 01 to 04), once with independent backward weights (*decoupled*,
#   the gradient-independence assumption) and once with the reused-weight terms of true backpropagation
#   (*reused*). The line under the panel gives the gap between the networks and the limit that matches their
#   backward pass. The solver exists for depth-μP with one-layer pre-activation blocks only; elsewhere the panel
#   says so.
# * **(c) The first internal layer's own update** in two-layer blocks (notebook 05): the rms of
#   $m_1\,\Delta W^{(1)}_\ell\,\phi(h_{\ell-1})$ after one SGD step, per block, under depth-μP and under the
#   depth-aware correction $\eta_1=\eta\,n\sqrt L$ (notebook 06).
# * **(d) One coordinate of $h_T$** on the first training input, across the network's units, against the
#   solver's particles: in the limit a neuron is a particle, so the two histograms should match.
#
# The task is small on purpose (8 Gaussian inputs, a random teacher, mean-squared error, full-batch SGD): the
# solver's cost grows with the square of (steps x inputs), and a slider has to keep up. The status line under
# the controls says which device computed the update, how long it took, what came from the cache (revisiting a
# setting is instant), and which sizes were capped to what the device can do in seconds rather than minutes
# (`computing this setting…` shows while an update runs).

# %% tags=["parameters"]
# Every size lives here. NFD_QUICK=1 (CI) runs the small version in well under a minute on 2 CPU cores.
import os

QUICK = os.environ.get("NFD_QUICK", "0").strip().lower() in ("1", "true", "yes", "on")
# Where the explorer starts (any field of nfdlib.explore.ExploreConfig).
START = {"n": 64, "L": 4, "steps": 4} if QUICK else {"n": 128, "L": 8, "steps": 6}
# Sizes of the guided experiments below.
L_SHALLOW, L_DEEP = 4, (16 if QUICK else 64)
N_NARROW, N_WIDE = 32, (128 if QUICK else 512)
L_FOR_WIDTH = 4 if QUICK else 8
STEPS = START["steps"]  # the explorer's own starting value, so the answers match what the reader sees
SEEDS = 2 if QUICK else 4

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
from nfdlib import explore, widgets
from nfdlib.config import get_device

DEVICE = get_device()  # CUDA, then MPS, then CPU; override with NFD_DEVICE=cpu
print(f"nfdlib {nfdlib.__version__} on {DEVICE}; quick mode: {QUICK}; caps on this device: "
      f"{explore.caps_for(DEVICE)}")
T0 = time.time()

# %% [markdown]
# ## The explorer
#
# Sliders react when you let go of them. Width $n$ and depth $L$ move in powers of two, the rate $\eta$ in
# octaves; `rule` is any parametrization of the registry (notebook 00), `block` one- or two-layer residual
# blocks, `activation at` pre- or post-activation blocks, `backward` true backpropagation or the decoupled
# (GIA) backward pass.

# %%
app = widgets.explorer(**START)
app

# %% [markdown]
# ## Guided experiments
#
# Each experiment asks you to predict, then move the sliders. The hidden answer quotes the number you should
# see; it is computed by the same code, at the sizes of the parameters cell, when this notebook runs.
# Configurations not named keep the explorer's starting values (depth-μP, one-layer pre-activation blocks,
# ReLU, $T=1$, $\eta=0.5$).
#
# ### 1. Depth at fixed width: which rules keep features O(1)?
#
# Set $L=4$, then $L=64$, under depth-μP. Then switch `rule` to μP (no branch multiplier) at $L=64$. What
# happens to panel (a), and why does the loss in panel (b) vanish under μP?

# %%
def run(**changes):
    """The explorer's computation for its start configuration with some fields changed."""
    config = explore.ExploreConfig(**{**START, "steps": STEPS, "seeds": SEEDS, **changes})
    return explore.explore(config, device=DEVICE)


def growth(result):
    """rms of h_L over rms of h_0 at initialization, mean over seeds (panel (a)'s readout)."""
    h = result["networks"]["h_rms_init"]
    return float(h[:, -1].mean() / h[:, 0].mean())


g = {(p, L): growth(run(parametrization=p, L=L)) for p in ("depth-mup", "mup") for L in (L_SHALLOW, L_DEEP)}
diverged = run(parametrization="mup", L=L_DEEP)["networks"]["diverged_at"]
stops = ", ".join(str(int(k)) if k >= 0 else "none" for k in diverged)
display(widgets.hidden_answer(
    f"Under depth-μP, rms $h_L$/rms $h_0$ at initialization is {g[('depth-mup', L_SHALLOW)]:.3g} at "
    f"$L={L_SHALLOW}$ and {g[('depth-mup', L_DEEP)]:.3g} at $L={L_DEEP}$: the branch multiplier "
    f"$\\sqrt{{T/L}}$ makes the $L$ increments add up to a depth-independent variance, "
    f"$q_T=q_0e^{{T/2}}$ for ReLU (notebook 01), so rms grows by $e^{{1/4}}\\approx{np.exp(0.25):.3g}$ "
    f"whatever $L$. Under μP each block adds $O(1)$ and the variance multiplies: the ratio is "
    f"{g[('mup', L_SHALLOW)]:.3g} at $L={L_SHALLOW}$ and {g[('mup', L_DEEP)]:.3g} at $L={L_DEEP}$, and the "
    f"networks diverge (at step {stops}, seed by seed; 'none' where a seed trained), and panel (b) marks the "
    "seeds that diverged."))

# %% [markdown]
# ### 2. Pre- against post-activation blocks
#
# Under depth-μP at $L=64$, switch `activation at` from pre to post. In a post-activation block the ReLU sits
# after the matrix, so every increment has a positive mean. Predict panel (a) before you move.

# %%
post = {L: growth(run(preact=False, L=L)) for L in (L_SHALLOW, L_DEEP)}
pre = growth(run(L=L_DEEP))
display(widgets.hidden_answer(
    f"Pre-activation: rms $h_L$/rms $h_0$ = {pre:.3g} at $L={L_DEEP}$. Post-activation: {post[L_SHALLOW]:.3g} at "
    f"$L={L_SHALLOW}$ and {post[L_DEEP]:.3g} at $L={L_DEEP}$. The positive means of the increments do not "
    "cancel; each is proportional to the current size of $h$, so the growth compounds with depth instead of "
    "settling (notebook 00, section 5). There is no NFD limit for these networks, and panel (b) says so."))

# %% [markdown]
# ### 3. Width: do the networks approach the limit?
#
# Back to depth-μP, pre-activation, $L=8$, true backpropagation. Move $n$ from 32 to 512 and read the gap under
# panel (b). Which limit do the networks approach: decoupled (GIA) or reused?

# %%
gaps = {n: run(n=n, L=L_FOR_WIDTH)["gap"] for n in (N_NARROW, N_WIDE)}
lines = [f"$n={n}$: networks {g['net_mean']:.3g} ± {g['net_se']:.2g} ({g['seeds']} seeds), reused limit "
         f"{g['reused']:.3g}, decoupled limit {g['decoupled']:.3g}" for n, g in gaps.items()]
wide = gaps[N_WIDE]
closer = "reused" if abs(wide["net_mean"] - wide["reused"]) < abs(wide["net_mean"] - wide["decoupled"]) else "decoupled"
shrinks = abs(wide["gap"]) < abs(gaps[N_NARROW]["gap"])
display(widgets.hidden_answer(
    f"Final training loss after {STEPS} steps at $L={L_FOR_WIDTH}$:\n\n* " + "\n* ".join(lines) + "\n\n"
    f"The gap to the reused limit {'shrinks' if shrinks else 'does not shrink'}, from "
    f"{gaps[N_NARROW]['gap']:+.2g} to {wide['gap']:+.2g}, and at $n={N_WIDE}$ the networks are closer to the "
    f"{closer} limit. The reused system is the limit of true backpropagation (notebook 04); the decoupled one is "
    "the limit of a network with independent backward weights. With a few seeds and one solve these are "
    "readings, not verdicts: notebook 02 fits the rates with intervals."))

# %% [markdown]
# ### 4. The gradient-independence assumption, live
#
# At $n=512$, $L=8$, switch `backward` from true to decoupled. The networks now backpropagate through an
# independent copy of each $W_\ell(0)$. Which dashed curve do they follow now?

# %%
gia = {b: run(n=N_WIDE, L=L_FOR_WIDTH, backward=b)["gap"] for b in ("true", "decoupled")}
split = {L: run(n=N_WIDE, L=L)["gap"] for L in (2, 16)}
display(widgets.hidden_answer(
    f"True backpropagation: final loss {gia['true']['net_mean']:.3g} ± {gia['true']['net_se']:.2g}; decoupled "
    f"networks: {gia['decoupled']['net_mean']:.3g} ± {gia['decoupled']['net_se']:.2g}. Limits: reused "
    f"{gia['true']['reused']:.3g}, decoupled {gia['true']['decoupled']:.3g}. The two kinds of network train "
    "differently, and each has its own limit. Between the limits themselves the difference (decoupled minus "
    f"reused) is {split[2]['decoupled'] - split[2]['reused']:+.2g} at $L=2$ and "
    f"{split[16]['decoupled'] - split[16]['reused']:+.2g} at $L=16$: move $L$ and see whether it closes. Notebook "
    "03 measures this with many seeds: the coupling that backpropagation keeps by reusing the weights stays O(1) "
    "under depth-μP."))

# %% [markdown]
# ### 5. Collapse in two-layer blocks, and the correction
#
# Set `block` to two-layer, $L=4$, then $L=64$. Watch the blue line of panel (c) (depth-μP) and the red one
# (the correction $\eta_1=\eta n\sqrt L$). How fast does the blue line fall with depth?

# %%
own = {L: {rule: float(np.sqrt(np.mean(res["dz_own"] ** 2)))
           for rule, res in run(block="two", L=L)["collapse"].items()} for L in (L_SHALLOW, L_DEEP)}
drop = own[L_DEEP]["depth-mup"] / own[L_SHALLOW]["depth-mup"]
display(widgets.hidden_answer(
    f"Depth-μP: the own update (rms over blocks) is {own[L_SHALLOW]['depth-mup']:.3g} at $L={L_SHALLOW}$ and "
    f"{own[L_DEEP]['depth-mup']:.3g} at $L={L_DEEP}$, a factor {drop:.3g}; the prediction $L^{{-1/2}}$ gives "
    f"{(L_DEEP / L_SHALLOW) ** -0.5:.3g}. Corrected: {own[L_SHALLOW]['depth-mup-corrected']:.3g} and "
    f"{own[L_DEEP]['depth-mup-corrected']:.3g}, a factor "
    f"{own[L_DEEP]['depth-mup-corrected'] / own[L_SHALLOW]['depth-mup-corrected']:.3g}. The signal reaching the first internal layer passes "
    "through the branch multiplier $\\sqrt{T/L}$ and so shrinks like $L^{-1/2}$; multiplying that layer's rate "
    "by $\\sqrt L$ cancels it. At one step the ratio of the two lines is exactly $\\sqrt L$ (same network, same "
    "gradient, rate times $\\sqrt L$): the lesson is in how each line moves with $L$."))

# %% [markdown]
# ### 6. Is a neuron a particle?
#
# Depth-μP, $L=8$, true backpropagation. Compare panel (d) at $n=32$ and at $n=512$: the histogram of one
# coordinate of $h_T$ across the network's units against the reused solver's particles.

# %%
ks = {}
for n in (N_NARROW, N_WIDE):
    result = run(n=n, L=L_FOR_WIDTH)
    units, particles = result["networks"]["h_T"].ravel(), result["limit"]["reused"]["h_T"]
    # The distance that two samples of these sizes from one law exceed 5% of the time.
    noise = 1.36 * np.sqrt((units.size + particles.size) / (units.size * particles.size))
    ks[n] = (explore.ks_distance(units, particles), noise, units.size, particles.size)
lines = [f"$n={n}$: distance {d:.3f} ({a} units, {b} particles; two samples of one law exceed {c:.3f} only 5% of "
         f"the time: {'below' if d < c else 'above'} it)" for n, (d, c, a, b) in ks.items()]
display(widgets.hidden_answer(
    "Kolmogorov-Smirnov distance between units and particles:\n\n* " + "\n* ".join(lines) + "\n\n"
    "Below the 5% level the histograms are as close as two samples of one law usually are, so this test finds no "
    "difference between a unit's coordinate and a particle of the limit (no proof that there is none: notebook "
    "02 compares kernels and outputs with fitted rates); above it, the test sees a difference."))

# %% [markdown]
# ## Takeaways
#
# * Depth-μP keeps features O(1) at any depth only with pre-activation blocks; without the branch multiplier,
#   or with the activation after the matrix, depth compounds.
# * Finite networks trained by true backpropagation approach the *reused* NFD limit as they widen; the
#   decoupled (GIA) system is the limit of a different network.
# * In two-layer blocks the first internal layer's own learning fades like $L^{-1/2}$ under depth-μP, and the
#   correction $\eta_1=\eta n\sqrt L$ holds it at O(1).
#
# Notebooks 02 to 07 measure each of these with many seeds, fitted rates and intervals; the explorer is for
# seeing them move.

# %%
print(f"notebook ran in {time.time() - T0:.0f} s; the explorer memo holds {len(explore.MEMO)} results "
      f"({explore.MEMO.hits} hits, {explore.MEMO.misses} computed)")
