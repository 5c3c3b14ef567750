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
# # 00 · Overview: why scaling needs a theory of feature learning at depth
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfd-notebooks/nfd-notebooks/blob/main/notebooks/00_overview.ipynb)
#
# This collection follows one paper, *Understanding Scaling Laws in Deep Neural Networks via Feature Learning
# Dynamics* (Yao, Wu and Gao, arXiv 2512.21075), from a finite residual network to its limit as width and depth
# grow together, the **Neural Feature Dynamics** (NFD). The paper's full text was not available to us: the
# equations here are our reconstruction (notebook 01 writes it out and marks what is read and what is inferred), and every claim is
# checked by a measurement that you can rerun. When a measurement disagrees with a claim, the notebook says so.
#
# This first notebook sets up the vocabulary and the tools:
#
# 1. why a scaling law needs a theory of *feature learning* at large depth;
# 2. the map of the collection;
# 3. the one table of scaling rules (the *parametrization registry*) that every notebook reads;
# 4. coordinate checks: which parametrizations stay stable as width and depth grow;
# 5. pre-activation against post-activation blocks under the `1/sqrt(L)` branch scaling.

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
#   at width 256 makes a width-4096 network diverge; with the neural-tangent parametrization the large network
#   is stable but its features stop moving (it becomes a kernel machine). The *maximal-update parametrization*
#   (muP) fixes the width problem: every layer keeps learning features at every width, and the best learning
#   rate found on a small model *transfers* to a wide one.
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
#   infinite depth under the `1/sqrt(L)` scaling (03);
# * in blocks with two internal layers the first one stops learning at large depth, and a depth-aware learning
#   rate correction brings it back and restores learning-rate transfer across depth (04 and 05).
#
# ## 2. Map of the collection
#
# | notebook | question | the paper's claim it checks |
# |---|---|---|
# | **00 overview** (this one) | Which parametrizations are stable in width and in depth? | depth-muP is stable in both; pre-activation is needed |
# | **01 deriving NFD** | How does a finite ResNet become an SDE in layer-time? | the NFD equations, step by step, each step checked against a network |
# | **02 simulating NFD** | Do finite networks converge to the particle solution, and how fast? | `O(1/n + 1/L)` at init, `O(1/L)` in training; NFD is not a kernel limit |
# | **03 gradient independence** | Does treating `W^T` as an independent matrix become exact at depth? | GIA restored at infinite depth, only under depth-muP |
# | **04 two-layer collapse** | Does the first internal layer of a two-layer block stop learning? | collapse like `L^-1/2`; depth-wise transfer fails |
# | **05 LR correction** | Does `eta_1 = eta_c n sqrt(L)` restore learning and transfer? | transfer across depth returns; deeper is better |
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
# it, so what you see is what runs. Learning rates are written relative to a base rate `eta` (the paper's
# `eta_c`): under muP every matrix is trained at `eta * n`, which is the paper's convention with
# `N(0, 1)` weights and explicit `1/sqrt(n)` multipliers.

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
# ## 4. Coordinate checks
#
# A *coordinate check* (the test that the `mup` package made popular) trains a network for a few SGD steps on
# one fixed batch and records the typical size of each coordinate: the root-mean-square (rms) of the features
# `h_l` and of their change from one step to the next. If a parametrization is right, these numbers stay put
# as the network grows; if it is wrong, they grow (instability) or shrink (the layer stops learning).
# `nfdlib.diagnostics.coord_check_width` and `coord_check_depth` return tidy records (one row per size, seed,
# step, layer and quantity), `nfdlib.plotting.plot_coord_check` draws them, and `coord_check_verdict` fits a
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
from nfdlib.plotting import plot_coord_check

BASE_LR = {"sp": 0.003, "ntk": 0.5, "mup": 0.05, "depth-mup": 0.05}
# Tolerance on a fitted exponent: "flat" means within +-0.2 of 0 (at most a factor 1.7 over a 16-fold range of
# sizes); the rules compared here differ by at least 1/2 (NTK's n^-1/2, SP's growth), so it separates them.
EXP_TOL = 0.2
width_records = {
    p: coord_check_width(p, WIDTHS, L=L_FOR_WIDTHS, steps=COORD_STEPS, seeds=SEEDS, lr=lr, T=T, device=DEVICE)
    for p, lr in BASE_LR.items()
}
fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
for ax, (p, rec) in zip(axes, width_records.items()):
    plot_coord_check(rec, x="n", quantity="dh_rms", by="layer", ax=ax,
                     title=f"{p} (eta={BASE_LR[p]}, L={L_FOR_WIDTHS}, {len(SEEDS)} seeds)")
fig.suptitle(f"Per-step change of h_l after step {COORD_STEPS} against width (missing points diverged)", y=1.03)
plt.show()
width_verdicts = {p: coord_check_verdict(rec, "n", "dh_rms", flat_tol=EXP_TOL) for p, rec in width_records.items()}
for verdict in width_verdicts.values():
    print(verdict.text)

# %% [markdown]
# What to look for: muP and depth-muP give flat lines (each layer's features move by the same amount at every
# width); NTK's lines fall like `n^-1/2` (features freeze in the wide limit: a kernel machine); SP's rise, and
# at the larger widths the run diverges at this learning rate (missing points).
#
# **Predict again.** Now fix the width and grow the depth from 2 to 256. Look at the size of the last layer's
# features at initialization and at the per-step change of the output.

# %%
DEPTH_PARAMS = ("sp", "mup", "ntk", "depth-mup")
depth_records = {
    p: coord_check_depth(p, DEPTHS, n=N_FOR_DEPTHS, steps=COORD_STEPS, seeds=SEEDS, lr=BASE_LR[p], T=T,
                         device=DEVICE)
    for p in DEPTH_PARAMS
}
fig, axes = plt.subplots(2, 4, figsize=(16, 6.6))
for col, p in enumerate(DEPTH_PARAMS):
    plot_coord_check(depth_records[p], x="L", quantity="h_rms", by="layer", step=0, ax=axes[0, col],
                     title=f"{p}: features at init (n={N_FOR_DEPTHS})")
    plot_coord_check(depth_records[p], x="L", quantity="df_rms", by="step", ax=axes[1, col],
                     title=f"{p}: per-step output change (eta={BASE_LR[p]})")
fig.tight_layout()
plt.show()
depth_verdicts = {}
for p in DEPTH_PARAMS:
    depth_verdicts[p] = {
        "h_rms": coord_check_verdict(depth_records[p], "L", "h_rms", step=0, flat_tol=EXP_TOL),
        "df_rms": coord_check_verdict(depth_records[p], "L", "df_rms", flat_tol=EXP_TOL),
    }
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
# base rate you choose, redrawn whenever you let go of a slider (`nfdlib.widgets.coord_check_widget`; notebook 07
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
# `q_l = q_{l-1} (1 + T/(2L))`, so `q_L -> q_0 e^{T/2}` as `L` grows. In a **post-activation** block,
# `h_l = h_{l-1} + sqrt(T/L) phi(W_l h_{l-1} / sqrt(n))`, the ReLU makes every branch output non-negative: the
# means of the `L` increments add up coherently, `L * sqrt(T/L) = sqrt(T L)`, and the stream grows without bound
# as the network deepens (a summary of the paper describes this as a "positive dominance" instability). The post-activation
# form we use is one reading of the paper's; its exact form is not known.

# %%
from nfdlib.diagnostics import select_series
from nfdlib.nfd_theory import closed_form_discrete, closed_form_variances
from nfdlib.plotting import plot_band

prepost = {
    preact: coord_check_depth("depth-mup", DEPTHS, n=N_FOR_DEPTHS, steps=0, seeds=SEEDS, T=T, preact=preact,
                              device=DEVICE)
    for preact in (True, False)
}
fig, ax = plt.subplots(figsize=(5.2, 3.6))
for preact, rec in prepost.items():
    plot_band(ax, *select_series(rec, "L", "h_rms", step=0), label="pre-activation" if preact else "post-activation")
# The ReLU closed forms for pre-activation blocks (notebook 01 derives them), from the measured input moment q_0.
q0 = np.mean(select_series(prepost[True], "L", "h_rms", step=0, layer_fraction=0.0)[1][0]) ** 2
q_limit = closed_form_variances("relu", T, q0)["q_T"]
ax.plot(DEPTHS, [math.sqrt(closed_form_discrete("relu", T, L, q0)["q_T"]) for L in DEPTHS], "k:",
        label="pre, ReLU: sqrt(q_0 (1 + T/2L)^L)")
ax.axhline(math.sqrt(q_limit), color="gray", lw=0.8, label="pre, L -> inf: sqrt(q_0 e^(T/2))")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("depth L (log2 scale)")
ax.set_ylabel("rms of h_L at initialization")
ax.set_title(f"depth-muP, ReLU, n={N_FOR_DEPTHS}, {len(SEEDS)} seeds", fontsize=9)
ax.legend(fontsize=7)
plt.show()
prepost_verdicts = {preact: coord_check_verdict(rec, "L", "h_rms", step=0, flat_tol=EXP_TOL)
                    for preact, rec in prepost.items()}
for preact, verdict in prepost_verdicts.items():
    print(("pre-activation:  " if preact else "post-activation: ") + verdict.text)
pre_vals = select_series(prepost[True], "L", "h_rms", step=0)[1][-1]
print(f"pre-activation at L={DEPTHS[-1]}: rms(h_L) = {np.mean(pre_vals):.3f}, "
      f"limit sqrt(q_0 e^(T/2)) = {math.sqrt(q_limit):.3f}")

# %% [markdown]
# Does this matter for training? The paper reports (in a figure of v1, as quoted by a summary) that on CIFAR-10
# with width 128, depth 64 and SGD, pre-activation networks converge faster, reach a lower test loss and vary less
# across runs. We cannot load CIFAR-10 here, so we train on scikit-learn's handwritten digits (8x8 images,
# 10 classes, MSE on one-hot targets, batch 128). `nfdlib.sweeps.lr_sweep` trains every (rate, seed) pair of
# a grid at once (notebook 05 explains how). A single fixed learning rate would
# favour whichever network it happens to suit (post-activation features are larger, so the same rate is
# effectively larger), so we train each form on a small grid of base rates and compare each at its best rate.
# Diverged runs are recorded, not raised.

# %%
from nfdlib import sweeps
from nfdlib.data import load_digits

digits = load_digits(E1_TRAIN, E1_TEST, seed=0)
e1 = {  # arrays shaped (learning rate, seed, evaluation); diverged runs are flagged, never raised
    preact: sweeps.lr_sweep(digits, "depth-mup", "one", E1_N, E1_L, E1_LRS, E1_SEEDS, E1_STEPS, batch_size=128,
                            loss="mse", eval_every=max(1, E1_STEPS // 20), preact=preact, device=DEVICE,
                            progress=True)
    for preact in (True, False)
}
best = {preact: sweeps.best_rate(e1[preact], "test_loss") for preact in e1}
LABEL = {True: "pre-activation", False: "post-activation"}

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for preact, sweep in e1.items():
    color = "C0" if preact else "C1"
    if np.isfinite(best[preact]["grid_lr"]):
        i = int(np.argmin(np.abs(sweep["lr"] - best[preact]["grid_lr"])))
        for s in range(len(sweep["seed"])):
            axes[0].plot(sweep["steps"], sweep["test_loss"][i, s], color=color, alpha=0.8,
                         label=f"{LABEL[preact]}, eta={best[preact]['grid_lr']:g}" if s == 0 else None)
    sweeps.plot_transfer(sweep, "test_loss", ax=axes[1], color=color, label=LABEL[preact])
axes[0].set_yscale("log")
axes[0].set_xlabel("SGD step")
axes[0].set_ylabel("test loss (MSE, one-hot)")
axes[0].set_title(f"digits, n={E1_N}, L={E1_L}, at each form's best rate; seeds {list(E1_SEEDS)}", fontsize=9)
axes[0].legend(fontsize=7)
axes[1].set_title("seed mean and min-max; diverged rates are missing", fontsize=9)
fig.tight_layout()
plt.show()

for preact, b in best.items():
    if not np.isfinite(b["grid_lr"]):
        print(f"{LABEL[preact]:>16}: every learning rate diverged")
        continue
    edge = " (at the edge of the grid: the true optimum may lie beyond it)" if b["at_edge"] else ""
    print(f"{LABEL[preact]:>16}: best eta {b['grid_lr']:g}{edge}, largest stable eta {b['max_stable_lr']:g}, "
          f"test loss {b['test_loss']:.4f} (seed spread {np.ptp(b['test_loss_seeds']):.4f}), "
          f"test accuracy {b['test_acc']:.3f}")
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
# * **not resolved** otherwise: the interval holds values on both sides, or it is undefined (too few points).
#
# So a wide interval never agrees just because it contains the prediction, and the tolerance is printed beside
# every verdict. A run that diverged counts as infinite growth. Exact identities (a recursion against autograd)
# are not claims: notebooks assert them in a separate "checks" table, and a violation stops the notebook.
#
# The table is computed from the runs above (rerun the notebook and it updates); the slopes are log-log slopes
# with 95% intervals over seeds.

# %%
claims = Claims()
claims.add("muP and depth-muP feature updates are stable in width",
           f"mup {width_verdicts['mup'].summary()}, depth-mup {width_verdicts['depth-mup'].summary()}",
           combine_verdicts(width_verdicts["mup"].flatness, width_verdicts["depth-mup"].flatness), echo=False)
claims.add("NTK features freeze as width grows (slope -1/2)", width_verdicts["ntk"].summary(),
           slope_verdict(width_verdicts["ntk"].fit, -0.5, tol=EXP_TOL), echo=False)
claims.add("SP feature updates blow up with width at a fixed rate (slope above 1/2, or divergence)",
           width_verdicts["sp"].summary(), width_verdicts["sp"].growth, echo=False)
claims.add("without branch scaling (sp, mup) the forward pass blows up with depth",
           f"sp {depth_verdicts['sp']['h_rms'].summary()}, mup {depth_verdicts['mup']['h_rms'].summary()}",
           combine_verdicts(depth_verdicts["sp"]["h_rms"].growth, depth_verdicts["mup"]["h_rms"].growth), echo=False)
claims.add("depth-muP features and per-step output change are stable in depth",
           f"h {depth_verdicts['depth-mup']['h_rms'].summary()}, df {depth_verdicts['depth-mup']['df_rms'].summary()}",
           combine_verdicts(depth_verdicts["depth-mup"]["h_rms"].flatness,
                            depth_verdicts["depth-mup"]["df_rms"].flatness), echo=False)
claims.add("pre-activation feature norm is stable in depth; post-activation grows",
           f"pre {prepost_verdicts[True].summary()}, post {prepost_verdicts[False].summary()}",
           combine_verdicts(prepost_verdicts[True].flatness, prepost_verdicts[False].growth), echo=False)
claims.add("pre-activation trains to a lower test loss (digits stand-in for CIFAR-10)",
           f"pre {pre_loss:.4f} vs post {post_loss:.4f} (each at its best rate; nan = every rate diverged); "
           f"post - pre {loss_gap[0]:+.4f} [{loss_gap[1]:+.4f}, {loss_gap[2]:+.4f}]", pre_better, echo=False)
display(Markdown(claims.markdown()))

# %% [markdown]
# ## Takeaways
#
# * A parametrization is a table of scaling rules; one registry drives the models, the optimizer and the table.
# * muP makes feature learning width-independent; NTK freezes features; SP's updates grow with width.
# * Depth is a second axis: without a depth factor, the residual stream explodes with `L`. The `sqrt(T/L)` branch
#   of depth-muP turns the layer index into a time and keeps both the features and their per-step change `O(1)`.
# * Put the nonlinearity inside the branch (pre-activation): a post-activation ReLU branch has a positive mean,
#   and under `1/sqrt(L)` those means add up to a stream that grows with depth.
#
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
# (notebook 05 compares it with depth-muP when blocks have two layers).
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
