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
# # 05 · Two-layer residual blocks: the first internal layer stops learning as depth grows
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfd-notebooks/nfd-notebooks/blob/main/notebooks/05_two_layer_collapse.ipynb)
#
# The paper (v1 abstract) says that depth-μP, which works for residual blocks with one matrix, breaks down for
# blocks with two: "the same vanishing mechanism leads to feature-learning collapse in the first internal layer
# at large depth", and a figure caption quoted by a summary puts the rate at $1/\sqrt L$ (claim R9 of
# [the reconstruction](../docs/reconstruction.md#6-two-layer-blocks-and-the-correction)).
# This notebook derives the mechanism, measures it (the first internal layer's *own* update against depth,
# with a fitted slope and interval, next to one-layer blocks), and then asks what it does to training: does the
# best learning rate still stay put when the network gets deeper? Notebook 06 tests the fixes.
#
# **After this notebook you can**
#
# 1. derive why, in a two-layer block under depth-μP, the backward signal reaching the first internal layer is
#    $O(L^{-1/2})$ while the stream's is $O(1)$;
# 2. separate a layer's *own* update (what its weight change does) from the total change of its output, and
#    measure both against depth and width;
# 3. read a learning-rate sweep across depth (transfer plots, optimum and stability-edge drifts with intervals)
#    and judge "transfers" by the collection's verdict rule.
#
# **Prerequisites.** Notebook 00 (the registry of parametrizations, depth-μP, coord checks, the verdict rule) and
# notebook 01 (the backward recursion and the signal $g_\ell=n\,\partial f/\partial h_\ell$). No outside idea
# beyond the chain rule; *hyperparameter transfer* (the best rate of a small model stays best on a larger one;
# Tensor Programs V, Bordelon et al. 2023) is explained in section 3.
#
# **Run time** on 2 CPU cores (shared machine): quick mode (`NFD_QUICK=1`) about 40 s; full mode from the caches
# under `data/` (files `collapse_*` and `sweep_05_*`) about 50 s, most of it the per-block profiles and the live
# widget, computed on the spot; from scratch about one CPU-hour more for the sweeps, which notebook 06's plan
# computes (`python -m nfdlib.plans notebooks/06_lr_correction.py`), and a few minutes for the collapse scans.

# %% tags=["parameters"]
# Every size lives here. NFD_QUICK=1 (CI) runs the small version in well under a minute on 2 CPU cores.
import os

QUICK = os.environ.get("NFD_QUICK", "0").strip().lower() in ("1", "true", "yes", "on")
SEEDS = (0, 1) if QUICK else (0, 1, 2)
# Collapse diagnostics (cached under data/collapse_*; notebook 06 reads the same files): a synthetic
# regression batch of 32 inputs, full-batch SGD at base rate COLLAPSE_LR for COLLAPSE_STEPS steps.
COLLAPSE_WIDTH = 64 if QUICK else 256  # width of the depth scan
COLLAPSE_DEPTHS = (4, 16) if QUICK else (2, 4, 8, 16, 32, 64, 128)
COLLAPSE_WIDTHS = (32, 64) if QUICK else (128, 256, 512, 1024)  # widths of the width scan ...
COLLAPSE_WIDTH_DEPTH = 4 if QUICK else 16  # ... at this depth
COLLAPSE_LR = 0.5
COLLAPSE_STEPS = 3 if QUICK else 20
PROFILE_DEPTHS = (4, 16) if QUICK else (8, 32, 128)  # per-layer profiles (one seed, computed here)
# Learning-rate sweeps: the plan of notebook 06 (same cache files data/sweep_05_*), depth-muP rules only.
RULES = [("depth-mup", "one"), ("depth-mup", "two")]
TASKS = {
    "mnist1d": {"task": {"name": "mnist1d", "n_train": 400 if QUICK else 2000, "n_test": 200 if QUICK else 1000},
                "loss": "xent", "widths": [32] if QUICK else [64, 128]},
    "teacher": {"task": {"name": "teacher", "d": 16, "n_train": 128 if QUICK else 512, "n_test": 256 if QUICK else 512},
                "loss": "mse", "widths": [32] if QUICK else [64, 128]},
}
SWEEP = {
    "depths": [2, 8] if QUICK else [2, 4, 8, 16, 32, 64],
    # log2 grid of base rates eta, half-octave steps (quick: octave steps)
    "lrs": [2.0**k for k in ((-1, 0, 1, 2, 3, 4) if QUICK else [x / 2 for x in range(-3, 9)])],
    "seeds": list(SEEDS),
    "steps": 20 if QUICK else 200,
    "batch_size": 64,
    "loss_bound": 1000.0,
}
SWEEP_PREFIX = "sweep_05"  # full-mode sweeps are precomputed: python -m nfdlib.plans notebooks/06_lr_correction.py
# the live collapse profile at the end of section 2 (each slider move trains these networks again)
WIDGET = {"n": 32, "L": 4, "seeds": 1} if QUICK else {"n": 256, "L": 16, "seeds": 2}

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
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import nfdlib
from nfdlib import optima, plans, two_layer, viz
from nfdlib.config import get_device
from nfdlib.data import make_teacher_task
from nfdlib.models import ResNet
from nfdlib.parametrization import registry_table
from nfdlib.stats import Claims, combine_verdicts, describe_slope, fit_loglog, slope_verdict

DEVICE = get_device()  # CUDA, then MPS, then CPU; override with NFD_DEVICE=cpu
print(f"nfdlib {nfdlib.__version__} on {DEVICE}; quick mode: {QUICK}")
T0 = time.time()

# %% [markdown]
# ## 1. The block, and the signal that reaches its first layer
#
# A two-layer pre-activation block (our reconstruction; the paper's exact block is not known)
# adds to the residual stream
#
# $$
# z_\ell=\tfrac{1}{\sqrt n}W^{(1)}_\ell\,\phi(h_{\ell-1}),\qquad
# h_\ell=h_{\ell-1}+\sqrt{\tfrac TL}\,\tfrac{1}{\sqrt n}W^{(2)}_\ell\,\phi(z_\ell),
# $$
#
# with $N(0,1)$ weights and, under depth-μP, the SGD rate $\eta n$ on every matrix. The registry gives the two
# internal layers the roles `internal1` and `internal2`:

# %%
print(registry_table(["depth-mup"]))

# %% [markdown]
# **Derivation.** Write $g_\ell = n\,\partial f/\partial h_\ell$ for the backward signal of the stream. It is
# $O(1)$ at every depth: each block adds an independent $O(L^{-1/2})$ increment to it, and $L$ of them add up to
# $O(1)$, the backward half of the argument notebook 01 makes for the features (its section on the initial
# kernels gives $G_0=G_Te^{T/2}$ at any depth); the figure below measures it ($g_\ell$ for one- and two-layer
# blocks). Differentiating
# $h_\ell$ with respect to $z_\ell$ gives the signal that reaches the first internal layer:
#
# $$
# g^z_\ell := n\,\frac{\partial f}{\partial z_\ell}
# =\sqrt{\tfrac TL}\;\phi'(z_\ell)\odot\tfrac{1}{\sqrt n}W^{(2)\top}_\ell g_\ell = O\big(L^{-1/2}\big).
# $$
#
# The branch multiplier $\sqrt{T/L}$ sits *between* $z_\ell$ and the stream, so everything inside the block
# hears the loss through a factor $L^{-1/2}$. In a one-layer block nothing sits inside: the matrix's output goes
# straight to the stream.
#
# **Predict, then run.** Against depth, on log-log axes: what slope do you expect for the rms of $g^z_\ell$,
# and for the rms of $g_\ell$?
#
# The scans below use `nfdlib.two_layer` (new here): `depth_and_width_scans` trains each rule for a few
# full-batch SGD steps on a synthetic batch and records, per block, the backward signals, the layers' own
# updates and the tangent kernel; full-mode results are cached under `data/collapse_*`.

# %%
COLLAPSE = dict(depths=COLLAPSE_DEPTHS, n=COLLAPSE_WIDTH, widths=COLLAPSE_WIDTHS, L=COLLAPSE_WIDTH_DEPTH,
                lr=COLLAPSE_LR, steps=COLLAPSE_STEPS, seeds=SEEDS, use_cache=not QUICK)
by_depth, by_width = two_layer.depth_and_width_scans(RULES, **COLLAPSE)
one = by_depth.where(parametrization="depth-mup", block="one")
two = by_depth.where(parametrization="depth-mup", block="two")


def fit_plot(ax, records, quantity, step, label, x="L", guides=(), color=None):
    xs, ys = two_layer.pooled_series(records, quantity, step=step, x=x)
    fit = two_layer.fit_against(records, quantity, step=step, x=x)
    viz.plot_loglog_fit(ax, xs, ys, fit, label=label, guides=guides, x_name=x, color=color)
    return fit


fig, ax = plt.subplots(figsize=(7.6, 3.6), layout="constrained")
fits = {}
fits["gz"] = fit_plot(ax, two, "gz", 0, "two-layer: $g^z_\\ell$", guides=(-0.5,))
fits["gh_two"] = fit_plot(ax, two, "gh", 0, "two-layer: $g_\\ell$")
fits["gh_one"] = fit_plot(ax, one, "gh", 0, "one-layer: $g_\\ell$")
ax.set_xlabel("depth L (number of blocks, log2 scale)")
ax.set_ylabel("rms backward signal (n ∂f/∂·), rms over blocks")
ax.set_title(f"depth-μP at initialization, n = {COLLAPSE_WIDTH}, {len(SEEDS)} seeds", fontsize=9)
viz.readable_log_ticks(ax)
viz.legend_outside(ax)
viz.show(fig, f"Backward signals against depth at initialization: at z_l it falls with slope {fits['gz'].slope:+.2f} "
         f"(guide L^-1/2); at h_l it stays flat, slope {fits['gh_two'].slope:+.2f} (two-layer) and "
         f"{fits['gh_one'].slope:+.2f} (one-layer).")
print(describe_slope(fits["gz"], "backward signal at z_l", "L"))
print(describe_slope(fits["gh_two"], "backward signal at h_l (two-layer)", "L"))

# %% [markdown]
# ## 2. The first internal layer's own update
#
# One SGD step with rate $\eta_1$ on $W^{(1)}_\ell$ (full batch, loss $\frac1P\sum_\mu\ell$, so
# $\chi_\mu=\ell'/P$) changes $W^{(1)}_\ell$ by $-\eta_1\sum_\mu\chi_\mu\,\frac{1}{n}\,g^{z,\mu}_\ell\,
# \frac{1}{\sqrt n}\phi(h^\mu_{\ell-1})^\top$. The layer's **own** feature update, the change of $z_\ell$ this
# alone causes with the input held fixed, is then
#
# $$
# \delta z^{\rm own}_\ell(x)=\tfrac{1}{\sqrt n}\Delta W^{(1)}_\ell\phi(h_{\ell-1}(x))
# =-\frac{\eta_1}{n}\sum_\mu\chi_\mu\,\Phi_{\ell-1}(x,x_\mu)\,g^{z,\mu}_\ell
# = O\Big(\frac{\eta_1}{n}L^{-1/2}\Big),
# $$
#
# with $\Phi_{\ell-1}=\phi(h)\cdot\phi(h')/n=O(1)$. Under depth-μP ($\eta_1=\eta n$) this is $O(L^{-1/2})$: **the
# first internal layer's own learning vanishes with depth.** Two things are *not* predicted to collapse:
#
# * the *total* change of $z_\ell$: it also contains $\frac{1}{\sqrt n}W^{(1)}_\ell[\phi(h_{\ell-1}(t+1))-
#   \phi(h_{\ell-1}(t))]$, the stream's $O(1)$ change seen through a weight matrix that barely moves; so $z_\ell$
#   moves, but as a *fixed random feature map* of the stream;
# * anything in a one-layer block that feeds a nonlinearity: the only such input is the stream $h_{\ell-1}$,
#   which moves $O(1)$. (The one-layer matrix's own output update is $O(L^{-1/2})$ too, by the same
#   computation, but that output enters the stream linearly, times $\sqrt{T/L}$: exactly the $O(1/L)$ per
#   block that depth-μP is built on. Nothing nonlinear is lost.)
#
# **Predict, then run.** Slopes against $\log L$ of: the own update of $z_\ell$; its total change; the change
# of $h_\ell$ (two-layer and one-layer); the one-layer matrix's own output update.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True, layout="constrained")
fits["dz_own"] = fit_plot(axes[0], two, "dz_own", 1, "own update of $z_\\ell$", guides=(-0.5,))
fits["dz"] = fit_plot(axes[0], two, "dz", 1, "total change of $z_\\ell$")
fits["dh_two"] = fit_plot(axes[0], two, "dh", 1, "change of $h_\\ell$")
fits["du_own_two"] = fit_plot(axes[0], two, "du_own", 1, "own update of $W^{(2)}$'s output")
fits["dh_one"] = fit_plot(axes[1], one, "dh", 1, "change of $h_\\ell$ (feeds φ)")
fits["du_own_one"] = fit_plot(axes[1], one, "du_own", 1, "own update of $W_\\ell$'s output (linear into h)",
                              guides=(-0.5,))
for ax, name in zip(axes, ("two-layer blocks", "one-layer blocks (control)")):
    ax.set_xlabel("depth L (log2 scale)")
    ax.set_title(f"depth-μP, {name}: step 1, η = {COLLAPSE_LR}, n = {COLLAPSE_WIDTH}", fontsize=8)
    viz.readable_log_ticks(ax)
    viz.legend_outside(ax, where="below", ncol=1)
axes[0].set_ylabel("rms per-step change, rms over blocks")
viz.show(fig, f"Two-layer blocks (left): the first internal layer's own update falls with slope "
         f"{fits['dz_own'].slope:+.2f} while the total change of z ({fits['dz'].slope:+.2f}) and of h "
         f"({fits['dh_two'].slope:+.2f}) stay flat; one-layer blocks (right): h moves O(1) "
         f"({fits['dh_one'].slope:+.2f}).")
for key, what in [("dz_own", "first internal layer's own update"), ("dz", "total change of z_l"),
                  ("dh_two", "change of h_l, two-layer"), ("dh_one", "change of h_l, one-layer"),
                  ("du_own_one", "one-layer matrix's own output update")]:
    print(describe_slope(fits[key], what, "L"))

# %% [markdown]
# ### Over training, and against width
#
# One step could hide a recovery later in training. The cumulative own update after `COLLAPSE_STEPS` steps,
# $\frac{1}{\sqrt n}(W^{(1)}_\ell(t)-W^{(1)}_\ell(0))\phi(h_{\ell-1}(t))$, relative to the size of $z_\ell$, says how
# far the first internal layer has moved away from a fixed random map. And if the collapse is a depth
# effect, it should not depend on the width (μP keeps every per-coordinate quantity width-independent).

# %%
S = COLLAPSE_STEPS
fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
xs, own = two_layer.pooled_series(two, "dz_own_cum", step=S)
_, size = two_layer.pooled_series(two, "z_rms", step=S)
rel = own / size
fits["rel_cum"] = fit_loglog(xs, rel)
viz.plot_loglog_fit(axes[0], xs, rel, fits["rel_cum"], label=f"after {S} steps", guides=(-0.5,), x_name="L")
axes[0].set_xlabel("depth L (log2 scale)")
axes[0].set_ylabel("own update of z since init / rms of z")
axes[0].set_title(f"depth-μP two-layer, n = {COLLAPSE_WIDTH}, η = {COLLAPSE_LR}", fontsize=9)
wtwo = by_width.where(parametrization="depth-mup", block="two")
fits["dz_own_width"] = fit_plot(axes[1], wtwo, "dz_own", 1, "own update of $z_\\ell$, step 1", x="n")
fits["dz_own_cum_width"] = fit_plot(axes[1], wtwo, "dz_own_cum", S, f"own update since init, step {S}", x="n")
axes[1].set_xlabel("width n (log2 scale)")
axes[1].set_ylabel("rms, rms over blocks")
axes[1].set_title(f"the same against width at L = {COLLAPSE_WIDTH_DEPTH}", fontsize=9)
for ax in axes:
    viz.readable_log_ticks(ax)
    viz.legend_outside(ax, where="below", ncol=1)
viz.show(fig, f"Left: the own update of z accumulated over {S} steps, relative to the size of z, falls with depth "
         f"(slope {fits['rel_cum'].slope:+.2f}). Right: against width it is flat (slope "
         f"{fits['dz_own_width'].slope:+.2f} at step 1).")
print(describe_slope(fits["rel_cum"], f"relative own update of z after {S} steps", "L"))
print(describe_slope(fits["dz_own_width"], "own update of z (step 1)", "n"))

# %% [markdown]
# ### Where in the network?
#
# The scans average over blocks. Per block, against the layer-time $\tau=\ell T/L$ (one seed, computed here):
# if the mechanism is the branch factor, every block should shrink by the same $\sqrt{L}$, so the profiles for
# different $L$ should be parallel and spaced by $\sqrt{\text{ratio of depths}}$.

# %%
fig, ax = plt.subplots(figsize=(7.2, 3.5), layout="constrained")
task = make_teacher_task(d=16, n_train=32, n_test=1, seed=0)
profile_means = {}
for L, color in zip(PROFILE_DEPTHS, plt.cm.viridis(np.linspace(0, 0.85, len(PROFILE_DEPTHS)))):
    model = ResNet(16, 1, COLLAPSE_WIDTH, L, block="two", parametrization="depth-mup", seed=0, device=DEVICE)
    rows = two_layer.block_updates(model, task.X_train, task.Y_train, COLLAPSE_LR, 1, kernel=False)
    own_rows = [r for r in rows if r["quantity"] == "dz_own" and r["step"] == 1]
    tau = [r["tau"] for r in own_rows]
    val = [r["value"] for r in own_rows]
    profile_means[L] = float(np.sqrt(np.mean(np.square(val))))
    ax.plot(tau, val, ".-", color=color, label=f"L = {L}")
ax.set_yscale("log")
ax.set_xlabel("layer-time τ = ℓT/L")
ax.set_ylabel("own update of z_ℓ, first step (rms)")
ax.set_title(f"depth-μP two-layer, n = {COLLAPSE_WIDTH}, seed 0", fontsize=9)
viz.readable_log_ticks(ax)
viz.legend_outside(ax)
Ls = sorted(profile_means)
ratio = profile_means[Ls[-1]] / profile_means[Ls[0]]
viz.show(fig, f"Per-block own update of z against layer-time for L = {', '.join(map(str, Ls))}: parallel profiles, "
         f"the deepest {ratio:.2f} times the shallowest.")
print(f"rms own update at L={Ls[-1]} / at L={Ls[0]}: {ratio:.3f}; sqrt(L ratio) predicts "
      f"{math.sqrt(Ls[0] / Ls[-1]):.3f} (measured exponent {math.log(ratio) / math.log(Ls[-1] / Ls[0]):+.2f})")

# %% [markdown]
# ### Move the depth yourself
#
# The same profile, live (`nfdlib.widgets.collapse_widget`; notebook 08 has the full explorer): every slider
# move trains the two-layer networks for one SGD step and redraws the own update of each block's first internal
# layer. With the correction off you see depth-μP alone; switch it on to add the corrected rate
# $\eta_1=\eta n\sqrt L$ of notebook 06. Double $L$ and watch how far the blue profile drops, and whether the red
# one moves.

# %%
from nfdlib import widgets

widgets.collapse_widget(**WIDGET)

# %% [markdown]
# ## 3. What it does to learning: learning-rate sweeps across depth
#
# If the first internal layers stop learning, the rest of the network has to do the work, and the best
# learning rate may move with depth. That would be the "empirical failure of depth-μP" the abstract refers to.
# The test is the standard one (Bordelon et al. 2023, Fig. 1): train at a grid of base rates $\eta$ for every
# depth and see whether the curves' minima line up.
#
# `nfdlib.sweeps` (new here) trains all rates × seeds of one architecture at once (the weights of every
# configuration stacked along a new axis, one batched forward and backward pass per step); a run whose loss
# goes non-finite is recorded as diverged and drawn as a missing point.
# Full-mode results come from the cache files of notebook 06's plan (`data/sweep_05_*.npz`, computed by
# `python -m nfdlib.plans notebooks/06_lr_correction.py`, about an hour on one CPU core); quick mode computes
# a tiny version. Seeds change the initial weights and the minibatch order.
#
# **Predict, then run.** Under depth-μP, one-layer blocks are known to transfer (Bordelon et al.; TP VI). For
# two-layer blocks: will the optimum move to larger $\eta$ (to make up for the silent layers), smaller, or
# stay?

# %%
results = plans.run_plan(RULES, TASKS, SWEEP, prefix=SWEEP_PREFIX, use_cache=not QUICK, progress=QUICK)
labels = {("depth-mup", "one"): "depth-μP, one-layer", ("depth-mup", "two"): "depth-μP, two-layer"}
n_show = max(TASKS["mnist1d"]["widths"])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), sharey=True, layout="constrained")
for ax, rule in zip(axes, RULES):
    sweep = results[("mnist1d", n_show) + rule]
    viz.plot_transfer(sweep, "train_loss", curve_optima=optima.seed_mean_optima(sweep, "train_loss"), ax=ax,
                      legend=False, title=f"{labels[rule]}, MNIST-1D, n = {n_show}, {len(SEEDS)} seeds")
    viz.readable_log_ticks(ax)
viz.legend_outside(axes[-1])
viz.show(fig, f"Transfer plots on MNIST-1D at width {n_show}: training loss after {SWEEP['steps']} steps against "
         "the base rate, one curve per depth, a dot at each optimum, for one-layer and two-layer blocks.")

drifts = {}
for (task_key, n, p, b), res in results.items():
    drifts[(task_key, n, p, b)] = optima.optimum_drift(res, "train_loss")
    print(f"{task_key:8s} n={n:4d} {labels[(p, b)]:22s} slope of log2 eta* vs log2 L: {drifts[(task_key, n, p, b)]}")

# %% [markdown]
# Each dot marks the optimum of the seed-averaged curve (open circle: at the edge of the grid, only a bound).
# The slope above comes from the per-seed optima (a parabola through the best grid point and its
# neighbours, in $\log_2\eta$), pooled over seeds, with a 95% t-interval and a bootstrap over seeds beside it.
# A slope of $-0.5$ would be a drift of half an octave per doubling of depth.

# %%
for (task_key, n, p, b), d in drifts.items():
    print(f"{task_key:8s} n={n:4d} {labels[(p, b)]:22s} -> {d.verdict()}")

# %% [markdown]
# The divergence boundary (the largest rate at which no seed diverged) is a second, sharper marker of a
# depth dependence: `optima.stability_drift` fits its slope the same way. Both enter the table below, task by
# task and width by width; the flat threshold is 0.15 octave per doubling of depth (0.75 octave over the
# whole range $L=2\ldots64$), about what half-octave grids with three seeds can resolve.
#
# ## 4. Summary: claim, measurement, verdict
#
# The table is computed from the measurements above, by the rule of notebook 00 (section 6): *agree* only when the
# whole 95% interval lies within the tolerance printed beside the verdict (an exponent within 0.15 of its
# prediction, where the alternatives differ by 1/2; an optimum that moves less than 0.15 octave per doubling of depth for "transfers"), *disagree* when it
# lies wholly outside, *not resolved* otherwise. A claim over several tasks and widths agrees only when every case
# does.

# %%
two_drifts = [d for (t, n, p, b), d in drifts.items() if b == "two"]
one_drifts = [d for (t, n, p, b), d in drifts.items() if b == "one"]
boundary = [optima.stability_drift(res) for (t, n, p, b), res in results.items() if b == "two"]
EXP_TOL = 0.15
claims = Claims()
for text, key, expected in [("backward signal at z_l ~ L^-1/2", "gz", -0.5), ("backward signal at h_l is O(1)", "gh_two", 0.0),
                            ("first internal layer's own update ~ L^-1/2 (collapse)", "dz_own", -0.5),
                            ("... also after training (relative to |z|)", "rel_cum", -0.5),
                            ("total change of z_l stays O(1) (inherited from h)", "dz", 0.0),
                            ("one-layer control: features feeding phi move O(1)", "dh_one", 0.0)]:
    claims.add(text, f"slope {fits[key]}", slope_verdict(fits[key], expected, tol=EXP_TOL), echo=False)
claims.add("... and independent of width", f"slope vs n {fits['dz_own_width']}",
           slope_verdict(fits["dz_own_width"], 0.0, tol=EXP_TOL), echo=False)
claims.add("depth-muP one-layer: optimum transfers across depth", "; ".join(str(d.fit) for d in one_drifts),
           combine_verdicts(*(d.transfers() for d in one_drifts)), echo=False)
claims.add("depth-muP two-layer: optimum moves with depth (transfer fails)", "; ".join(str(d.fit) for d in two_drifts),
           combine_verdicts(*(d.moves() for d in two_drifts)), echo=False)
claims.add("(ours) depth-muP two-layer: the divergence boundary rises with L", "; ".join(str(d.fit) for d in boundary),
           combine_verdicts(*(slope_verdict(d.fit, sign=+1) for d in boundary)), echo=False)
display(Markdown(claims.markdown()))
print(f"\nnotebook ran in {time.time() - T0:.0f} s")

# %% [markdown]
# ## Takeaways
#
# Formatted from the measurements above on every run:

# %%
two_keys = [k for k in drifts if k[3] == "two"]
largest = max(two_keys, key=lambda k: abs(drifts[k].slope) if drifts[k].fit is not None else -1.0)
bkeys = [k for k in results if k[3] == "two"]
bdrift = {k: optima.stability_drift(results[k]) for k in bkeys}
brise = max(bkeys, key=lambda k: bdrift[k].slope if bdrift[k].fit is not None else -math.inf)
verdicts = [drifts[k].transfers().outcome for k in two_keys]
display(Markdown("\n".join([
    f"* In a two-layer block the branch multiplier $\\sqrt{{T/L}}$ stands between the first internal layer and the "
    f"loss: the signal reaching it scales like `L^{fits['gz'].slope:+.2f}` (predicted -1/2), the stream's like "
    f"`L^{fits['gh_two'].slope:+.2f}` (predicted 0), and the layer's own SGD update like "
    f"`L^{fits['dz_own'].slope:+.2f}` under depth-μP, independent of width (slope {fits['dz_own_width']} in n).",
    f"* The collapse is of the layer's *learning*, not of its activity: $z_\\ell$ still changes by O(1) per step "
    f"(slope {fits['dz']}), but only because the stream below it changes; after {S} steps its own update relative "
    f"to its size still falls like `L^{fits['rel_cum'].slope:+.2f}`. $W^{{(1)}}_\\ell$ acts more and more like a "
    "frozen random map.",
    f"* One-layer blocks have no such internal layer: every nonlinearity reads the stream, which moves O(1) "
    f"(slope {fits['dh_one']}).",
    f"* At {SWEEP['steps']} SGD steps the two-layer optimum's largest drift is {drifts[largest].fit} octave per "
    f"doubling of L ({largest[0]}, n = {largest[1]}; verdicts on 'transfers' per task and width: "
    f"{', '.join(verdicts)}), and the divergence boundary rises by at most {bdrift[brise].fit} ({brise[0]}, "
    f"n = {brise[1]}): at this budget the collapse of the layer's own learning need not move the optimum.",
])))

# %% [markdown]
# ## Exercises
#
# 1. Show that under depth-μP the first internal layer's contribution to the tangent kernel,
#    $\eta_1\sum_\ell \frac1n|\partial f/\partial z_\ell|^2\,|\phi(h_{\ell-1})|^2$, stays $O(1)$ in total even
#    though each layer's own update vanishes. What does that say about "collapse" versus "contributes nothing"?
#
# <details><summary>Answer</summary>
#
# Per coordinate $\partial f/\partial z_\ell = g^z_\ell/n$ with $g^z=O(L^{-1/2})$, so
# $|\partial f/\partial z_\ell|^2 = O(n\cdot L^{-1}/n^2)$ and $|\phi(h)|^2=O(n)$; with $\eta_1=\eta n$ and the
# multiplier $1/\sqrt n$ squared, each layer adds $O(1/L)$ and the $L$ layers add $O(1)$. The first internal
# layers still change the output at first order, as a linear (kernel) contribution spread over many layers;
# what vanishes is each layer's own feature change, so the nonlinearity $\phi(z_\ell)$ never sees a learned
# input. `two_layer.kernel_summary` reports this share (`share_internal1`); notebook 06 plots it against $L$.
# </details>
#
# 2. The derivation of $g^z_\ell$ used the branch factor $\sqrt{T/L}$ and nothing about $\phi$. Test that with a
#    network without nonlinearities: `ResNet(16, 1, 256, L, block="two", activation="identity")`. (The activation
#    is the $\phi$ of every layer, so this makes the *whole* network linear, the stream and both internal layers,
#    not only the first internal layer.) Does the first internal layer's own update still shrink like
#    $L^{-1/2}$, and why?
#
# <details><summary>Answer</summary>
#
# Yes. With $\phi$ the identity, $\phi'=1$ and $g^z_\ell=\sqrt{T/L}\,\frac{1}{\sqrt n}W^{(2)\top}_\ell g_\ell$: the
# branch factor is still there, $g_\ell$ is still $O(1)$, so the own update
# $-\frac{\eta_1}{n}\sum_\mu\chi_\mu\Phi_{\ell-1}(x,x_\mu)g^{z,\mu}_\ell$ is still $O(L^{-1/2})$. Measure it as in
# section 2, for example
#
# ```python
# for L in (4, 16, 64):
#     model = ResNet(16, 1, 256, L, block="two", activation="identity", seed=0)
#     rows = two_layer.block_updates(model, task.X_train, task.Y_train, COLLAPSE_LR, 1, kernel=False)
#     own = [r["value"] for r in rows if r["quantity"] == "dz_own" and r["step"] == 1]
#     print(L, np.sqrt(np.mean(np.square(own))))
# ```
#
# and fit the slope against $\log L$: it is close to the ReLU network's. A linear network can only learn a linear
# function of its input, so this isolates the mechanism; it is not a better way to train.
# </details>
#
# 3. Which single change of the learning rates makes the own update depth-independent? (Notebook 06.)
#
# <details><summary>Answer</summary>
#
# Multiply the first internal layer's rate by $\sqrt L$: $\eta_1=\eta n\sqrt L$ cancels the $L^{-1/2}$ of
# $g^z$. That is the paper's depth-aware correction, `depth-mup-corrected` in the registry.
# </details>
#
# ## What comes next
#
# Notebook 06 puts the paper's correction $\eta_1=\eta n\sqrt L$ and CompleteP ($T/L$ branches) beside these two
# rules: does either undo the collapse, what does it do to the tangent kernel, and does the best learning rate
# transfer across depth, after 200 steps and trained to a plateau?
