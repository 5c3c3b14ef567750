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

from ..cache import register_kind
from ..config import get_device
from ..data import Dataset
from ..engine import train_stacked
from ..jobs import CachedResult, Job
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


#: CPU-seconds of one run of one size, per (step x layer): ``a + b n^2 B + c n^2``, plus ``e n^2`` per evaluation
#: and layer. Fitted to notebook 07's full plan recomputed on the project's machine (AMD EPYC, one thread per
#: process, 2026-12-07: 0.39 CPU-hours in all); one size within a factor of a few, a whole grid within 40%. Orders
#: jobs (most expensive first) and says what a plan costs.
SIZE_COST = {"a": 7.3e-6, "b": 3.5e-10, "c": 4.7e-9, "e": 0.0}


def size_cost(n: int, L: int, runs: int, steps: int, batch: int, evals: int) -> float:
    """Estimated CPU-seconds of ``runs`` runs of one size ``(n, L)`` (:data:`SIZE_COST`)."""
    k = SIZE_COST
    return runs * L * (steps * (k["a"] + k["b"] * n * n * batch + k["c"] * n * n) + evals * k["e"] * n * n)


def size_part(*, rule: str, task: Mapping, n: int, L: int, seeds: Sequence[int], steps: int, lr: float,
              batch_size: int | None = None, loss: str = "mse", T: float = 1.0, eval_every: int | None = None,
              loss_bound: float = 1e6, progress: bool = False) -> dict[str, np.ndarray]:
    """One size ``(n, L)`` of a grid, every seed (:func:`train_sizes`): the unit of work of :func:`size_grid`'s
    jobs."""
    return train_sizes(rule, load_task_once(task), [(int(n), int(L))], seeds, steps, lr=lr, batch_size=batch_size,
                       loss=loss, T=T, eval_every=eval_every, loss_bound=loss_bound, progress=progress)


def _task_size(task: Mapping) -> int:
    """Training examples of a task, for cost estimates only (the loaders' defaults when the dict does not say)."""
    return int(task.get("n_train", 4000))


def size_grid_results(prefix: str, rule: str, task: Mapping, sizes: Sequence[tuple[int, int]], seeds, steps: int, *,
                      lr: float, batch_size: int | None = None, loss: str = "mse", T: float = 1.0,
                      eval_every: int | None = None, loss_bound: float = 1e6) -> list[CachedResult]:
    """The cached files of :func:`size_grid`, one per width (``scaling_<prefix>_<rule>_n<n>``), each assembled
    from one job per depth (:func:`size_part`, labelled ``..._n<n>_L<L>``)."""
    rule = scaling_rule(rule)
    steps, lr = check_int("steps", steps), check_float("lr", lr)
    batch = min(batch_size or _task_size(task), _task_size(task))
    evals = steps // eval_every + 1 if eval_every else 2
    out = []
    for n in sorted({int(n) for n, _ in sizes}):
        depths = sorted(int(L) for m, L in sizes if int(m) == n)
        n_seeds = _seeds_for(seeds, n)
        common = {"task": dict(task), "seeds": n_seeds, "steps": steps, "lr": lr, "batch_size": batch_size,
                  "loss": loss, "T": float(T), "eval_every": eval_every, "loss_bound": float(loss_bound)}
        config = {"family": rule.key, "parametrization": rule.parametrization, "block": rule.block,
                  "preact": rule.preact, "task": dict(task), "n": n, "depths": depths, **common}
        name = f"scaling_{prefix}_{rule.key}_n{n}"
        jobs = [Job(f"{name}_L{L}", "nfdlib.scaling.grids:size_part", dict(rule=rule.key, n=n, L=L, **common),
                    version=VERSION, cost=size_cost(n, L, len(n_seeds), steps, batch, evals)) for L in depths]
        out.append(CachedResult(name, config, VERSION, jobs, concat_runs))
    return out


def size_grid(prefix: str, rule: str, task: Mapping, sizes: Sequence[tuple[int, int]], seeds, steps: int, *,
              lr: float, batch_size: int | None = None, loss: str = "mse", T: float = 1.0,
              eval_every: int | None = None, loss_bound: float = 1e6, cache: bool = True, refresh: bool = False,
              progress: bool = True) -> dict[str, np.ndarray]:
    """:func:`train_sizes` of one training rule over ``sizes``, one cached ``.npz`` per width
    (``data/scaling_<prefix>_<rule>_n<n>-<hash>.npz``, keyed by everything that changes the numbers, assembled from
    one job per size: :func:`size_grid_results`); the run tables of all widths stacked. ``cache=False`` computes
    directly (quick mode)."""
    kwargs = dict(lr=lr, batch_size=batch_size, loss=loss, T=T, eval_every=eval_every, loss_bound=loss_bound)
    if cache:
        results = size_grid_results(prefix, rule, task, sizes, seeds, steps, **kwargs)
        return concat_runs([r.load(refresh=refresh, progress=progress) for r in
                            tqdm(results, desc=f"{prefix} {rule}", disable=not progress or len(results) < 2,
                                 leave=False)])
    rule = scaling_rule(rule)
    data = load_task_once(task)
    return concat_runs([train_sizes(rule, data, [(int(m), int(L)) for m, L in sizes if int(m) == n],
                                    _seeds_for(seeds, n), steps, progress=progress, **kwargs)
                        for n in sorted({int(n) for n, _ in sizes})])


# -- the learning rate, tuned on a small model and transferred -----------------------------------------------
def tune_part(*, rule: str, task: Mapping, n: int, L: int, lrs: Sequence[float], seeds: Sequence[int], steps: int,
              batch_size: int | None = None, loss: str = "mse", T: float = 1.0, loss_bound: float = 1e6,
              progress: bool = False) -> dict[str, np.ndarray]:
    """The learning-rate sweep of :func:`tune_lr` (one job): :func:`nfdlib.sweeps.lr_sweep` evaluated at the end,
    with its wall time (``seconds``)."""
    rule = scaling_rule(rule)
    t0 = time.perf_counter()
    out = lr_sweep(load_task_once(task), rule.parametrization, rule.block, n, L, lrs, seeds, steps,
                   batch_size=batch_size, loss=loss, T=T, eval_every=steps, loss_bound=loss_bound, preact=rule.preact,
                   progress=progress)
    out["seconds"] = np.array(time.perf_counter() - t0)
    return out


def tune_result(rule: str, task: Mapping, *, n: int, L: int, lrs: Sequence[float], seeds: Sequence[int], steps: int,
                batch_size: int | None = None, loss: str = "mse", T: float = 1.0,
                loss_bound: float = 1e6) -> CachedResult:
    """The cached sweep of :func:`tune_lr` (``scaling_tune_<rule>``), one job."""
    rule = scaling_rule(rule)
    kwargs = {"task": dict(task), "n": int(n), "L": int(L), "lrs": [float(x) for x in lrs],
              "seeds": [int(s) for s in seeds], "steps": int(steps), "batch_size": batch_size, "loss": loss,
              "T": float(T), "loss_bound": float(loss_bound)}
    config = {"family": rule.key, "parametrization": rule.parametrization, "block": rule.block,
              "preact": rule.preact, **kwargs}
    batch = min(batch_size or _task_size(task), _task_size(task))
    name = f"scaling_tune_{rule.key}"
    job = Job(name, "nfdlib.scaling.grids:tune_part", dict(rule=rule.key, **kwargs), version=VERSION,
              cost=size_cost(int(n), int(L), len(kwargs["lrs"]) * len(kwargs["seeds"]), int(steps), batch, 2))
    return CachedResult(name, config, VERSION, [job], _only_part)


def _only_part(parts):
    return parts[0]


def tune_lr(rule: str, task: Mapping, *, n: int, L: int, lrs: Sequence[float], seeds: Sequence[int], steps: int,
            batch_size: int | None = None, loss: str = "mse", T: float = 1.0, select: str = "train_loss",
            loss_bound: float = 1e6, cache: bool = True, progress: bool = True) -> tuple[dict, dict]:
    """A learning-rate sweep of one rule on one small model (:func:`nfdlib.sweeps.lr_sweep`, cached as
    ``scaling_tune_<rule>``: :func:`tune_result`) and its best rate (:func:`nfdlib.optima.best_rate`: the grid rate
    nearest the optimum of the seed-mean ``select`` curve). Returns ``(sweep, best)``; ``best["grid_lr"]`` is the
    rate that is transferred to every size."""
    kwargs = dict(n=n, L=L, lrs=lrs, seeds=seeds, steps=steps, batch_size=batch_size, loss=loss, T=T,
                  loss_bound=loss_bound)
    if cache:
        sweep = tune_result(rule, task, **kwargs).load(progress=progress)
    else:
        sweep = tune_part(rule=scaling_rule(rule).key, task=task, progress=progress, **kwargs)
    return sweep, best_rate(sweep, select=select)
