"""Grids of trained networks: many sizes ``(n, L)`` of one training rule, cached.

Every size of a grid is trained for every seed with the batched SGD of :func:`nfdlib.engine.train_stacked` (seeds
of one size stacked into one computation), one cached ``.npz`` per training rule and width (names ``scaling_*``,
:func:`size_grid`); the learning rate is tuned on a small model (:func:`tune_lr`) and transferred to every size.
The rules are those of :data:`nfdlib.rules.SCALING_RULES`, named by their keys. Used by notebook 07.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..cache import cached, register_kind
from ..config import get_device
from ..data import Dataset
from ..engine import train_stacked
from ..models import ResNet
from ..optima import best_rate
from ..rules import TrainingRule, scaling_rule
from ..sweeps import load_task, lr_sweep
from ..validation import check_float, check_int
from .counts import count_params, flops_per_run

#: Bumped by hand whenever code that produces a cached ``scaling_*`` result changes its numbers.
VERSION = "1"
# Every cached result of this package: trained size grids (runs of n, L, seed), learning-rate tunings and solves.
register_kind("scaling_", VERSION, "npz")


def grid_sizes(widths: Sequence[int], depths: Sequence[int], max_cost: float | None = None) -> list[tuple[int, int]]:
    """Every ``(n, L)`` of ``widths x depths`` whose block cost ``L n^2`` is at most ``max_cost`` (all of them when
    ``None``): a grid complete below a compute cap, so the frontier below the cap can be read from it."""
    widths = sorted({check_int("widths", n) for n in widths})
    depths = sorted({check_int("depths", L) for L in depths})
    if not widths or not depths:
        raise ValueError("widths and depths must each list at least one size")
    cap = math.inf if max_cost is None else check_float("max_cost", max_cost)
    sizes = [(n, L) for n in widths for L in depths if L * n * n <= cap]
    if not sizes:
        raise ValueError(f"max_cost={max_cost} leaves no size of the grid")
    return sizes


def _seeds_for(seeds, n: int) -> list[int]:
    if isinstance(seeds, Mapping):
        if n not in seeds and str(n) not in seeds:
            raise ValueError(f"seeds must give a list (or a count) for width {n}, got keys {sorted(seeds)}")
        seeds = seeds[n] if n in seeds else seeds[str(n)]
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = list(range(check_int("seeds", seeds)))
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    return seeds


def train_sizes(rule: str | TrainingRule, data, sizes: Sequence[tuple[int, int]], seeds, steps: int, *, lr: float,
                batch_size: int | None = None, loss: str = "mse", T: float = 1.0, eval_every: int | None = None,
                loss_bound: float = 1e6, max_stack_bytes: float = 2**30, device=None,
                progress: bool = False) -> dict[str, np.ndarray]:
    """Train every size ``(n, L)`` of ``sizes`` for every seed at base rate ``lr`` with
    :func:`nfdlib.engine.train_stacked` (seeds of one size stacked into one batched computation, as many at once
    as fit in ``max_stack_bytes`` of weights). ``seeds``: a list, a count, or a dict width -> list or count.

    Returns tidy arrays, one row per run: ``n``, ``L``, ``seed``, ``train_loss``, ``test_loss`` (and ``test_acc``
    with labels) of shape ``(runs, evals)`` at the evaluation ``steps``, ``diverged``, ``diverged_at``,
    ``params``, ``flops`` (per run, :func:`flops_per_run`) and ``seconds`` (wall time of each run's share).
    """
    rule = rule if isinstance(rule, TrainingRule) else scaling_rule(rule)
    data = data if isinstance(data, Dataset) else load_task(data)
    lr = check_float("lr", lr)
    steps = check_int("steps", steps)
    P = data.X_train.shape[0]
    bs = P if batch_size is None else min(check_int("batch_size", batch_size), P)
    dev = get_device(device)
    rows: dict[str, list] = {k: [] for k in ("n", "L", "seed", "train_loss", "test_loss", "test_acc", "diverged",
                                             "diverged_at", "params", "flops", "seconds")}
    eval_steps = None
    jobs = [(int(n), int(L), s) for n, L in sizes for s in [_seeds_for(seeds, int(n))]]
    for n, L, size_seeds in tqdm(jobs, desc=f"{rule.key} grid", disable=not progress, leave=False):
        n_params = count_params(data.d, data.num_outputs, n, L, rule.block)
        # weights, their stacked copy and their gradient: about four copies per configuration
        per_call = max(1, int(max_stack_bytes // (16 * n_params)))

        def make_model(seed, n=n, L=L):
            return ResNet(data.d, data.num_outputs, n, L, block=rule.block, parametrization=rule.parametrization,
                          T=T, preact=rule.preact, seed=seed, device=dev)

        for start in range(0, len(size_seeds), per_call):
            chunk = size_seeds[start:start + per_call]
            t0 = time.perf_counter()
            out = train_stacked(make_model, [lr] * len(chunk), chunk, data, steps, batch_size=bs, loss=loss,
                                eval_every=eval_every, loss_bound=loss_bound)
            share = (time.perf_counter() - t0) / len(chunk)
            eval_steps = out["steps"]
            for i, s in enumerate(chunk):
                rows["n"].append(n)
                rows["L"].append(L)
                rows["seed"].append(s)
                rows["train_loss"].append(out["train_loss"][i])
                rows["test_loss"].append(out["test_loss"][i])
                rows["test_acc"].append(out["test_acc"][i] if "test_acc" in out else np.full(len(eval_steps), np.nan))
                rows["diverged"].append(bool(out["diverged"][i]))
                rows["diverged_at"].append(int(out["diverged_at"][i]))
                rows["params"].append(n_params)
                rows["flops"].append(flops_per_run(data.d, data.num_outputs, n, L, bs, steps, rule.block))
                rows["seconds"].append(share)
    result = {k: np.asarray(v) for k, v in rows.items()}
    result["steps"] = np.asarray(eval_steps)
    if data.labels_test is None:
        result.pop("test_acc")
    return result


_DATA: dict[str, object] = {}


def load_task_once(task: Mapping):
    """:func:`nfdlib.sweeps.load_task`, remembered for the session: a notebook's grids share their dataset
    (generating MNIST-1D takes seconds each time)."""
    key = json.dumps(dict(task), sort_keys=True)
    if key not in _DATA:
        _DATA[key] = load_task(task)
    return _DATA[key]


def concat_runs(parts: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """Tidy run tables (from :func:`train_sizes`) stacked row-wise; ``steps`` must agree."""
    parts = [p for p in parts if p is not None]
    if not parts:
        raise ValueError("parts must hold at least one run table")
    out = {"steps": np.asarray(parts[0]["steps"])}
    for p in parts[1:]:
        if not np.array_equal(np.asarray(p["steps"]), out["steps"]):
            raise ValueError("run tables with different evaluation steps cannot be stacked")
    for k in parts[0]:
        if k != "steps":
            out[k] = np.concatenate([np.asarray(p[k]) for p in parts])
    return out


def size_grid(prefix: str, rule: str, task: Mapping, sizes: Sequence[tuple[int, int]], seeds, steps: int, *,
              lr: float, batch_size: int | None = None, loss: str = "mse", T: float = 1.0,
              eval_every: int | None = None, loss_bound: float = 1e6, cache: bool = True, refresh: bool = False,
              progress: bool = True) -> dict[str, np.ndarray]:
    """:func:`train_sizes` of one training rule over ``sizes``, one cached ``.npz`` per width
    (``data/scaling_<prefix>_<rule>_n<n>-<hash>.npz``, keyed by everything that changes the numbers); the
    run tables of all widths stacked. ``cache=False`` computes directly (quick mode)."""
    rule = scaling_rule(rule)
    widths = sorted({int(n) for n, _ in sizes})

    def data():  # loaded only when something has to be computed
        return load_task_once(task)

    parts = []
    for n in tqdm(widths, desc=f"{prefix} {rule.key}", disable=not progress or len(widths) < 2, leave=False):
        depths = sorted(int(L) for m, L in sizes if int(m) == n)
        config = {"family": rule.key, "parametrization": rule.parametrization, "block": rule.block,
                  "preact": rule.preact, "task": dict(task), "n": n, "depths": depths,
                  "seeds": _seeds_for(seeds, n), "steps": int(steps), "lr": float(lr), "batch_size": batch_size,
                  "loss": loss, "T": float(T), "eval_every": eval_every, "loss_bound": float(loss_bound)}

        def compute(n=n, depths=depths):
            return train_sizes(rule, data(), [(n, L) for L in depths], _seeds_for(seeds, n), steps, lr=lr,
                               batch_size=batch_size, loss=loss, T=T, eval_every=eval_every, loss_bound=loss_bound,
                               progress=progress)

        if cache:
            parts.append(cached(f"scaling_{prefix}_{rule.key}_n{n}", config, compute, version=VERSION, fmt="npz",
                                refresh=refresh))
        else:
            parts.append(compute())
    return concat_runs(parts)



# -- the learning rate, tuned on a small model and transferred -----------------------------------------------
def tune_lr(rule: str, task: Mapping, *, n: int, L: int, lrs: Sequence[float], seeds: Sequence[int], steps: int,
            batch_size: int | None = None, loss: str = "mse", T: float = 1.0, select: str = "train_loss",
            loss_bound: float = 1e6, cache: bool = True, progress: bool = True) -> tuple[dict, dict]:
    """A learning-rate sweep of one rule on one small model (:func:`nfdlib.sweeps.lr_sweep`, cached as
    ``scaling_tune_<rule>``) and its best rate (:func:`nfdlib.optima.best_rate`: the grid rate nearest the
    optimum of the seed-mean ``select`` curve). Returns ``(sweep, best)``; ``best["grid_lr"]`` is the rate that
    is transferred to every size."""
    rule = scaling_rule(rule)
    config = {"family": rule.key, "parametrization": rule.parametrization, "block": rule.block, "preact": rule.preact,
              "task": dict(task), "n": int(n), "L": int(L), "lrs": [float(x) for x in lrs],
              "seeds": [int(s) for s in seeds], "steps": int(steps), "batch_size": batch_size, "loss": loss,
              "T": float(T), "loss_bound": float(loss_bound)}

    def compute():
        t0 = time.perf_counter()
        out = lr_sweep(load_task_once(task), rule.parametrization, rule.block, n, L, lrs, seeds, steps,
                       batch_size=batch_size, loss=loss, T=T, eval_every=steps, loss_bound=loss_bound,
                       preact=rule.preact, progress=progress)
        out["seconds"] = np.array(time.perf_counter() - t0)
        return out

    sweep = cached(f"scaling_tune_{rule.key}", config, compute, version=VERSION, fmt="npz") if cache else compute()
    return sweep, best_rate(sweep, select=select)
