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
# # 06 · The depth-aware learning-rate correction, CompleteP, and depth-wise transfer
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfd-notebooks/nfd-notebooks/blob/main/notebooks/06_lr_correction.ipynb)
#
# Notebook 05 measured the collapse of the first internal layer of two-layer blocks under depth-μP. The paper's
# remedy, "a simple depth-aware learning-rate correction", puts the rate $\eta_1=\eta\,n\sqrt L$ on that layer only
# ($\eta$ the base rate, $n$ the width, $L$ the number of residual blocks) and is said to "restore depth-wise HP
# transfer" with "stronger performance in deeper ResNets" (v1 abstract and a figure caption, quoted by a summary).
# Power counting raises a caution (the corrected layers' share of the tangent kernel grows with depth), and the
# literature has another answer, CompleteP (Dey et al. 2025; Chizat 2025). Four rules (depth-μP with one- and
# two-layer blocks, the correction, CompleteP) run side by side on real data (MNIST-1D) and a synthetic task, and
# the numbers decide which one transfers across depth and which one trains the best deep model.
#
# **After this notebook you can**
#
# 1. read off the registry what the correction and CompleteP change, and predict by power counting how each
#    internal layer's own update and the tangent kernel $\Theta$ scale with depth;
# 2. check those exponents against measured slopes, and see where one-step power counting stops (accumulated
#    updates, the kernel's growth);
# 3. run learning-rate sweeps across depth, tell the optimum from the stability edge, and judge "transfers" by an
#    interval, not by eye;
# 4. say which of the paper's claims on the correction are reproduced here, after 200 steps and after a fixed
#    budget of 6000 steps, and which are not.
#
# **Prerequisites.** Notebook 05 (two-layer blocks, the signal $g^z$ reaching a block's hidden layer, a layer's
# own update, the sweeps and their transfer plots) and notebook 00 (the registry, the verdict rule). One outside
# idea, *hyperparameter transfer* (Tensor Programs V, Bordelon et al. 2023): the best learning rate found on a
# small model stays the best on a larger one; here "larger" is deeper, tested by the optimum's drift per doubling.
#
# **Run time** on 2 shared CPU cores: quick mode about 40 s; full mode from the caches about 30 s to 2 min; from
# scratch about 20 CPU-hours, or less on many workers with `python -m nfdlib.run` (the appendix prints each cost).
#
# **Where the main result is.** Section 7: 6000 steps, rates chosen on validation data (sections 4 to 6: 200 steps).

# %% tags=["parameters"]
# Every size, one dictionary per experiment; full-mode sweeps: `python -m nfdlib.plans <this file> [--plan P]`.
import os

QUICK = os.environ.get("NFD_QUICK", "0").strip().lower() in ("1", "true", "yes", "on")
SEEDS = (0, 1) if QUICK else (0, 1, 2)
# Sections 2-3 (data/collapse_*, shared with 05): full-batch SGD on 32 synthetic inputs, depths at n, widths at L.
COLLAPSE = {"n": 64 if QUICK else 256, "depths": (4, 16) if QUICK else (2, 4, 8, 16, 32, 64, 128),
            "widths": (32, 64) if QUICK else (128, 256, 512, 1024), "L": 4 if QUICK else 16,
            "lr": 0.5, "steps": 3 if QUICK else 20}
# Sections 4-6: learning-rate sweeps of 200 SGD steps, one run per (task, width, depth, rate, seed).
RULES = [("depth-mup", "one"), ("depth-mup", "two"), ("depth-mup-corrected", "two"), ("completep", "two")]
TASKS = {
    "mnist1d": {"task": {"name": "mnist1d", "n_train": 400 if QUICK else 2000, "n_test": 200 if QUICK else 1000},
                "loss": "xent", "widths": [32] if QUICK else [64, 128]},
    "teacher": {"task": {"name": "teacher", "d": 16, "n_train": 128 if QUICK else 512, "n_test": 256 if QUICK else 512},
                "loss": "mse", "widths": [32] if QUICK else [64, 128]},
}
SWEEP = {"depths": [2, 8] if QUICK else [2, 4, 8, 16, 32, 64], "seeds": list(SEEDS), "steps": 20 if QUICK else 200,
         "lrs": [2.0**k for k in ((-1, 0, 1, 2, 3, 4) if QUICK else [x / 2 for x in range(-3, 9)])],  # log2 grid
         "batch_size": 64, "loss_bound": 1000.0}
# Section 7: a pilot at one depth (plan PILOT_), then sweeps at a fixed budget (plan PLATEAU_, an older name).
BIG = {"n_train": 400, "n_val": 200, "n_test": 200} if QUICK else {"n_train": 20000, "n_val": 4000, "n_test": 4000}
BIG_MNIST1D, BIG_TEACHER = {"name": "mnist1d", **BIG}, {"name": "teacher", "d": 16, **BIG}
PILOT_TASKS = {"mnist1d": {"task": BIG_MNIST1D, "loss": "xent", "widths": [16] if QUICK else [64]},
               "teacher": {"task": BIG_TEACHER, "loss": "mse", "widths": [16] if QUICK else [64]}}
PILOT_SWEEP = {"depths": [4] if QUICK else [16], "lrs": [2.0**k for k in (range(-1, 3) if QUICK else range(-3, 5))],
               "seeds": [0], "steps": 40 if QUICK else 8000, "batch_size": 64, "loss_bound": 1000.0,
               "eval_every": 5 if QUICK else 250, "train_eval": 2000}
PLATEAU_TASKS = {"mnist1d": {"task": BIG_MNIST1D, "loss": "xent", "widths": [16] if QUICK else [64, 128]},
                 "teacher": {"task": BIG_TEACHER, "loss": "mse", "widths": [16] if QUICK else [64]}}
PLATEAU_SWEEP = {"depths": [2, 4, 8] if QUICK else [2, 4, 8, 16, 32, 64], "seeds": list(SEEDS),
                 "lrs": [2.0**k for k in (-1, 0, 1, 2)] if QUICK else [2.0 ** (k / 2) for k in range(-6, 8)],
                 "steps": 40 if QUICK else 6000, "batch_size": 64, "loss_bound": 1000.0,
                 "eval_every": 10 if QUICK else 500, "train_eval": 2000}
SWEEP_PREFIX, PILOT_SWEEP_PREFIX, PLATEAU_SWEEP_PREFIX = "sweep_05", "pilot_05", "plateau_05"  # cache files
# Reading the budget's runs: mean of the last `average` evaluations; the same runs at shorter `budgets`.
READING = {"average": 2 if QUICK else 3, "budgets": [20, 30, 40] if QUICK else [500, 1000, 2000, 3000, 4000, 6000],
           "settle_rel": 0.01}  # the 1% rule of section 7 for a curve that has stopped improving

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
from functools import partial

from IPython.display import Markdown, display

import nfdlib
from nfdlib import optima, plans, two_layer, viz, widgets
from nfdlib.config import get_device
from nfdlib.parametrization import describe, registry_table
from nfdlib.stats import Claims, fit_loglog, slope_verdict

DEVICE = get_device()  # CUDA, then MPS, then CPU; override with NFD_DEVICE=cpu
print(f"nfdlib {nfdlib.__version__} on {DEVICE}; quick mode: {QUICK}")
T0 = time.time()
LABELS = {("depth-mup", "one"): "depth-μP, one-layer", ("depth-mup", "two"): "depth-μP, two-layer",
          ("depth-mup-corrected", "two"): "two-layer, corrected", ("completep", "two"): "two-layer, CompleteP"}
COLORS = dict(zip(RULES, ("tab:gray", "tab:blue", "tab:red", "tab:green")))
ONE, TWO, CORR, CP = RULES  # the control, depth-muP two-layer, the correction, CompleteP

# %% [markdown]
# **The tolerance of each kind of claim**, stated once and used everywhere (verdict rule of notebook 00, section 6):
# a power-counting exponent within ±`EXP_TOL` of its prediction; "the optimum transfers": its drift, in octaves of
# $\eta$ per doubling of $L$, within ±`TRANSFER_TOL` with no optimum at the grid edge ("moves": wholly outside);
# "deeper trains better": the log-log slope of the best loss against $L$ below `DEEPER_SLOPE` (a smaller steady
# fall is "disagree", not a win for depth); "rule A trains better than B": the whole interval on A's side of 0.

# %%
EXP_TOL = 0.15
TRANSFER_TOL = optima.TRANSFER_TOL  # 0.15 octave per doubling of depth
DEEPER_SLOPE = -0.05
print(f"deeper trains better: a fall of at least {1 - 2**DEEPER_SLOPE:.1%} per doubling of L")


def deeper_verdict(fit):
    """'Deeper trains better' on a log-log slope of the best loss against L."""
    return slope_verdict(fit, allowed=(-math.inf, DEEPER_SLOPE))

# %% [markdown]
# ## 1. Three ways to train a two-layer block
#
# The models, the optimizers and this table all read one registry (`nfdlib.parametrization`). The correction
# changes *one* entry of depth-μP: the SGD rate of `internal1` becomes $\eta n\sqrt L$. CompleteP changes the branch
# multiplier from $\sqrt{T/L}$ to $T/L$ ($T$ the depth horizon of the limit, the "time" the residual stream runs
# for) and the rates of every matrix inside the blocks to $\eta nL/T$; input and readout keep μP's $\eta n$.

# %%
print(registry_table(["depth-mup", "depth-mup-corrected", "completep"],
                     roles=("input", "internal1", "internal2", "readout")), describe("completep"), sep="\n\n")

# %% [markdown]
# **Power counting** (derived in
# [docs/reconstruction.md, section 6](../docs/reconstruction.md#6-two-layer-blocks-and-the-correction)). Block $\ell$
# computes $z_\ell=\frac1{\sqrt n}W^{(1)}_\ell\phi(h_{\ell-1})$ and adds $\beta\,\frac1{\sqrt n}W^{(2)}_\ell\phi(z_\ell)$
# to the residual stream $h_{\ell-1}$ ($\phi$ the activation, $\beta$ the branch multiplier, $f$ the output);
# $\eta_1,\eta_2$ are the rates of $W^{(1)}_\ell$ and $W^{(2)}_\ell$. The signal reaching $z_\ell$ is $g^z=O(\beta)$,
# layer $i$'s own update $O(\frac{\eta_i}{n}\beta)$, and the $L$ layers $i$ give the tangent kernel $\Theta$ a part
# $L\frac{\eta_i}{n}\beta^2$. With the table's settings the exponents of $L$ are:
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
# Under the correction $\Theta_1/\Theta_{\rm rest}$ grows exactly like $\sqrt L$ (exercise 1), so $\Theta$ grows
# towards $\sqrt L$. Full-batch gradient descent on a squared loss over $P$ inputs is stable while
# $\eta\,\lambda_{\max}(\Theta/P)<2$: a kernel growing like $L^{a}$ pushes the largest stable rate, and perhaps the
# optimum near it, down like $L^{-a}$.
#
# **Predict, then run.** Which entries of the table do you trust least? Which of the three rules do you expect to
# keep its best learning rate fixed from $L=2$ to $L=64$?

# %% [markdown]
# ## 2. The collapse, corrected
#
# The same scans as notebook 05 (`two_layer.depth_and_width_scans`, cached under `data/collapse_*`): a
# synthetic batch, full-batch SGD at base rate $\eta$ = `COLLAPSE["lr"]`, measured at the first step and after
# `COLLAPSE["steps"]` steps, rms over blocks, one point per seed; then the table's exponents against the measured
# slopes (95% t-intervals, seeds pooled), at the first step and, for the own updates, accumulated over training.

# %%
by_depth, by_width = two_layer.depth_and_width_scans(RULES, **COLLAPSE, seeds=SEEDS, use_cache=not QUICK)


def rule_records(records, rule):
    return records.where(parametrization=rule[0], block=rule[1])


def fit_of(rule, quantity, step, records=None, x="L"):
    return two_layer.fit_against(rule_records(records or by_depth, rule), quantity, step=step, x=x)


PREDICTED = {  # exponent of L per rule, from the power-counting table above (None: no clean power law)
    "gz": {TWO: -0.5, CORR: -0.5, CP: -1.0},
    "dz_own": {TWO: -0.5, CORR: 0.0, CP: 0.0},
    "du_own": {ONE: -0.5, TWO: -0.5, CORR: -0.5, CP: 0.0},
    "dh": {ONE: 0.0, TWO: 0.0, CORR: None, CP: 0.0},
    "df": {ONE: 0.0, TWO: 0.0, CORR: None, CP: 0.0},
}
QUANTITIES = [("dz_own", "own update of $z_\\ell$ (1st internal layer)"),
              ("du_own", "own update of the 2nd layer's output"),
              ("dh", "change of $h_\\ell$"), ("df", "change of the output $f$")]

# %%
rule_series, rule_fits = two_layer.quantities_by_rule(by_depth, [q for q, _ in QUANTITIES], RULES, step=1)
fig = viz.plot_quantities_by_rule(rule_series, rule_fits, QUANTITIES, RULES, step=1, labels=LABELS, colors=COLORS,
                                  guides={q: (PREDICTED[q][TWO], TWO) for q, _ in QUANTITIES
                                           if PREDICTED[q][TWO]},  # depth-muP two-layer's exponent, where not 0
                                  ylabel=f"rms per-step change (η = {COLLAPSE['lr']}, n = {COLLAPSE['n']})")
viz.show(fig, "Four log-log panels against depth at the first SGD step: the first internal layer's own update "
         f"falls with slope {fit_of(TWO, 'dz_own', 1).slope:+.2f} under depth-muP and stays flat under the "
         f"correction ({fit_of(CORR, 'dz_own', 1).slope:+.2f}) and CompleteP "
         f"({fit_of(CP, 'dz_own', 1).slope:+.2f}); the second layer's own update, the change of h and the "
         "change of f for each rule.")
same = fit_of(TWO, "du_own", 1), fit_of(CORR, "du_own", 1)
print(f"at the first step the corrected rule's second-layer update equals depth-muP's (same weights, same rate "
      f"eta_2): slopes {same[0].slope:+.3f} and {same[1].slope:+.3f}; their markers are drawn side by side")

# %%
def exponent_verdict(fit, expected):
    """The verdict on a predicted exponent (within EXP_TOL), or None where the table predicts no clean power law."""
    return None if expected is None else slope_verdict(fit, expected, tol=EXP_TOL)


def own_cumulated(rule):  # the own update of z_l accumulated over the scan's steps, relative to |z_l|
    rec = rule_records(by_depth, rule)
    xs, own = two_layer.pooled_series(rec, "dz_own_cum", step=COLLAPSE["steps"])
    return fit_loglog(xs, own / two_layer.pooled_series(rec, "z_rms", step=COLLAPSE["steps"])[1])


cases = [(quantity, f"{quantity} ({step})", rule, expected, fit_of(rule, quantity, step))
         for quantity, step in [("gz", 0), ("dz_own", 1), ("du_own", 1), ("dh", 1), ("df", 1)]
         for rule, expected in PREDICTED[quantity].items()]
cases += [("dz_own_cum/|z|", f"dz_own/|z| ({COLLAPSE['steps']})", rule, PREDICTED["dz_own"][rule],
           own_cumulated(rule)) for rule in RULES[1:]]
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
# The accumulated rows measure more than the table predicts: over many steps an own update also depends on how
# fast the loss falls, which sets the backward signal; a miss there marks the limit of the one-step argument.
#
# ## 3. The caution: does the kernel grow?
#
# `two_layer.kernel_summary` computes the learning-rate-weighted tangent kernel $\Theta$ of the batch in closed form
# (checked against per-sample autograd gradients in the tests), its largest eigenvalue $\lambda_{\max}(\Theta/P)$
# and the share of each role. Under the correction the odds $\Theta_1/\Theta_{\rm rest}$ = share/(1 − share) should
# grow exactly like $\sqrt L$.

# %%
kernel_series, kf = two_layer.kernel_by_depth(by_depth, RULES, df_steps={"df": 1, "dfK": COLLAPSE["steps"]})
fig = viz.plot_kernel_growth(kernel_series, kf, RULES, labels=LABELS, colors=COLORS, guide=(0.5, CORR),
                             title=f"kernel size, n = {COLLAPSE['n']}, {len(SEEDS)} seeds")
viz.show(fig, f"Three panels against depth: the kernel's largest eigenvalue (slope under the correction "
         f"{kf[(CORR, 'lambda')].slope:+.2f}), the odds of the first internal layers' kernel (slope "
         f"{kf[(CORR, 'odds')].slope:+.2f} under the correction, flat otherwise) and their share.")


def kernel_verdict(rule, what):  # the power-counting table: grows under the correction (odds like L^1/2), else flat
    if rule == CORR and what != "odds":
        return slope_verdict(kf[(rule, what)], sign=+1)
    return exponent_verdict(kf[(rule, what)], 0.5 if (rule, what) == (CORR, "odds") else 0.0)


print(f"{'quantity (step)':30s} {'rule':22s} {'measured slope [95% CI]':26s} verdict")
for what, name in (("lambda", "lambda_max"), ("odds", "kernel odds K1/K_rest"), ("df", "output change (1)"),
                   ("dfK", f"output change ({COLLAPSE['steps']})")):
    for rule in (RULES[1:] if what == "odds" else RULES):  # one-layer blocks have no first internal layer
        print(f"{name:30s} {LABELS[rule]:22s} {str(kf[(rule, what)]):26s} {kernel_verdict(rule, what).cell()}")

# %% [markdown]
# ## 4. Learning-rate transfer across depth
#
# For each rule, task and width: base rates in half octaves, depths 2 to 64, 3 seeds, 200 SGD steps at batch 64
# (MNIST-1D with cross-entropy, the synthetic teacher with squared loss); a diverged run is a missing point.
# `nfdlib.sweeps` trains all rates × seeds of one architecture at once; full mode reads `data/sweep_05_*.npz`.

# %%
results = plans.run_plan(RULES, TASKS, SWEEP, prefix=SWEEP_PREFIX, use_cache=not QUICK, progress=QUICK)
for task_key in TASKS:
    n_show = max(TASKS[task_key]["widths"])
    grid = {r: results[(task_key, n_show) + r] for r in RULES}
    fig = viz.plot_transfer_grid(grid, ("train_loss",), curve_optima=optima.transfer_grid_optima(grid, ("train_loss",)),
                                 labels=LABELS, where=f"{task_key}, n = {n_show}")
    viz.show(fig, f"Transfer plots on {task_key} at width {n_show}: training loss after {SWEEP['steps']} steps "
             "against the base rate, one curve per depth, a dot at each optimum, for the four rules.")

# %% [markdown]
# ### Slide the rate
#
# `nfdlib.widgets.transfer_widget`: left, the transfer plot of the sweep you pick with the chosen rate dashed;
# right, the loss against depth at that rate beside each depth's best loss. Where the two curves meet, one rate
# serves every depth; where they part, the best rate has moved with depth.

# %%
widgets.transfer_widget({f"{LABELS[(p, b)]} · {t}, n = {n}": res for (t, n, p, b), res in results.items()})

# %% [markdown]
# The optimum's drift: the slope of $\log_2\eta^*$ against $\log_2L$ (per-seed optima, parabola-refined, pooled
# over seeds; 95% t-interval), and the same for the divergence boundary (the largest rate at which no run
# diverged; the top of the grid left out). *Flat* (transfers) when the whole interval lies within ±`TRANSFER_TOL`,
# *drifts up/down* when wholly outside, else *not resolved*.

# %%
drift = {key: optima.optimum_drift(res, "train_loss") for key, res in results.items()}
stab = {key: optima.stability_drift(res) for key, res in results.items()}
print(f"{'task':8s} {'n':>4s} {'rule':22s} {'optimum drift [95% CI]':38s} {'boundary drift [95% CI]'}")
for key in results:
    print(f"{key[0]:8s} {key[1]:4d} {LABELS[key[2:]]:22s} "
          + " ".join(f"{d.fit_text() + ' ' + d.reading(TRANSFER_TOL):38s}" for d in (drift[key], stab[key])))
transfers = optima.transfer_outcomes(drift, RULES, TRANSFER_TOL)  # per rule, the outcome in each task/width case
for rule, outcomes in transfers.items():
    print(f"{LABELS[rule]:22s}: the optimum is flat in {outcomes.count('agree')} of {len(outcomes)} task/width "
          f"cases, drifts in {outcomes.count('disagree')}, not resolved in {outcomes.count('not resolved')}")
seed_optima = {key: optima.per_seed_optima(res) for key, res in results.items()}
fig = viz.plot_optima_by_depth(results, TASKS, RULES, labels=LABELS, colors=COLORS, per_seed=seed_optima)
viz.show(fig, "The mean optimal log2 rate against depth for each rule, task and width (solid: the larger width); "
         "a flat line transfers. " + "; ".join(f"{LABELS[r]}: {v.count('agree')} of {len(v)} cases transfer"
                                              for r, v in transfers.items()) + ".")

# %% [markdown]
# ## 5. Did the kernel's growth move the boundary or the optimum?
#
# If $\lambda_{\max}$ sets the largest stable rate, the rate falls like $L^{-a}$, $a$ the slope of $\lambda_{\max}$ in
# section 3 (measured on a synthetic batch at width `COLLAPSE["n"]`: a rough check for minibatch SGD on other data).

# %%
for rule in RULES:
    lam = kf[(rule, "lambda")]
    parts = "; ".join(f"{t} n={n}: {d.fit_text()}" for (t, n), d in optima.cases_of(stab, rule).items()
                      if d.fit is not None)
    print(f"{LABELS[rule]:22s} predicted boundary slope {-lam.slope:+.2f} [{-lam.hi:+.2f}, {-lam.lo:+.2f}]; "
          f"measured {parts or 'none (no run diverged inside the grid)'}")

# %% [markdown]
# ## 6. Does deeper get better, and which rule trains the best deep model?
#
# At each depth, the rate with the lowest seed-averaged training loss, and there the training loss, test loss and
# test accuracy (mean ± s.e. over seeds). The rate is chosen on the loss that is reported, so the training loss is
# the best of 12 rates and biased low, by an amount not measured here; section 7 avoids the bias.

# %%
best = {key: optima.best_by_depth(res) for key, res in results.items()}
metrics = [("train_loss", "training loss"), ("test_loss", "test loss"), ("test_acc", "test accuracy")]
for task_key in TASKS:
    shown = [m for m in metrics if m[0] in best[(task_key, TASKS[task_key]["widths"][0]) + ONE][0]]
    fig = viz.plot_best_by_depth(best, task_key, TASKS[task_key]["widths"], RULES, shown, labels=LABELS,
                                 colors=COLORS)
    fig.suptitle(f"{task_key}: best-rate metrics against depth after {SWEEP['steps']} steps ({len(SEEDS)} seeds, "
                 "bars ±1 s.e.; a triangle on the edge: a mean outside the range, its value beside it)", fontsize=9)
    viz.show(fig, f"{task_key}: " + ", ".join(m[1] for m in shown) + " at each rule's best rate against depth, "
             f"after {SWEEP['steps']} SGD steps, one panel per width and metric, one line per rule.")
depth_trend = {key: optima.depth_trend(rows, "train_loss") for key, rows in best.items()}
deepest = {key: rows[-1] for key, rows in best.items()}
print(f"slope of log(best training loss) against log L; deeper trains better: slope below {DEEPER_SLOPE}")
for key, fit in depth_trend.items():
    print(f"  {key[0]:8s} n={key[1]:4d} {LABELS[key[2:]]:22s} {fit}  -> {deeper_verdict(fit).outcome}")
print(f"\nthe lowest training loss at the largest depth L = {SWEEP['depths'][-1]}, and whether its lead over the "
      "runner-up is resolved (95% interval of the lead, mean ± s.e. over seeds):")
for task_key, n in dict.fromkeys(key[:2] for key in best):
    r1, r2, gap, err, lead = optima.leading_rule({r: deepest[(task_key, n) + r] for r in RULES}, "train_loss")
    print(f"  {task_key:8s} n={n:4d} {LABELS[r1]} ({deepest[(task_key, n) + r1]['train_loss']:.4f}), ahead of "
          f"{LABELS[r2]} by {gap:.4f} ± {err:.4f}: {lead.outcome}")

# %% [markdown]
# ## 7. A fixed budget of 6000 steps: the main result
#
# 200 steps is *early training* (MNIST-1D test accuracy 35 to 43%). Here the rules train 30 times longer on 20000
# examples (a few epochs, so they do not simply memorize); a **validation** split of 4000 chooses every rate, a
# disjoint **test** split of 4000 is only reported.
#
# **A fixed budget, not a plateau.** A pilot at one depth ($L=16$, width 64, octave rates, 8000 steps) takes at
# every step $S$ the best validation loss over the rates (`optima.best_loss_by_step`: the best model a budget of $S$
# steps gives). A curve has **settled** from $S$ on when the mean of its last quarter is less than 1%
# (`READING["settle_rel"]`) below the mean of the quarter before (`optima.plateau_step`). Every result below is
# *at the budget*, and a figure reads the same runs at shorter budgets. The sweeps (plan `PLATEAU_`) read each
# loss as the mean of the last `READING["average"]` evaluations, 500 steps apart.

# %%
# In full mode only the cached sweeps are read (cached_only): the appendix lists any still being computed.
pilot = plans.run_plan(RULES, PILOT_TASKS, PILOT_SWEEP, prefix=PILOT_SWEEP_PREFIX, use_cache=not QUICK,
                       cached_only=not QUICK, progress=QUICK)
BUDGET = PLATEAU_SWEEP["steps"]
pilot_rows = {key: optima.plateau_budget(res, rel=READING["settle_rel"])[0] for key, res in pilot.items()}
fig = viz.plot_pilot(pilot, pilot_rows, {t: spec["widths"][0] for t, spec in PILOT_TASKS.items()}, labels=LABELS,
                     colors=COLORS, budget=BUDGET, title=f"pilot: {{task}}, L = {PILOT_SWEEP['depths'][0]}, "
                     f"n = {{n}}, seed {PILOT_SWEEP['seeds'][0]} (dotted: settled by the 1% rule)")
viz.show(fig, "Pilot runs: the best validation loss over the rates against the SGD step for each rule and task, "
         f"dotted where a curve has settled by the 1% rule, and the sweeps' budget of {BUDGET} steps dashed.")
print("change of the best validation loss between the last two quarters of the pilot (negative: still falling):")
for key, row in pilot_rows.items():
    where = (f"settled from step {row['plateau_step']}" if row["plateau_step"] is not None
             else f"not settled within {PILOT_SWEEP['steps']} steps")
    print(f"  {key[0]:8s} {LABELS[key[2:]]:22s} {-row['gain_last_window']:+.1%}; {where}")
reached = [r["plateau_step"] for r in pilot_rows.values() if r["plateau_step"] is not None]
print(f"settled by the budget of {BUDGET} steps: {sum(p <= BUDGET for p in reached)} of {len(pilot_rows)} "
      "rule/task cases")
print("\nhow much better the pilot's best model gets from the budget to the end of the pilot (best validation "
      "loss, mean over the last quarter before each; negative: better at the end):")
for key, res in pilot.items():
    at_budget, at_end = (float(optima.best_loss_at_budget(res, S)[0]) for S in (BUDGET, res["steps"][-1]))
    print(f"  {key[0]:8s} {LABELS[key[2:]]:22s} {at_budget:.3f} at {BUDGET}, {at_end:.3f} at "
          f"{int(res['steps'][-1])}: {at_end / at_budget - 1:+.1%}")

# %% [markdown]
# The sweeps at that budget: validation loss (top) and training loss on 2000 training examples (bottom) against
# the rate, one curve per depth (mean, min-max band, a dot at each optimum). A missing point: a seed diverged; a
# triangle on the top edge: a mean above the range, its value beside it.

# %%
budget_runs = plans.run_plan(RULES, PLATEAU_TASKS, PLATEAU_SWEEP, prefix=PLATEAU_SWEEP_PREFIX, use_cache=not QUICK,
                             cached_only=not QUICK, progress=QUICK)
BUDGET_RULES = {key[:2]: [r for r in RULES if key[:2] + r in budget_runs] for key in budget_runs}  # per (task, n)
AVG = READING["average"]
for (task_key, n), shown in BUDGET_RULES.items():
    grid = {r: budget_runs[(task_key, n) + r] for r in shown}
    fig = viz.plot_transfer_grid(grid, ("val_loss", "train_loss"),
                                 curve_optima=optima.transfer_grid_optima(grid, ("val_loss", "train_loss"), BUDGET, AVG),
                                 labels=LABELS, where=f"{task_key}, n = {n}", step=BUDGET, average=AVG,
                                 ylabel_suffix=f" ({BUDGET} steps)", panel=(4.0, 3.3))
    fig.suptitle(f"a fixed budget: {BUDGET} SGD steps, {len(PLATEAU_SWEEP['seeds'])} seeds", fontsize=10)
    viz.show(fig, f"Transfer plots after {BUDGET} steps ({task_key}, width {n}): validation loss (top) and "
             "training loss (bottom) against the base rate, one curve per depth, for each rule.")
settle = {key: optima.plateau_budget(res, rel=READING["settle_rel"]) for key, res in budget_runs.items()}
cells = [r["plateau_step"] for rows in settle.values() for r in rows]
print(f"the best validation loss of a depth has settled by the 1% rule within {BUDGET} steps in "
      f"{sum(p is not None for p in cells)} of {len(cells)} (task, width, rule, depth) cells (the appendix lists "
      "them): the results below are at a fixed budget, not at a plateau")

# %% [markdown]
# ### Which optimum?
#
# Three rates, reported separately: the lowest **validation loss** (the best trained model, what "restores
# depth-wise HP transfer" is about); the lowest **training loss after a fixed number of steps** (the μP
# literature's transfer plots: Bordelon et al. plot it after 20 epochs, this budget is about 19); the **largest
# stable rate** (an edge, where section 3's kernel argument applies). Each drift is read as in section 4.

# %%
OPTIMA = (("val_loss", "validation-loss optimum"), ("train_loss", "training-loss optimum"),
          ("stable", "largest stable rate"))
budget_drift = {key + (kind,): optima.drift_of(res, kind, step=BUDGET, average=AVG) for key, res in budget_runs.items()
                 for kind, _ in OPTIMA}
display(Markdown(optima.drift_table(budget_drift, OPTIMA, labels=LABELS, tol=TRANSFER_TOL)))

# %% [markdown]
# ### Is the drift the collapse's?
#
# The one-layer control shares everything with depth-μP two-layer except the collapse of section 2. If the
# two-layer optimum moves *because* its first internal layer stops learning, it moves more than the control's.
# The **excess drift** is the difference of the two slopes (Welch's 95% interval, independent runs): *flat*, the
# rule moves like the control (within ±`TRANSFER_TOL`); *drifts up/down*, more (less) than the control.

# %%
excess = optima.excess_drifts(budget_drift, control=ONE)  # each rule minus the one-layer control
display(Markdown(optima.drift_table(excess, OPTIMA, labels=LABELS, what="excess drift over the one-layer control",
                                    tol=TRANSFER_TOL)))
# How the answer depends on the budget: the same runs read after fewer steps (the rightmost point: the budget).
budgets, budget_drifts = optima.drifts_by_budget(budget_runs, [kind for kind, _ in OPTIMA[:-1]], READING["budgets"],
                                                 average=AVG, boot=200)
fig = viz.plot_budget_drift(budget_drifts, OPTIMA[:-1], budgets, labels=LABELS, colors=COLORS, flat_tol=TRANSFER_TOL)
viz.show(fig, "The drift of the validation-loss and training-loss optima per doubling of depth against the "
         f"training budget ({', '.join(map(str, budgets))} steps), one line per rule, with the band of 'transfers' "
         f"(+-{TRANSFER_TOL}) shaded.")

# %% [markdown]
# ### Does deeper get better, and does the correction train better networks?
#
# At each depth, the rate with the lowest seed-averaged validation loss, and there the test loss and accuracy
# (mean ± s.e. over seeds): chosen on validation data, reported on test data, so not flattered by the choice.
# "Deeper trains better" as in section 6, "better" by the paired difference of two rules.

# %%
report = ("train_loss", "val_loss", "test_loss", "test_acc")
best_budget = {key: optima.best_by_depth(res, select="val_loss", report=report, step=BUDGET, average=AVG)
               for key, res in budget_runs.items()}
for task_key in dict.fromkeys(key[0] for key in budget_runs):  # the tasks with results, in the order of the plan
    shown = [m for m in ("test_loss", "test_acc") if m in next(v for k, v in budget_runs.items() if k[0] == task_key)]
    fig = viz.plot_best_by_depth(best_budget, task_key, PLATEAU_TASKS[task_key]["widths"], RULES,
                                 [(m, viz.METRIC_LABELS[m].split(" after")[0]) for m in shown], labels=LABELS,
                                 colors=COLORS, ylabel="{label} at the best validation rate")
    fig.suptitle(f"{task_key}: after {BUDGET} steps ({len(PLATEAU_SWEEP['seeds'])} seeds, bars ±1 s.e.)",
                 fontsize=10)
    viz.show(fig, f"{task_key} after {BUDGET} steps: " + " and ".join(shown) + " at each rule's best validation "
             "rate against depth, one line per rule.")
deeper = {key: optima.depth_trend(rows, "test_loss") for key, rows in best_budget.items()}
print(f"slope of log(test loss) against log L at the best validation rate; deeper trains better: below {DEEPER_SLOPE}")
for key, fit in deeper.items():
    print(f"  {key[0]:8s} n={key[1]:3d} {LABELS[key[2:]]:22s} {fit}  -> {deeper_verdict(fit).outcome}")
versus = optima.paired_cases(best_budget, CORR, TWO)  # (task, n, metric) -> (corrected minus two-layer, verdict)
print("corrected minus depth-μP two-layer, paired by depth and seed (95% t-interval over all pairs):")
for (task_key, n, metric), (diff, v) in versus.items():  # test accuracy higher, test loss lower
    per = ", ".join(f"{x:+.3f}" for x in diff["per_depth"])
    print(f"  {task_key:8s} n={n:3d} {metric:9s} {diff['mean']:+.4f} [{diff['lo']:+.4f}, {diff['hi']:+.4f}] "
          f"({diff['pairs']} pairs; per depth {per}) -> corrected better: {v.outcome}")
for (task_key, n), (metric, rows) in optima.best_depths(best_budget).items():  # highest accuracy, else lowest loss
    print(f"best depth by {metric} ({task_key}, n={n}): " + "; ".join(
        f"{LABELS[r]} L={row['L']} ({row[metric]:.4g})" for r, row in rows.items()))

# %% [markdown]
# ## 8. Summary: one row per claim
#
# Every verdict is computed from the measurements above with the tolerance of its kind. A claim tested on several
# tasks and widths agrees only when every case agrees; the verdict column gives the outcome of each part.

# %%
of_rule = optima.cases_of  # the entries of one rule (and one kind of optimum), keyed (task, n)
claim_over_cases = partial(optima.claim_over_cases, text=optima.Drift.fit_text)  # (measured, verdict) over cases
ROWS = {(q, r): (f, v) for q, r, _, f, v in collapse_rows}  # sections 2 and 3: each slope with its verdict
ROWS.update({(q, r): (kf[(r, q)], kernel_verdict(r, q)) for r, q in kf})  # the kernel's "df" replaces section 2's
SUMMARY = {key: (claim, *optima.claim_of_parts(ROWS, parts)) for key, claim, parts in [  # (claim, measured, verdict)
    ("own_corr", "correction: the first internal layer's own update is flat in L (step 1)", [("dz_own", CORR)]),
    ("second_corr", "correction: the second internal layer's own update stays ~ L^-1/2 (step 1)", [("du_own", CORR)]),
    ("own_cp", "CompleteP: both internal layers' own updates are flat in L (step 1)", [("dz_own", CP), ("du_own", CP)]),
    ("df_corr", f"correction: the per-step output change grows with L (power count: up to L^1/2; steps 1 and "
     f"{COLLAPSE['steps']})", [("df", CORR), ("dfK", CORR)]),
    ("odds_corr", "correction: the first internal layers' kernel odds grow like L^1/2", [("odds", CORR)]),
    ("lambda_corr", "correction: the kernel's λ_max grows with L", [("lambda", CORR)]),
    ("lambda_flat", "CompleteP and depth-μP two-layer: the kernel's λ_max is flat in L",
     [("lambda", CP), ("lambda", TWO)]),
]}

# %%
TRANSFER_CLAIMS = {  # the claim about each rule's optimum, and its test
    CORR: ("paper: the correction restores depth-wise transfer", lambda d: d.transfers(TRANSFER_TOL)),
    CP: ("CompleteP transfers across depth", lambda d: d.transfers(TRANSFER_TOL)),
    TWO: ("paper: under depth-μP with two-layer blocks the optimum moves with depth",
          lambda d: d.moves(TRANSFER_TOL)),
    ONE: ("depth-μP with one-layer blocks transfers (the control)", lambda d: d.transfers(TRANSFER_TOL)),
}
SUMMARY["edge_200"] = ("caution: the correction's stability boundary falls with L (200 steps)",
                       *claim_over_cases(of_rule(stab, CORR), lambda d: slope_verdict(d.fit, sign=-1)))
SUMMARY["opt_200"] = ("caution: the correction's optimum falls like L^-1/2 (200 steps)",
                      *claim_over_cases(of_rule(drift, CORR), lambda d: exponent_verdict(d.fit, -0.5)))
for rule, (claim, judge) in TRANSFER_CLAIMS.items():
    SUMMARY[f"transfer_200_{rule}"] = (f"{claim} (200 steps)", *claim_over_cases(of_rule(drift, rule), judge))
SUMMARY["deeper_200"] = ("paper: with the correction, deeper trains better (200 steps, best training loss)",
                         *claim_over_cases(of_rule(depth_trend, CORR), deeper_verdict, text=str))
leads = {key: optima.ahead_by(deepest[key + CORR], deepest[key + TWO], "train_loss") for key in of_rule(deepest, CORR)}
SUMMARY["lead_200"] = (f"paper: the correction trains a better deep model than depth-μP two-layer (200 steps, "
                       f"L = {SWEEP['depths'][-1]}, training loss of depth-μP minus corrected)",
                       *claim_over_cases(leads, lambda g: g[2], text=lambda g: f"{g[0]:+.4f} "
                                         f"[{g[0] - 1.96 * g[1]:+.4f}, {g[0] + 1.96 * g[1]:+.4f}]"))

# %%
for kind, label in OPTIMA[:2]:  # the budget of section 7, read at each of the two optima
    for rule, (claim, judge) in TRANSFER_CLAIMS.items():
        SUMMARY[f"transfer_{kind}_{rule}"] = (f"{claim} ({BUDGET} steps, {label})",
                                              *claim_over_cases(of_rule(budget_drift, rule, kind), judge))
    if of_rule(excess, TWO, kind):
        SUMMARY[f"collapse_{kind}"] = (f"the collapse moves depth-μP two-layer's optimum beyond the one-layer "
                                       f"control's ({BUDGET} steps, {label}; excess drift)",
                                       *claim_over_cases(of_rule(excess, TWO, kind), lambda d: d.moves(TRANSFER_TOL)))
SUMMARY["edge_budget"] = (f"caution: the correction's stability edge falls with L ({BUDGET} steps)",
                          *claim_over_cases(of_rule(budget_drift, CORR, "stable"),
                                            lambda d: slope_verdict(d.fit, sign=-1)))
SUMMARY["deeper_budget"] = (f"paper: with the correction, deeper trains better ({BUDGET} steps, test loss at the "
                            "best validation rate)",
                            *claim_over_cases(of_rule(deeper, CORR), deeper_verdict, text=str))
for metric, name in (("test_loss", "test loss"), ("test_acc", "test accuracy")):
    cases_ = {(t, n): dv for (t, n, m), dv in versus.items() if m == metric}
    if cases_:
        SUMMARY[f"better_{metric}"] = (
            f"paper: the correction trains better networks than depth-μP two-layer ({BUDGET} steps, {name}, "
            "corrected minus depth-μP paired over depths and seeds)",
            *claim_over_cases(cases_, lambda dv: dv[1],
                              text=lambda dv: f"{dv[0]['mean']:+.4f} [{dv[0]['lo']:+.4f}, {dv[0]['hi']:+.4f}]"))
claims = Claims()
for claim, measured, verdict in SUMMARY.values():
    claims.add(claim, measured, verdict, echo=False)
display(Markdown(claims.markdown()))
print(f"{len(claims)} claims: {claims.counts()}; notebook ran in {time.time() - T0:.0f} s")

# %% [markdown]
# ## Takeaways (formatted from the measurements and the summary's verdicts on every run)

# %%
def outcome(key):  # the verdict word of a summary row ("-" when the row is absent, e.g. a sweep not cached)
    return SUMMARY[key][2].outcome if key in SUMMARY else "-"


def per_rule(prefix):
    return "; ".join(f"{LABELS[r]} ({'moves' if r == TWO else 'transfers'}): {outcome(prefix + str(r))}"
                     for r in RULES)


resolved_val = [LABELS[r] for r in RULES if outcome(f"transfer_val_loss_{r}") in ("agree", "disagree")]
display(Markdown("\n".join([
    f"* **The collapse is undone.** Under the correction the first internal layer's own update scales like "
    f"{fit_of(CORR, 'dz_own', 1)} in `L` (flat: {outcome('own_corr')}), against {fit_of(TWO, 'dz_own', 1)} "
    f"under depth-μP; CompleteP keeps both internal layers flat ({outcome('own_cp')}).",
    f"* **The kernel grows under the correction.** Its first internal layers' odds grow like {kf[(CORR, 'odds')]} "
    f"(predicted +1/2: {outcome('odds_corr')}); λ_max grows more slowly, {kf[(CORR, 'lambda')]}, because the rest "
    "of the kernel still weighs in.",
    f"* **After {SWEEP['steps']} steps** (early training) the optimum is flat in " + ", ".join(
        f"{v.count('agree')} of {len(v)} cases for {LABELS[r]}" for r, v in transfers.items())
    + f"; the caution that the corrected optimum falls like L^-1/2: {outcome('opt_200')}.",
    f"* **R11 after a budget of {BUDGET} steps** (a budget: the validation loss has settled in "
    f"{sum(p is not None for p in cells)} of {len(cells)} cells). Chosen by validation loss: "
    f"{per_rule('transfer_val_loss_')} — resolved for {', '.join(resolved_val) if resolved_val else 'no rule'} "
    f"over all tasks. Chosen by training loss: {per_rule('transfer_train_loss_')}.",
    f"* **Is the two-layer drift the collapse's?** The excess over the one-layer control: "
    f"{outcome('collapse_val_loss')} for the validation optimum, {outcome('collapse_train_loss')} for the "
    "training-loss optimum (rows of the summary; the cases are in section 7).",
    f"* **Better networks?** The correction against depth-μP two-layer at {BUDGET} steps: test loss "
    f"{outcome('better_test_loss')}, test accuracy {outcome('better_test_acc')}; with the correction deeper trains "
    f"better (at least {1 - 2**DEEPER_SLOPE:.1%} per doubling): {outcome('deeper_200')} at {SWEEP['steps']} steps, "
    f"{outcome('deeper_budget')} at {BUDGET}.",
    "* These are small MLP blocks on MNIST-1D and a teacher task; the paper's CIFAR-10 set-up is not known.",
])))

# %% [markdown]
# ## Exercises
#
# 1. The correction multiplies only $\eta_1$ by $\sqrt L$. Show that the odds $\Theta_1/\Theta_{\rm rest}$ are
#    then exactly $\sqrt L$ times their depth-μP value at initialization, for any width and any data.
#
# <details><summary>Answer</summary>
#
# Both rules share weights, multipliers and branch factors, so their signals at initialization are identical.
# $\Theta_1=\eta_1\sum_\ell\cdots$ is linear in $\eta_1$ and $\Theta_{\rm rest}$ does not involve it, so only $\Theta_1$
# gains the factor $\sqrt L$ (checked by the unit test
# `test_summary_shares_sum_to_one_and_correction_raises_the_first_internal_share`).
# </details>
#
# 2. Is there a choice of the two internal rates that keeps the first internal layer's own update $O(1)$ *and*
#    the kernel $O(1)$, without changing the branch multiplier $\sqrt{T/L}$?
#
# <details><summary>Answer</summary>
#
# No. With $\beta=L^{-1/2}$, an $O(1)$ own update of $z_\ell$ needs $\eta_1\propto n\sqrt L$, and then
# $\Theta_1\propto\sqrt L$ by itself; $\eta_2$ only changes the rest of the kernel and cannot cancel it. An $O(1)$
# kernel with every internal layer learning needs $\beta\propto1/L$ and rates $\propto L$: CompleteP (Chizat 2025
# reaches the same $1/L$ scale for two-layer-perceptron blocks).
# </details>
#
# 3. Rerun the sweeps with a longer budget (`SWEEP["steps"] = 800`, quick widths) for the corrected rule only
#    (`plans.run_plan(..., only=[("depth-mup-corrected", "two")], use_cache=False)`). Does the optimum move
#    away from the divergence boundary, and does its drift with depth change?
#
# <details><summary>Answer</summary>
#
# Compare `optima.optimum_drift` with `optima.stability_drift`; section 7 does this at 6000 steps for every rule.
# </details>
#
# ## What comes next
#
# Notebook 07 fits scaling laws against the computed limit; notebook 08 puts every size on a slider.

# %% [markdown]
# ## Appendix: the caches behind this notebook
#
# Full mode reads `data/collapse_*` (sections 2, 3), `data/sweep_05_*` (4 to 6), `data/pilot_05_*` and
# `data/plateau_05_*` (7). An unfinished sweep keeps its finished depths as job files, one per depth (see
# [data/README.md](../data/README.md); `python -m nfdlib.run` computes the rest on many workers), is listed here
# and is left out of every result above.

# %%
if not QUICK:
    for name, (tasks_, plan_, prefix_) in {"pilot": (PILOT_TASKS, PILOT_SWEEP, PILOT_SWEEP_PREFIX),
                                           "budget": (PLATEAU_TASKS, PLATEAU_SWEEP, PLATEAU_SWEEP_PREFIX)}.items():
        unfinished = plans.finished_depths(RULES, tasks_, plan_, prefix=prefix_)  # the depths done of each
        print(f"{name} sweeps not finished yet: {len(unfinished) or 'none'}")
        for (task_key, n, *rule), done in unfinished.items():
            print(f"  {task_key} n={n} {LABELS[tuple(rule)]}: depths finished {done or 'none'} of {plan_['depths']}")
# The cost of section 7's sweeps, stored with each cached result (process CPU time; width 128 takes about 2.5
# CPU-hours per rule, the 200-step sweeps about one in all).
for name, done in (("pilot", pilot), ("sweeps at the budget", budget_runs)):
    cpu, wall, threads = optima.compute_time(done)
    print(f"{name}: {len(done)} depth sweeps, {cpu / 3600:.2f} CPU-hours ({wall / 3600:.2f} h wall) on "
          f"{threads} thread(s)")
print(f"\nthe step from which each depth's best validation loss has settled by the 1% rule (>{BUDGET}: not within "
      "the budget):")
for key, rows in settle.items():
    print(f"  {key[0]:8s} n={key[1]:3d} {LABELS[key[2:]]:22s} " + ", ".join(
        f"L={r['L']}: {r['plateau_step'] if r['plateau_step'] is not None else '>' + str(BUDGET)}" for r in rows))
