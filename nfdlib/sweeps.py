"""Learning-rate x seed sweeps and depth sweeps, with their cache.

One sweep trains every ``(eta, seed)`` of a grid for one architecture at once (:func:`lr_sweep`, through the
batched engine of :func:`nfdlib.engine.train_stacked`); a depth sweep repeats it at each depth
(:func:`depth_sweep`) and is cached under ``data/`` by its whole configuration (:func:`cached_depth_sweep`). Each
depth of a cached sweep is a job of its own (:func:`depth_jobs`, :mod:`nfdlib.jobs`): a depth sweep of hours keeps
every finished depth as a job file, so an interrupted sweep resumes where it stopped, across sessions, and the
depths can run on many workers at once (``python -m nfdlib.run``). Reading a sweep (optima, drifts, plateaus) is
:mod:`nfdlib.optima`; the plans that say which sweeps a notebook needs are :mod:`nfdlib.plans`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import torch
from tqdm.auto import tqdm

from . import cache
from .config import check_seeds, get_device
from .data import DATASETS, Dataset, load_dataset
from .engine import SWEEP_ARRAYS, train_stacked
from .jobs import CachedResult, Job
from .models import BLOCKS, ResNet
from .parametrization import get_parametrization
from .validation import check_choice, check_float, check_grid, check_int

# Bump when the code that computes a sweep changes in a way that changes its numbers: cached files then recompute.
SWEEP_VERSION = "1"
_SWEEP_ARRAYS = ("L", "lr", "seed", "steps", "train_loss", "test_loss", "diverged", "diverged_at")
# Depth sweeps are cached as <prefix>_<task>_<rule>_n<width>: the 200-step plans ("sweep_05") and the pilot and
# plateau plans of notebook 06 ("pilot_05", "plateau_05"; the prefixes keep the number the notebook had).
for _prefix in ("sweep", "pilot_", "plateau_"):
    cache.register_kind(_prefix, SWEEP_VERSION, "npz", _SWEEP_ARRAYS)


def log2_grid(lo: float, hi: float, step: float = 0.5) -> np.ndarray:
    """Learning rates ``2**k`` for ``k = log2(lo), log2(lo) + step, ..., <= log2(hi)`` (half-octave by default)."""
    lo, hi, step = check_float("lo", lo), check_float("hi", hi), check_float("step", step)
    if hi < lo:
        raise ValueError(f"hi must be >= lo, got lo={lo}, hi={hi}")
    k = np.arange(math.log2(lo), math.log2(hi) + 1e-9, step)
    return 2.0**k


def _check_lrs(lrs) -> np.ndarray:
    return check_grid("lrs", lrs)


# -- sweeps over learning rates, seeds and depths ----------------------------------------------------------
def _check_task(task: Mapping) -> dict:
    if not isinstance(task, Mapping) or "name" not in task:
        raise ValueError(f"task must be a dict with a 'name' in {DATASETS} and loader arguments, got {task!r}")
    check_choice("task['name']", task["name"], DATASETS)
    return dict(task)


def load_task(task: Mapping) -> Dataset:
    """The dataset a task dict describes: ``{"name": "mnist1d" | "digits" | "teacher", **loader kwargs}``."""
    task = _check_task(task)
    name = task.pop("name")
    return load_dataset(name, **task)


def lr_sweep(task: Mapping | Dataset, parametrization: str, block: str, n: int, L: int, lrs: Sequence[float],
             seeds: Sequence[int], steps: int, *, batch_size: int | None = None, loss: str = "mse", T: float = 1.0,
             activation: str = "relu", eval_every: int | None = None, loss_bound: float = 1e6,
             chunk_size: int | None = None, engine: str = "fused", preact: bool = True, device=None,
             train_eval: int | None = None, progress: bool = False) -> dict[str, np.ndarray]:
    """Every ``(eta, seed)`` in ``lrs x seeds`` for one architecture, batched; arrays shaped ``(lr, seed, ...)``.
    ``preact=False`` sweeps post-activation blocks (notebook 00).

    Returns ``lr`` (the grid), ``seed``, ``steps``, ``train_loss`` / ``test_loss`` / ``test_acc`` (and
    ``val_loss`` / ``val_acc`` when the task holds a validation split) of shape ``(len(lrs), len(seeds), evals)``,
    ``diverged`` and ``diverged_at`` of shape ``(len(lrs), len(seeds))``.
    """
    data = task if isinstance(task, Dataset) else load_task(task)
    lrs, seeds = _check_lrs(lrs), check_seeds(seeds)
    get_parametrization(parametrization)
    check_choice("block", block, BLOCKS)
    n, L = check_int("n", n), check_int("L", L)
    dev = get_device(device)

    def make_model(seed):
        return ResNet(data.d, data.num_outputs, n, L, block=block, parametrization=parametrization,
                      activation=activation, T=T, preact=preact, seed=seed, device=dev)

    grid_lr = np.repeat(lrs, len(seeds))
    grid_seed = np.tile(seeds, len(lrs))
    flat = train_stacked(make_model, grid_lr, grid_seed, data, steps, batch_size=batch_size, loss=loss,
                         eval_every=eval_every, loss_bound=loss_bound, chunk_size=chunk_size, engine=engine,
                         train_eval=train_eval, progress=progress,
                         desc=f"{parametrization}/{block} n={n} L={L}")
    shape = (len(lrs), len(seeds))
    out = {"lr": lrs, "seed": np.asarray(seeds), "steps": flat["steps"]}
    for key in SWEEP_ARRAYS:
        if key in flat:
            out[key] = flat[key].reshape(shape + flat[key].shape[1:])
    return out


def depth_sweep(task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                lrs: Sequence[float], seeds: Sequence[int], steps: int, *, progress: bool = True,
                **kwargs) -> dict[str, np.ndarray]:
    """:func:`lr_sweep` at each depth; arrays gain a leading depth axis (``depths`` is returned as ``L``).

    The compute each depth took is returned too: ``wall_seconds`` and ``cpu_seconds`` (CPU time of the thread
    that trained it, which other load on a shared machine does not inflate) and ``threads`` (torch's intra-op
    threads)."""
    depths = check_grid("depths", depths, integer=True).tolist()
    _check_lrs(lrs), check_seeds(seeds)
    data = load_task(task)
    parts = [depth_part(data, parametrization, block, n, [L], lrs, seeds, steps, progress=progress, **kwargs)
             for L in tqdm(depths, desc=f"{parametrization}/{block} n={n}", disable=not progress, leave=False)]
    return merge_depth_parts(parts, depths)


def depth_part(task: Mapping | Dataset, parametrization: str, block: str, n: int, depths: Sequence[int],
               lrs: Sequence[float], seeds: Sequence[int], steps: int, *, progress: bool = False,
               **kwargs) -> dict[str, np.ndarray]:
    """One depth of a depth sweep (``depths`` holds exactly one): :func:`lr_sweep` with ``L``, ``wall_seconds``,
    ``cpu_seconds`` and ``threads``. The unit of work of a sweep's jobs (:func:`depth_jobs`); its keyword
    arguments are a :func:`depth_sweep_config` for that one depth."""
    if len(depths) != 1:
        raise ValueError(f"depths must hold one depth (one job per depth), got {list(depths)}")
    L = check_int("depths", depths[0])
    wall, cpu = time.perf_counter(), time.thread_time()
    part = lr_sweep(task if isinstance(task, Dataset) else load_task(task), parametrization, block, n, L, lrs,
                    seeds, steps, progress=progress, **kwargs)
    return dict(part, L=np.asarray(L), wall_seconds=np.asarray(time.perf_counter() - wall),
                cpu_seconds=np.asarray(time.thread_time() - cpu), threads=np.asarray(torch.get_num_threads()))


def merge_depth_parts(parts: Sequence[Mapping], depths: Sequence[int]) -> dict[str, np.ndarray]:
    """A depth sweep from its depths' results (:func:`depth_part`, in the order of ``depths``): the arrays of
    each stacked on a leading depth axis, as :func:`depth_sweep` returns them."""
    out = {"L": np.asarray([int(L) for L in depths]), "lr": parts[0]["lr"], "seed": parts[0]["seed"],
           "steps": parts[0]["steps"]}
    for key in SWEEP_ARRAYS:
        if key in parts[0]:
            out[key] = np.stack([p[key] for p in parts])
    threads = parts[0].get("threads", torch.get_num_threads())  # a migrated depth did not record it
    out.update(wall_seconds=np.asarray([float(p["wall_seconds"]) for p in parts]),
               cpu_seconds=np.asarray([float(p["cpu_seconds"]) for p in parts]), threads=np.asarray(threads))
    return out


# Arguments of depth_sweep / lr_sweep that change how the numbers are computed but not the numbers: never keyed.
NOT_KEYED = ("chunk_size", "engine", "device", "progress")
# Arguments added after sweeps were first cached: keyed only when they differ from this default, so that the
# files written before them keep their names (they were computed at the default).
KEYED_UNLESS_DEFAULT = {"preact": True}


def depth_sweep_config(task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                       lrs: Sequence[float], seeds: Sequence[int], steps: int, **kwargs) -> dict:
    """The cache key of a :func:`cached_depth_sweep`: every argument that changes the numbers. Everything in
    ``kwargs`` is keyed except :data:`NOT_KEYED`, and the arguments of :data:`KEYED_UNLESS_DEFAULT` at their
    default (so a new argument can never be served another configuration's file)."""
    config = {"task": _check_task(task), "parametrization": parametrization, "block": block, "n": check_int("n", n),
              "depths": [int(L) for L in depths], "lrs": [float(x) for x in _check_lrs(lrs)],
              "seeds": check_seeds(seeds), "steps": check_int("steps", steps, minimum=0)}
    for key, value in kwargs.items():
        if key in NOT_KEYED or (key in KEYED_UNLESS_DEFAULT and value == KEYED_UNLESS_DEFAULT[key]):
            continue
        config[key] = value
    return config


#: CPU-seconds per step, rate, seed, block layer and ``n^2`` on the project's machine (measured on the width-128
#: plateau sweeps: 1.1e-4 to 2.2e-4 s per step, rate, seed and layer at n = 128); how jobs are ordered and costed.
SWEEP_COST = 8e-9


def sweep_cost(config: Mapping) -> float:
    """Estimated CPU-seconds of the depth sweep (or depth job) ``config`` (a :func:`depth_sweep_config`)."""
    layers = sum(config["depths"]) * (2 if config["block"] == "two" else 1)
    return SWEEP_COST * config["steps"] * len(config["lrs"]) * len(config["seeds"]) * layers * config["n"] ** 2


def depth_jobs(name: str, task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
               lrs: Sequence[float], seeds: Sequence[int], steps: int, **kwargs) -> list[Job]:
    """The jobs of a cached depth sweep, one per depth: each computes :func:`depth_part` from its
    :func:`depth_sweep_config` and is stored under ``<data>/jobs/`` named ``<name>_L<depth>-<hash>.npz``."""
    jobs = []
    for L in depths:
        config = depth_sweep_config(task, parametrization, block, n, [L], lrs, seeds, steps, **kwargs)
        jobs.append(Job(f"{name}_L{int(L)}", "nfdlib.sweeps:depth_part", config, version=SWEEP_VERSION,
                        cost=sweep_cost(config)))
    return jobs


def cached_depth_sweep(name: str, task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                       lrs: Sequence[float], seeds: Sequence[int], steps: int, *, directory=None,
                       refresh: bool = False, progress: bool = True, **kwargs) -> dict[str, np.ndarray]:
    """:func:`depth_sweep`, read from (or written to) ``data/`` as ``.npz`` keyed by the whole configuration
    (:func:`depth_sweep_config`) and :data:`SWEEP_VERSION`. A corrupt, incomplete or stale file is recomputed
    with a warning (see :mod:`nfdlib.cache`).

    When the file is missing, the sweep is merged from its depth jobs (:func:`depth_jobs`); the depths not done
    yet are computed here, one after the other, with a message naming them and the command that runs them on
    many workers instead.
    """
    return depth_sweep_result(name, task, parametrization, block, n, depths, lrs, seeds, steps, **kwargs).load(
        directory, refresh=refresh, progress=progress)


def depth_sweep_result(name: str, task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                       lrs: Sequence[float], seeds: Sequence[int], steps: int, **kwargs) -> CachedResult:
    """The cached depth sweep ``name`` (:func:`cached_depth_sweep`) as a :class:`nfdlib.jobs.CachedResult` of its
    depth jobs (:func:`depth_jobs`)."""
    task = _check_task(task)
    config = depth_sweep_config(task, parametrization, block, n, depths, lrs, seeds, steps, **kwargs)
    jobs = depth_jobs(name, task, parametrization, block, n, depths, lrs, seeds, steps, **kwargs)
    return CachedResult(name, config, SWEEP_VERSION, jobs, partial(merge_depth_parts, depths=config["depths"]))


def sweep_name(prefix: str, task_key: str, parametrization: str, block: str, n: int) -> str:
    """The cache file name of one depth sweep, e.g. ``sweep_05_mnist1d_depth-mup-corrected_two_n128``."""
    return f"{prefix}_{task_key}_{parametrization}_{block}_n{n}"


__all__ = ["SWEEP_VERSION", "NOT_KEYED", "KEYED_UNLESS_DEFAULT", "log2_grid", "load_task", "lr_sweep", "depth_sweep",
           "depth_part", "merge_depth_parts", "depth_sweep_config", "SWEEP_COST", "sweep_cost", "depth_jobs",
           "cached_depth_sweep", "depth_sweep_result", "sweep_name"]
