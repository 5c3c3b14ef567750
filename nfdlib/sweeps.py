"""Learning-rate x seed sweeps and depth sweeps, with their cache.

One sweep trains every ``(eta, seed)`` of a grid for one architecture at once (:func:`lr_sweep`, through the
batched engine of :func:`nfdlib.engine.train_stacked`); a depth sweep repeats it at each depth
(:func:`depth_sweep`) and is cached under ``data/`` by its whole configuration (:func:`cached_depth_sweep`). A
depth sweep of hours keeps each finished depth in a ``partial`` folder beside its cache file, so an interrupted
sweep resumes where it stopped, across sessions. Reading a sweep (optima, drifts, plateaus) is
:mod:`nfdlib.optima`; the plans that say which sweeps a notebook needs are :mod:`nfdlib.plans`.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import cache
from .config import check_seeds, get_device
from .data import DATASETS, Dataset, load_dataset
from .engine import SWEEP_ARRAYS, train_stacked
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


def depth_file_problem(part: Mapping, L: int, lrs, seeds) -> str | None:
    """What is wrong with the stored result of one depth for the depth, rates and seeds asked (``None`` when
    nothing is): a missing array, another depth (files written since the depth was stored in them: ``L``), or
    another rate/seed grid. A file is never trusted by its name alone."""
    need = [k for k in (*_SWEEP_ARRAYS[1:], "wall_seconds", "cpu_seconds") if k not in part]
    if need:
        return f"missing {need}"
    if "L" in part and int(part["L"]) != int(L):
        return f"holds depth {int(part['L'])}, not {int(L)}"
    grid = (len(lrs), len(seeds))
    if (np.shape(part["lr"]) != grid[:1] or not np.allclose(part["lr"], lrs)
            or np.asarray(part["seed"]).tolist() != list(seeds) or np.shape(part["train_loss"])[:2] != grid):
        return "its rates, seeds or shape are not the plan's"
    return None


def _load_depth(path: Path, L: int, lrs, seeds) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            part = {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001 - an unreadable partial result is recomputed, never trusted
        warnings.warn(f"partial sweep file {path} is unreadable ({type(err).__name__}); recomputing that depth",
                      stacklevel=3)
        return None
    problem = depth_file_problem(part, L, lrs, seeds)
    if problem is not None:
        warnings.warn(f"partial sweep file {path} is not depth {L} of this sweep ({problem}); recomputing that "
                      "depth", stacklevel=3)
        return None
    return part


def _save_depth(path: Path, part: Mapping) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer, so that two processes on the same depth never write one temporary file.
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in part.items()})
    os.replace(tmp, path)


def depth_sweep(task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                lrs: Sequence[float], seeds: Sequence[int], steps: int, *, progress: bool = True,
                resume_dir: str | Path | None = None, **kwargs) -> dict[str, np.ndarray]:
    """:func:`lr_sweep` at each depth; arrays gain a leading depth axis (``depths`` is returned as ``L``).

    The compute each depth took is returned too: ``wall_seconds`` and ``cpu_seconds`` (process CPU time, which
    other load on a shared machine does not inflate) and ``threads`` (torch's intra-op threads).

    ``resume_dir`` keeps each finished depth there as ``L<depth>.npz``, and a later call with the same directory
    reads those depths instead of training them again: a sweep of hours survives an interrupted session. The
    directory must belong to this one configuration (:func:`cached_depth_sweep` names it by the cache key)."""
    depths = check_grid("depths", depths, integer=True).tolist()
    grid_lrs, grid_seeds = _check_lrs(lrs), check_seeds(seeds)
    data = load_task(task)
    parts, wall, cpu = [], [], []
    for L in tqdm(depths, desc=f"{parametrization}/{block} n={n}", disable=not progress, leave=False):
        saved = Path(resume_dir) / f"L{L}.npz" if resume_dir is not None else None
        part = _load_depth(saved, L, grid_lrs, grid_seeds) if saved is not None and saved.exists() else None
        if part is not None and progress:
            tqdm.write(f"{parametrization}/{block} n={n} L={L}: finished earlier, read from {saved}")
        if part is None:
            w0, c0 = time.perf_counter(), time.process_time()
            part = lr_sweep(data, parametrization, block, n, L, lrs, seeds, steps, progress=progress, **kwargs)
            part = dict(part, L=np.asarray(L), wall_seconds=time.perf_counter() - w0,
                        cpu_seconds=time.process_time() - c0)
            if saved is not None:
                _save_depth(saved, part)
        parts.append(part)
        wall.append(float(part["wall_seconds"]))
        cpu.append(float(part["cpu_seconds"]))
    out = {"L": np.asarray(depths), "lr": parts[0]["lr"], "seed": parts[0]["seed"], "steps": parts[0]["steps"]}
    for key in SWEEP_ARRAYS:
        if key in parts[0]:
            out[key] = np.stack([p[key] for p in parts])
    out.update(wall_seconds=np.asarray(wall), cpu_seconds=np.asarray(cpu),
               threads=np.asarray(torch.get_num_threads()))
    return out


# Arguments of depth_sweep / lr_sweep that change how the numbers are computed but not the numbers: never keyed.
NOT_KEYED = ("chunk_size", "engine", "device", "progress", "resume_dir")
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


def partial_dir(final: Path) -> Path:
    """Where the finished depths of the unfinished sweep whose cache file is ``final`` wait: in the folder
    ``partial`` beside it, a folder named like the file without its suffix (so by the whole configuration and
    :data:`SWEEP_VERSION`)."""
    return Path(final).parent / "partial" / Path(final).stem


def cached_depth_sweep(name: str, task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                       lrs: Sequence[float], seeds: Sequence[int], steps: int, *, directory=None,
                       refresh: bool = False, **kwargs) -> dict[str, np.ndarray]:
    """:func:`depth_sweep`, read from (or written to) ``data/`` as ``.npz`` keyed by the whole configuration
    (:func:`depth_sweep_config`) and :data:`SWEEP_VERSION`. A corrupt, incomplete or stale file is recomputed
    with a warning (see :mod:`nfdlib.cache`).
    """
    task = _check_task(task)
    config = depth_sweep_config(task, parametrization, block, n, depths, lrs, seeds, steps, **kwargs)
    final = cache.cache_path(name, config, SWEEP_VERSION, "npz", directory)
    # Finished depths wait in a "partial" folder beside the cache until the whole sweep is written. The folder is
    # named by the cache key, so it can be committed: a sweep longer than a session accumulates across sessions.
    resume = partial_dir(final)
    if refresh and resume.exists():
        shutil.rmtree(resume)
    out = cache.cached(name, config,
                       lambda: depth_sweep(task, parametrization, block, n, depths, lrs, seeds, steps,
                                           resume_dir=resume, **kwargs),
                       version=SWEEP_VERSION, fmt="npz", directory=directory, refresh=refresh)
    if resume.exists() and final.exists():
        shutil.rmtree(resume)
    return out


def sweep_name(prefix: str, task_key: str, parametrization: str, block: str, n: int) -> str:
    """The cache file name of one depth sweep, e.g. ``sweep_05_mnist1d_depth-mup-corrected_two_n128``."""
    return f"{prefix}_{task_key}_{parametrization}_{block}_n{n}"


__all__ = ["SWEEP_VERSION", "NOT_KEYED", "KEYED_UNLESS_DEFAULT", "log2_grid", "load_task", "lr_sweep", "depth_sweep",
           "depth_sweep_config", "cached_depth_sweep", "depth_file_problem", "partial_dir", "sweep_name"]
