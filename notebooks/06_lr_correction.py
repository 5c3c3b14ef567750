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
# # 06 · The depth-aware learning-rate correction, CompleteP, and depth-wise transfer
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfd-notebooks/nfd-notebooks/blob/main/notebooks/06_lr_correction.ipynb)
#
# Notebook 05 measured the collapse of the first internal layer of two-layer blocks under depth-μP. The paper's
# remedy is "a simple depth-aware learning-rate correction", $\eta_1=\eta\,n\sqrt L$ on that layer only ($\eta$
# the base rate), which it says "restores depth-wise HP transfer" and gives "stronger performance in deeper
# ResNets" (v1 abstract and a figure caption quoted by a summary). Power counting raises a caution: the corrected
# layers' share of the tangent kernel grows with depth, which could push the stable, and perhaps the best, learning
# rate down like $L^{-1/2}$. The literature's other answer for multi-layer blocks is CompleteP (Dey et al. 2025;
# Chizat 2025): branch multiplier $T/L$ and hidden rates scaled by $L$. Here the four rules (depth-μP with one- and
# two-layer blocks, the correction, CompleteP) are run side by side on real data (MNIST-1D) and a synthetic task,
# and the numbers decide which one transfers across depth and which one trains the best deep model.
#
# **After this notebook you can**
#
# 1. read off the registry what the correction and CompleteP change, and predict by power counting how each
#    internal layer's own update and the tangent kernel $\Theta$ scale with depth;
# 2. check those exponents against measured slopes, and see where one-step power counting stops (accumulated
#    updates, the kernel's growth);
# 3. run learning-rate sweeps across depth, tell the optimum from the stability edge, and judge "transfers" by an
#    interval, not by eye;
# 4. say which of the paper's claims on the correction are reproduced here, at 200 steps and trained to a
#    plateau, and which are not.
#
# **Prerequisites.** Notebook 05 (two-layer blocks, the signal $g^z$, the own update of a layer, the sweep
# machinery and its transfer plots) and notebook 00 (the registry, the verdict rule). One outside idea:
# *hyperparameter transfer* (Tensor Programs V, Bordelon et al. 2023): a parametrization transfers when the best
# learning rate found on a small model stays the best on a larger one; here "larger" is deeper, and the test is
# the drift of the optimum per doubling of $L$.
#
# **Run time** on 2 CPU cores (shared machine): quick mode (`NFD_QUICK=1`) about 2 min; full mode from the caches
# under `data/` (files `collapse_*`, `sweep_05_*`, `pilot_05_*`, `plateau_05_*`) about 2 min; from scratch about
# 18 CPU-hours: the pilots and the width-64 sweeps of the section *Trained to a plateau* took 6.6 (the compute
# time stored with each cached sweep is printed there), width 128 takes about 2.5 per rule, and the 200-step
# sweeps about one.
#
# **Where the main result is.** Sections 4 to 6 train for 200 steps: early training. The section *Trained to a
# plateau* (before the summary) trains the same four rules on 20000 examples until the held-out loss stops
# improving, chooses every rate on a validation split and reports test accuracy; its rows close the summary table.

# %% tags=["parameters"]
# Every size lives here. NFD_QUICK=1 (CI) runs the small version in well under a minute on 2 CPU cores.
import os

QUICK = os.environ.get("NFD_QUICK", "0").strip().lower() in ("1", "true", "yes", "on")
SEEDS = (0, 1) if QUICK else (0, 1, 2)
# Collapse diagnostics (cached under data/collapse_*; notebook 05 reads the same files): a synthetic
# regression batch of 32 inputs, full-batch SGD at base rate COLLAPSE_LR for COLLAPSE_STEPS steps.
COLLAPSE_WIDTH = 64 if QUICK else 256  # width of the depth scan
COLLAPSE_DEPTHS = (4, 16) if QUICK else (2, 4, 8, 16, 32, 64, 128)
COLLAPSE_WIDTHS = (32, 64) if QUICK else (128, 256, 512, 1024)  # widths of the width scan ...
COLLAPSE_WIDTH_DEPTH = 4 if QUICK else 16  # ... at this depth
COLLAPSE_LR = 0.5
COLLAPSE_STEPS = 3 if QUICK else 20
# Learning-rate sweeps: the four rules side by side, each (task, width, depth, rate, seed) one SGD run.
RULES = [("depth-mup", "one"), ("depth-mup", "two"), ("depth-mup-corrected", "two"), ("completep", "two")]
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
SWEEP_PREFIX = "sweep_05"  # full-mode sweeps are precomputed: python -m nfdlib.sweeps notebooks/06_lr_correction.py
# Trained to a plateau (the section of that name explains the plan): the same four rules on 20000 examples, with
# validation and test splits. A pilot at one depth (`python -m nfdlib.sweeps notebooks/06_lr_correction.py --plan
# PILOT_`) sets the budget of the sweeps (`--plan PLATEAU_`); training loss is read on 2000 training examples.
BIG = {"n_train": 400, "n_val": 200, "n_test": 200} if QUICK else {"n_train": 20000, "n_val": 4000, "n_test": 4000}
PILOT_TASKS = {
    "mnist1d": {"task": {"name": "mnist1d", **BIG}, "loss": "xent", "widths": [16] if QUICK else [64]},
    "teacher": {"task": {"name": "teacher", "d": 16, **BIG}, "loss": "mse", "widths": [16] if QUICK else [64]},
}
PILOT_SWEEP = {"depths": [4] if QUICK else [16], "lrs": [2.0**k for k in (range(-1, 3) if QUICK else range(-3, 5))],
               "seeds": [0], "steps": 40 if QUICK else 8000, "batch_size": 64, "loss_bound": 1000.0,
               "eval_every": 5 if QUICK else 250, "train_eval": 2000}
PILOT_SWEEP_PREFIX = "pilot_05"
# The budget: 6000 steps (19 epochs of MNIST-1D), chosen from the pilot; every `eval_every` steps is recorded,
# so any shorter budget can be read from the same runs. Rates 2^-3 ... 2^3.5 in half octaves. Width 128 (MNIST-1D)
# takes about 2.5 CPU-hours per rule: its finished depths are committed (the `partial` folder of data/) and resumed.
PLATEAU_TASKS = {
    "mnist1d": {"task": {"name": "mnist1d", **BIG}, "loss": "xent", "widths": [16] if QUICK else [64, 128]},
    "teacher": {"task": {"name": "teacher", "d": 16, **BIG}, "loss": "mse", "widths": [16] if QUICK else [64]},
}
PLATEAU_SWEEP = {"depths": [2, 4, 8] if QUICK else [2, 4, 8, 16, 32, 64],
                 "lrs": [2.0**k for k in (-1, 0, 1, 2)] if QUICK else [2.0 ** (k / 2) for k in range(-6, 8)],
                 "seeds": list(SEEDS), "steps": 40 if QUICK else 6000, "batch_size": 64, "loss_bound": 1000.0,
                 "eval_every": 10 if QUICK else 500, "train_eval": 2000}
PLATEAU_SWEEP_PREFIX = "plateau_05"
PLATEAU_REL = 0.01  # a plateau: the best validation loss falls less than 1% from one quarter of training to the next
PLATEAU_AVERAGE = 2 if QUICK else 3  # losses read as the mean of the last evaluations (SGD noise at a fixed rate)
PLATEAU_FLAT_TOL = 0.15  # "transfers": the whole 95% interval of the drift within +-0.15 octave per doubling of L
PLATEAU_BUDGETS = [20, 30, 40] if QUICK else [500, 1000, 2000, 3000, 4000, 6000]  # shorter budgets, same runs

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

import numpy as np
from IPython.display import Markdown, display

import nfdlib
from nfdlib import plotting as nplt
from nfdlib import stats, sweeps, two_layer
from nfdlib.config import get_device
from nfdlib.parametrization import describe, registry_table
from nfdlib.stats import Claims, combine_verdicts, describe_slope, fit_loglog, interval_verdict, slope_verdict

DEVICE = get_device()  # CUDA, then MPS, then CPU; override with NFD_DEVICE=cpu
print(f"nfdlib {nfdlib.__version__} on {DEVICE}; quick mode: {QUICK}")
T0 = time.time()
LABELS = {("depth-mup", "one"): "depth-μP, one-layer", ("depth-mup", "two"): "depth-μP, two-layer",
          ("depth-mup-corrected", "two"): "two-layer, corrected", ("completep", "two"): "two-layer, CompleteP"}
COLORS = dict(zip(RULES, ("tab:gray", "tab:blue", "tab:red", "tab:green")))

# %% [markdown]
# ## 1. Three ways to train a two-layer block
#
# All three rules come from the one registry (`nfdlib.parametrization`); the models and the optimizer groups
# read it, and so does this table. The correction changes *one* entry of depth-μP: the SGD rate of
# `internal1` becomes $\eta n\sqrt L$. CompleteP changes the branch multiplier to $T/L$ and the rates of every
# matrix inside the blocks to $\eta nL/T$; input and readout keep μP's $\eta n$.

# %%
print(registry_table(["depth-mup", "depth-mup-corrected", "completep"], roles=("input", "internal1", "internal2",
                                                                                "readout")))
print()
print(describe("completep"))

# %% [markdown]
# **Power counting** (derivations in the registry and in notebook 05). Write $\beta$ for the branch multiplier
# and $\eta_1,\eta_2$ for the rates of the two internal layers. The signal reaching $z_\ell$ is
# $g^z=O(\beta)$; the first layer's own update is $O(\frac{\eta_1}{n}\beta)$; the second layer's own output update
# is $O(\frac{\eta_2}{n}\beta)$; a layer's contribution to the tangent kernel is (its own update) × (the path to the
# output), so the first internal layers together contribute $L\cdot\frac{\eta_1}{n}\beta^2$ and the second ones
# $L\cdot\frac{\eta_2}{n}\beta^2$. With the settings of the table above ($\beta=\sqrt{T/L}$ but $T/L$ for CompleteP),
# the exponents of $L$ are:
#
# | per step, at initialization | depth-μP | corrected | CompleteP |
# |---|---|---|---|
# | backward signal at $z_\ell$ | $-1/2$ | $-1/2$ | $-1$ |
# | own update of $z_\ell$ (first internal layer) | $-1/2$ (collapse) | $0$ | $0$ |
# | own update of $W^{(2)}_\ell$'s output | $-1/2$ | $-1/2$ | $0$ |
# | first internal layers' kernel, $\Theta_1$ | $0$ | $+1/2$ | $0$ |
# | rest of the kernel | $0$ | $0$ | $0$ |
# | per-step output change $\Delta f$ | $0$ | between $0$ and $+1/2$ | $0$ |
#
# Under the correction $\Theta_1/\Theta_{\rm rest}$ grows exactly like $\sqrt L$ (same weights, same signals, only the rate
# of $W^{(1)}$ is multiplied), so the kernel's *share* of the first internal layers tends to one, and the kernel
# itself grows towards $\sqrt L$. For full-batch gradient descent on a squared loss the step is stable while
# $\eta\,\lambda_{\max}(\Theta/P)<2$, so a kernel growing like $L^{a}$ predicts a largest stable rate shrinking like
# $L^{-a}$, and since the best rate in short training sits close to that edge, the optimum may follow.
#
# **Predict, then run.** Which entries of the table do you trust least? Which of the three rules do you expect to
# keep its best learning rate fixed from $L=2$ to $L=64$?

# %% [markdown]
# ## 2. The collapse, corrected
#
# The same scans as notebook 05 (`two_layer.depth_and_width_scans`, cached under `data/collapse_*`): a
# synthetic batch, full-batch SGD at base rate $\eta$=`COLLAPSE_LR`, measured at the first step and after
# `COLLAPSE_STEPS` steps, rms over blocks, one point per seed.

# %%
by_depth, by_width = two_layer.depth_and_width_scans(
    RULES, depths=COLLAPSE_DEPTHS, n=COLLAPSE_WIDTH, widths=COLLAPSE_WIDTHS, L=COLLAPSE_WIDTH_DEPTH,
    lr=COLLAPSE_LR, steps=COLLAPSE_STEPS, seeds=SEEDS, use_cache=not QUICK)


def rule_records(records, rule):
    return records.where(parametrization=rule[0], block=rule[1])


def fit_of(rule, quantity, step, records=None, x="L"):
    return two_layer.fit_against(rule_records(records or by_depth, rule), quantity, step=step, x=x)


PREDICTED = {  # exponent of L per rule, from the power-counting table above (None: no clean power law)
    "gz": {RULES[1]: -0.5, RULES[2]: -0.5, RULES[3]: -1.0},
    "dz_own": {RULES[1]: -0.5, RULES[2]: 0.0, RULES[3]: 0.0},
    "du_own": {RULES[0]: -0.5, RULES[1]: -0.5, RULES[2]: -0.5, RULES[3]: 0.0},
    "dh": {RULES[0]: 0.0, RULES[1]: 0.0, RULES[2]: None, RULES[3]: 0.0},
    "df": {RULES[0]: 0.0, RULES[1]: 0.0, RULES[2]: None, RULES[3]: 0.0},
}
QUANTITIES = [("dz_own", "own update of $z_\\ell$ (1st internal layer)"),
              ("du_own", "own update of the 2nd layer's output"),
              ("dh", "change of $h_\\ell$"), ("df", "change of the output $f$")]

# %%
fig = nplt.plot_quantities_by_rule(by_depth, QUANTITIES, RULES, step=1, labels=LABELS, colors=COLORS,
                                   guides={q: (PREDICTED[q][RULES[1]], RULES[1]) for q, _ in QUANTITIES
                                           if PREDICTED[q][RULES[1]]},  # depth-muP two-layer's exponent, where not 0
                                   ylabel=f"rms per-step change (η = {COLLAPSE_LR}, n = {COLLAPSE_WIDTH})")
nplt.show(fig, "Four log-log panels against depth at the first SGD step: the first internal layer's own update "
          f"falls with slope {fit_of(RULES[1], 'dz_own', 1).slope:+.2f} under depth-muP and stays flat under the "
          f"correction ({fit_of(RULES[2], 'dz_own', 1).slope:+.2f}) and CompleteP "
          f"({fit_of(RULES[3], 'dz_own', 1).slope:+.2f}); the second layer's own update, the change of h and the "
          "change of f for each rule.")
for rule in RULES[1:]:
    print(describe_slope(fit_of(rule, "dz_own", 1), f"[{LABELS[rule]}] own update of z_l", "L"))
same = fit_of(RULES[1], "du_own", 1), fit_of(RULES[2], "du_own", 1)
print(f"at the first step the corrected rule's second-layer update equals depth-muP's (same weights, same rate "
      f"eta_2): slopes {same[0].slope:+.3f} and {same[1].slope:+.3f}; their markers are drawn side by side")

# %% [markdown]
# The predicted exponents of the table against the measured slopes (95% t-intervals, seeds pooled), for the
# first step and, for the own updates, accumulated over training (relative to the size of $z_\ell$):

# %%
# Verdicts by the rule of notebook 00 (section 6): an exponent agrees when its whole 95% interval lies within
# EXP_TOL of the prediction (the predictions of the table differ by at least 1/2).
EXP_TOL = 0.15


def exponent_verdict(fit, expected):
    """The verdict on a predicted exponent, or None where the table predicts no clean power law."""
    return None if expected is None else slope_verdict(fit, expected, tol=EXP_TOL)


def own_cumulated(rule):  # the own update of z_l accumulated over COLLAPSE_STEPS steps, relative to |z_l|
    rec = rule_records(by_depth, rule)
    xs, own = two_layer.pooled_series(rec, "dz_own_cum", step=COLLAPSE_STEPS)
    return fit_loglog(xs, own / two_layer.pooled_series(rec, "z_rms", step=COLLAPSE_STEPS)[1])


cases = [(quantity, f"{quantity} ({step})", rule, expected, fit_of(rule, quantity, step))
         for quantity, step in [("gz", 0), ("dz_own", 1), ("du_own", 1), ("dh", 1), ("df", 1)]
         for rule, expected in PREDICTED[quantity].items()]
cases += [("dz_own_cum/|z|", f"dz_own/|z| ({COLLAPSE_STEPS})", rule, PREDICTED["dz_own"][rule], own_cumulated(rule))
          for rule in RULES[1:]]
cases += [("dz_own vs n", "dz_own vs n (1)", rule, 0.0, fit_of(rule, "dz_own", 1, records=by_width, x="n"))
          for rule in RULES[1:]]
collapse_rows = []  # (quantity, rule, predicted exponent, fit, verdict)
print(f"{'quantity (step)':22s} {'rule':22s} {'predicted':>9s}  {'measured slope [95% CI]':26s} verdict")
for quantity, name, rule, expected, fit in cases:
    v = exponent_verdict(fit, expected)
    collapse_rows.append((quantity, rule, expected, fit, v))
    exp = "-" if expected is None else f"{expected:+.1f}"
    print(f"{name:22s} {LABELS[rule]:22s} {exp:>9s}  {str(fit):26s} {v.cell() if v else '-'}")

# %% [markdown]
# The one-step power counting says nothing about how the own updates *accumulate*: over many steps they also
# depend on how fast the loss (and so $\chi$) falls, which itself depends on the kernel. The accumulated rows
# are measurements of that, not tests of the table; a "disagree" there is a limit of the one-step argument.
#
# ## 3. The caution: does the kernel grow?
#
# `two_layer.kernel_summary` computes the learning-rate-weighted tangent kernel $\Theta$ on the batch in closed form
# (per layer, a Hadamard product of the Gram matrices of backward signals and inputs; checked against per-sample
# autograd gradients in the tests), its largest eigenvalue $\lambda_{\max}(\Theta/P)$ (which bounds the stable
# full-batch rate, $\eta<2/\lambda_{\max}$ for a squared loss) and the share of each role. Under the correction the
# odds $\Theta_1/\Theta_{\rm rest}$ = share/(1 − share) should grow exactly like $\sqrt L$.

# %%
kernel_series, kernel_fits = two_layer.kernel_by_depth(by_depth, RULES, df_steps={"df": 1, "dfK": COLLAPSE_STEPS})
fig = nplt.plot_kernel_growth(kernel_series, kernel_fits, RULES, labels=LABELS, colors=COLORS,
                              guide=(0.5, RULES[2]), title=f"kernel size, n = {COLLAPSE_WIDTH}, {len(SEEDS)} seeds")
nplt.show(fig, f"Three panels against depth: the kernel's largest eigenvalue (slope under the correction "
          f"{kernel_fits[(RULES[2], 'lambda')].slope:+.2f}), the odds of the first internal layers' kernel (slope "
          f"{kernel_fits[(RULES[2], 'odds')].slope:+.2f} under the correction, flat otherwise) and their share.")
for what, name, shown in (("lambda", "lambda_max of the kernel", RULES), ("odds", "kernel odds K1/K_rest", RULES[1:])):
    for rule in shown:
        print(describe_slope(kernel_fits[(rule, what)], f"[{LABELS[rule]}] {name}", "L"))
for rule in RULES:
    for what, step in (("df", 1), ("dfK", COLLAPSE_STEPS)):
        print(describe_slope(kernel_fits[(rule, what)], f"[{LABELS[rule]}] per-step output change, step {step}", "L"))

# %% [markdown]
# ## 4. Learning-rate transfer across depth
#
# For each rule, task and width: a grid of base rates (half-octave steps), depths 2 to 64, 3 seeds, 200 SGD steps
# at batch 64 (MNIST-1D with cross-entropy; the synthetic teacher with squared loss). `nfdlib.sweeps` trains all
# rates × seeds of one architecture at once (stacked weights, batched matrix products); a diverged run is a
# missing point. Full mode reads `data/sweep_05_*.npz` (the command is in the parameters cell).

# %%
results = sweeps.run_plan(RULES, TASKS, SWEEP, prefix=SWEEP_PREFIX, use_cache=not QUICK, progress=QUICK)
for task_key in TASKS:
    n_show = max(TASKS[task_key]["widths"])
    fig = nplt.plot_transfer_grid({r: results[(task_key, n_show) + r] for r in RULES}, ("train_loss",),
                                  labels=LABELS, where=f"{task_key}, n = {n_show}")
    nplt.show(fig, f"Transfer plots on {task_key} at width {n_show}: training loss after {SWEEP['steps']} steps "
              "against the base rate, one curve per depth, a dot at each optimum, for the four rules.")

# %% [markdown]
# ### Slide the rate
#
# A rate slider over the same sweeps (`nfdlib.widgets.transfer_widget`): on the left the transfer plot of the
# sweep you pick, with the chosen rate dashed and each depth's optimum dotted; on the right the loss against depth
# at the chosen rate, beside each depth's best loss over the grid. Where the curves meet, one rate serves every
# depth; where they part, the best rate has moved with depth.

# %%
from nfdlib import widgets

widgets.transfer_widget({f"{LABELS[(p, b)]} · {t}, n = {n}": res for (t, n, p, b), res in results.items()})

# %% [markdown]
# The optimum's drift, per rule, task and width: the slope of $\log_2\eta^*$ against $\log_2L$ (per-seed optima,
# parabola-refined, pooled over seeds; 95% t-interval; bootstrap over seeds beside it), and the same for the
# divergence boundary (the largest rate at which no run diverged; rates at the top of the grid are left out).

# %%
drift = {key: sweeps.optimum_drift(res, "train_loss") for key, res in results.items()}
stab = {key: sweeps.stability_drift(res) for key, res in results.items()}
print(f"{'task':8s} {'n':>4s} {'rule':22s} {'optimum drift [95% CI]':24s} {'boundary drift [95% CI]':24s}")
for key in results:
    print(f"{key[0]:8s} {key[1]:4d} {LABELS[key[2:]]:22s} "
          + " ".join(f"{'no fit' if d.fit is None else str(d.fit):24s}" for d in (drift[key], stab[key])))
print(f"\n'transfers': the whole 95% interval within +-{sweeps.TRANSFER_TOL} octave per doubling of depth")
transfers = sweeps.transfer_outcomes(drift, RULES)  # per rule, the outcome in each task/width case
for rule, outcomes in transfers.items():
    print(f"{LABELS[rule]:22s}: optimum transfers (agree) in {outcomes.count('agree')} of {len(outcomes)} "
          f"task/width cases, drifts (disagree) in {outcomes.count('disagree')}, not resolved in "
          f"{outcomes.count('not resolved')}")

# %%
fig = nplt.plot_optima_by_depth(results, TASKS, RULES, labels=LABELS, colors=COLORS, optima=sweeps.optima)
nplt.show(fig, "The mean optimal log2 rate against depth for each rule, task and width (solid: the larger width); "
          "a flat line transfers. " + "; ".join(f"{LABELS[r]}: {v.count('agree')} of {len(v)} cases transfer"
                                              for r, v in transfers.items()) + ".")

# %% [markdown]
# ## 5. Did the kernel's growth move the boundary or the optimum?
#
# If the largest stable rate is set by $\lambda_{\max}$, it falls like $L^{-a}$ with $a$ the measured slope of
# $\lambda_{\max}$ (section 3; not $1/2$, since at these depths the rest of the kernel is not yet negligible).
# $\lambda_{\max}$ was measured at width `COLLAPSE_WIDTH` on a synthetic batch: for minibatch SGD on other data
# this is a rough check.

# %%
for rule in RULES:
    lam = kernel_fits[(rule, "lambda")]
    parts = "; ".join(f"{k[0]} n={k[1]}: {stab[k].slope:+.2f} [{stab[k].fit.lo:+.2f}, {stab[k].fit.hi:+.2f}]"
                      for k in stab if k[2:] == rule and stab[k].fit is not None)
    print(f"{LABELS[rule]:22s} predicted boundary slope {-lam.slope:+.2f} [{-lam.hi:+.2f}, {-lam.lo:+.2f}]; "
          f"measured {parts or 'none (no run diverged inside the grid)'}")

# %% [markdown]
# ## 6. Does deeper get better, and which rule trains the best deep model?
#
# At each depth, the best learning rate (the optimum of the seed-averaged training-loss curve, at grid
# resolution) and there the training loss, test loss and test accuracy, mean ± standard error over seeds. The
# rate is chosen on the same seeds, which flatters every rule a little and equally.

# %%
best = {key: sweeps.best_by_depth(res) for key, res in results.items()}
metrics = [("train_loss", "training loss"), ("test_loss", "test loss"), ("test_acc", "test accuracy")]
for task_key in TASKS:
    shown = [m for m in metrics if m[0] in best[(task_key, TASKS[task_key]["widths"][0]) + RULES[0]][0]]
    fig = nplt.plot_best_by_depth(best, task_key, TASKS[task_key]["widths"], RULES, shown, labels=LABELS,
                                  colors=COLORS)
    fig.suptitle(f"{task_key}: best-rate metrics against depth ({len(SEEDS)} seeds, bars = ±1 s.e.)", fontsize=10)
    nplt.show(fig, f"{task_key}: " + ", ".join(m[1] for m in shown) + " at each rule's best rate against depth, "
              f"after {SWEEP['steps']} SGD steps, one line per rule and width.")

# %%
depth_trend = {key: sweeps.depth_trend(rows, "train_loss") for key, rows in best.items()}
deepest = {key: rows[-1] for key, rows in best.items()}
print("slope of log(best training loss) against log L (negative = deeper trains better):")
for key, fit in depth_trend.items():
    print(f"  {key[0]:8s} n={key[1]:4d} {LABELS[key[2:]]:22s} {fit}")
print(f"\nat the largest depth L = {SWEEP['depths'][-1]} (mean ± s.e. over seeds):")
winners = {}
for task_key in TASKS:
    for n in TASKS[task_key]["widths"]:
        entries = {rule: deepest[(task_key, n) + rule] for rule in RULES}
        for rule, r in entries.items():
            acc = f", test acc {r['test_acc']:.3f} ± {r['test_acc_sem']:.3f}" if "test_acc" in r else ""
            print(f"  {task_key:8s} n={n:4d} {LABELS[rule]:22s} train loss {r['train_loss']:.4f} ± "
                  f"{r['train_loss_sem']:.4f}, test loss {r['test_loss']:.4f} ± {r['test_loss_sem']:.4f}{acc}")
        # the best rule by training loss, and whether its lead over the runner-up is resolved (95% interval)
        winners[(task_key, n)] = r1, r2, gap, err, lead = sweeps.leader(entries, "train_loss")
        print(f"  -> lowest training loss: {LABELS[r1]}, ahead of {LABELS[r2]} by {gap:.4f} ± {err:.4f} "
              f"(ahead, 95% interval of the lead: {lead.cell()})\n")

# %% [markdown]
# ## Trained to a plateau: the main result
#
# Sections 4 to 6 train for 200 steps on 2000 examples. There MNIST-1D test accuracy is 35 to 43% and the loss is
# far above what these networks reach: that is *early training*, and it cannot say whether the optimum moves once
# the networks are trained. Here the same four rules are trained about 30 times longer, towards a plateau of the
# held-out loss (the printouts below say at which depths it is reached and at which the loss still falls):
#
# * **Data that does not run out.** 20000 MNIST-1D training examples (at batch 64 a few thousand steps are a few
#   epochs, so the networks do not simply memorize), a **validation** split of 4000 that chooses every learning
#   rate, and a **test** split of 4000 that is only reported (`load_mnist1d(n_val=...)`; the validation
#   examples come from the generator's training pool, disjoint from the training examples).
# * **A budget that reaches a plateau.** A pilot at one depth ($L=16$, width 64, octave rates, 8000 steps) records
#   the validation loss every 250 steps. `sweeps.best_curve` takes, at every step $S$, the best loss over the
#   rates (with a constant rate a run of $S$ steps is the start of a longer run, so this is the best model a
#   budget of $S$ steps gives), and `sweeps.plateau_step` finds the first $S$ from which the mean of the last
#   quarter of training is less than 1% below the mean of the quarter before (means over several evaluations,
#   because at a fixed rate the loss of SGD fluctuates by more than 1% from one evaluation to the next). The
#   budget, 6000 steps (about 19 epochs), is where the pilot's best validation loss is within a few percent of
#   its value at 8000 steps; by the 1% rule most configurations are still improving there, slowly. On the
#   teacher task (20000 examples too) the pilot finds no plateau within 8000 steps: the best validation loss still
#   falls by 1.5 to 8% per quarter (printed below). It gets the same budget, so the two tasks are compared at
#   equal training, and the printouts say how far from settled each depth is.
# * **The sweeps at that budget**: MNIST-1D and the teacher task, depths 2 to 64, width 64 (and 128 on MNIST-1D),
#   half-octave rates $2^{-3}\ldots2^{3.5}$, 3 seeds, evaluated every 500 steps (shorter budgets are read from the
#   same runs), losses read as the mean of the last `PLATEAU_AVERAGE` evaluations; cached as `data/pilot_05_*` and
#   (as each finishes) `plateau_05_*` beside them, with their configuration and compute (the commands are in the
#   parameters cell). A sweep longer than a working session keeps its finished depths in the `partial` folder of
#   `data/` and resumes from them; until it is whole it is listed below with the depths it has, and left out of
#   every result.

# %%
# In full mode only the cached sweeps are read (cached_only): the ones still missing are listed, never computed.
pilot = sweeps.run_plan(RULES, PILOT_TASKS, PILOT_SWEEP, prefix=PILOT_SWEEP_PREFIX, use_cache=not QUICK,
                        cached_only=not QUICK, progress=QUICK)
if not QUICK:
    for name, (tasks_, plan_, prefix_) in {"pilot": (PILOT_TASKS, PILOT_SWEEP, PILOT_SWEEP_PREFIX),
                                           "plateau": (PLATEAU_TASKS, PLATEAU_SWEEP, PLATEAU_SWEEP_PREFIX)}.items():
        missing = sweeps.partial_depths(RULES, tasks_, plan_, prefix=prefix_)  # the depths done of each
        if missing:
            print(f"not computed yet ({name}; shown without them):")
        for (task_key, n, *rule), done in missing.items():
            print(f"  {task_key} n={n} {LABELS[tuple(rule)]}: depths finished {done or 'none'} of {plan_['depths']}")
pilot_rows = {key: sweeps.plateau_budget(res, rel=PLATEAU_REL)[0] for key, res in pilot.items()}  # one depth
fig = nplt.plot_pilot(pilot, pilot_rows, {t: spec["widths"][0] for t, spec in PILOT_TASKS.items()}, labels=LABELS,
                      colors=COLORS, budget=PLATEAU_SWEEP["steps"], title=f"pilot: {{task}}, L = "
                      f"{PILOT_SWEEP['depths'][0]}, n = {{n}}, seed {PILOT_SWEEP['seeds'][0]} (dotted: plateau)")
nplt.show(fig, "Pilot runs: the best validation loss over the rates against the SGD step for each rule and task, "
          f"with each rule's plateau dotted and the sweeps' budget of {PLATEAU_SWEEP['steps']} steps dashed.")

# %%
for key, row in pilot_rows.items():
    where = (f"plateau from step {row['plateau_step']}" if row["plateau_step"] is not None
             else f"no plateau within {PILOT_SWEEP['steps']} steps")
    print(f"{key[0]:8s} {LABELS[key[2:]]:22s} {where}; the best loss falls "
          f"{row['gain_last_window']:+.1%} between the last two quarters; best {row['best_end']:.3f} at the end")
reached = [r["plateau_step"] for r in pilot_rows.values() if r["plateau_step"] is not None]
print(f"\nbudget of the sweeps: {PLATEAU_SWEEP['steps']} steps; the pilot's best configuration settles by then in "
      f"{sum(p <= PLATEAU_SWEEP['steps'] for p in reached)} of {len(pilot_rows)} rule/task cases")
# How far from the end of the pilot the budget leaves the best model: the best loss averaged over the last
# quarter before the budget, against the same average at the end of the pilot.
for key, res in pilot.items():
    steps_ = np.asarray(res["steps"])
    at_budget, at_end = (float(sweeps.best_window_mean(res, S)[0]) for S in (PLATEAU_SWEEP["steps"], steps_[-1]))
    print(f"{key[0]:8s} {LABELS[key[2:]]:22s} best validation loss over the last quarter before the budget "
          f"{at_budget:.3f}, before step {steps_[-1]} {at_end:.3f} ({at_end / at_budget - 1:+.1%} from "
          f"{PLATEAU_SWEEP['steps']} to {steps_[-1]} steps)")

# %% [markdown]
# The sweeps at that budget. Top row: validation loss against the base rate, one curve per depth (mean over
# seeds, min-max band, a dot at each optimum); bottom row: training loss (on 2000 training examples) at the same
# step. A missing point is a rate at which a seed diverged.

# %%
plateau = sweeps.run_plan(RULES, PLATEAU_TASKS, PLATEAU_SWEEP, prefix=PLATEAU_SWEEP_PREFIX, use_cache=not QUICK,
                          cached_only=not QUICK, progress=QUICK)
PLATEAU_RULES = {key[:2]: [r for r in RULES if key[:2] + r in plateau] for key in plateau}  # per (task, n)
S_END, AVG = PLATEAU_SWEEP["steps"], PLATEAU_AVERAGE
for (task_key, n), shown in PLATEAU_RULES.items():
    fig = nplt.plot_transfer_grid({r: plateau[(task_key, n) + r] for r in shown}, ("val_loss", "train_loss"),
                                  labels=LABELS, where=f"{task_key}, n = {n}", step=S_END, average=AVG,
                                  ylabel_suffix=f" ({S_END} steps)", panel=(4.0, 3.3))
    fig.suptitle(f"trained to a plateau: {S_END} SGD steps, {len(PLATEAU_SWEEP['seeds'])} seeds", fontsize=10)
    nplt.show(fig, f"Transfer plots trained to a plateau ({task_key}, width {n}, {S_END} steps): validation loss "
              "(top) and training loss (bottom) against the base rate, one curve per depth, for each rule.")

print("plateau of the best configuration at each depth, from the sweeps themselves (first step from which the "
      f"best validation loss falls < {PLATEAU_REL:.0%} per quarter):")
for key, res in plateau.items():
    rows = sweeps.plateau_budget(res, rel=PLATEAU_REL)
    cells = ", ".join(f"L={r['L']}: {r['plateau_step'] if r['plateau_step'] is not None else '>' + str(S_END)}"
                      for r in rows)
    print(f"  {key[0]:8s} n={key[1]:3d} {LABELS[key[2:]]:22s} {cells}")

# %% [markdown]
# ### Which optimum?
#
# "The optimum" can mean three different rates, and on the teacher task of section 4 the chosen optimum was often
# the last stable rate, so its "drift" measured the stability edge. They are reported separately:
#
# * the rate with the lowest **validation loss** at the budget: the best trained model. This is what the claim
#   "the correction restores depth-wise HP transfer" is about: tuning the rate at one depth should give the best
#   model at another;
# * the rate with the lowest **training loss after a fixed number of steps**: the convention of the transfer
#   plots of the μP literature (Bordelon et al. plot the loss after 20 epochs; this budget is about 19);
# * the **largest stable rate** (no seed diverges): an edge, not an optimum; the kernel argument of section 3
#   predicts where it goes.
#
# Each drift is measured as in section 4; "transfers" is **agree** when the whole interval lies within
# ±`PLATEAU_FLAT_TOL` octave per doubling of depth, **disagree** (it drifts) when it lies wholly outside, otherwise
# **not resolved**.

# %%
OPTIMA = (("val_loss", "validation-loss optimum"), ("train_loss", f"training-loss optimum at step {S_END}"),
          ("stable", "largest stable rate"))



def transfer_verdict(d):
    # the one rule (sweeps.Drift.transfers): optima at the grid's edge withdraw an agreement
    return d.transfers(PLATEAU_FLAT_TOL)


plateau_drift = {key + (kind,): sweeps.drift_of(res, kind, step=S_END, average=AVG) for key, res in plateau.items()
                 for kind, _ in OPTIMA}
drift_rows = [[key[0], key[1], LABELS[key[2:]]]
              + [f"{d} → **{transfer_verdict(d).outcome}**" if d.fit is not None else d.fit_text()
                 for d in (plateau_drift[key + (kind,)] for kind, _ in OPTIMA)] for key in plateau]
display(Markdown(stats.markdown_table(["task", "n", "rule"] + [f"{label}: drift (transfers?)" for _, label in OPTIMA],
                                drift_rows)))

# %% [markdown]
# ### Is the drift the collapse's?
#
# The one-layer control shares everything with depth-μP two-layer (the rule, the data, the budget, the rate
# grid) except the collapse of section 2. If the two-layer optimum moves *because* its first internal layer stops
# learning, its drift has to differ from the control's; if both move alike, depth moves the optimum for another
# reason. The **excess drift** is the difference of the two slopes, with Welch's 95% interval (the sweeps are
# independent runs), judged like a drift: **agree** that the rule moves relative to the control when the whole
# interval lies outside ±`PLATEAU_FLAT_TOL`, **disagree** when it lies within, otherwise **not resolved**.

# %%
excess = sweeps.excess_drifts(plateau_drift, control=RULES[0])  # each rule minus the one-layer control
excess_keys = list(dict.fromkeys(k[:4] for k in excess))
display(Markdown(stats.markdown_table(
    ["task", "n", "rule"] + [f"{label}: excess over the one-layer control (moves relative to it?)"
                             for _, label in OPTIMA],
    [[key[0], key[1], LABELS[key[2:]]] + [f"{e.fit_text()} → **{e.moves(PLATEAU_FLAT_TOL).outcome}**"
                                          for e in (excess[key + (kind,)] for kind, _ in OPTIMA)]
     for key in excess_keys])))

# %%
# How the answer depends on the budget: the drift of the optima read from the same runs after fewer steps (the
# rightmost point is the budget above).
budgets = [b for b in PLATEAU_BUDGETS if all(b in list(res["steps"]) for res in plateau.values())
           and b >= AVG * PLATEAU_SWEEP["eval_every"]]
fig = nplt.plot_budget_drift(plateau, OPTIMA[:-1], budgets, lambda res, kind, b: sweeps.drift_of(
    res, kind, step=b, average=AVG, boot=200), labels=LABELS, colors=COLORS, flat_tol=PLATEAU_FLAT_TOL)
nplt.show(fig, "The drift of the validation-loss and training-loss optima per doubling of depth against the "
          f"training budget ({', '.join(map(str, budgets))} steps), one line per rule, with the band of 'transfers' "
          f"(+-{PLATEAU_FLAT_TOL}) shaded.")

# %% [markdown]
# ### Does deeper get better, and does the correction train better networks?
#
# At each depth, the rate with the lowest seed-averaged validation loss (at grid resolution), and there the test
# loss and test accuracy (mean ± standard error over seeds). The rate is chosen on validation data and reported
# on test data, so the test numbers are not flattered by the choice.

# %%
report = ("train_loss", "val_loss", "test_loss", "test_acc")
best_plateau = {key: sweeps.best_by_depth(res, select="val_loss", report=report, step=S_END, average=AVG)
                for key, res in plateau.items()}
for task_key in dict.fromkeys(key[0] for key in plateau):  # the tasks with results, in the order of the plan
    shown = [m for m in ("test_loss", "test_acc") if m in next(v for k, v in plateau.items() if k[0] == task_key)]
    fig = nplt.plot_best_by_depth(best_plateau, task_key, PLATEAU_TASKS[task_key]["widths"], RULES,
                                  [(m, sweeps.METRIC_LABELS[m].split(" after")[0]) for m in shown], labels=LABELS,
                                  colors=COLORS, ylabel="{label} at the best validation rate")
    fig.suptitle(f"{task_key}: trained to a plateau ({S_END} steps; {len(PLATEAU_SWEEP['seeds'])} seeds, bars ±1 s.e.)",
                 fontsize=10)
    nplt.show(fig, f"{task_key} trained to a plateau: " + " and ".join(shown) + " at each rule's best validation "
              "rate against depth, one line per rule.")

deeper = {key: sweeps.depth_trend(rows, "test_loss") for key, rows in best_plateau.items()}
deeper_v = {key: interval_verdict(fit.lo, fit.hi, allowed=(-math.inf, 0.0)) for key, fit in deeper.items()}
print("test loss against depth at the best validation rate (slope of log test loss on log L; < 0: deeper is "
      "better):")
for key, fit in deeper.items():
    print(f"  {key[0]:8s} n={key[1]:3d} {LABELS[key[2:]]:22s} {fit}  deeper is better: {deeper_v[key].outcome}")
versus = {}
print("\ncorrected minus depth-μP two-layer, paired by depth and seed (95% t-interval over all pairs):")
for task_key in PLATEAU_TASKS:
    for n in PLATEAU_TASKS[task_key]["widths"]:
        if (task_key, n) + RULES[2] not in best_plateau or (task_key, n) + RULES[1] not in best_plateau:
            continue
        pairs = sweeps.paired_verdicts(best_plateau[(task_key, n) + RULES[2]], best_plateau[(task_key, n) + RULES[1]])
        for metric, (diff, v) in pairs.items():  # test accuracy higher, test loss lower
            versus[(task_key, n, metric)] = (diff, v)
            per = ", ".join(f"{x:+.3f}" for x in diff["per_depth"])
            print(f"  {task_key:8s} n={n:3d} {metric:9s} {diff['mean']:+.4f} [{diff['lo']:+.4f}, {diff['hi']:+.4f}] "
                  f"({diff['pairs']} pairs; per depth {per}) -> corrected better: {v.outcome}")

# %%
# What these sweeps cost, from the compute time stored with each cached result (process CPU time; the wall
# time on the shared machine is longer):
for name, done in (("pilot", pilot), ("sweeps at the plateau budget", plateau)):
    cpu, wall, threads = sweeps.compute_time(done)
    print(f"{name}: {len(done)} depth sweeps, {cpu / 3600:.2f} CPU-hours ({wall / 3600:.2f} h wall) on "
          f"{threads} thread(s)")

# %%
# The claims this section tests, as rows of the summary table below; the lines printed next come from the same numbers.
PLATEAU_CLAIMS = dict(zip(RULES, ("depth-μP one-layer transfers (control)",
                                  "paper: depth-μP two-layer optimum drifts with L",
                                  "paper: the correction restores depth-wise transfer",
                                  "CompleteP transfers across depth")))
plateau_rows = []
ROW_OF = {"val_loss": "{claim} (trained to a plateau, {task}, n={n}: validation optimum)",
          "train_loss": f"... the same for the training-loss optimum at step {S_END} ({{task}}, n={{n}})",
          "stable": "... its stability edge is flat in L ({task}, n={n})"}
for key in plateau:
    for kind, _ in OPTIMA:
        d = plateau_drift[key + (kind,)]
        # the paper's claim for depth-muP with two-layer blocks is that its optimum moves; the edge is tested flat
        v = d.moves(PLATEAU_FLAT_TOL) if key[2:] == RULES[1] and kind != "stable" else transfer_verdict(d)
        plateau_rows.append((ROW_OF[kind].format(claim=PLATEAU_CLAIMS[key[2:]], task=key[0], n=key[1]),
                             d.fit_text(), v))
for key in (k for k in excess_keys if k[2:] == RULES[1]):  # the mechanism: the two-layer drift is the collapse's
    for kind, label in OPTIMA[:2]:
        e = excess[key + (kind,)]
        plateau_rows.append((f"the drift is the collapse's: depth-μP two-layer's drift differs from the "
                             f"one-layer control's (trained to a plateau, {key[0]}, n={key[1]}: {label})",
                             e.fit_text(), e.moves(PLATEAU_FLAT_TOL)))
for key, fit in deeper.items():
    plateau_rows.append((f"{LABELS[key[2:]]}: deeper is better at a plateau (test loss falls with L; {key[0]}, "
                         f"n={key[1]})", str(fit), deeper_v[key]))
for (task_key, n, metric), (diff, v) in versus.items():
    plateau_rows.append((f"paper: the correction trains better networks than depth-μP two-layer ({metric}, "
                         f"{task_key}, n={n}, paired over depths and seeds)",
                         f"{diff['mean']:+.4f} [{diff['lo']:+.4f}, {diff['hi']:+.4f}]", v))

# %%
for task_key in PLATEAU_TASKS:
    for n in PLATEAU_TASKS[task_key]["widths"]:
        shown = PLATEAU_RULES.get((task_key, n), [])
        if not shown:
            continue
        dv = {r: plateau_drift[(task_key, n) + r + ("val_loss",)] for r in shown}
        print(f"{task_key}, n={n}, {S_END} steps: validation optimum drift per doubling of L: " + "; ".join(
            f"{LABELS[r]} {dv[r].fit} ({transfer_verdict(dv[r]).outcome})" for r in shown if dv[r].fit is not None))
        acc = versus.get((task_key, n, "test_acc"))
        if acc is not None:
            print(f"  corrected vs depth-μP two-layer test accuracy: {acc[0]['mean']:+.4f} "
                  f"[{acc[0]['lo']:+.4f}, {acc[0]['hi']:+.4f}] -> {acc[1].outcome}")
        rows = {r: best_plateau[(task_key, n) + r] for r in shown}  # the best depth: highest accuracy, else lowest loss
        best_acc = {r: sweeps.best_row(v, "test_acc" if "test_acc" in v[0] else "test_loss") for r, v in rows.items()}
        print("  best depth per rule: " + "; ".join(
            f"{LABELS[r]} L={row['L']} ({row['test_acc']:.3f})" if "test_acc" in row else
            f"{LABELS[r]} L={row['L']} ({row['test_loss']:.4f})" for r, row in best_acc.items()))

# %% [markdown]
# ## 7. Summary: claim, measurement, verdict
#
# Every row is computed from the measurements above by the rule of notebook 00 (section 6), with the tolerance
# printed beside the verdict: an exponent within 0.15 of its prediction; "transfers" when the optimum's drift lies
# within 0.15 octave per doubling of depth (and no optimum sits at the grid edge); "deeper trains better" when the
# best loss falls at least like `L^-0.05` (3.5% per doubling); "better" when the whole interval of a difference of
# losses lies on one side of 0. A claim over several tasks and widths agrees only when every case agrees.

# %%
def drift_cell(rule, table=None):  # the fitted drifts of one rule, task by task
    return "; ".join(f"{k[0][:4]} n={k[1]}: {d.fit}" for k, d in (drift if table is None else table).items()
                     if k[2:] == rule and d.fit is not None)


def transfer(rule):
    return combine_verdicts(*(drift[k].transfers() for k in drift if k[2:] == rule))


corr, cp, two, one = RULES[2], RULES[3], RULES[1], RULES[0]
row_fit = {(q, r): f for q, r, _, f, _ in collapse_rows}
row_verdict = {(q, r): v for q, r, _, _, v in collapse_rows}
kf, lam_corr = kernel_fits, kernel_fits[(corr, "lambda")]
rows = [  # (claim, measured, verdict): the collapse and the kernel (sections 2 and 3)
    ("correction: first internal layer's own update flat in L", row_fit[("dz_own", corr)],
     row_verdict[("dz_own", corr)]),
    ("correction leaves the second layer's own update ~ L^-1/2", row_fit[("du_own", corr)],
     row_verdict[("du_own", corr)]),
    ("CompleteP: both internal layers' own updates flat in L", f"{row_fit[('dz_own', cp)]}; {row_fit[('du_own', cp)]}",
     combine_verdicts(row_verdict[("dz_own", cp)], row_verdict[("du_own", cp)])),
    ("correction: per-step output change grows (power count: between L^0 and L^1/2), step 1", kf[(corr, "df")],
     slope_verdict(kf[(corr, "df")], sign=+1)),
    (f"... at step {COLLAPSE_STEPS}", kf[(corr, "dfK")], slope_verdict(kf[(corr, "dfK")], sign=+1)),
    ("correction: first-internal kernel odds grow like L^1/2", kf[(corr, "odds")],
     exponent_verdict(kf[(corr, "odds")], 0.5)),
    ("correction: kernel lambda_max grows (up to L^1/2)", lam_corr, slope_verdict(lam_corr, sign=+1)),
    ("CompleteP and depth-muP: kernel lambda_max flat in L", f"{kf[(cp, 'lambda')]}; {kf[(two, 'lambda')]}",
     combine_verdicts(exponent_verdict(kf[(cp, "lambda")], 0.0), exponent_verdict(kf[(two, "lambda")], 0.0))),
]

# %%
rows += [  # transfer across depth at 200 steps (sections 4 and 5)
    ("caution: correction's stability boundary falls with L", drift_cell(corr, stab),
     combine_verdicts(*(slope_verdict(stab[k].fit, sign=-1) for k in stab if k[2:] == corr))),
    ("caution: correction's optimum falls like L^-1/2", drift_cell(corr),
     combine_verdicts(*(exponent_verdict(drift[k].fit, -0.5) for k in drift if k[2:] == corr))),
    ("paper: correction restores depth-wise transfer", drift_cell(corr), transfer(corr)),
    ("CompleteP transfers across depth", drift_cell(cp), transfer(cp)),
    ("depth-muP two-layer: transfer fails (the optimum moves)", drift_cell(two),
     combine_verdicts(*(drift[k].moves() for k in drift if k[2:] == two))),
    ("depth-muP one-layer transfers (control)", drift_cell(one), transfer(one)),
]

# %%
for rule in RULES:  # deeper trains better (section 6)
    keys = [k for k in depth_trend if k[2:] == rule]
    rows.append((f"{LABELS[rule]}: deeper trains better (best loss falls with L)",
                 "; ".join(str(depth_trend[k]) for k in keys),
                 combine_verdicts(*(slope_verdict(depth_trend[k], allowed=(-math.inf, -0.05)) for k in keys))))
# The paper's "stronger performance in deeper ResNets" with the correction: at the deepest L, the corrected rule's
# best training loss against depth-muP's with the same (two-layer) blocks; 95% interval of the difference.
for task_key in TASKS:
    for n in TASKS[task_key]["widths"]:
        gap, err, v = sweeps.lead(deepest[(task_key, n) + corr], deepest[(task_key, n) + two], "train_loss")
        rows.append((f"paper: the correction trains a better deep model than depth-muP (L={SWEEP['depths'][-1]}, "
                     f"{task_key}, n={n}, training loss)",
                     f"depth-muP minus corrected {gap:+.4f} [{gap - 1.96 * err:+.4f}, {gap + 1.96 * err:+.4f}]", v))
claims = Claims()
for claim, measured, verdict in rows + plateau_rows:  # plateau_rows: the rows of "Trained to a plateau"
    claims.add(claim, str(measured), verdict, echo=False)
display(Markdown(claims.markdown()))
print("\noptimum transfers (per task and width):", {LABELS[r]: v for r, v in transfers.items()})
leads = [lead.outcome for *_, lead in winners.values()]
print(f"best deep model (L={SWEEP['depths'][-1]}): the leader's lead over the runner-up is resolved in "
      f"{leads.count('agree')} of {len(winners)} task/width cases")

worst_dmup = max((k for k in drift if k[2:] in (one, two) and drift[k].fit is not None),
                 key=lambda k: abs(drift[k].slope))
corr_teacher = [f"n = {k[1]}: {drift[k].fit}" for k in drift if k[2:] == corr and k[0] == "teacher"]
plateau_val = {key[:4]: d for key, d in plateau_drift.items() if key[4] == "val_loss" and d.fit is not None}
mechanism = [(k, kind, label, excess[k + (kind,)]) for k in excess_keys if k[2:] == two for kind, label in OPTIMA[:2]
             if excess[k + (kind,)].fit is not None]  # depth-muP two-layer minus its one-layer control
print(f"\nnotebook ran in {time.time() - T0:.0f} s")

# %% [markdown]
# ## Takeaways
#
# Formatted from the measurements above on every run:

# %%
display(Markdown("\n".join([
    f"* The correction does what it is designed to do for the first internal layer: its own update scales like "
    f"{fit_of(corr, 'dz_own', 1)} in `L`, against {fit_of(two, 'dz_own', 1)} (the collapse) under depth-μP. It "
    f"leaves the second internal layer at {fit_of(corr, 'du_own', 1)}, and raises the first internal layers' kernel "
    f"odds like {kf[(corr, 'odds')]} (predicted +1/2). The kernel's λ_max grows more slowly, {lam_corr}, because the "
    f"rest of the kernel still weighs in; the per-step output change grows with slope {kf[(corr, 'df')]} "
    f"at step 1 and {kf[(corr, 'dfK')]} at step {COLLAPSE_STEPS}.",
    f"* CompleteP keeps both internal layers learning ({fit_of(cp, 'dz_own', 1)}, {fit_of(cp, 'du_own', 1)}) and the "
    f"kernel flat ({kf[(cp, 'lambda')]}), as power counting says.",
    f"* At {SWEEP['steps']} SGD steps the optimum transfers (whole interval within ±{sweeps.TRANSFER_TOL} octave per "
    "doubling) in " + "; ".join(f"{LABELS[r]} {v.count('agree')} of {len(v)}" for r, v in transfers.items())
    + f" task/width cases; the largest depth-μP drift is {drift[worst_dmup].fit} ({LABELS[worst_dmup[2:]]}, "
    f"{worst_dmup[0]}, n = {worst_dmup[1]}), the corrected optimum on the teacher task {'; '.join(corr_teacher)}.",
    ("* Trained to a plateau, the drift of the validation optimum per doubling of depth: " + "; ".join(
        f"{LABELS[k[2:]]} on {k[0]} (n = {k[1]}) {d.fit} (transfers: {transfer_verdict(d).outcome})"
        for k, d in plateau_val.items())
     + f"; of the training-loss optimum at step {S_END}: " + "; ".join(
        f"{LABELS[k[2:]]} on {k[0]} (n = {k[1]}) {plateau_drift[k + ('train_loss',)].fit} "
        f"(transfers: {transfer_verdict(plateau_drift[k + ('train_loss',)]).outcome})" for k in plateau_val)
     + (". Corrected minus depth-μP two-layer, paired by depth and seed: " + "; ".join(
         f"{m.replace('_', ' ')} on {t} (n = {n}) {v[0]['mean']:+.4f} [{v[0]['lo']:+.4f}, {v[0]['hi']:+.4f}] ({v[1].outcome})"
         for (t, n, m), v in versus.items()) if versus else "") + "."
     if plateau_val else "* The sweeps trained to a plateau are not in `data/` yet (listed in that section); their "
     "rows and this takeaway appear once they are."),
    *(["* Is that drift the collapse's? Depth-μP two-layer minus its one-layer control, per doubling of depth: "
       + "; ".join(f"{k[0]} (n = {k[1]}) {label} {e.fit} (moves relative to the control: "
                   f"{e.moves(PLATEAU_FLAT_TOL).outcome})" for k, kind, label, e in mechanism) + "."]
      if mechanism else []),
    f"* At the largest depth, the leader's lead over the runner-up (200 steps) is resolved in {leads.count('agree')} "
    f"of {len(winners)} task/width cases: \"stronger performance in deeper ResNets\" is judged by the rows above, "
    "in this set-up (small MLP blocks, MNIST-1D and a teacher task); the paper's CIFAR-10 set-up is not known.",
])))

# %% [markdown]
# ## Exercises
#
# 1. The correction multiplies only $\eta_1$ by $\sqrt L$. Show that the odds $\Theta_1/\Theta_{\rm rest}$ are
#    then exactly $\sqrt L$ times their depth-μP value at initialization, for any width and any data.
#
# <details><summary>Answer</summary>
#
# Both rules share the weights, multipliers and branch factors, so the forward and backward signals at
# initialization are identical. $\Theta_1=\eta_1\sum_\ell\cdots$ is linear in $\eta_1$, and $\Theta_{\rm rest}$ does
# not involve it. Multiplying $\eta_1$ by $\sqrt L$ multiplies $\Theta_1$ by $\sqrt L$ and leaves $\Theta_{\rm rest}$
# alone. The unit test `test_summary_shares_sum_to_one_and_correction_raises_the_first_internal_share` checks
# exactly this.
# </details>
#
# 2. Is there a choice of the two internal rates that keeps the first internal layer's own update $O(1)$ *and*
#    the kernel $O(1)$, without changing the branch multiplier $\sqrt{T/L}$?
#
# <details><summary>Answer</summary>
#
# No. With $\beta=L^{-1/2}$, an $O(1)$ own update of $z_\ell$ needs $\eta_1\propto n\sqrt L$, and then
# $\Theta_1\propto\sqrt L$ by itself; $\eta_2$ only changes the other part of the kernel, so it cannot cancel the
# growth. Keeping every internal layer learning with an $O(1)$ kernel forces a smaller branch multiplier,
# $\beta\propto1/L$ with rates $\propto L$: CompleteP (Chizat 2025 reaches the same $1/L$ scale for
# two-layer-perceptron blocks).
# </details>
#
# 3. Rerun the sweeps with a longer budget (`SWEEP["steps"] = 800`, quick widths) for the corrected rule only
#    (`sweeps.run_plan(..., only=[("depth-mup-corrected", "two")], use_cache=False)`). Does the optimum move
#    away from the divergence boundary, and does its drift with depth change?
#
# <details><summary>Answer</summary>
#
# There is no single answer to copy: measure it. Longer training usually moves the best rate inward from the
# edge of stability, which weakens the link between the kernel's growth and the optimum's drift; compare the
# two drift slopes printed by `sweeps.optimum_drift` and `sweeps.stability_drift`. The section *Trained to a
# plateau* does this at 6000 steps for every rule.
# </details>
#
# ## What comes next
#
# Notebook 07 asks what the limit is good for at scale: it fits scaling laws `loss = E + A n^-alpha + B L^-beta`
# to trained networks and compares the fitted floor with the loss of the computed limit, and tests which of these
# rules keep scaling worth it. Notebook 08, the explorer, puts every size of notebooks 00 to 06 on a slider.
