# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Overview: why scaling needs a theory of feature learning at depth
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfd-notebooks/nfd-notebooks/blob/main/notebooks/00_overview.ipynb)
#
# This collection follows one paper, *Understanding Scaling Laws in Deep Neural Networks via Feature Learning
# Dynamics* (Yao, Wu and Gao, arXiv 2512.21075), from a finite residual network to its limit as width and depth
# grow together, the **Neural Feature Dynamics** (NFD). The paper's full text was not available to us: the
# equations here are our reconstruction, written out in
# [docs/reconstruction.md](../docs/reconstruction.md) (what is read from the paper and what is inferred, the
# notation, the claims R1 to R12 and where each is measured), and every claim is checked by a measurement that you
# can rerun. When a measurement disagrees with a claim, the notebook says so.
#
# **After this notebook you will be able to**
#
# 1. read a parametrization off the registry (init, multiplier, learning rate, branch multiplier) and say what each
#    rule does to one layer;
# 2. run a coordinate check in width and in depth and tell a stable rule from an exploding or a lazy one;
# 3. explain why depth-μP's `sqrt(T/L)` branch turns the layer index into a time, and why post-activation blocks
#    grow like `exp(c sqrt(L))` under it;
# 4. state the one rule by which every verdict of the collection is reached.
#
# **Prerequisites.** Residual networks and SGD; the idea of μP (each layer's features move by `O(1)` at every
# width). No earlier notebook. One outside idea appears in section 5 and returns in notebook 01:
# *Itô calculus* in one line, a sum of many small independent zero-mean increments of size `sqrt(dtau)` becomes a
# Brownian path whose squared increments add up to a finite *quadratic variation*
# ([docs/reconstruction.md, section 9](../docs/reconstruction.md#9-four-ideas-from-outside-in-brief)).
#
# **Run time** (measured on 2 CPU cores shared with other work, no GPU): quick mode (`NFD_QUICK=1`) about 1 minute
# (61 s); full mode about 5 minutes (274 s). Nothing here is cached: full mode always computes from scratch.

# %% tags=["parameters"]
# Every size lives here. NFD_QUICK=1 (CI) runs the small version in well under a minute on 2 CPU cores.
import os

QUICK = os.environ.get("NFD_QUICK", "0").strip().lower() in ("1", "true", "yes", "on")
SEEDS = (0, 1) if QUICK else (0, 1, 2)
COORD_STEPS = 2 if QUICK else 3  # SGD steps recorded by each coord check
WIDTHS = (32, 64, 128) if QUICK else (64, 128, 256, 512, 1024)  # width sweep, at depth L_FOR_WIDTHS
L_FOR_WIDTHS = 4
DEPTHS = (2, 4, 8, 16) if QUICK else (2, 4, 8, 16, 32, 64, 128, 256)  # depth sweep, at width N_FOR_DEPTHS
N_FOR_DEPTHS = 64 if QUICK else 256
T = 1.0  # depth horizon: layer-time runs over [0, T]
# Pre- vs post-activation training check (the paper reports width 128, depth 64, batch 128, SGD on CIFAR-10).
E1_N, E1_L = (64, 8) if QUICK else (128, 64)
E1_STEPS = 40 if QUICK else 200
E1_LRS = (0.03, 0.3) if QUICK else (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
E1_SEEDS = (0,) if QUICK else (0, 1)
E1_TRAIN, E1_TEST = (300, 200) if QUICK else (1000, 500)
# The live coord check at the end of section 4 (each slider move trains these networks again).
WIDGET = {"n": 32, "L": 4, "steps": 2, "seeds": 1} if QUICK else {"n": 128, "L": 8, "steps": 4, "seeds": 2}

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
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import nfdlib
from nfdlib import viz
from nfdlib.config import get_device

DEVICE = get_device()  # CUDA, then MPS, then CPU; override with NFD_DEVICE=cpu
print(f"nfdlib {nfdlib.__version__} on {DEVICE}; quick mode: {QUICK}")

# %% [markdown]
# ## 1. Why scaling laws need a theory of feature learning at depth
#
# A scaling law says that loss falls as a power of model size, data and compute. It describes what success
# looks like, but not *when* making a network wider or deeper keeps paying off. Two things can go wrong as a
# network grows:
#
# * **it becomes unstable or lazy.** With the default ("standard") parametrization, a learning rate that works
#   at width 256 makes the updates of a width-4096 network far larger; with the neural-tangent parametrization
#   the large network is stable but its features stop moving (it becomes a kernel machine). The
#   *maximal-update parametrization* (muP) fixes the width problem: every layer keeps learning features at every
#   width, and the best learning rate found on a small model *transfers* to a wide one.
# * **depth is a second axis.** Stacking `L` residual blocks adds `L` updates to the residual stream. Unless each
#   block is scaled down, the stream explodes (or, scaled too hard, each block stops learning). *Depth-muP*
#   (Bordelon et al. 2023; Yang et al. 2023, "Tensor Programs VI") multiplies each block by `1/sqrt(L)`. Then
#   the layer index becomes a time, `tau = l T / L`, the forward pass becomes a stochastic differential equation
#   in that time, and training adds a drift to it.
#
# The paper studies the joint limit `n -> infinity`, `L -> infinity` of ResNets with one matrix per block,
# trained by SGD. Its claims, each of which this collection measures:
#
# * the limit is a coupled forward-backward McKean-Vlasov SDE, the NFD (notebooks 01 and 02);
# * finite networks approach it at rates `O(1/n + 1/L)` at initialization and `O(1/L)` during training (02);
# * the gradient-independence assumption, known to fail during training at finite depth, becomes valid again at
#   infinite depth under the `1/sqrt(L)` scaling (03 and 04);
# * in blocks with two internal layers the first one stops learning at large depth, and a depth-aware learning
#   rate correction brings it back and restores learning-rate transfer across depth (05 and 06).
#
# ## 2. Map of the collection
#
# | notebook | question | the paper's claim it checks |
# |---|---|---|
# | **00 overview** (this one) | Which parametrizations are stable in width and in depth? | depth-muP is stable in both; pre-activation is needed (R1, R2) |
# | **01 deriving NFD** | How does a finite ResNet become an SDE in layer-time? | the NFD equations, step by step, each step checked against a network |
# | **02 simulating NFD** | Do finite networks converge to the particle solution, and how fast? | `O(1/n + 1/L)` at init, `O(1/L)` in training; NFD is not a kernel limit (R3, R5, R7, R8) |
# | **03 gradient independence** | How large is the coupling of the forward and backward passes, at init, per layer and end to end? | coupling `O(1/n)` at init; GIA restored at large depth (R4, R6) |
# | **04 the limit of true backpropagation** | Which limit do true networks converge to? | the reused-weight limit, its validation, CompleteP (R5, R6) |
# | **05 two-layer collapse** | Does the first internal layer of a two-layer block stop learning? | collapse like `L^-1/2`; depth-wise transfer fails (R9) |
# | **06 LR correction** | Does `eta_1 = eta n sqrt(L)` restore learning and transfer? | transfer across depth returns; deeper is better (R10, R11) |
# | **07 scaling laws** | Does the loss approach the limit's loss as `n` and `L` grow? | diminishing returns (R12) |
# | **08 explorer** | Every size on a slider | live versions of the figures above |
#
# Every notebook has a *quick* mode (`NFD_QUICK=1`, what the tests run) and a full mode (the default, what
# the figures in the text describe). Long sweeps are cached under `data/`.

# %% [markdown]
# ## 3. The network and the registry of scaling rules
#
# All notebooks use one residual MLP, `nfdlib.models.ResNet`. With width `n`, depth `L` (the number of
# residual blocks), horizon `T`, input dimension `d`, activation `phi` and weights drawn `N(0, 1)` (or scaled
# as a table says), the pre-activation network with one matrix per block reads
#
# $$ h_0 = m_U\,U x,\qquad h_\ell = h_{\ell-1} + \beta\, m_W\, W_\ell\,\phi(h_{\ell-1})\quad(\ell=1..L),\qquad
#    f = m_v\, v\,\phi(h_L). $$
#
# The multipliers `m`, the branch multiplier `beta`, the initial standard deviations and the SGD learning
# rate of each weight are the *parametrization*. They live in a single registry,
# `nfdlib.parametrization.REGISTRY`; the model, the optimizer groups and the table below are all read from
# it, so what you see is what runs. Learning rates are written relative to a base rate `eta` (the paper writes
# `eta_c`): under muP every matrix is trained at `eta * n`, which is the paper's convention with `N(0, 1)` weights
# and explicit `1/sqrt(n)` multipliers.

# %%
from nfdlib.parametrization import describe, registry_table
from nfdlib.stats import Claims, combine_verdicts, interval_verdict, mean_interval, slope_verdict

display(Markdown(registry_table()))

# %% [markdown]
# Roles: `input` is `U`, `hidden` the matrix of a one-layer block, `internal1` and `internal2` the two matrices
# of a two-layer block (`z_l = m_1 W1_l phi(h_{l-1})`, then `h_l = h_{l-1} + beta m_2 W2_l phi(z_l)`), and
# `readout` is `v`. Each entry carries a short derivation:

# %%
print(describe("depth-mup"))

# %% [markdown]
# The optimizer side is `nfdlib.optim.param_groups`: one SGD group per weight, at the rate the registry gives.
# The scaling metadata is a table keyed by parameter name, not attributes on the parameters, so it also works
# for your own `nn.Module` given a mapping from names to roles (see its docstring). Here are the groups of a
# two-layer network under depth-muP and under the depth-aware correction: only `W1` changes, by `sqrt(L)`.

# %%
from nfdlib import ResNet
from nfdlib.optim import param_groups

demo = ResNet(d_in=16, d_out=1, n=128, L=16, block="two", parametrization="depth-mup", device="cpu")
for name in ("depth-mup", "depth-mup-corrected"):
    rates = {g["name"]: g["lr"] for g in param_groups(demo, lr=0.1, parametrization=name)}
    print(f"{name:>20}: " + ", ".join(f"{k} {v:g}" for k, v in rates.items()))

# %% [markdown]
# ### Notation
#
# One symbol per object, in every notebook and in the library (the full table, with the code names, is in
# [docs/reconstruction.md, section 2](../docs/reconstruction.md#2-notation)):
#
# | symbol | meaning |
# |---|---|
# | `n`, `L`, `T` | width, depth (number of residual blocks), depth horizon |
# | `tau = l T / L` | layer-time of block `l`; `dtau = T / L` |
# | `beta` | branch multiplier: `sqrt(T/L)` under depth-muP, `T/L` under CompleteP, 1 under SP and muP |
# | `d`, `P`, `C` | input dimension, number of training inputs, number of outputs |
# | `h_l`, `z_l`, `g_l` | features after block `l`; first internal pre-activation of a two-layer block; the backward signal `n df/dh_l` |
# | `eta`, `eta_1` | the base learning rate (the paper's `eta_c`); the rate of the first internal layer of a two-layer block |
# | `k`, `S` | SGD step index, number of SGD steps |
# | `chi_mu` | derivative of the loss with respect to `f(x_mu)`, divided by the batch size |
# | `q`, `Phi`, `G`, `Psi` | kernels: `E[h h']`, `E[phi(h) phi(h')]`, `E[g g']`, `E[phi'(h) phi'(h')]` |
# | `Theta` | the tangent kernel: how one SGD step moves the output |
# | `Z`, `Zb` | forward and backward Gaussian noise of one block (the martingales they increment: `𝒵`, `𝒵̄`) |
# | `M`, `K` | the solver's particle count (its counterpart of `n`) and Euler steps (its counterpart of `L`) |

# %% [markdown]
# ## 4. Coordinate checks
#
# A *coordinate check* (the test that the `mup` package made popular) trains a network for a few SGD steps on
# one fixed batch and records the typical size of each coordinate: the root-mean-square (rms) of the features
# `h_l` and of their change from one step to the next. If a parametrization is right, these numbers stay put
# as the network grows; if it is wrong, they grow (instability) or shrink (the layer stops learning).
# `nfdlib.diagnostics.coord_check_width` and `coord_check_depth` return tidy records (one row per size, seed,
# step, layer and quantity), `nfdlib.viz.plot_coord_check` draws them, and `coord_check_verdict` fits a
# log-log slope with a 95% interval and turns it into the sentence printed under each figure: *flat* only when the
# whole interval lies within `EXP_TOL` of 0 (section 6 states the rule).
#
# The batch is a synthetic regression task (Gaussian inputs, a random teacher network). We compare four
# registry entries: `sp` and `ntk` (the standard and neural-tangent parametrizations), `mup` (muP without any
# depth factor) and `depth-mup`. Each uses one base learning rate at every size.
#
# **Predict first.** As the width grows from 64 to 1024 at fixed depth, which parametrization's feature
# updates (a) blow up, (b) shrink, (c) stay the same?

# %%
from nfdlib.diagnostics import coord_check_depth, coord_check_verdict, coord_check_width

BASE_LR = {"sp": 0.003, "ntk": 0.5, "mup": 0.05, "depth-mup": 0.05}
# Tolerance on a fitted exponent: "flat" means within +-0.2 of 0 (at most a factor 1.7 over a 16-fold range of
# sizes); the rules compared here differ by at least 1/2 (NTK's n^-1/2, SP's growth), so it separates them.
EXP_TOL = 0.2
width_records = {
    p: coord_check_width(p, WIDTHS, L=L_FOR_WIDTHS, steps=COORD_STEPS, seeds=SEEDS, lr=lr, T=T, device=DEVICE)
    for p, lr in BASE_LR.items()
}
width_verdicts = {p: coord_check_verdict(rec, "n", "dh_rms", flat_tol=EXP_TOL) for p, rec in width_records.items()}
fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
for ax, (p, rec) in zip(axes, width_records.items()):
    viz.plot_coord_check(rec, x="n", quantity="dh_rms", by="layer", ax=ax, legend="right" if p == "depth-mup" else None,
                         title=f"{p} (eta={BASE_LR[p]}, L={L_FOR_WIDTHS}, {len(SEEDS)} seeds)")
fig.suptitle(f"Per-step change of h_l after step {COORD_STEPS} against width (missing points diverged)")
fig.tight_layout()
viz.show(fig, f"Four log-log panels, one per parametrization (sp, ntk, mup, depth-mup): the rms per-step change of "
         f"the features h_l after SGD step {COORD_STEPS} against the width n = {WIDTHS[0]} to {WIDTHS[-1]} at depth "
         f"{L_FOR_WIDTHS}, one line per layer-time. Fitted slopes: "
         + "; ".join(f"{p} {v.summary()}" for p, v in width_verdicts.items()) + ".")
for verdict in width_verdicts.values():
    print(verdict.text)

# %% [markdown]
# What to look for: muP and depth-muP give flat lines (each layer's features move by the same amount at every
# width); NTK's lines fall like `n^-1/2` (features freeze in the wide limit: a kernel machine); SP's should rise,
# and at a large enough rate the widest runs diverge. The sentence below is written from the measurement: how much
# SP's updates grew, and whether any width diverged.

# %%
sp = width_verdicts["sp"]
trend = "grows" if sp.ratio > 1 else "shrinks"
print(f"SP at eta = {BASE_LR['sp']}: the per-step feature change {trend} x{sp.ratio:.3g} from n = {WIDTHS[0]} to "
      f"n = {WIDTHS[-1]} (log-log slope {sp.fit}, verdict on growth: {sp.growth.cell()}); "
      + (f"the runs diverged at n = {list(sp.diverged_at)} (missing points)." if sp.diverged_at else
         "no width diverged at this rate, so every point is shown."))

# %% [markdown]
# **Predict again.** Now fix the width and grow the depth from 2 to 256. Look at the size of the last layer's
# features at initialization and at the per-step change of the output.

# %%
DEPTH_PARAMS = ("sp", "mup", "ntk", "depth-mup")
depth_records = {
    p: coord_check_depth(p, DEPTHS, n=N_FOR_DEPTHS, steps=COORD_STEPS, seeds=SEEDS, lr=BASE_LR[p], T=T,
                         device=DEVICE)
    for p in DEPTH_PARAMS
}
depth_verdicts = {p: {q: coord_check_verdict(depth_records[p], "L", q, step=0 if q == "h_rms" else None,
                                             flat_tol=EXP_TOL) for q in ("h_rms", "df_rms")} for p in DEPTH_PARAMS}
fig, axes = plt.subplots(2, 4, figsize=(16, 6.6))
for col, p in enumerate(DEPTH_PARAMS):
    last = col == len(DEPTH_PARAMS) - 1
    viz.plot_coord_check(depth_records[p], x="L", quantity="h_rms", by="layer", step=0, ax=axes[0, col],
                         title=f"{p}: features at init (n={N_FOR_DEPTHS})", legend="right" if last else None)
    viz.plot_coord_check(depth_records[p], x="L", quantity="df_rms", by="step", ax=axes[1, col],
                         title=f"{p}: per-step output change (eta={BASE_LR[p]})", legend="right" if last else None)
fig.tight_layout()
viz.show(fig, f"Two rows of four log-log panels against depth L = {DEPTHS[0]} to {DEPTHS[-1]} at width {N_FOR_DEPTHS}, "
         "one column per parametrization (sp, mup, ntk, depth-mup). Top: rms of h_l at initialization, one line per "
         "layer-time; bottom: rms per-step change of the output, one line per SGD step. Fitted slopes: "
         + "; ".join(f"{p} features {v['h_rms'].summary()}, output change {v['df_rms'].summary()}"
                 for p, v in depth_verdicts.items()) + ".")
for p in DEPTH_PARAMS:
    for verdict in depth_verdicts[p].values():
        print(verdict.text)

# %% [markdown]
# Without a depth factor (`sp`, `mup`) each pre-activation ReLU block multiplies the stream's second moment by
# `1 + 1/2`, so `rms(h_L)` grows like `(3/2)^(L/2)`: exponentially, which is why the power-law fit has a wide
# interval and the ratio printed at the end of each line is the better summary. Training such a network at a
# fixed rate diverges beyond a few blocks. With the `sqrt(T/L)` branch (`depth-mup`, and the `ntk` control that
# shares it) the forward pass converges to a limit and the per-step change of the output is the same at every
# depth: the `L` blocks each move the output by `O(1/L)`, and together by `O(1)`.
#
# ### Move the depth yourself
#
# The widget below runs a coord check live: a few networks of width 128, trained for a few SGD steps at the
# base rate you choose, redrawn whenever you let go of a slider (`nfdlib.widgets.coord_check_widget`; notebook 08
# has the full explorer). The left panel is the rms of `h_l` along layer-time at initialization (dashed) and after
# training (solid); the right one is how far training moved each layer. Under depth-μP, doubling `L` leaves both
# curves in place; switch the rule to μP or SP and double `L` again.

# %%
from nfdlib import widgets

widgets.coord_check_widget(**WIDGET)

# %% [markdown]
# ## 5. Pre-activation against post-activation under `1/sqrt(L)`
#
# Where the nonlinearity sits matters once blocks are scaled by `1/sqrt(L)`. In the **pre-activation** block,
# `h_l = h_{l-1} + sqrt(T/L) W_l phi(h_{l-1}) / sqrt(n)`, the branch has mean zero (the weights are centred), so the
# blocks add independent zero-mean increments: a random walk in layer-time. For ReLU the second moment obeys
# `q_l = q_{l-1} (1 + T/(2L))`, so `q_L -> q_0 e^{T/2}` as `L` grows.
#
# In a **post-activation** block, `h_l = h_{l-1} + a phi(W_l h_{l-1} / sqrt(n))` with `a = sqrt(T/L)`, every
# ReLU output is non-negative, and the mean of each increment is proportional to the *current* size of the
# stream. At large width a coordinate of `W_l h_{l-1} / sqrt(n)` is `N(0, q_{l-1})`, with `q = E[h^2]` the second
# moment, and independent of the same coordinate of `h_{l-1}`; for `Z ~ N(0, q)`, `E[relu(Z)] = sqrt(q / 2 pi)` and
# `E[relu(Z)^2] = q / 2`. So the mean `m_l = E[h_l]` and `q_l` follow the mean-field recursion
#
# $$ m_\ell = m_{\ell-1} + a\sqrt{q_{\ell-1}/2\pi},\qquad
#    q_\ell = q_{\ell-1} + 2a\,m_{\ell-1}\sqrt{q_{\ell-1}/2\pi} + a^2 q_{\ell-1}/2,\qquad m_0 = 0 .$$
#
# The growth **compounds**: once the mean dominates, each block multiplies the rms by about `1 + a / sqrt(2 pi)`,
# so `rms(h_L)` grows like `exp(sqrt(T L / 2 pi))` up to a constant, faster than any power of `L`, with no depth
# limit (a summary of the paper calls this a "positive dominance" instability). Adding the means up as if they
# did not feed back, `L a sqrt(q_0 / 2 pi) = sqrt(T L q_0 / 2 pi)`, badly undercounts it; the figure shows both.
# `nfdlib.nfd.theory.postact_moments` implements the recursion. The post-activation form we use is one reading of
# the paper's; its exact form is not known ([docs/reconstruction.md, section 3](../docs/reconstruction.md#3-the-finite-network)).

# %%
from nfdlib.diagnostics import select_series
from nfdlib.nfd.theory import closed_form_discrete, closed_form_variances, postact_moments

prepost = {
    preact: coord_check_depth("depth-mup", DEPTHS, n=N_FOR_DEPTHS, steps=0, seeds=SEEDS, T=T, preact=preact,
                              device=DEVICE)
    for preact in (True, False)
}
# Theory from the networks' measured input moment q_0 (the mean over seeds of rms(h_0)^2).
q0 = np.mean(select_series(prepost[True], "L", "h_rms", step=0, layer_fraction=0.0)[1][0]) ** 2
pre_limit = math.sqrt(closed_form_variances("relu", T, q0)["q_T"])
post_theory = np.array([postact_moments(T, L, q0)["rms"][-1] for L in DEPTHS])
post_additive = np.sqrt(q0 + T * np.array(DEPTHS) * q0 / (2 * math.pi))  # means added without feedback
fig, ax = plt.subplots(figsize=(6.2, 3.8))
viz.plot_measured_vs_theory(
    ax, bands=[(lab, *select_series(prepost[pre], "L", "h_rms", step=0)) for pre, lab in ((True, "pre-activation"),
                                                                                        (False, "post-activation"))],
    theory=[("pre, ReLU: sqrt(q_0 (1 + T/2L)^L)", DEPTHS,
      [math.sqrt(closed_form_discrete("relu", T, L, q0)["q_T"]) for L in DEPTHS], {}),
     ("pre, L -> inf: sqrt(q_0 e^(T/2))", DEPTHS, [pre_limit] * len(DEPTHS), {"color": "gray", "ls": "-", "lw": 0.8}),
     ("post: mean-field recursion", DEPTHS, post_theory, {"color": "C1", "ls": "--"}),
     ("post: means added, no feedback", DEPTHS, post_additive, {"color": "C1", "ls": ":"})],
    xlabel="depth L (log2 scale)", ylabel="rms of h_L at initialization", log2_x=True, log_y=True,
    title=f"depth-muP, ReLU, n={N_FOR_DEPTHS}, {len(SEEDS)} seeds (band: min-max)")
post_meas = np.array([np.mean(v) for v in select_series(prepost[False], "L", "h_rms", step=0)[1]])
pre_vals = np.array([np.mean(v) for v in select_series(prepost[True], "L", "h_rms", step=0)[1]])
viz.show(fig, f"Log-log plot of the rms of h_L at initialization against depth L = {DEPTHS[0]} to {DEPTHS[-1]} "
         f"(width {N_FOR_DEPTHS}, depth-muP, ReLU). Pre-activation stays near {pre_vals[-1]:.2f}, on its closed form "
         f"(limit {pre_limit:.2f}); post-activation reaches {post_meas[-1]:.3g} at L = {DEPTHS[-1]}; the mean-field "
         f"recursion gives {post_theory[-1]:.3g} there and the no-feedback estimate {post_additive[-1]:.3g}.")

# %%
prepost_verdicts = {preact: coord_check_verdict(rec, "L", "h_rms", step=0, flat_tol=EXP_TOL)
                    for preact, rec in prepost.items()}
for preact, verdict in prepost_verdicts.items():
    print(("pre-activation:  " if preact else "post-activation: ") + verdict.text)
print(f"pre-activation at L={DEPTHS[-1]}: rms(h_L) = {pre_vals[-1]:.3f}, limit sqrt(q_0 e^(T/2)) = {pre_limit:.3f}")
post_growth = post_meas[-1] / math.sqrt(q0)
print(f"post-activation at L={DEPTHS[-1]}: rms(h_L) / rms(h_0) = x{post_growth:.3g} measured; the mean-field "
      f"recursion predicts x{post_theory[-1] / math.sqrt(q0):.3g}, the no-feedback sum of means "
      f"x{post_additive[-1] / math.sqrt(q0):.3g}")
post_rel = post_meas / post_theory - 1  # relative deviation from the recursion at each depth
print("post-activation, measured / recursion - 1 at each depth: "
      + ", ".join(f"L={L}: {r:+.0%}" for L, r in zip(DEPTHS, post_rel)))

# %% [markdown]
# The recursion is the infinite-width law; at width `n` each block adds fluctuations of relative size
# `O(n^-1/2)` to the mean and to `q`, and through the compounding they accumulate over the `L` blocks, so
# expect the measured curve to sit within a modest factor of the recursion at the largest depths rather than on it.
#
# Does this matter for training? The paper reports (in a figure of v1, as quoted by a summary) that on CIFAR-10
# with width 128, depth 64 and SGD, pre-activation networks converge faster, reach a lower test loss and vary less
# across runs. We cannot load CIFAR-10 here, so we train on scikit-learn's handwritten digits (8x8 images,
# 10 classes, MSE on one-hot targets, batch 128). `nfdlib.sweeps.lr_sweep` trains every (rate, seed) pair of
# a grid at once (notebook 06 explains how). A single fixed learning rate would
# favour whichever network it happens to suit (post-activation features are larger, so the same rate is
# effectively larger), so we train each form on a small grid of base rates and compare each at its best rate.
# Diverged runs are recorded, not raised.

# %%
from nfdlib import optima, sweeps
from nfdlib.data import load_digits

digits = load_digits(E1_TRAIN, E1_TEST, seed=0)
e1 = {  # arrays shaped (learning rate, seed, evaluation); diverged runs are flagged, never raised
    preact: sweeps.lr_sweep(digits, "depth-mup", "one", E1_N, E1_L, E1_LRS, E1_SEEDS, E1_STEPS, batch_size=128,
                            loss="mse", eval_every=max(1, E1_STEPS // 20), preact=preact, device=DEVICE,
                            progress=True)
    for preact in (True, False)
}
best = {preact: optima.best_rate(e1[preact], "test_loss") for preact in e1}
LABEL = {True: "pre-activation", False: "post-activation"}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for preact, sweep in e1.items():
    color = "C0" if preact else "C1"
    if np.isfinite(best[preact]["grid_lr"]):
        viz.plot_runs_at_rate(axes[0], sweep, best[preact]["grid_lr"], "test_loss", color=color,
                              label=f"{LABEL[preact]}, eta={best[preact]['grid_lr']:g}")
    viz.plot_transfer(sweep, "test_loss", curve_optima=optima.seed_mean_optima(sweep, "test_loss"), ax=axes[1],
                      color=color, label=LABEL[preact])
axes[0].set(yscale="log", xlabel="SGD step", ylabel="test loss (MSE, one-hot)")
axes[0].set_title(f"digits, n={E1_N}, L={E1_L}, each form at its best rate; seeds {list(E1_SEEDS)}", fontsize=9)
viz.legend_outside(axes[0], where="below")
viz.legend_outside(axes[1], where="below")
axes[1].set_title("seed mean and min-max; diverged rates are missing", fontsize=9)
for ax in axes:
    viz.readable_log_ticks(ax)
fig.tight_layout()
viz.show(fig, f"Left: test loss over {E1_STEPS} SGD steps on the digits task (width {E1_N}, depth {E1_L}) for pre- and "
         "post-activation networks, each seed at its form's best rate. Right: test loss after training against the "
         "log2 learning rate, one curve per form. Best rates and losses: "
         + "; ".join(f"{LABEL[p]} eta {b['grid_lr']:g}, loss {b['test_loss']:.4f}" for p, b in best.items()) + ".")

# %%
for preact, b in best.items():
    if not np.isfinite(b["grid_lr"]):
        print(f"{LABEL[preact]:>16}: every learning rate diverged")
        continue
    edge = " (at the edge of the grid: the true optimum may lie beyond it)" if b["at_edge"] else ""
    print(f"{LABEL[preact]:>16}: best eta {b['grid_lr']:g}{edge}, largest stable eta {b['max_stable_lr']:g}, "
          f"test loss {b['test_loss']:.4f} (seed spread {np.ptp(b['test_loss_seeds']):.4f}), "
          f"test accuracy {b['test_acc']:.3f}")

# %%
# The claim "pre-activation reaches the lower test loss" is a one-sided claim on the difference of the two
# seed-mean test losses (post - pre > 0), judged from its 95% interval over the paired seeds.
pre_loss, post_loss = best[True]["test_loss"], best[False]["test_loss"]
loss_gap = mean_interval(np.array(best[False]["test_loss_seeds"]) - np.array(best[True]["test_loss_seeds"]))
pre_better = interval_verdict(loss_gap[1], loss_gap[2], allowed=(0.0, math.inf))
print(f"test loss, post - pre at each form's best rate: {loss_gap[0]:+.4f} [{loss_gap[1]:+.4f}, {loss_gap[2]:+.4f}] "
      f"(95% interval over {len(E1_SEEDS)} paired seeds) -> pre-activation lower: {pre_better}")

# %% [markdown]
# ## 6. What this notebook measured, and how a verdict is reached
#
# Every verdict in this collection follows one rule (`nfdlib.stats.interval_verdict`), stated here once. A claim
# allows a range of values (a prediction plus or minus a stated tolerance, or a one-sided range such as "above
# 1/2"); the measurement gives a 95% interval. Then
#
# * **agree** only when the *whole* interval lies inside the allowed range (an equivalence test);
# * **disagree** when the whole interval lies outside it;
# * **not resolved** otherwise: the interval holds values on both sides, ends exactly on the edge of the range
#   (the data cannot tell the edge from values just beyond it), or is undefined (too few points).
#
# So a wide interval never agrees just because it contains the prediction, and the tolerance is printed beside
# every verdict. A run that diverged counts as infinite growth. Exact identities (a recursion against autograd)
# are not claims: notebooks assert them in a separate "checks" table, and a violation stops the notebook.
#
# The table is computed from the runs above (rerun the notebook and it updates); the slopes are log-log slopes
# with 95% intervals over seeds. The labels R1 and R2 are the claims of
# [docs/reconstruction.md, section 7](../docs/reconstruction.md#7-the-claims-and-where-each-is-measured).

# %%
claims = Claims()
claims.add("R1: muP and depth-muP feature updates are stable in width",
           f"mup {width_verdicts['mup'].summary()}, depth-mup {width_verdicts['depth-mup'].summary()}",
           combine_verdicts(width_verdicts["mup"].flatness, width_verdicts["depth-mup"].flatness), echo=False)
claims.add("NTK features freeze as width grows (slope -1/2)", width_verdicts["ntk"].summary(),
           slope_verdict(width_verdicts["ntk"].fit, -0.5, tol=EXP_TOL), echo=False)
claims.add("SP feature updates blow up with width at a fixed rate (slope above 1/2, or divergence)",
           width_verdicts["sp"].summary(), width_verdicts["sp"].growth, echo=False)
claims.add("without branch scaling (sp, mup) the forward pass blows up with depth",
           f"sp {depth_verdicts['sp']['h_rms'].summary()}, mup {depth_verdicts['mup']['h_rms'].summary()}",
           combine_verdicts(depth_verdicts["sp"]["h_rms"].growth, depth_verdicts["mup"]["h_rms"].growth), echo=False)
claims.add("R1: depth-muP features and per-step output change are stable in depth",
           f"h {depth_verdicts['depth-mup']['h_rms'].summary()}, df {depth_verdicts['depth-mup']['df_rms'].summary()}",
           combine_verdicts(depth_verdicts["depth-mup"]["h_rms"].flatness,
                            depth_verdicts["depth-mup"]["df_rms"].flatness), echo=False)
claims.add("R2: pre-activation feature norm is stable in depth; post-activation grows",
           f"pre {prepost_verdicts[True].summary()}, post {prepost_verdicts[False].summary()}",
           combine_verdicts(prepost_verdicts[True].flatness, prepost_verdicts[False].growth), echo=False)
claims.add("R2: pre-activation trains to a lower test loss (digits stand-in for CIFAR-10)",
           f"pre {pre_loss:.4f} vs post {post_loss:.4f} (each at its best rate; nan = every rate diverged); "
           f"post - pre {loss_gap[0]:+.4f} [{loss_gap[1]:+.4f}, {loss_gap[2]:+.4f}]", pre_better, echo=False)
display(Markdown(claims.markdown()))

# %% [markdown]
# ## Takeaways
#
# Written from this run's measurements:

# %%
dm = depth_verdicts["depth-mup"]


def word(v):
    """A coord-check verdict in one word: flat, grows, shrinks, or not resolved."""
    if v.flatness.agrees:
        return "flat"
    if v.growth.agrees:
        return "grows"
    return "shrinks" if v.flatness.disagrees and v.ratio < 1 else "not resolved"


display(Markdown("\n".join([
    "* A parametrization is a table of scaling rules; one registry drives the models, the optimizer and the table.",
    f"* Across widths {WIDTHS[0]} to {WIDTHS[-1]}, the per-step feature change has slope "
    + ", ".join(f"{p} {width_verdicts[p].fit} ({word(width_verdicts[p])}, x{width_verdicts[p].ratio:.3g})"
                for p in ("mup", "depth-mup", "ntk", "sp")) + ": muP keeps features learning at every width, NTK "
    "lets them freeze, SP's steps grow with width at a fixed rate.",
    f"* Depth is a second axis: without a depth factor `rms(h_L)` grows x{depth_verdicts['mup']['h_rms'].ratio:.3g} "
    f"(muP) from L = {DEPTHS[0]} to {DEPTHS[-1]}; with depth-muP's `sqrt(T/L)` branch the features change "
    f"x{dm['h_rms'].ratio:.3g} and the per-step output change x{dm['df_rms'].ratio:.3g}: depth becomes a time.",
    f"* Put the nonlinearity inside the branch. A post-activation ReLU branch has a mean proportional to the "
    f"stream's size, so the growth compounds: x{post_growth:.3g} at L = {DEPTHS[-1]}, against "
    f"x{post_theory[-1] / math.sqrt(q0):.3g} from the mean-field recursion and only "
    f"x{post_additive[-1] / math.sqrt(q0):.3g} if the means simply added up.",
    f"* Trained on digits at each form's best rate, post-activation's test loss minus pre-activation's is "
    f"{loss_gap[0]:+.4f} [{loss_gap[1]:+.4f}, {loss_gap[2]:+.4f}] (verdict on 'pre is lower': {pre_better.cell()}).",
])))

# %% [markdown]
# ## Exercises
#
# 1. Run `coord_check_depth("completep", DEPTHS, n=N_FOR_DEPTHS, steps=COORD_STEPS, seeds=SEEDS)` and plot
#    `h_rms` at step 0. How does the initial feature norm depend on `L`, and why?
#
# <details><summary>Answer</summary>
#
# It stays at the input's size, `rms(h_0)`, at every depth, and the blocks' contribution vanishes as `L` grows.
# CompleteP scales each block by `T/L` instead of `sqrt(T/L)`: `L` independent zero-mean increments of size
# `T/L` add up to a variance of order `L (T/L)^2 = T^2/L`, which goes to zero. At initialization a CompleteP
# network is the identity map plus `O(1/sqrt(L))`; its blocks only act through the updates training makes
# (notebook 06 compares it with depth-muP when blocks have two layers).
#
# </details>
#
# 2. In the pre-activation ReLU network, what is `rms(h_L)` at initialization for `T = 4` as `L` grows, and
#    what would it be with `activation="identity"`? Check with `coord_check_depth(..., T=4, steps=0)`.
#
# <details><summary>Answer</summary>
#
# Each block adds a zero-mean increment of variance `(T/L) E[phi(h)^2]`. For ReLU, `E[phi(h)^2] = q/2`, so
# `q_l = q_{l-1} (1 + T/(2L))` and `q_L -> q_0 e^{T/2}`: `rms(h_L) -> rms(h_0) e^{T/4} = 2.72 rms(h_0)` for `T = 4`.
# For the identity, `E[phi(h)^2] = q`, so `q_L -> q_0 e^T` and `rms(h_L) -> rms(h_0) e^{T/2} = 7.4 rms(h_0)`.
# The horizon `T` sets how far the limit SDE runs; notebook 01 derives these closed forms from the NFD equations.
#
# </details>
#
# 3. Use `postact_moments(T, L)` to find the depth at which a post-activation ReLU stream reaches 100 times its
#    input size for `T = 1`, and for `T = 1/4`. Why does a smaller horizon not cure the instability?
#
# <details><summary>Answer</summary>
#
# The rms grows like `exp(sqrt(T L / 2 pi))`: what matters is the product `T L`. The recursion crosses x100 at
# `L = 175` for `T = 1`, and about four times deeper, at `L = 704`, for `T = 1/4`. Shrinking `T` only rescales depth;
# the stream still has no limit as `L` grows, because each block's mean adds `a sqrt(q / 2 pi)` with
# `L a = sqrt(T L)` unbounded. Mean-subtracted branches (Tensor Programs VI) or pre-activation blocks remove it.
#
# </details>
#
# ## What comes next
#
# Notebook 01 takes the depth-muP network apart: it splits every block into initial-weight noise and update drift,
# lets the width and then the depth grow, and arrives at the NFD equations, checking each step on a network.
