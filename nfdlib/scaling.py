"""Scaling laws measured against the computed limit (notebook 07).

Three parts, each used by the notebook and testable on its own:

1. **Counting.** Parameters and matrix-multiply FLOPs of a :class:`~nfdlib.models.ResNet`: forward and backward
   per example, per SGD step and per run (:func:`count_params`, :func:`flops_per_example`, :func:`flops_per_run`),
   checked against the model's own tensors (:func:`model_params`) and against torch's FLOP counter run on a real
   forward and backward pass (:func:`measured_flops_per_example`).
2. **Grids.** Many sizes ``(n, L)`` trained with the batched SGD of :func:`nfdlib.sweeps.train_stacked` (one
   cached ``.npz`` per training rule and width, names ``scaling_*``), the learning rate tuned on a small model
   (:func:`tuned_rates`) and transferred; and the limit of the same training computed by the NFD solver with the
   reused-weight terms of true backpropagation (:func:`limit_reference`, :func:`solver_sweeps`).
3. **Fits.** The parametric law ``loss(n, L) = E + A n^-alpha + B L^-beta`` and its one-variable forms in the
   parameter count ``N`` and the compute ``C``, with or without the floor ``E`` (:data:`FORMS`), fitted by a
   Huber loss on log-loss residuals from many starts (:func:`fit_law`), intervals by a bootstrap over seeds;
   model comparison by extrapolation to held-out larger sizes (:func:`extrapolation_test`); and the compute-optimal
   ``(n, L)`` a fit implies at a FLOP budget (:func:`compute_optimal`, :func:`frontier`).

None of these laws is the paper's: the paper's text gives none that we could read. They are the standard
parametric forms of the empirical scaling-law literature, used here as measuring instruments.

``python -m nfdlib.scaling notebooks/07_scaling_laws.py`` recomputes every cached result of the notebook.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.stats import t as student_t
from tqdm.auto import tqdm

from .cache import cached, register_kind
from .models import BLOCKS, ResNet
from .parametrization import get_parametrization
from .validation import check_choice, check_float, check_int, known_arguments

#: Bumped by hand whenever code that produces a cached ``scaling_*`` result changes its numbers.
VERSION = "1"
# Every cached result of this module: trained size grids (runs of n, L, seed), learning-rate tunings and solves.
register_kind("scaling_", VERSION, "npz")


# ==========================================================================================================
# 1. Counting
# ==========================================================================================================
def _blocks_per_layer(block: str) -> int:
    return 1 if check_choice("block", block, BLOCKS) == "one" else 2


def count_params(d_in: int, d_out: int, n: int, L: int, block: str = "one") -> int:
    """Trainable parameters of a ``ResNet``: ``d_in n`` (input) ``+ k L n^2`` (blocks, ``k = 1`` or ``2``
    matrices per block) ``+ n d_out`` (readout). Biases: none (the models have none)."""
    d_in, d_out = check_int("d_in", d_in), check_int("d_out", d_out)
    n, L = check_int("n", n), check_int("L", L)
    return d_in * n + _blocks_per_layer(block) * L * n * n + n * d_out


def model_params(model: torch.nn.Module) -> int:
    """Trainable parameters counted from the model's own tensors (the check of :func:`count_params`)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


@dataclass(frozen=True)
class Flops:
    """Matrix-multiply FLOPs (a multiply-add counts 2) of one training example."""

    forward: float
    backward: float

    @property
    def total(self) -> float:
        return self.forward + self.backward


def flops_per_example(d_in: int, d_out: int, n: int, L: int, block: str = "one") -> Flops:
    """FLOPs of the forward and backward pass of one example through a ``ResNet``.

    Forward: ``2 (d_in n + k L n^2 + n d_out)``. Backward: every matrix gets its weight gradient (the same cost as
    its forward product) and every matrix but the input layer also passes the gradient to its input (once more):
    ``2 d_in n + 4 (k L n^2 + n d_out)``. So the total is ``6 (k L n^2 + n d_out) + 4 d_in n``, the familiar
    "6 x parameters" up to the input layer. Activations, additions and the SGD update (``O(N)`` per step, not per
    example) are not counted: at the sizes used here they are a few percent of the products.
    """
    d_in, d_out = check_int("d_in", d_in), check_int("d_out", d_out)
    n, L = check_int("n", n), check_int("L", L)
    hidden = _blocks_per_layer(block) * L * n * n
    forward = 2.0 * (d_in * n + hidden + n * d_out)
    backward = 2.0 * d_in * n + 4.0 * (hidden + n * d_out)
    return Flops(forward, backward)


def flops_per_step(d_in: int, d_out: int, n: int, L: int, batch_size: int, block: str = "one") -> float:
    """FLOPs of one SGD step on a minibatch of ``batch_size`` examples (forward and backward)."""
    return check_int("batch_size", batch_size) * flops_per_example(d_in, d_out, n, L, block).total


def flops_per_run(d_in: int, d_out: int, n: int, L: int, batch_size: int, steps: int, block: str = "one") -> float:
    """FLOPs of a training run of ``steps`` SGD steps (evaluations not counted): the compute ``C`` of the fits."""
    return check_int("steps", steps) * flops_per_step(d_in, d_out, n, L, batch_size, block)


def measured_flops_per_example(model: ResNet, batch: int = 2) -> Flops:
    """The FLOPs torch's own counter (``torch.utils.flop_counter``) sees in one forward and one backward pass of
    ``model`` on ``batch`` random inputs, divided by ``batch``: the independent check of
    :func:`flops_per_example`."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = check_int("batch", batch)
    p = next(model.parameters())
    x = torch.randn(batch, model.d_in, dtype=p.dtype, device=p.device)
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as fwd:
        out = model(x)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    model.zero_grad(set_to_none=True)
    return Flops(fwd.get_total_flops() / batch, bwd.get_total_flops() / batch)


# ==========================================================================================================
# 2. Grids of trained networks, and the limit
# ==========================================================================================================
@dataclass(frozen=True)
class Family:
    """A training rule: a parametrization of the registry, a block type and pre- or post-activation blocks."""

    key: str
    parametrization: str
    block: str = "one"
    preact: bool = True
    label: str = ""

    def __post_init__(self):
        get_parametrization(self.parametrization)
        check_choice("block", self.block, BLOCKS)


#: The rules of notebook 07: depth-muP with one-layer blocks (where scaling should work) and the rules where it
#: should fail (standard parametrization; muP without branch scaling; post-activation blocks; two-layer blocks
#: with and without the depth-aware correction of notebook 06).
FAMILIES = {
    "depth-mup": Family("depth-mup", "depth-mup", "one", True, "depth-muP, one-layer blocks"),
    "sp": Family("sp", "sp", "one", True, "SP (standard parametrization)"),
    "mup": Family("mup", "mup", "one", True, "muP, no branch scaling"),
    "postact": Family("postact", "depth-mup", "one", False, "depth-muP, post-activation blocks"),
    "two": Family("two", "depth-mup", "two", True, "depth-muP, two-layer blocks"),
    "two-corrected": Family("two-corrected", "depth-mup-corrected", "two", True,
                            "two-layer, corrected (eta_1 = eta n sqrt(L))"),
}


def get_family(key: str) -> Family:
    return FAMILIES[check_choice("family", key, tuple(FAMILIES))]


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


def train_sizes(family: str | Family, data, sizes: Sequence[tuple[int, int]], seeds, steps: int, *, lr: float,
                batch_size: int | None = None, loss: str = "mse", T: float = 1.0, eval_every: int | None = None,
                loss_bound: float = 1e6, max_stack_bytes: float = 2**30, device=None,
                progress: bool = False) -> dict[str, np.ndarray]:
    """Train every size ``(n, L)`` of ``sizes`` for every seed at base rate ``lr`` with
    :func:`nfdlib.sweeps.train_stacked` (seeds of one size stacked into one batched computation, as many at once
    as fit in ``max_stack_bytes`` of weights). ``seeds``: a list, a count, or a dict width -> list or count.

    Returns tidy arrays, one row per run: ``n``, ``L``, ``seed``, ``train_loss``, ``test_loss`` (and ``test_acc``
    with labels) of shape ``(runs, evals)`` at the evaluation ``steps``, ``diverged``, ``diverged_at``,
    ``params``, ``flops`` (per run, :func:`flops_per_run`) and ``seconds`` (wall time of each run's share).
    """
    from .config import get_device
    from .data import Dataset
    from .sweeps import load_task, train_stacked

    fam = family if isinstance(family, Family) else get_family(family)
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
    for n, L, size_seeds in tqdm(jobs, desc=f"{fam.key} grid", disable=not progress, leave=False):
        n_params = count_params(data.d, data.num_outputs, n, L, fam.block)
        # weights, their stacked copy and their gradient: about four copies per configuration
        per_call = max(1, int(max_stack_bytes // (16 * n_params)))

        def make_model(seed, n=n, L=L):
            return ResNet(data.d, data.num_outputs, n, L, block=fam.block, parametrization=fam.parametrization,
                          T=T, preact=fam.preact, seed=seed, device=dev)

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
                rows["flops"].append(flops_per_run(data.d, data.num_outputs, n, L, bs, steps, fam.block))
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
    import json

    from .sweeps import load_task

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


def size_grid(prefix: str, family: str, task: Mapping, sizes: Sequence[tuple[int, int]], seeds, steps: int, *,
              lr: float, batch_size: int | None = None, loss: str = "mse", T: float = 1.0,
              eval_every: int | None = None, loss_bound: float = 1e6, cache: bool = True, refresh: bool = False,
              progress: bool = True) -> dict[str, np.ndarray]:
    """:func:`train_sizes` of one training rule over ``sizes``, one cached ``.npz`` per width
    (``data/scaling_<prefix>_<family>_n<n>-<hash>.npz``, keyed by everything that changes the numbers); the
    run tables of all widths stacked. ``cache=False`` computes directly (quick mode)."""
    fam = get_family(family)
    widths = sorted({int(n) for n, _ in sizes})

    def data():  # loaded only when something has to be computed
        return load_task_once(task)

    parts = []
    for n in tqdm(widths, desc=f"{prefix} {family}", disable=not progress or len(widths) < 2, leave=False):
        depths = sorted(int(L) for m, L in sizes if int(m) == n)
        config = {"family": fam.key, "parametrization": fam.parametrization, "block": fam.block,
                  "preact": fam.preact, "task": dict(task), "n": n, "depths": depths,
                  "seeds": _seeds_for(seeds, n), "steps": int(steps), "lr": float(lr), "batch_size": batch_size,
                  "loss": loss, "T": float(T), "eval_every": eval_every, "loss_bound": float(loss_bound)}

        def compute(n=n, depths=depths):
            return train_sizes(fam, data(), [(n, L) for L in depths], _seeds_for(seeds, n), steps, lr=lr,
                               batch_size=batch_size, loss=loss, T=T, eval_every=eval_every, loss_bound=loss_bound,
                               progress=progress)

        if cache:
            parts.append(cached(f"scaling_{prefix}_{fam.key}_n{n}", config, compute, version=VERSION, fmt="npz",
                                refresh=refresh))
        else:
            parts.append(compute())
    return concat_runs(parts)


def final(runs: Mapping, key: str = "train_loss") -> np.ndarray:
    """The last recorded ``key`` of every run (NaN for diverged runs)."""
    check_choice("key", key, ("train_loss", "test_loss", "test_acc"))
    if key not in runs:
        raise ValueError(f"key {key!r} is not in these runs (they have {sorted(runs)})")
    values = np.asarray(runs[key], float)[:, -1].copy()
    values[np.asarray(runs["diverged"], bool)] = np.nan
    return values


# -- the learning rate, tuned on a small model and transferred -----------------------------------------------
def tune_lr(family: str, task: Mapping, *, n: int, L: int, lrs: Sequence[float], seeds: Sequence[int], steps: int,
            batch_size: int | None = None, loss: str = "mse", T: float = 1.0, select: str = "train_loss",
            loss_bound: float = 1e6, cache: bool = True, progress: bool = True) -> tuple[dict, dict]:
    """A learning-rate sweep of one rule on one small model (:func:`nfdlib.sweeps.lr_sweep`, cached as
    ``scaling_tune_<family>``) and its best rate (:func:`nfdlib.sweeps.best_rate`: the grid rate nearest the
    optimum of the seed-mean ``select`` curve). Returns ``(sweep, best)``; ``best["grid_lr"]`` is the rate that
    is transferred to every size."""
    from .sweeps import best_rate, lr_sweep

    fam = get_family(family)
    config = {"family": fam.key, "parametrization": fam.parametrization, "block": fam.block, "preact": fam.preact,
              "task": dict(task), "n": int(n), "L": int(L), "lrs": [float(x) for x in lrs],
              "seeds": [int(s) for s in seeds], "steps": int(steps), "batch_size": batch_size, "loss": loss,
              "T": float(T), "loss_bound": float(loss_bound)}

    def compute():
        t0 = time.perf_counter()
        out = lr_sweep(load_task_once(task), fam.parametrization, fam.block, n, L, lrs, seeds, steps,
                       batch_size=batch_size, loss=loss, T=T, eval_every=steps, loss_bound=loss_bound,
                       preact=fam.preact, progress=progress)
        out["seconds"] = np.array(time.perf_counter() - t0)
        return out

    sweep = cached(f"scaling_tune_{fam.key}", config, compute, version=VERSION, fmt="npz") if cache else compute()
    return sweep, best_rate(sweep, select=select)


# -- the limit: the NFD solver with the reused-weight terms of true backpropagation ---------------------------
def solver_runs(*, Ks: Sequence[int], M: int, seeds: Sequence[int], task: Mapping | None = None, T: float = 1.0,
                lr: float = 0.5, steps: int = 10, noise_grid: int | None = None, coupling: str = "reused",
                dtype: str = "float32", progress: bool = False) -> dict[str, np.ndarray]:
    """Solves of :func:`nfdlib.nfd.simulate_nfd` for each ``K`` and seed on a teacher task (``task``: the
    keyword arguments of :func:`nfdlib.data.make_teacher_task`, default the task of notebooks 02 to 04).

    A solve that blows up (``FloatingPointError``) is recorded as NaN with ``failed`` set. Returns
    ``train_loss``, ``test_loss`` of shape ``(len(Ks), len(seeds), steps + 1)``, ``failed``, ``Ks``,
    ``seconds`` (wall time of each solve)."""
    from .nfd import simulate_nfd
    from .nfd_sweeps import make_task

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    dt = dtypes[check_choice("dtype", dtype, tuple(dtypes))]
    data = make_task(dict(task) if task is not None else None)
    Ks, seeds = [check_int("Ks", K) for K in Ks], [int(s) for s in seeds]
    shape = (len(Ks), len(seeds), int(steps) + 1)
    out = {"train_loss": np.full(shape, np.nan), "test_loss": np.full(shape, np.nan),
           "failed": np.zeros(shape[:2], bool), "seconds": np.zeros(shape[:2]), "Ks": np.asarray(Ks)}
    jobs = [(i, j) for i in range(len(Ks)) for j in range(len(seeds))]
    for i, j in tqdm(jobs, desc=f"NFD {coupling}", disable=not progress, leave=False):
        t0 = time.perf_counter()
        try:
            r = simulate_nfd(data.X_train, data.Y_train, X_test=data.X_test, Y_test=data.Y_test, M=M, K=Ks[i], T=T,
                             steps=steps, lr=lr, seed=seeds[j], coupling=coupling, kernel_layers=[0],
                             noise_grid=noise_grid, dtype=dt)
            out["train_loss"][i, j], out["test_loss"][i, j] = r.train_loss, r.test_loss
        except FloatingPointError:
            out["failed"][i, j] = True
        out["seconds"][i, j] = time.perf_counter() - t0
    return out


def _cached_solver(name: str, config: dict, cache: bool, progress: bool) -> dict[str, np.ndarray]:
    def compute():
        return solver_runs(**config, progress=progress)

    return cached(f"scaling_{name}", config, compute, version=VERSION, fmt="npz") if cache else compute()


def limit_reference(spec: Mapping, *, cache: bool = True, progress: bool = True) -> dict:
    """The limit ``E_NFD`` of the networks of regime 1 and what it is made of.

    ``spec`` holds ``shared`` (keyword arguments of :func:`nfdlib.gia.limit_solver`; in full mode exactly
    notebook 04's reused solves, whose cache this reads), ``extra_Ks`` (more grid sizes, same ``M``, seeds and
    ``noise_grid``, so they share the Brownian paths) and ``particles`` (``{"K": K, "Ms": [...]}``: smaller
    particle counts at one ``K``, for the particle error). Returns ``Ks``, ``train_loss``, ``test_loss`` of shape
    ``(K, seeds, steps + 1)`` (all grids together, sorted by ``K``), ``particles`` (``Ms``, losses) and ``seconds``
    (compute time of what this notebook added; the shared solves were timed by notebook 04).
    """
    from . import gia

    shared = dict(spec["shared"])
    base = gia.run_experiment("limit_solver", shared, cache=cache, progress=progress)
    keys = ("M", "seeds", "T", "lr", "steps", "noise_grid")
    extra = _cached_solver("limit_solver", dict({k: shared.get(k) for k in keys}, Ks=list(spec["extra_Ks"]),
                                                coupling=shared.get("coupling", "reused")), cache, progress)
    part = dict(spec["particles"])
    runs = [_cached_solver("limit_particles", dict({k: shared.get(k) for k in keys if k != "M"}, M=int(M),
                                                   Ks=[int(part["K"])], coupling=shared.get("coupling", "reused")),
                           cache, progress) for M in part["Ms"]]
    Ks = np.concatenate([np.asarray(base["Ks"]), np.asarray(extra["Ks"])])
    order = np.argsort(Ks)
    out = {"Ks": Ks[order], "M": int(shared["M"])}
    for key in ("train_loss", "test_loss"):
        out[key] = np.concatenate([np.asarray(base[key]), np.asarray(extra[key])])[order]
    iK = list(out["Ks"]).index(int(part["K"])) if int(part["K"]) in out["Ks"] else None
    out["particles"] = {"K": int(part["K"]), "Ms": [int(M) for M in part["Ms"]] + [int(shared["M"])],
                        "train_loss": [np.asarray(r["train_loss"])[0] for r in runs]
                        + ([out["train_loss"][iK]] if iK is not None else [])}
    out["seconds"] = float(np.sum(extra["seconds"]) + sum(np.sum(r["seconds"]) for r in runs))
    return out


def limit_estimate(Ks, values, *, K_min: int = 4, terms: Sequence[str] = ("1/L",), particle_error: float = 0.0,
                   level: float = 0.95) -> dict:
    """``E_NFD``: the reused solver's loss extrapolated to ``K -> infinity``.

    ``values`` has shape ``(len(Ks), seeds)``; the seed-level values at ``K >= K_min`` are fitted by
    ``y = E_NFD + sum_t c_t t(K)`` (:func:`nfdlib.gia.extrapolate` with ``K`` as the depth), whose t interval holds
    the seed noise and the extrapolation. ``particle_error`` (an estimate of the finite-``M`` bias) widens the
    interval on both sides. Returns ``limit``, ``lo``, ``hi``, ``se``, the fit and ``predict(K)`` values.
    """
    from .gia import extrapolate

    Ks = np.asarray(Ks, float)
    values = np.asarray(values, float)
    if values.ndim != 2 or values.shape[0] != Ks.size:
        raise ValueError(f"values must have shape (len(Ks), seeds) = ({Ks.size}, R), got {values.shape}")
    keep = Ks >= K_min
    K_rep = np.repeat(Ks[keep], values.shape[1])
    fit = extrapolate(None, K_rep, values[keep].ravel(), terms=terms, level=level)
    pe = abs(check_float("particle_error", particle_error, allow_zero=True))
    return {"limit": fit.limit, "lo": fit["lo"] - pe, "hi": fit["hi"] + pe, "se": fit["se"],
            "particle_error": pe, "fit": fit, "K_min": K_min,
            "predict": {int(K): fit.predict(L=float(K)) for K in Ks}}


def solver_sweeps(spec: Mapping, *, cache: bool = True, progress: bool = True) -> dict[str, dict]:
    """What moves the limit itself: the reused solver alone, one setting varied at a time.

    ``spec`` holds ``base`` (keyword arguments of :func:`solver_runs`: ``Ks``, ``M``, ``seeds``, ``task``, ``T``,
    ``lr``, ``steps``, ``noise_grid``), ``vary`` (a dict setting -> list of values; ``"n_train"`` changes the
    task's training set size, ``"T"`` comes with the matching ``lr`` list under ``"T_lr"`` when given) and
    ``long`` (keyword overrides of ``base`` for one long solve: loss against SGD steps). One cached file per
    setting (``scaling_solver_<setting>``). Returns setting -> ``{"values", "train_loss", "test_loss"}`` with
    arrays ``(values, K, seeds, steps + 1)``, and ``"steps"`` -> the long solve.
    """
    base = dict(spec["base"])
    out = {}
    for name, values in spec["vary"].items():
        if name == "T_lr":
            continue
        configs = []
        for i, v in enumerate(values):
            c = dict(base)
            if name == "n_train":
                c["task"] = dict(base["task"], n_train=int(v))
            elif name == "T":
                c["T"] = float(v)
                if "T_lr" in spec["vary"]:
                    c["lr"] = float(spec["vary"]["T_lr"][i])
            else:
                c[check_choice("vary", name, ("n_train", "T", "lr", "T_lr"))] = float(v)
            configs.append(c)

        def compute(configs=configs):
            parts = [solver_runs(**c, progress=progress) for c in configs]
            res = {k: np.stack([p[k] for p in parts]) for k in ("train_loss", "test_loss", "failed", "seconds")}
            res["Ks"] = parts[0]["Ks"]
            res["lr"] = np.array([c["lr"] for c in configs])
            return res

        config = {"setting": name, "values": [float(v) for v in values], "configs": configs}
        res = cached(f"scaling_solver_{name}", config, compute, version=VERSION, fmt="npz") if cache else compute()
        out[name] = dict(res, values=np.asarray(values, float))
    if "long" in spec:
        out["steps"] = _cached_solver("solver_steps", dict(base, **spec["long"]), cache, progress)
    return out


def richardson(Ks, values) -> np.ndarray:
    """First-order extrapolation in ``1/K`` from the two largest grids (axis 0 of ``values`` runs over ``Ks``):
    ``(K2 y2 - K1 y1) / (K2 - K1)``, exact when ``y = y_inf + b/K``."""
    Ks = np.asarray(Ks, float)
    values = np.asarray(values, float)
    if Ks.size < 2 or values.shape[0] != Ks.size:
        raise ValueError("richardson needs two or more grids K with one row of values each")
    i1, i2 = np.argsort(Ks)[-2:]
    K1, K2 = Ks[i1], Ks[i2]
    return (K2 * values[i2] - K1 * values[i1]) / (K2 - K1)


# ==========================================================================================================
# 3. Fits: the parametric law, its intervals, extrapolation, and the compute-optimal allocation
# ==========================================================================================================
#: The forms of the law. ``"nL"``: ``E + A n^-alpha + B L^-beta``; ``"N"``: ``E + A N^-alpha`` in the parameter
#: count; ``"C"``: ``E + A C^-alpha`` in the training compute; each ``"-pure"`` form drops ``E`` (a pure power
#: law, the alternative without a floor).
FORMS = ("nL", "nL-pure", "N", "N-pure", "C", "C-pure")
_VARS = {"nL": ("n", "L"), "N": ("params",), "C": ("flops",)}
_COEFS = (("A", "alpha"), ("B", "beta"))


def _form(form: str) -> tuple[bool, tuple[str, ...]]:
    form = check_choice("form", form, FORMS)
    return not form.endswith("-pure"), _VARS[form.removesuffix("-pure")]


def param_names(form: str) -> list[str]:
    """The parameters of a form, in the order of the fit: ``E`` (unless pure), then ``A, alpha`` (and ``B, beta``)."""
    has_E, names = _form(form)
    out = ["E"] if has_E else []
    for i in range(len(names)):
        out += list(_COEFS[i])
    return out


@dataclass
class SizeTable:
    """Runs grouped by size ``(n, L)``: the per-size arrays ``n``, ``L``, ``params``, ``flops``; ``values`` of shape
    ``(sizes, seed ids)`` with NaN where a seed has no run at that size; ``seed_ids``; ``strata`` (one label per
    size: seeds are resampled within a stratum, jointly over its sizes)."""

    n: np.ndarray
    L: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    values: np.ndarray
    seed_ids: np.ndarray
    strata: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return np.nanmean(self.values, axis=1)

    @property
    def count(self) -> np.ndarray:
        return np.isfinite(self.values).sum(1)

    @property
    def sd(self) -> np.ndarray:
        """Seed-to-seed standard deviation (NaN with fewer than two seeds)."""
        c = self.count
        out = np.full(len(c), np.nan)
        ok = c > 1
        out[ok] = np.nanstd(self.values[ok], axis=1, ddof=1)
        return out

    @property
    def se(self) -> np.ndarray:
        return self.sd / np.sqrt(self.count)

    def var(self, name: str) -> np.ndarray:
        return np.asarray(getattr(self, check_choice("name", name, ("n", "L", "params", "flops"))), float)

    def select(self, mask) -> SizeTable:
        mask = np.asarray(mask, bool)
        return SizeTable(self.n[mask], self.L[mask], self.params[mask], self.flops[mask], self.values[mask],
                         self.seed_ids, self.strata[mask])

    def __len__(self) -> int:
        return len(self.n)


def _positive(name: str, x, size: int) -> np.ndarray:
    arr = np.asarray(x, float).ravel()
    if arr.size != size:
        raise ValueError(f"{name} must have one entry per run ({size}), got {arr.size}")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ValueError(f"{name} must be finite and > 0 for every run; got {arr[bad][:3].tolist()} "
                         f"at {int(bad.sum())} runs")
    return arr


def size_table(n, L, seed, loss, *, params=None, flops=None, strata: str | None = None) -> SizeTable:
    """Group per-run values into a :class:`SizeTable`.

    ``n``, ``L``, ``seed``, ``loss`` (and ``params``, ``flops`` when given: the per-run parameter count and
    compute, constant within a size) are equal-length sequences, one entry per run. Every size must be finite
    and > 0, and so must every loss: a diverged run (NaN) raises ``ValueError``, so drop such runs first
    (:func:`fit_runs` does, and counts them). ``strata``: ``None`` (one stratum) or ``"n"`` / ``"L"`` (resample
    seeds within each width or depth: use it when the number of seeds differs between widths).
    """
    loss_arr = np.asarray(loss, float).ravel()
    size = loss_arr.size
    if size == 0:
        raise ValueError("loss must hold at least one run")
    n_arr, L_arr = _positive("n", n, size), _positive("L", L, size)
    loss_arr = _positive("loss", loss_arr, size)
    seed_arr = np.asarray(seed).ravel()
    if seed_arr.size != size:
        raise ValueError(f"seed must have one entry per run ({size}), got {seed_arr.size}")
    p_arr = _positive("params", params, size) if params is not None else np.full(size, np.nan)
    f_arr = _positive("flops", flops, size) if flops is not None else np.full(size, np.nan)
    keys = sorted({(a, b) for a, b in zip(n_arr, L_arr)})
    seeds = np.unique(seed_arr)
    index = {k: i for i, k in enumerate(keys)}
    col = {s: j for j, s in enumerate(seeds)}
    values = np.full((len(keys), len(seeds)), np.nan)
    P, F = np.full(len(keys), np.nan), np.full(len(keys), np.nan)
    for a, b, s, v, pp, ff in zip(n_arr, L_arr, seed_arr, loss_arr, p_arr, f_arr):
        i = index[(a, b)]
        if np.isfinite(values[i, col[s]]):
            raise ValueError(f"seed {s} appears twice at size n={a:g}, L={b:g}")
        values[i, col[s]] = v
        P[i], F[i] = pp, ff
    ns = np.array([k[0] for k in keys])
    Ls = np.array([k[1] for k in keys])
    if strata is None:
        st = np.zeros(len(keys), int)
    else:
        st = {"n": ns, "L": Ls}[check_choice("strata", strata, ("n", "L"))]
    return SizeTable(ns, Ls, P, F, values, seeds, np.asarray(st))


def fit_runs(runs: Mapping, key: str = "train_loss", *, strata: str | None = None) -> tuple[SizeTable, int]:
    """The :class:`SizeTable` of a run table from :func:`train_sizes` (final ``key`` of every run), with the
    diverged runs left out; returns ``(table, number left out)``."""
    values = final(runs, key)
    ok = np.isfinite(values) & (values > 0)
    r = {k: np.asarray(runs[k])[ok] for k in ("n", "L", "seed", "params", "flops")}
    return size_table(r["n"], r["L"], r["seed"], values[ok], params=r["params"], flops=r["flops"],
                      strata=strata), int((~ok).sum())


def _log_pred(theta: np.ndarray, logx: np.ndarray, has_E: bool, e_fixed: float | None = None):
    """log of the law at the points, and the softmax weights of its terms (for the gradient). ``e_fixed``: a
    floor ``log E`` held fixed (no parameter) when ``has_E`` is false."""
    zs = []
    i = 0
    if has_E:
        zs.append(np.full(logx.shape[1], theta[0]))
        i = 1
    elif e_fixed is not None:
        zs.append(np.full(logx.shape[1], float(e_fixed)))
    for v in range(logx.shape[0]):
        zs.append(theta[i + 2 * v] - theta[i + 2 * v + 1] * logx[v])
    Z = np.stack(zs)
    m = Z.max(0)
    W = np.exp(Z - m)
    S = W.sum(0)
    return m + np.log(S), W / S


def _residuals(theta, logx, logy, has_E, e_fixed=None):
    """Residuals ``log law - log y`` and their Jacobian with respect to the parameters."""
    logp, w = _log_pred(theta, logx, has_E, e_fixed)
    J = np.empty((logy.size, theta.size))
    i = 0
    if has_E:
        J[:, 0] = w[0]
        i = 1
    t0 = 1 if (has_E or e_fixed is not None) else 0  # index of the first power-law term among the weights
    for v in range(logx.shape[0]):
        J[:, i + 2 * v] = w[t0 + v]
        J[:, i + 2 * v + 1] = -w[t0 + v] * logx[v]
    return logp - logy, J


def huber(r, delta: float) -> np.ndarray:
    """The Huber loss: ``r^2 / 2`` for ``|r| <= delta``, ``delta (|r| - delta / 2)`` beyond."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta))


def _lm_huber(theta, logx, logy, has_E, delta, lo, hi, max_iter: int = 100, e_fixed=None):
    """Minimize the mean Huber loss of the log residuals: Levenberg-Marquardt on iteratively reweighted least
    squares (weights ``min(1, delta / |r|)``), each step projected onto the bounds ``[lo, hi]``."""
    theta = np.clip(np.asarray(theta, float), lo, hi)
    r, J = _residuals(theta, logx, logy, has_E, e_fixed)
    f = huber(r, delta).mean()
    lam = 1e-3
    for _ in range(max_iter):
        w = np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
        JW = J * w[:, None]
        H = J.T @ JW
        g = JW.T @ r
        improved = False
        for _ in range(30):
            step = np.linalg.solve(H + lam * (np.diag(np.diag(H)) + 1e-12 * np.eye(theta.size)), -g)
            cand = np.clip(theta + step, lo, hi)
            r_c, J_c = _residuals(cand, logx, logy, has_E, e_fixed)
            f_c = huber(r_c, delta).mean()
            if np.isfinite(f_c) and f_c <= f:
                improved = True
                break
            lam *= 4.0
        if not improved:
            break
        done = f - f_c <= 1e-10 * max(f, 1e-300)  # no longer improving (flat valleys included)
        theta, r, J, f = cand, r_c, J_c, f_c
        lam = max(lam / 3.0, 1e-12)
        if done:
            break
    return float(f), theta


def _starts(logx, logy, has_E, e_fixed=None) -> list[np.ndarray]:
    """A grid of starting points: exponents 1/4, 0.6, 1.5 (each variable), floors 0, 1/2, 9/10 of the smallest
    value; each coefficient set so its term carries an equal share of the largest excess at the smallest size."""
    y = np.exp(logy)
    k = logx.shape[0]
    exps = (0.25, 0.6, 1.5)
    floors = (1e-3, 0.5, 0.9) if has_E else (0.0,)
    out = []
    for frac in floors:
        E0 = frac * y.min() if e_fixed is None else min(math.exp(e_fixed), 0.99 * y.min())
        excess = max(y.max() - E0, 1e-12 * y.max())
        for combo in np.array(np.meshgrid(*[exps] * k)).reshape(k, -1).T:
            th = [math.log(E0)] if has_E else []
            for v in range(k):
                th += [math.log(excess / k) + combo[v] * logx[v].min(), combo[v]]
            out.append(np.array(th))
    return out


def _bounds(logx, logy, has_E):
    b = [(float(logy.min()) - 30.0, float(logy.max()))] if has_E else []
    for _ in range(logx.shape[0]):
        b += [(-300.0, 300.0), (0.0, 6.0)]
    return b


def _minimize(starts, logx, logy, has_E, delta, max_iter: int = 100, e_fixed=None):
    bounds = _bounds(logx, logy, has_E)
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    sols = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for th0 in starts:
            fun, x = _lm_huber(th0, logx, logy, has_E, delta, lo, hi, max_iter, e_fixed)
            if np.all(np.isfinite(x)) and np.isfinite(fun):
                sols.append((fun, x))
    if not sols:
        raise ValueError("the fit failed from every start (non-finite objective)")
    sols.sort(key=lambda t: t[0])
    return sols


def _theta_to_params(theta, has_E, k, e_fixed=None) -> dict[str, float]:
    out = {"E": float(math.exp(theta[0])) if has_E else (0.0 if e_fixed is None else float(math.exp(e_fixed)))}
    i = 1 if has_E else 0
    for v in range(k):
        out[_COEFS[v][0]] = float(math.exp(theta[i + 2 * v]))
        out[_COEFS[v][1]] = float(theta[i + 2 * v + 1])
    return out


@dataclass
class LawFit:
    """A fitted law: ``params`` (``E``, ``A``, ``alpha`` and for ``"nL"`` forms ``B``, ``beta``; ``E = 0`` for a
    pure form), ``intervals`` (Student-t intervals at ``level`` on the standard error of ``boot``, the bootstrap
    replicates over seeds: :func:`_interval`), the fitted ``table`` and the Huber ``objective``."""

    form: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    boot: dict[str, np.ndarray]
    table: SizeTable
    objective: float
    level: float
    delta: float
    residual_rms: float
    extras: dict = field(default_factory=dict)

    @property
    def variables(self) -> tuple[str, ...]:
        return _form(self.form)[1]

    def _eval(self, p: Mapping, x: Mapping) -> np.ndarray:
        total = np.asarray(p["E"], float)
        for v, name in enumerate(self.variables):
            if name not in x:
                raise ValueError(f"predict needs {self.variables} for form {self.form!r}; missing {name!r}")
            A, a = _COEFS[v]
            size = np.asarray(x[name], float)
            if not np.all(np.isfinite(size) & (size > 0)):
                raise ValueError(f"{name} must be finite and > 0 (a law in {name}^-exponent is infinite at 0), "
                                 f"got {x[name]!r}")
            total = total + np.asarray(p[A], float) * size ** -np.asarray(p[a], float)
        return total

    def predict(self, **x) -> np.ndarray:
        """The law at the given sizes (``n=..., L=...``, or ``params=...``, or ``flops=...``)."""
        return self._eval(self.params, x)

    def predict_boot(self, **x) -> np.ndarray:
        """The law of every bootstrap replicate: shape ``(replicates, *size shape)``."""
        if not self.boot:
            raise ValueError("this fit has no bootstrap replicates (boot=0)")
        p = {k: v.reshape((-1,) + (1,) * np.ndim(next(iter(x.values())))) for k, v in self.boot.items()}
        return self._eval(p, x)

    def interval(self, name: str) -> tuple[float, float]:
        return self.intervals[check_choice("name", name, tuple(self.params))]

    def describe(self, name: str, digits: int = 3) -> str:
        lo, hi = self.interval(name)
        return f"{self.params[name]:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"

    def __str__(self) -> str:
        parts = [f"{k} = {self.describe(k)}" for k in self.params if k != "E" or not self.form.endswith("pure")]
        if self.extras.get("E_fixed"):
            parts[0] = f"E = {self.params['E']:.3g} (held fixed)"
        return f"{self.form}: " + ", ".join(parts) + f" ({self.level:.0%} t interval, bootstrap over seeds)"


def _check_points(table: SizeTable, form: str, E_fixed: bool = False) -> None:
    has_E, names = _form(form)
    k = len(param_names(form)) - int(E_fixed)
    if len(table) <= k:
        raise ValueError(f"form {form!r} has {k} parameters and needs more sizes than that; got {len(table)}")
    for name in names:
        x = table.var(name)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"form {form!r} needs {name!r} for every run (give {name}= to size_table)")
        need = 3 if has_E and not E_fixed else 2
        if len(np.unique(x)) < need:
            raise ValueError(f"form {form!r} needs at least {need} distinct values of {name}; "
                             f"got {len(np.unique(x))}")


def _resampled_means(table: SizeTable, rng: np.random.Generator) -> np.ndarray:
    """Seed means after resampling seed ids with replacement within each stratum."""
    finite = np.isfinite(table.values)
    V = np.where(finite, table.values, 0.0)
    out = np.full(len(table), np.nan)
    for s in np.unique(table.strata):
        rows = table.strata == s
        present = np.flatnonzero(finite[rows].any(0))
        pick = rng.choice(present, size=present.size, replace=True)
        w = np.bincount(pick, minlength=table.values.shape[1]).astype(float)
        num = V[rows] @ w
        den = finite[rows].astype(float) @ w
        with np.errstate(invalid="ignore", divide="ignore"):
            out[rows] = np.where(den > 0, num / den, np.nan)
    return out


def _min_seeds(table: SizeTable) -> int:
    """The fewest seeds any stratum resamples from."""
    finite = np.isfinite(table.values)
    return int(min(finite[table.strata == st].any(0).sum() for st in np.unique(table.strata)))


def _seed_dof(table: SizeTable, theta, logx, has_E: bool, delta: float, e_fixed=None) -> tuple[np.ndarray, ...]:
    """For each fitted parameter (``theta``, log scale for ``E``, ``A``, ``B``): the degrees of freedom of its seed
    variance and the factor that turns the bootstrap variance into an unbiased one.

    With one stratum of ``R`` seeds these are ``R - 1`` and ``R / (R - 1)`` for every parameter. With strata of
    ``R_s`` seeds (for example many seeds at small widths, two at the largest) each stratum adds its own share
    ``v_s`` to the variance, found by linearizing the fit in the seed means (``d theta / d log mean`` from the
    reweighted normal equations at the optimum); the bootstrap sees ``v_s (R_s - 1) / R_s`` of each, and the
    degrees of freedom are Welch-Satterthwaite's, ``(sum v_s)^2 / sum v_s^2 / (R_s - 1)``. So a parameter fixed by
    the well-seeded widths is not judged by the two seeds of the widest one, and one that rests on them is."""
    logy = np.log(table.mean)
    r, J = _residuals(theta, logx, logy, has_E, e_fixed)
    JW = J * np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))[:, None]  # the Huber weights
    G = np.linalg.pinv(J.T @ JW) @ JW.T  # (parameters, sizes): d theta / d log mean
    finite = np.isfinite(table.values)
    mean, count = table.mean, finite.sum(1)
    # each seed's share of each size's relative deviation of the mean
    dev = np.where(finite, (table.values - mean[:, None]) / (mean * np.maximum(count, 1))[:, None], 0.0)
    seen, unbiased, terms = np.zeros(theta.size), np.zeros(theta.size), np.zeros(theta.size)
    for s in np.unique(table.strata):
        rows = table.strata == s
        R = int(finite[rows].any(0).sum())
        if R < 2:
            return np.full(theta.size, np.nan), np.full(theta.size, np.nan)
        u = G[:, rows] @ dev[rows]  # (parameters, seeds)
        b = (u**2).sum(1)  # what the bootstrap sees of this stratum
        seen += b
        unbiased += b * R / (R - 1)
        terms += (b * R / (R - 1)) ** 2 / (R - 1)
    R = _min_seeds(table)
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = np.where(terms > 0, unbiased**2 / terms, R - 1)
        factor = np.where(seen > 0, unbiased / seen, R / (R - 1))
    return dof, factor


def _interval(estimate: float, reps: np.ndarray, level: float, seeds: int, positive: bool = False, *,
              dof: float | None = None, factor: float | None = None) -> tuple[float, float]:
    """Student-t interval on the bootstrap standard error: ``estimate +- t se`` with
    ``se = sqrt(R / (R - 1)) sd(reps)`` and ``t`` the ``(1 + level) / 2`` quantile of Student's t with ``R - 1``
    degrees of freedom, for ``R`` seeds (``dof`` and ``factor``, when given, replace ``R - 1`` and
    ``R / (R - 1)``: :func:`_seed_dof` gives them for a table with strata).

    Why not the percentile interval: a bootstrap over ``R`` seeds sees the seed variance times ``(R - 1) / R``, and
    its replicates spread like a normal law whose variance is known, while the variance here is itself estimated
    from ``R`` seeds. For a mean over seeds this rule is the exact t interval; for the fitted law it brings the
    coverage of known parameters at five seeds from 80-90% (the widened percentile interval) to 92-97%
    (:func:`fit_law`). ``positive`` quantities (a floor, a coefficient, a size) get the interval of their
    logarithm, so they stay positive. NaN with fewer than two seeds or two usable replicates."""
    reps = np.asarray(reps, float)
    reps = reps[np.isfinite(reps) & ((reps > 0) if positive else True)]
    dof = seeds - 1 if dof is None else dof
    factor = seeds / (seeds - 1) if factor is None and seeds >= 2 else factor
    bad = reps.size < 2 or seeds < 2 or not (math.isfinite(dof) and dof > 0 and math.isfinite(factor))
    if bad or not math.isfinite(estimate) or (positive and estimate <= 0):
        return float("nan"), float("nan")
    centre, values = (math.log(estimate), np.log(reps)) if positive else (estimate, reps)
    se = math.sqrt(factor) * float(np.std(values, ddof=1))
    half = float(student_t.ppf(0.5 + level / 2, dof)) * se
    lo, hi = centre - half, centre + half
    if positive:  # an interval over hundreds of decades (two seeds, a coefficient sent to zero) ends at infinity
        return float(math.exp(min(lo, 709.0))), (float(math.exp(hi)) if hi < 709.0 else math.inf)
    return float(lo), float(hi)


# A fit whose typical log residual (the median absolute one, so that one stalled size that the Huber loss leaves
# aside does not count) exceeds this many times the typical relative standard error of a seed mean describes the
# data worse than the seeds' own noise could explain by far: its parameters are not the data's.
MISFIT_FACTOR = 10.0


def _warn_if_misfit(table: SizeTable, form: str, resid: np.ndarray) -> None:
    rel_se = table.se / table.mean
    rel_se = rel_se[np.isfinite(rel_se) & (rel_se > 0)]
    if rel_se.size == 0:
        return  # one seed per size: no noise to compare with
    typical, noise = float(np.median(np.abs(resid))), float(np.median(rel_se))
    if typical > MISFIT_FACTOR * noise:
        warnings.warn(f"the fitted {form!r} law misses the seed means by {typical:.3g} in log (median), more than "
                      f"{MISFIT_FACTOR:g} times their typical relative standard error {noise:.3g}: the form (or a "
                      "floor held fixed) does not describe these data", stacklevel=3)


@known_arguments
def fit_law(table: SizeTable, form: str = "nL", *, boot: int = 200, level: float = 0.95, delta: float = 0.05,
            seed: int = 0, E: float | None = None, progress: bool = False) -> LawFit:
    """Fit ``form`` (one of :data:`FORMS`) to the seed means of ``table``.

    The law is fitted in log space, ``log law(x) = logsumexp(e, a - alpha log n, b - beta log L)`` with
    ``E = e^e``, ``A = e^a``, ``B = e^b``, by minimizing the mean Huber loss (threshold ``delta``) of
    ``log law - log mean`` over sizes (Levenberg-Marquardt on reweighted least squares) from a grid of starts,
    keeping the best. The default
    ``delta = 0.05`` is quadratic for the seed noise of a seed mean (a few percent) and linear beyond, so one bad
    size cannot drag the fit. Exponents are bounded to ``[0, 6]``. Intervals: ``boot`` refits on seed means
    resampled over seeds (within the table's strata), started from the best solutions of the full fit; from their
    standard error, a Student-t interval at ``level`` with ``R - 1`` degrees of freedom for ``R`` seeds (with strata
    of different seed counts, each stratum weighted by its share of the variance: :func:`_seed_dof`; the degrees of
    freedom are in ``extras["dof"]``). How many seeds: at least 2 (fewer gives NaN intervals); at 3 to 5 seeds the
    t quantile (4.3 and 2.8 at 95%) makes them wide but calibrated, and 5 or more are needed for intervals narrow
    enough to decide much. Coverage at nominal 95%, five seeds, 2% noise, a 6 x 5 grid of ``(n, L)``, 200-600
    synthetic data sets per case (a known law free and with ``E`` held, random laws, strata of 2 to 8 seeds):
    92-97% for each parameter, the lowest for ``A`` and ``alpha`` (whose estimates have heavier tails than t), where
    the percentile interval used before covered 80-90%; tests/test_scaling.py checks it. ``boot`` of 200 or more
    keeps the replicates' own noise small. ``E`` (a number > 0, for a form with a floor) holds the floor fixed at
    that value, for example at a computed limit, and fits the rest (the bootstrap refits hold it too). Raises
    ``ValueError`` when the table has too few sizes for the form.
    """
    has_E, names = _form(form)
    e_fixed = None
    if E is not None:
        if not has_E:
            raise ValueError(f"E can only be held fixed in a form with a floor, not in {form!r}")
        e_fixed = math.log(check_float("E", E))
        has_E = False
        # A floor above every seed mean leaves no law to fit (each term would have to be negative). A floor above
        # some of them is a statistical question (noisy sizes can fall below a limit): the misfit warning speaks
        # if the fit cannot follow them.
        if E >= float(np.max(table.mean)):
            raise ValueError(f"E must lie below the losses it is a floor of (the largest seed mean is "
                             f"{float(np.max(table.mean)):.4g}), got {E}")
    _check_points(table, form, E_fixed=e_fixed is not None)
    boot = check_int("boot", boot, minimum=0)
    level = check_float("level", level)
    if not level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    delta = check_float("delta", delta)
    logx = np.log(np.stack([table.var(v) for v in names]))
    logy = np.log(table.mean)
    sols = _minimize(_starts(logx, logy, has_E, e_fixed), logx, logy, has_E, delta, e_fixed=e_fixed)
    obj, theta = sols[0]
    params = _theta_to_params(theta, has_E, len(names), e_fixed)
    resid = _log_pred(theta, logx, has_E, e_fixed)[0] - logy
    _warn_if_misfit(table, form, resid)
    # bootstrap: start each refit from the distinct best solutions of the full fit
    seeds_from = [theta]
    for _, th in sols[1:]:
        if len(seeds_from) >= 2:
            break
        if all(np.max(np.abs(th - s)) > 1e-3 for s in seeds_from):
            seeds_from.append(th)
    rng = np.random.default_rng(seed)
    reps = {k: [] for k in params}
    for _ in tqdm(range(boot), desc=f"bootstrap {form}", disable=not progress, leave=False):
        y = _resampled_means(table, rng)
        ok = np.isfinite(y) & (y > 0)
        if ok.sum() <= len(theta):
            continue
        b_obj, b_theta = _minimize(seeds_from, logx[:, ok], np.log(y[ok]), has_E, delta, max_iter=40,
                                   e_fixed=e_fixed)[0]
        for k, v in _theta_to_params(b_theta, has_E, len(names), e_fixed).items():
            reps[k].append(v)
    boot_arr = {k: np.asarray(v) for k, v in reps.items()} if boot else {}
    fitted = [k for k in params if k != "E" or has_E]  # the order of theta
    dof, factor = (dict(zip(fitted, a.tolist())) for a in _seed_dof(table, theta, logx, has_E, delta, e_fixed))
    seeds = _min_seeds(table)
    intervals = {k: _interval(params[k], v, level, seeds, positive=k in ("E", "A", "B"), dof=dof.get(k),
                              factor=factor.get(k))
                 for k, v in boot_arr.items()} if boot else \
        {k: (float("nan"), float("nan")) for k in params}
    return LawFit(form, params, intervals, boot_arr, table, obj, level, delta, float(np.sqrt(np.mean(resid**2))),
                  extras={"E_fixed": e_fixed is not None, "dof": dof, "factor": factor})


# -- model comparison by extrapolation ---------------------------------------------------------------------------
def holdout_mask(table: SizeTable, by: str = "flops", fraction: float = 0.25) -> np.ndarray:
    """The sizes to hold out: the largest ``fraction`` of sizes by ``by`` (``"flops"``, ``"params"``, ``"n"`` or
    ``"L"``), at least one; ties at the threshold are held out together."""
    fraction = check_float("fraction", fraction)
    if not fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    x = table.var(by)
    k = max(1, int(round(fraction * len(x))))
    threshold = np.sort(x)[-k]
    return x >= threshold


def extrapolation_test(table: SizeTable, forms: Sequence[str] = FORMS, *, by: str = "flops",
                       fraction: float = 0.25, held=None, delta: float = 0.05) -> list[dict]:
    """Fit each form on the smaller sizes and predict the held-out largest ones (:func:`holdout_mask`, or the
    boolean mask ``held``). Per form: ``rms_log_error`` (rms of ``log(predicted / measured seed mean)`` over held-out
    sizes), ``max_log_error``, ``bias`` (the mean log error: > 0 means the form predicts too high), the fit
    (without bootstrap) and the per-size ``predicted`` and ``measured`` values. Sorted from best to worst."""
    held = holdout_mask(table, by, fraction) if held is None else np.asarray(held, bool)
    if held.shape != (len(table),) or held.all() or not held.any():
        raise ValueError("held must mark some, but not all, sizes of the table")
    train, test = table.select(~held), table.select(held)
    rows = []
    for form in forms:
        with warnings.catch_warnings():
            # forms that miss the data are expected here: the comparison by extrapolation is what judges them
            warnings.filterwarnings("ignore", message="the fitted .* law misses the seed means")
            fit = fit_law(train, form, boot=0, delta=delta)
        x = {v: test.var(v) for v in fit.variables}
        pred = fit.predict(**x)
        err = np.log(pred / test.mean)
        rows.append({"form": form, "fit": fit, "rms_log_error": float(np.sqrt(np.mean(err**2))),
                     "max_log_error": float(np.max(np.abs(err))), "bias": float(np.mean(err)),
                     "predicted": pred, "measured": test.mean, "held": int(held.sum()), "fitted": int((~held).sum())})
    return sorted(rows, key=lambda r: r["rms_log_error"])


# -- the compute-optimal allocation -----------------------------------------------------------------------------
def compute_model(d_in: int, d_out: int, *, batch_size: int, steps: int, block: str = "one") -> Callable:
    """:func:`flops_per_run` as a function of real-valued (array) ``n`` and ``L``, for optimizing over them."""
    d_in, d_out = check_int("d_in", d_in), check_int("d_out", d_out)
    batch_size, steps = check_int("batch_size", batch_size), check_int("steps", steps)
    k = _blocks_per_layer(block)

    def compute(n, L):
        n, L = np.asarray(n, float), np.asarray(L, float)
        # L = 0 is allowed: the budget's depth is found from compute(n, 0) and compute(n, 1) (_depth_at)
        if not (np.all(n > 0) and np.all(L >= 0)):
            raise ValueError(f"n must be > 0 and L >= 0 to count FLOPs, got n={n!r}, L={L!r}")
        return steps * batch_size * (6.0 * (k * L * n * n + n * d_out) + 4.0 * d_in * n)

    return compute


def _depth_at(budget: float, compute: Callable, n):
    """The depth that spends ``budget`` at width ``n`` (``compute`` is linear in ``L``)."""
    c0 = compute(n, 0.0)
    return (budget - c0) / (compute(n, 1.0) - c0)


def _feasible_logn(budget: float, compute: Callable, n_range, L_range) -> tuple[float, float] | None:
    """The interval of ``log n`` inside ``n_range`` whose budget depth lies inside ``L_range`` (the depth falls
    as the width grows, so the ends are found by bisection), or ``None``."""
    lo, hi = math.log(n_range[0]), math.log(n_range[1])

    def depth(logv):
        return float(_depth_at(budget, compute, math.exp(logv)))

    def cross(target):  # the log n where depth(log n) == target, inside [lo, hi]
        a, b = lo, hi
        for _ in range(200):
            mid = 0.5 * (a + b)
            a, b = (mid, b) if depth(mid) > target else (a, mid)
        return 0.5 * (a + b)

    if depth(lo) <= L_range[1]:
        a = lo
    elif depth(hi) <= L_range[1]:
        a = cross(L_range[1])
    else:
        return None  # even the widest network spends the budget on more depth than allowed
    if depth(hi) >= L_range[0]:
        b = hi
    elif depth(lo) >= L_range[0]:
        b = cross(L_range[0])
    else:
        return None  # even the narrowest network cannot reach the smallest depth
    return (a, b) if a <= b else None


def _optimum_on_grid(p: Mapping, budget: float, compute: Callable, logn: np.ndarray) -> tuple:
    n = np.exp(logn)
    L = np.maximum(_depth_at(budget, compute, n), 1e-300)
    loss = p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * L ** -p["beta"]
    i = int(np.argmin(loss))
    return float(n[i]), float(L[i]), float(loss[i]), i in (0, len(logn) - 1)


def compute_optimal(fit: LawFit, budget: float, compute: Callable, *, n_range=(1.0, 1e6),
                    L_range=(1.0, 1e6), grid: int = 600) -> dict:
    """The ``(n, L)`` that minimizes the fitted ``"nL"`` law at training compute ``budget``, with
    ``compute(n, L)`` linear in ``L`` (as :func:`compute_model` is): for each ``n`` the budget fixes ``L``; the best
    ``n`` is found on a log grid over the feasible widths and refined. ``n`` and ``L`` are real numbers restricted to
    the given ranges (keep them near the fitted grid: outside it the law is an extrapolation). Returns ``n``, ``L``,
    ``loss`` (predicted), ``at_edge`` (the optimum sits on a range limit, so it is only a bound) and, when the fit
    has replicates, the ``level`` intervals ``n_lo, n_hi, L_lo, L_hi, loss_lo, loss_hi``. All NaN when no width
    in range spends the budget at a depth in range.
    """
    if fit.form.removesuffix("-pure") != "nL":
        raise ValueError(f"compute_optimal needs a fit of form 'nL' or 'nL-pure', got {fit.form!r}")
    budget = check_float("budget", budget)
    for name, pair in (("n_range", n_range), ("L_range", L_range)):
        if np.ndim(pair) != 1 or len(pair) != 2:
            raise ValueError(f"{name} must be a pair (low, high), got {pair!r}")
    n_range = tuple(check_float("n_range", v) for v in n_range)
    L_range = tuple(check_float("L_range", v) for v in L_range)
    for name, (lo, hi) in (("n_range", n_range), ("L_range", L_range)):
        if not lo < hi:
            raise ValueError(f"{name} must be (low, high) with low < high, got {(lo, hi)}")
    nan = float("nan")
    out = {"budget": budget, "n": nan, "L": nan, "loss": nan, "at_edge": True}
    feasible = _feasible_logn(budget, compute, n_range, L_range)
    if feasible is None:
        if fit.boot:
            out.update({f"{k}_{e}": nan for k in ("n", "L", "loss") for e in ("lo", "hi")})
        return out
    logn = np.linspace(feasible[0], feasible[1], check_int("grid", grid, minimum=3))
    n, L, loss, edge = _optimum_on_grid(fit.params, budget, compute, logn)
    p = fit.params

    def f(logv):
        nv = math.exp(logv)
        Lv = max(float(_depth_at(budget, compute, nv)), 1e-300)
        return float(p["E"] + p["A"] * nv ** -p["alpha"] + p["B"] * Lv ** -p["beta"])

    if feasible[1] > feasible[0]:
        step = logn[1] - logn[0]
        lo_b, hi_b = max(math.log(n) - step, feasible[0]), min(math.log(n) + step, feasible[1])
        res = minimize_scalar(f, bounds=(lo_b, hi_b), method="bounded", options={"xatol": 1e-10})
        if res.fun <= loss:
            n, loss = math.exp(res.x), float(res.fun)
            L = float(_depth_at(budget, compute, n))
            edge = res.x - feasible[0] < 1e-6 or feasible[1] - res.x < 1e-6
    out.update(n=n, L=L, loss=loss, at_edge=bool(edge))
    if fit.boot:
        reps = np.array([_optimum_on_grid({k: v[b] for k, v in fit.boot.items()}, budget, compute, logn)[:3]
                         for b in range(len(fit.boot["E"]))])
        for j, name in enumerate(("n", "L", "loss")):
            # a derived quantity mixes the parameters: the most cautious of their degrees of freedom
            dof = min(fit.extras.get("dof", {}).values(), default=None)
            factor = max(fit.extras.get("factor", {}).values(), default=None)
            out[f"{name}_lo"], out[f"{name}_hi"] = _interval(out[name], reps[:, j], fit.level,
                                                             _min_seeds(fit.table), positive=True, dof=dof,
                                                             factor=factor)
    return out


def frontier(fit: LawFit, budgets: Sequence[float], compute: Callable, **kwargs) -> list[dict]:
    """:func:`compute_optimal` at each budget (the compute-optimal frontier implied by a fit)."""
    return [compute_optimal(fit, b, compute, **kwargs) for b in budgets]


def empirical_frontier(table: SizeTable, budgets: Sequence[float]) -> list[dict]:
    """Per budget, the measured size with the lowest seed-mean loss among those whose compute is at most the
    budget (``n``, ``L``, ``flops``, ``loss``, ``se``); NaN entries when no size fits."""
    flops, mean, se = table.var("flops"), table.mean, table.se
    rows = []
    for b in budgets:
        ok = flops <= b * (1 + 1e-9)
        if not ok.any():
            rows.append({"budget": float(b), "n": np.nan, "L": np.nan, "flops": np.nan, "loss": np.nan,
                         "se": np.nan})
            continue
        i = np.flatnonzero(ok)[int(np.argmin(mean[ok]))]
        rows.append({"budget": float(b), "n": float(table.n[i]), "L": float(table.L[i]), "flops": float(flops[i]),
                     "loss": float(mean[i]), "se": float(se[i])})
    return rows


# -- does a rule keep improving with size? -----------------------------------------------------------------------
def arm_trend(runs: Mapping, along: str, where: Mapping, *, key: str = "test_loss", last: int = 3,
              tol: float = 0.0) -> dict:
    """How the final ``key`` moves along one arm of a grid (``along="n"`` at fixed ``where={"L": 8}``, or
    ``along="L"``): the seed means per size, the number of diverged runs, and a log-log slope fit
    (:func:`nfdlib.stats.fit_loglog`, seeds pooled) over the ``last`` largest sizes. ``verdict`` applies
    :func:`nfdlib.stats.interval_verdict` to the claim "keeps improving" (slope below ``-tol``): ``"improves"``
    (agree), ``"stalls or worsens"`` (disagree), ``"not resolved"``; ``"diverges"`` when a run at the largest size
    diverged. ``claim`` is that :class:`~nfdlib.stats.Verdict` (a divergence disagrees), for a claims table."""
    from .stats import fit_loglog, interval_verdict

    check_choice("along", along, ("n", "L"))
    last = check_int("last", last, minimum=2)
    mask = np.ones(len(runs["n"]), bool)
    for k, v in where.items():
        mask &= np.asarray(runs[check_choice("where", k, ("n", "L"))]) == v
    x = np.asarray(runs[along])[mask]
    values = final(runs, key)[mask]
    diverged = np.asarray(runs["diverged"], bool)[mask]
    sizes = np.unique(x)
    if sizes.size == 0:
        raise ValueError(f"no runs with {dict(where)}")
    means = np.array([np.nanmean(values[x == s]) if np.isfinite(values[x == s]).any() else np.nan for s in sizes])
    ndiv = np.array([int(diverged[x == s].sum()) for s in sizes])
    top = sizes[-last:]
    sel = np.isin(x, top) & np.isfinite(values)
    fit = None
    if len(np.unique(x[sel])) >= 2:
        fit = fit_loglog(x[sel], values[sel])
    # a run that diverged at the largest size has the growth slope [inf, inf]: "keeps improving" is then disagreed
    lo, hi = (math.inf, math.inf) if ndiv[-1] > 0 else (fit.lo, fit.hi) if fit is not None else (math.nan, math.nan)
    claim = interval_verdict(lo, hi, allowed=(-math.inf, -tol))
    if ndiv[-1] > 0:
        verdict = "diverges"
    else:
        verdict = {"agree": "improves", "disagree": "stalls or worsens", "not resolved": "not resolved"}[claim.outcome]
    return {"sizes": sizes, "means": means, "diverged": ndiv, "fit": fit, "verdict": verdict, "claim": claim}


# -- the finite-size gap, one network at a time ------------------------------------------------------------------
def deviations(table: SizeTable, reference: Mapping[int, float]) -> dict[str, np.ndarray]:
    """How far networks are from their limit, per size: ``reference[L]`` is the ``n -> infinity`` value at depth
    ``L`` (the reused solver at ``K = L``). Returns per-size arrays ``n``, ``L``, ``bias`` (seed mean minus
    reference: what averaging many networks leaves), ``bias_se`` (its standard error), ``spread`` (seed-to-seed
    standard deviation: what one network adds) and ``rms`` (root mean square of one network's distance to the
    reference, ``sqrt(bias^2 + spread^2)`` up to ``1/R``: what a single training run shows)."""
    missing = sorted({int(L) for L in table.L} - {int(k) for k in reference})
    if missing:
        raise ValueError(f"reference must give a value for every depth; missing L = {missing}")
    ref = np.array([reference[int(L)] for L in table.L], float)
    diff = table.values - ref[:, None]
    rms = np.sqrt(np.nanmean(diff**2, axis=1))
    return {"n": table.n.astype(float), "L": table.L.astype(float), "bias": table.mean - ref, "bias_se": table.se,
            "spread": table.sd, "rms": rms, "count": table.count}


# -- honest claims of notebook 07: the limit's Monte Carlo error, a signed bias fit, an n x L interaction ---------
def _solver_config(shared: Mapping, **changes) -> dict:
    """The cache key layout of one added solve of :func:`limit_reference` (same fields, same order)."""
    keys = ("M", "seeds", "T", "lr", "steps", "noise_grid")
    return dict({k: shared.get(k) for k in keys}, **changes, coupling=shared.get("coupling", "reused"))


def particle_seeds(spec: Mapping, reference: Mapping, *, cache: bool = True, progress: bool = True
                   ) -> dict[int, np.ndarray]:
    """Final training loss of every solver seed at each particle count ``M``, at the grid ``K`` of
    ``spec["particles"]``: the solves of :func:`limit_reference` (``reference``, its return value: the smaller
    counts and the shared one) plus ``spec["particles"]["more_seeds"]`` (a list of ``[M, [seeds]]``, each one
    cached file ``scaling_limit_particles`` keyed like the first ones). Returns ``{M: per-seed losses}`` sorted by
    ``M``, the seeds of :func:`limit_reference` first."""
    part, shared = dict(spec["particles"]), dict(spec["shared"])
    out: dict[int, list] = {}
    for M, losses in zip(reference["particles"]["Ms"], reference["particles"]["train_loss"]):
        out.setdefault(int(M), []).extend(np.asarray(losses, float)[..., -1].ravel().tolist())
    for M, more in part.get("more_seeds", []):
        runs = _cached_solver("limit_particles", _solver_config(shared, M=int(M), seeds=[int(s) for s in more],
                                                                Ks=[int(part["K"])]), cache, progress)
        out.setdefault(int(M), []).extend(np.asarray(runs["train_loss"], float)[0, :, -1].tolist())
    return {M: np.asarray(out[M]) for M in sorted(out)}


def limit_with_particles(Ks, values, particles: Mapping[int, Sequence[float]], *, K_ref: int, K_min: int = 4,
                         level: float = 0.95) -> dict:
    """``E_NFD`` with an interval that holds its own Monte Carlo error: seeds, and the finite particle count.

    ``values[K, seed]`` are solves at the largest particle count ``M2`` on the grids ``Ks`` (a seed shares its
    Brownian paths across ``K``). Each seed is extrapolated on its own, ``y_s(K) = l_s + b_s / K`` over
    ``K >= K_min``, and ``g_s = y_s(K_ref) - l_s`` is its extrapolation step from the grid ``K_ref``: nearly the
    same for every seed, so a few seeds measure it well. ``particles`` maps each particle count to per-seed losses
    at ``K_ref``, those at ``M2`` starting with ``values[K_ref]`` (more seeds are cheap at one grid). Then

    ``E_NFD = mean_M2 - mean(g) - delta``, with ``delta = M1 (mean_M1 - mean_M2) / (M2 - M1)``

    the finite-``M`` bias of the ``M2`` solves under a ``c / M`` bias, from the two largest counts ``M1 < M2``
    (Richardson in ``1/M``). Its standard error bounds the covariance of the terms that share solves by
    Cauchy-Schwarz; the t quantile uses Welch-Satterthwaite degrees of freedom. Coverage of a known limit is
    checked on synthetic solves (tests/test_scaling_claims.py). Returns ``limit``, ``lo``, ``hi``, ``se``,
    ``df``, ``uncorrected`` (the mean of the ``l_s``), ``step`` (mean ``g``), ``delta``, ``delta_se``, ``shift``
    (the mean of every ``M2`` seed at ``K_ref`` minus that of the grid's seeds: add it to a grid's seed mean),
    ``per_seed``, ``b`` (the seed-mean ``1/K`` coefficient), ``Ms`` (the two counts used) and ``seeds`` (at
    ``M2``, at ``M1``, with the full grid)."""
    from scipy import stats as st

    Ks = np.asarray(Ks, float)
    values = np.asarray(values, float)
    if values.ndim != 2 or values.shape[0] != Ks.size:
        raise ValueError(f"values must have shape (len(Ks), seeds) = ({Ks.size}, R), got {values.shape}")
    keep = Ks >= K_min
    if keep.sum() < 3 or values.shape[1] < 2:
        raise ValueError("limit_with_particles needs three or more grids K >= K_min and two or more seeds")
    if int(K_ref) not in Ks.astype(int).tolist():
        raise ValueError(f"K_ref must be one of the grids {Ks.astype(int).tolist()}, got {K_ref!r}")
    if len(particles) < 2 or any(len(np.asarray(v)) < 2 for v in particles.values()):
        raise ValueError("particles must hold two or more particle counts with two or more seeds each")
    level = check_float("level", level)
    M1, M2 = sorted(int(M) for M in particles)[-2:]
    p1, p2 = np.asarray(particles[M1], float), np.asarray(particles[M2], float)
    y_ref = values[Ks.astype(int).tolist().index(int(K_ref))]
    if p2.size < y_ref.size or not np.allclose(p2[: y_ref.size], y_ref):
        raise ValueError(f"particles[{M2}] must start with the solves values[K_ref] of the same seeds")
    X = np.stack([np.ones(keep.sum()), 1.0 / Ks[keep]], axis=1)
    per_seed, per_seed_b = np.linalg.lstsq(X, values[keep], rcond=None)[0]
    R = per_seed.size
    g = y_ref - per_seed
    c = M1 / (M2 - M1)
    delta = c * float(p1.mean() - p2.mean())
    se1, se2, se_g = (float(np.std(v, ddof=1) / math.sqrt(v.size)) for v in (p1, p2, g))
    # E = (1 + c) mean_M2 - c mean_M1 - mean(g): mean(g) shares seeds with mean_M2, so their covariance is bounded
    # by Cauchy-Schwarz and counted with mean(g), the part with the fewest degrees of freedom
    parts = [(((1 + c) * se2) ** 2, p2.size - 1), (se_g**2 + 2 * (1 + c) * se2 * se_g, R - 1),
             ((c * se1) ** 2, p1.size - 1)]
    var = sum(v for v, _ in parts)
    df = var**2 / sum(v**2 / d for v, d in parts if v > 0) if var > 0 else float(R - 1)
    se = math.sqrt(var)
    half = float(st.t.ppf(0.5 + level / 2, max(df, 1.0))) * se
    limit = float(p2.mean() - g.mean() - delta)
    return {"limit": limit, "lo": limit - half, "hi": limit + half, "se": se, "df": float(df),
            "uncorrected": float(per_seed.mean()), "step": float(g.mean()), "delta": delta,
            "shift": float(p2.mean() - y_ref.mean()),
            "delta_se": c * math.hypot(se1, se2), "per_seed": per_seed, "b": float(per_seed_b.mean()),
            "Ms": (M1, M2), "seeds": (p2.size, p1.size, R), "level": level}


def limit_at(estimate: Mapping, K: float) -> float:
    """The seed-mean ``n -> infinity`` loss at grid (depth) ``K`` implied by :func:`limit_with_particles`'s fit
    ``l + b / K`` and its ``shift`` (at the largest particle count, not corrected for it): the reference of a depth
    without a solve."""
    return float(estimate["uncorrected"] + estimate["b"] / check_float("K", K) + estimate["shift"])


@dataclass
class BiasFit:
    """``bias(n) = a n^-p + d`` fitted to signed values (:func:`fit_signed_bias`): the exponent ``p`` with its
    ``level`` interval ``p_lo, p_hi``, the amplitude ``a``, the offset ``d`` (``0`` when not fitted) with its
    interval, the weighted residual ``chi2`` per degree of freedom and the number of ``points``."""

    p: float
    p_lo: float
    p_hi: float
    a: float
    d: float
    d_lo: float
    d_hi: float
    chi2_dof: float
    points: int
    level: float

    @property
    def slope(self) -> tuple[float, float, float]:
        """The log-log slope ``-p`` and its interval, for comparing with :func:`nfdlib.stats.fit_loglog`."""
        return -self.p, -self.p_hi, -self.p_lo

    def predict(self, n) -> np.ndarray:
        return self.a * np.asarray(n, float) ** -self.p + self.d

    def __str__(self) -> str:
        text = f"bias = a n^-p: p = {self.p:.2f} [{self.p_lo:.2f}, {self.p_hi:.2f}]"
        if self.d_lo == self.d_lo and (self.d, self.d_lo, self.d_hi) != (0.0, 0.0, 0.0):
            text += f", offset d = {self.d:+.2e} [{self.d_lo:+.2e}, {self.d_hi:+.2e}]"
        return text + f" ({self.points} sizes, chi2/dof {self.chi2_dof:.2f})"


def fit_signed_bias(n, bias, se, *, offset: bool = True, level: float = 0.95, p_range=(0.05, 4.0)) -> BiasFit:
    """Fit ``bias = a n^-p (+ d)`` to signed values at every size, weighted by ``1/se^2`` (no size is left out
    for its sign). The offset ``d`` absorbs an error of the reference the biases were measured from (it is common
    to all sizes). ``p`` is found by profiling (the model is linear in ``a`` and ``d`` at fixed ``p``); the
    intervals are t intervals from the Gauss-Newton covariance scaled by the residual ``chi2`` per degree of
    freedom when that exceeds one (so a misfit widens them, a small one never narrows them below the stated
    errors). Raises ``ValueError`` for non-finite input, ``se <= 0`` or too few distinct widths."""
    from scipy import stats as st
    from scipy.optimize import minimize_scalar as _min

    n, y, s = (np.asarray(v, float).ravel() for v in (n, bias, se))
    if not (n.size == y.size == s.size):
        raise ValueError(f"n, bias and se must have the same size, got {n.size}, {y.size}, {s.size}")
    if not (np.all(np.isfinite(n)) and np.all(n > 0) and np.all(np.isfinite(y)) and np.all(np.isfinite(s))):
        raise ValueError("n must be finite and > 0, bias and se finite")
    if np.any(s <= 0):
        raise ValueError("se must be > 0 at every size")
    k = 3 if offset else 2
    if len(np.unique(n)) < k or n.size <= k:
        raise ValueError(f"fit_signed_bias needs more than {k} sizes over {k} or more distinct widths")
    level = check_float("level", level)
    w = 1.0 / s

    def linear(p):
        cols = [n**-p] + ([np.ones_like(n)] if offset else [])
        A = np.stack(cols, axis=1) * w[:, None]
        coef = np.linalg.lstsq(A, y * w, rcond=None)[0]
        r = A @ coef - y * w
        return float(r @ r), coef

    lo, hi = (check_float("p_range", v) for v in p_range)
    grid = np.linspace(lo, hi, 80)
    best = grid[int(np.argmin([linear(p)[0] for p in grid]))]
    step = grid[1] - grid[0]
    res = _min(lambda p: linear(p)[0], bounds=(max(lo, best - step), min(hi, best + step)), method="bounded")
    p = float(res.x)
    chi2, coef = linear(p)
    a = float(coef[0])
    d = float(coef[1]) if offset else 0.0
    J = np.stack([n**-p, -a * np.log(n) * n**-p] + ([np.ones_like(n)] if offset else []), axis=1) * w[:, None]
    dof = n.size - k
    scale = max(1.0, chi2 / dof)
    cov = scale * np.linalg.pinv(J.T @ J)
    t = float(st.t.ppf(0.5 + level / 2, dof))
    hp = t * math.sqrt(cov[1, 1])
    hd = t * math.sqrt(cov[2, 2]) if offset else 0.0
    return BiasFit(p, p - hp, p + hp, a, d, d - hd, d + hd, chi2 / dof, int(n.size), level)


def smoothed_se(table: SizeTable, spread_fit) -> np.ndarray:
    """The standard error of each size's seed mean from the pooled spread law ``spread_fit``
    (:func:`nfdlib.stats.fit_loglog` of the seed standard deviation against ``n``) and the size's number of
    seeds: a two-seed size's own standard deviation is too noisy to weight a fit by."""
    sd = math.exp(spread_fit.intercept) * table.n.astype(float) ** spread_fit.slope
    return sd / np.sqrt(table.count)


#: The law with an ``n x L`` interaction: ``E + A n^-alpha + B L^-beta + D (L/n)^gamma`` (``D``, not ``C``, which is
#: the compute). The last term grows with depth at a fixed width and fades with width, so depth can hurt a narrow
#: network and help a wide one.
INTERACTION_PARAMS = ("E", "A", "alpha", "B", "beta", "D", "gamma")


def _interaction_params(theta, has_E: bool, e_fixed) -> dict[str, float]:
    out = {"E": float(math.exp(theta[0])) if has_E else float(math.exp(e_fixed))}
    i = 1 if has_E else 0
    for j, (c, e) in enumerate((("A", "alpha"), ("B", "beta"), ("D", "gamma"))):
        out[c] = float(math.exp(theta[i + 2 * j]))
        out[e] = float(theta[i + 2 * j + 1])
    return out


def fit_interaction_law(table: SizeTable, *, boot: int = 200, level: float = 0.95, delta: float = 0.05,
                        seed: int = 0, E: float | None = None) -> LawFit:
    """Fit the law with an ``n x L`` interaction (:data:`INTERACTION_PARAMS`) to the seed means of ``table``, the
    same way :func:`fit_law` fits its forms (Huber loss on log residuals from a grid of starts; ``boot`` refits on
    seeds resampled within strata; the same interval rule); ``E`` holds the floor fixed. Returns a
    :class:`LawFit` of form ``"nL"`` whose ``params`` and ``boot`` also hold ``D`` and ``gamma`` (its ``predict``
    ignores them: use :func:`interaction_predict`)."""
    _check_points(table, "nL", E_fixed=E is not None)
    if len(table) <= 7 - int(E is not None):
        raise ValueError(f"the interaction law needs more than {7 - int(E is not None)} sizes, got {len(table)}")
    boot = check_int("boot", boot, minimum=0)
    e_fixed = None if E is None else math.log(check_float("E", E))
    has_E = e_fixed is None
    n, L = table.var("n"), table.var("L")
    logx = np.log(np.stack([n, L, n / L]))
    logy = np.log(table.mean)
    sols = _minimize(_starts(logx, logy, has_E, e_fixed), logx, logy, has_E, delta, e_fixed=e_fixed)
    obj, theta = sols[0]
    params = _interaction_params(theta, has_E, e_fixed)
    resid = _log_pred(theta, logx, has_E, e_fixed)[0] - logy
    rng = np.random.default_rng(seed)
    reps = {k: [] for k in params}
    for _ in range(boot):
        y = _resampled_means(table, rng)
        ok = np.isfinite(y) & (y > 0)
        b_theta = _minimize([theta], logx[:, ok], np.log(y[ok]), has_E, delta, max_iter=40, e_fixed=e_fixed)[0][1]
        for k, v in _interaction_params(b_theta, has_E, e_fixed).items():
            reps[k].append(v)
    boot_arr = {k: np.asarray(v) for k, v in reps.items()} if boot else {}
    seeds = _min_seeds(table)
    fitted = [k for k in params if k != "E" or has_E]  # the order of theta; strata weighed as in fit_law
    dof, factor = (dict(zip(fitted, a.tolist())) for a in _seed_dof(table, theta, logx, has_E, delta, e_fixed))

    def interval(k):  # a coefficient the fit sends to zero has replicates over hundreds of decades
        try:
            return _interval(params[k], boot_arr[k], level, seeds, positive=k in ("E", "A", "B", "D"),
                             dof=dof.get(k), factor=factor.get(k))
        except OverflowError:
            return 0.0, math.inf

    intervals = {k: interval(k) if boot else (float("nan"), float("nan")) for k in params}
    return LawFit("nL", params, intervals, boot_arr, table, obj, level, delta, float(np.sqrt(np.mean(resid**2))),
                  extras={"E_fixed": not has_E, "interaction": True})


def interaction_predict(p: Mapping, n, L) -> np.ndarray:
    """The interaction law with parameters ``p`` (a fit's ``params``, or one bootstrap replicate) at ``(n, L)``."""
    n, L = np.asarray(n, float), np.asarray(L, float)
    return p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * L ** -p["beta"] + p["D"] * (L / n) ** p["gamma"]


def depth_pays_width(p: Mapping, L1: float, L2: float) -> float:
    """The width above which going from depth ``L1`` to ``L2 > L1`` lowers the interaction law ``p``: there
    ``B (L1^-beta - L2^-beta)`` (what depth gains) exceeds ``D n^-gamma (L2^gamma - L1^gamma)`` (what it costs).
    ``0`` when depth pays at every width, ``inf`` when at none."""
    if not L2 > L1 > 0:
        raise ValueError(f"need 0 < L1 < L2, got L1={L1!r}, L2={L2!r}")
    gain = p["B"] * (L1 ** -p["beta"] - L2 ** -p["beta"])
    cost = p["D"] * (L2 ** p["gamma"] - L1 ** p["gamma"])
    if cost <= 0 or p["gamma"] <= 0:
        return 0.0 if gain > 0 else math.inf
    if gain <= 0:
        return math.inf
    return float((cost / gain) ** (1.0 / p["gamma"]))


def depth_threshold(fit: LawFit, L1: float, L2: float) -> dict:
    """:func:`depth_pays_width` for a fit of :func:`fit_interaction_law` and each of its bootstrap replicates:
    ``n`` (the estimate) and the percentile interval ``lo, hi`` of the replicates at the fit's level (``0`` and
    ``inf`` are kept: an interval reaching ``0`` says depth may pay at every width)."""
    est = depth_pays_width(fit.params, L1, L2)
    reps = np.array([depth_pays_width({k: v[b] for k, v in fit.boot.items()}, L1, L2)
                     for b in range(len(fit.boot["E"]))]) if fit.boot else np.array([])
    if reps.size == 0:
        return {"n": est, "lo": float("nan"), "hi": float("nan")}
    lo, hi = np.percentile(reps, [(0.5 - fit.level / 2) * 100, (0.5 + fit.level / 2) * 100])
    return {"n": est, "lo": float(lo), "hi": float(hi), "replicates": reps}


def slopes_along(table: SizeTable, along: str = "L", *, min_sizes: int = 3) -> dict[float, object]:
    """For each value of the other variable (each width when ``along="L"``), the log-log slope of the loss against
    ``along`` over every size on that line, seeds pooled (:func:`nfdlib.stats.fit_loglog`); lines with fewer than
    ``min_sizes`` sizes are left out. Returns ``{width or depth: SlopeFit}``."""
    from .stats import fit_loglog

    along = check_choice("along", along, ("n", "L"))
    other = "L" if along == "n" else "n"
    min_sizes = check_int("min_sizes", min_sizes, minimum=2)
    out = {}
    for v in np.unique(table.var(other)):
        rows = np.flatnonzero(table.var(other) == v)
        if rows.size < min_sizes:
            continue
        x = np.repeat(table.var(along)[rows], table.values.shape[1])
        out[float(v)] = fit_loglog(x, table.values[rows].ravel())
    return out


def distinct_budgets(budgets, rel: float = 0.1) -> np.ndarray:
    """The budgets with near-duplicates merged: within each run of budgets less than ``rel`` apart (relative), the
    largest is kept. Sorted ascending."""
    rel = check_float("rel", rel)
    b = np.sort(np.asarray(budgets, float))[::-1]
    if b.size == 0 or not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ValueError("budgets must be a non-empty sequence of finite values > 0")
    kept = [b[0]]
    for v in b[1:]:
        if v < kept[-1] / (1 + rel):
            kept.append(v)
    return np.asarray(kept[::-1])


def nearest_size(table: SizeTable, n: float, L: float) -> int:
    """The index of the measured size of ``table`` nearest to ``(n, L)`` in ``log n`` and ``log L``."""
    n, L = check_float("n", n), check_float("L", L)
    d = np.log(table.var("n") / n) ** 2 + np.log(table.var("L") / L) ** 2
    return int(np.argmin(d))


def floor_identified(fit: LawFit, *, max_ratio: float = 2.0) -> bool:
    """Whether a fit pins its floor ``E``: the interval is finite and spans less than a factor ``max_ratio``.
    A floor whose interval runs from near zero to the smallest measured loss is *not identified* by the data."""
    lo, hi = fit.interval("E")
    max_ratio = check_float("max_ratio", max_ratio)
    return bool(math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi / lo < max_ratio)


# -- figures -------------------------------------------------------------------------------------------------------
def aspect_ratios(table: SizeTable, max_lines: int = 4, min_points: int = 3) -> list[float]:
    """The aspect ratios ``L / n`` with the most sizes on them (at least ``min_points``), up to ``max_lines``,
    spread over the range (ties go to the longer diagonal)."""
    r = table.L / table.n
    vals, counts = np.unique(r, return_counts=True)
    ok = vals[counts >= min_points]
    if ok.size <= max_lines:
        return [float(v) for v in ok]
    idx = np.unique(np.round(np.linspace(0, ok.size - 1, max_lines)).astype(int))
    return [float(ok[i]) for i in idx]


def plot_by_aspect(ax, table: SizeTable, x: str = "params", *, ratios: Sequence[float] | None = None,
                   fit: LawFit | None = None, limit: tuple[float, float, float] | None = None,
                   cmap: str = "viridis", ylabel: str = "loss"):
    """Seed-mean loss (error bars: one standard error) against ``x`` (``"params"`` or ``"flops"``) along lines of
    constant aspect ratio ``L / n``, log-log; with an ``"nL"`` ``fit``, the law along the same ratios (dashed);
    with ``limit = (value, lo, hi)``, the computed limit as a line and band."""
    import matplotlib.pyplot as plt

    check_choice("x", x, ("params", "flops"))
    ratios = aspect_ratios(table) if ratios is None else list(ratios)
    colors = plt.get_cmap(cmap)(np.linspace(0, 0.85, max(len(ratios), 1)))
    xs = table.var(x)
    for r, color in zip(ratios, colors):
        sel = np.flatnonzero(np.isclose(table.L / table.n, r))
        if sel.size == 0:
            continue
        sel = sel[np.argsort(table.n[sel])]
        label = f"L/n = {r:g}" if r >= 1 else f"L/n = 1/{1 / r:g}"
        ax.errorbar(xs[sel], table.mean[sel], yerr=np.nan_to_num(table.se[sel]), fmt="o-", ms=4, capsize=2,
                    color=color, label=label)
        if fit is not None and fit.form.removesuffix("-pure") == "nL":
            nn = np.geomspace(table.n[sel].min(), table.n[sel].max(), 40)
            LL = r * nn
            # the x of the continuous curve: interpolate log x against log n along the measured points
            xx = np.exp(np.interp(np.log(nn), np.log(table.n[sel]), np.log(xs[sel])))
            ax.plot(xx, fit.predict(n=nn, L=LL), "--", color=color, lw=1)
    if limit is not None:
        value, lo, hi = limit
        ax.axhline(value, color="k", lw=1.2, label="computed limit E_NFD")
        ax.axhspan(lo, hi, color="k", alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel({"params": "parameters N (log scale)", "flops": "training compute C, FLOPs (log scale)"}[x])
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    return ax


# -- the whole plan of notebook 07 ----------------------------------------------------------------------------
def tuned_rates(spec: Mapping, *, cache: bool = True, progress: bool = True) -> dict[str, tuple[dict, dict]]:
    """:func:`tune_lr` for every family of ``spec["families"]`` on the small model ``spec["n"], spec["L"]``
    with that family's grid ``spec["lrs"][family]`` (or ``spec["lrs"]["default"]``)."""
    out = {}
    for fam in spec["families"]:
        lrs = spec["lrs"].get(fam, spec["lrs"]["default"])
        out[fam] = tune_lr(fam, spec["task"], n=spec["n"], L=spec["L"], lrs=lrs, seeds=spec["seeds"],
                           steps=spec["steps"], batch_size=spec.get("batch_size"), loss=spec.get("loss", "mse"),
                           loss_bound=spec.get("loss_bound", 1e6), cache=cache, progress=progress)
    return out


def family_sizes(spec: Mapping) -> list[tuple[int, int]]:
    """The sizes of a "cross" design: ``spec["widths"]`` at depth ``spec["L"]`` and ``spec["depths"]`` at width
    ``spec["n"]`` (the cheaper design of the rules where scaling is expected to fail)."""
    sizes = {(int(n), int(spec["L"])) for n in spec["widths"]} | {(int(spec["n"]), int(L)) for L in spec["depths"]}
    return sorted(sizes)


def run_plan(plan: Mapping, *, parts: Sequence[str] = ("limit", "solver", "real", "families"), cache: bool = True,
             progress: bool = True) -> dict:
    """Every cached computation of notebook 07, in the order the notebook reads them (``parts`` picks some)."""
    allowed = ("limit", "solver", "real", "families")
    for p in parts:
        check_choice("parts", p, allowed)
    out: dict = {}
    if "limit" in parts:
        lim = plan["limit"]
        out["limit_reference"] = limit_reference(plan["limit_solver"], cache=cache, progress=progress)
        out["particle_seeds"] = particle_seeds(plan["limit_solver"], out["limit_reference"], cache=cache,
                                               progress=progress)
        out["limit_runs"] = size_grid("limit", lim["family"], lim["task"], grid_sizes(lim["widths"], lim["depths"],
                                      lim.get("max_cost")), lim["seeds"], lim["steps"], lr=lim["lr"],
                                      T=lim.get("T", 1.0), eval_every=lim.get("eval_every"), cache=cache,
                                      progress=progress)
    if "solver" in parts:
        out["solver_sweeps"] = solver_sweeps(plan["solver_sweeps"], cache=cache, progress=progress)
    if "real" in parts or "families" in parts:
        rates = tuned_rates(plan["tune"], cache=cache, progress=progress)
        out["rates"] = rates
        real = plan["real"]
        common = dict(batch_size=real["batch_size"], loss=real["loss"], eval_every=real.get("eval_every"),
                      loss_bound=real.get("loss_bound", 1e6), cache=cache, progress=progress)
        if "real" in parts:
            out["real_runs"] = size_grid("real", real["family"], real["task"],
                                         grid_sizes(real["widths"], real["depths"], real.get("max_cost")),
                                         real["seeds"], real["steps"], lr=rates[real["family"]][1]["grid_lr"],
                                         **common)
        if "families" in parts:
            fams = plan["families"]
            out["family_runs"] = {f: size_grid("real", f, real["task"], family_sizes(fams), fams["seeds"],
                                               real["steps"], lr=rates[f][1]["grid_lr"], **common)
                                  for f in fams["families"]}
    return out


def _main(argv: Sequence[str] | None = None) -> None:
    """Precompute (and cache under ``data/``) every result of notebook 07, in full mode."""
    import argparse

    from .sweeps import notebook_plan

    ap = argparse.ArgumentParser(prog="python -m nfdlib.scaling", description=_main.__doc__)
    ap.add_argument("notebook", help="percent-format notebook source whose parameters cell defines PLAN")
    ap.add_argument("--parts", nargs="+", default=["limit", "solver", "real", "families"],
                    choices=["limit", "solver", "real", "families"], help="which parts of the plan to compute")
    args = ap.parse_args(argv)
    params = notebook_plan(ap, args.notebook, ["PLAN"])
    t0 = time.perf_counter()
    run_plan(params["PLAN"], parts=args.parts, cache=True, progress=True)
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    _main()
