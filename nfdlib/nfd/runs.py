"""Cached runs of seed-stacked networks and of the solver, and their errors split into fluctuation and bias.

Seed-averaged comparisons of finite ResNets with the NFD solver, cached under ``data/`` (notebook 02).

Every run records the same trajectories (an :class:`~nfdlib.nfd.NFDResult`): outputs on training and held-out
inputs at every SGD step, losses, and the equal-time kernels ``Phi`` and ``G`` at the layer-times
``layer_fractions * T``. :func:`network_runs` and :func:`solver_runs` stack them over seeds and cache the stack
(one ``.npz`` per configuration, names starting with ``nfd_``). :func:`error_parts` splits the distance of a
set of seeds from a reference into the seed-to-seed fluctuation and the bias of the seed mean.

The task is fixed by a small dict (``task``) passed to :func:`make_task`, so that a configuration is plain JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..cache import cached, register_kind
from ..config import check_seeds
from ..data import Dataset, make_teacher_task
from ..models import ResNet
from ..stats import bootstrap_interval, fit_loglog, rms
from ..training import train
from ..validation import check_bool, check_choice, check_int
from .finite import network_kernels, run_finite_network
from .solver import NFDResult, coupling_solver, layers_at, simulate_nfd

# Bumped by hand whenever the code that produces a cached result changes.
VERSION = "1"

DEFAULT_TASK = {"d": 8, "n_train": 8, "n_test": 8, "seed": 0}
FIELDS = ("f_train", "f_test", "train_loss", "test_loss", "Phi", "G")
_RUN_ARRAYS = ("f_train", "train_loss", "test_loss", "Phi", "G", "kernel_tau", "seconds")
register_kind("nfd_net_", VERSION, "npz", _RUN_ARRAYS)
register_kind("nfd_solver", VERSION, "npz", _RUN_ARRAYS)
register_kind("nfd_nondeg_", VERSION, "npz", ("lam_min", "lam_max", "lam_mean", "tau"))
register_kind("nfd_init_moments_", VERSION, "npz", ("Phi_mean", "Phi_var", "G_mean", "G_var", "seeds", "kernel_tau"))


#: CPU-seconds of one solve per particle and SGD step on the default task (8 training inputs; the kernels grow
#: with their number), nearly independent of ``K``: the median of notebook 07's solves recomputed on the project's
#: machine (AMD EPYC, one thread per process, 2026-12-07; 4e-5 to 1.4e-4 over 81 solves). Orders jobs and says what
#: a plan costs.
SOLVE_COST = 7e-5


def solve_cost(M: int, steps: int, seeds: int, task: dict | None = None) -> float:
    """Estimated CPU-seconds of ``seeds`` solves with ``M`` particles over ``steps`` SGD steps (:data:`SOLVE_COST`)."""
    n_train = (task or DEFAULT_TASK).get("n_train", DEFAULT_TASK["n_train"])
    return SOLVE_COST * M * steps * seeds * n_train / DEFAULT_TASK["n_train"]


def make_task(task: dict | None = None) -> Dataset:
    """The regression task of notebook 02: a random two-layer teacher on Gaussian inputs (see
    :func:`nfdlib.data.make_teacher_task`), ``P = n_train`` training and ``n_test`` held-out inputs."""
    return make_teacher_task(**(task or DEFAULT_TASK))


def _stack(results) -> dict[str, np.ndarray]:
    out = {}
    for key in FIELDS:
        values = [getattr(r, key) for r in results]
        if values[0] is not None:
            out[key] = np.stack(values).astype(np.float32 if key in ("Phi", "G") else np.float64)
    out["kernel_tau"] = results[0].kernel_tau
    out["seconds"] = np.array([r.seconds for r in results])
    return out


def _init_only(task: Dataset, n: int, L: int, seed: int, T: float, activation: str, layers, backward: str,
               parametrization: str, device):
    """Kernels of one network at initialization without building an optimizer (the widest networks)."""
    X_all = torch.cat([task.X_train, task.X_test])
    model = ResNet(task.d, task.num_outputs, n, L, parametrization=parametrization, activation=activation, T=T,
                   backward=backward, seed=seed, device=device)
    f, Phi, G = network_kernels(model, X_all.to(model.U.device), task.X_train.shape[0], layers)
    P = task.X_train.shape[0]
    del model
    return NFDResult(steps=np.arange(1), f_train=f[None, :P].numpy(), f_test=f[None, P:].numpy(),
                     train_loss=np.full(1, np.nan), test_loss=np.full(1, np.nan), tau=np.linspace(0, T, L + 1),
                     kernel_layers=np.asarray(layers), Phi=Phi[:, None], G=G[:, None])


def network_runs(*, n: int, L: int, seeds: Sequence[int], task: dict | None = None, T: float = 1.0,
                 lr: float = 0.5, steps: int = 10, activation: str = "relu", backward: str = "decoupled",
                 parametrization: str = "depth-mup", layer_fractions=(0.0, 0.5, 1.0), device=None,
                 cache: bool = True, progress: bool = True) -> dict[str, np.ndarray]:
    """Finite ResNets of width ``n`` and depth ``L``, one per seed, trained by :func:`run_finite_network`
    (``steps=0``: initialization only). Returns the :data:`FIELDS` stacked over seeds (leading axis)."""
    task = dict(task or DEFAULT_TASK)
    config = {"kind": "network", "n": check_int("n", n), "L": check_int("L", L), "seeds": check_seeds(seeds),
              "task": task, "T": T, "lr": lr, "steps": steps, "activation": activation, "backward": backward,
              "parametrization": parametrization, "layer_fractions": list(layer_fractions)}

    def compute():
        data = make_task(task)
        layers = layers_at(L, layer_fractions)
        results = []
        for seed in tqdm(config["seeds"], desc=f"{backward} net n={n} L={L}", disable=not progress, leave=False):
            if steps == 0:
                results.append(_init_only(data, n, L, seed, T, activation, layers, backward, parametrization, device))
            else:
                results.append(run_finite_network(data.X_train, data.Y_train, X_test=data.X_test, Y_test=data.Y_test,
                                                  n=n, L=L, T=T, steps=steps, lr=lr, activation=activation,
                                                  backward=backward, parametrization=parametrization, seed=seed,
                                                  kernel_layers=layers, device=device))
        return _stack(results)

    if not check_bool("cache", cache):
        return compute()
    return cached(f"nfd_net_{backward}_{parametrization}", config, compute, version=VERSION, fmt="npz")


def _kernel_layers(K: int, layer_fractions, kernel_layers):
    """The ``kernel_layers`` argument of a solve on ``K`` steps (``None``: every layer)."""
    return layers_at(K, layer_fractions) if layer_fractions is not None else kernel_layers


def _stored_layers(K: int, layer_fractions, kernel_layers) -> np.ndarray:
    """The grid indices whose kernels a solve on ``K`` steps stores, sorted as the solver sorts them."""
    layers = _kernel_layers(K, layer_fractions, kernel_layers)
    return np.arange(K + 1) if layers is None else np.asarray(sorted({int(j) for j in layers}), dtype=int)


def _fill(results: list, key: str, shape: tuple) -> np.ndarray | None:
    """One field of a ``(len(Ks), len(seeds))`` grid of results (``None``: a failed solve, left NaN); ``None``
    when no solve has it or when its shape differs between solves (kernels stored at a varying number of
    layers)."""
    values = [[None if r is None else getattr(r, key) for r in row] for row in results]
    found = [v for row in values for v in row if v is not None]
    if not found or any(v.shape != found[0].shape for v in found):
        return None
    out = np.full(shape + found[0].shape, np.nan, dtype=np.float32 if key in ("Phi", "G") else np.float64)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if v is not None:
                out[i, j] = v
    return out


def solve_over_seeds(*, Ks: Sequence[int], M: int, seeds: Sequence[int], task: dict | None = None, T: float = 1.0,
                     lr: float = 0.5, steps: int = 10, activation: str = "relu", noise_grid: int | None = None,
                     layer_fractions=None, kernel_layers=None, coupling: str = "decoupled", dtype=None, device=None,
                     on_failure: str = "raise", progress: bool = False,
                     desc: str | None = None) -> dict[str, np.ndarray]:
    """NFD solves (:func:`~nfdlib.nfd.solver.simulate_nfd`, ``M`` particles) for each ``K`` in ``Ks`` and each
    seed on the task ``task`` (:func:`make_task`): the one runner of the solver over sizes and seeds.

    Kernels are stored at ``layers_at(K, layer_fractions)`` or at the grid indices ``kernel_layers`` (at most
    one of the two; neither: every layer). With a common ``noise_grid`` (a multiple of every ``K``) the solves of
    one seed share their Brownian paths. ``dtype`` ``None`` is the solver's default (float32). ``on_failure``:
    ``"raise"`` lets a ``FloatingPointError`` (a solve that blew up) through, ``"nan"`` records the solve as NaN
    with ``failed`` set.

    Returns arrays with leading axes ``(len(Ks), len(seeds))``: the :data:`FIELDS` (``f_test`` with a test set;
    ``Phi`` and ``G`` in float32, only when every ``K`` stores the same number of layers, then also
    ``kernel_tau`` ``(len(Ks), J)``), ``failed``, ``seconds`` (wall time of each solve); and ``Ks``.
    """
    Ks = [check_int("Ks", K) for K in Ks]
    M = check_int("M", M, minimum=2)
    seeds = check_seeds(seeds)
    on_failure = check_choice("on_failure", on_failure, ("raise", "nan"))
    if layer_fractions is not None and kernel_layers is not None:
        raise ValueError("give layer_fractions or kernel_layers, not both")
    data = make_task(task)
    shape = (len(Ks), len(seeds))
    results = [[None] * len(seeds) for _ in Ks]
    failed, seconds = np.zeros(shape, bool), np.zeros(shape)
    jobs = [(i, j) for i in range(len(Ks)) for j in range(len(seeds))]
    for i, j in tqdm(jobs, desc=desc or f"NFD {coupling}", disable=not progress, leave=False):
        start = time.perf_counter()
        try:
            results[i][j] = simulate_nfd(data.X_train, data.Y_train, X_test=data.X_test, Y_test=data.Y_test, M=M,
                                         K=Ks[i], T=T, steps=steps, lr=lr, activation=activation, seed=seeds[j],
                                         kernel_layers=_kernel_layers(Ks[i], layer_fractions, kernel_layers),
                                         noise_grid=noise_grid, coupling=coupling, device=device,
                                         dtype=torch.float32 if dtype is None else dtype)
        except FloatingPointError:
            if on_failure == "raise":
                raise
            failed[i, j] = True
        seconds[i, j] = time.perf_counter() - start
    S1 = int(steps) + 1
    out = {"train_loss": np.full(shape + (S1,), np.nan), "test_loss": np.full(shape + (S1,), np.nan)}
    for i, row in enumerate(results):
        for j, r in enumerate(row):
            if r is not None:
                out["train_loss"][i, j], out["test_loss"][i, j] = r.train_loss, r.test_loss
    for key in ("f_train", "f_test", "Phi", "G"):
        value = _fill(results, key, shape)
        if value is not None:
            out[key] = value
    taus = [np.linspace(0.0, T, K + 1)[_stored_layers(K, layer_fractions, kernel_layers)] for K in Ks]
    if "Phi" in out and len({t.shape for t in taus}) == 1:
        out["kernel_tau"] = np.stack(taus)
    else:
        for key in ("Phi", "G"):
            out.pop(key, None)
    out["failed"], out["seconds"], out["Ks"] = failed, seconds, np.asarray(Ks)
    return out


def solver_runs(*, M: int, K: int, seeds: Sequence[int], task: dict | None = None, T: float = 1.0, lr: float = 0.5,
                steps: int = 10, activation: str = "relu", noise_grid: int | None = None,
                layer_fractions=(0.0, 0.5, 1.0), coupling: str = "decoupled", device=None, cache: bool = True,
                progress: bool = True) -> dict[str, np.ndarray]:
    """NFD solves with ``M`` particles on ``K`` steps, one per seed (:func:`solve_over_seeds` with one ``K``);
    same fields as :func:`network_runs`. With a common ``noise_grid`` solves at different ``K`` share their
    Brownian paths. ``coupling="reused"`` solves the system with the reused-weight terms (notebook 04)."""
    task = dict(task or DEFAULT_TASK)
    config = {"kind": "solver", "M": check_int("M", M, minimum=2), "K": check_int("K", K),
              "seeds": check_seeds(seeds), "task": task, "T": T, "lr": lr, "steps": steps,
              "activation": activation, "noise_grid": noise_grid, "layer_fractions": list(layer_fractions)}
    if coupling != "decoupled":  # only then, so that the caches of decoupled solves keep their keys
        config["coupling"] = coupling

    def compute():
        runs = solve_over_seeds(Ks=[K], M=M, seeds=config["seeds"], task=task, T=T, lr=lr, steps=steps,
                                activation=activation, noise_grid=noise_grid, layer_fractions=layer_fractions,
                                coupling=coupling, device=device, progress=progress, desc=f"NFD M={M} K={K}")
        return {key: runs[key][0] for key in (*FIELDS, "kernel_tau", "seconds") if key in runs}

    if not check_bool("cache", cache):
        return compute()
    return cached("nfd_solver", config, compute, version=VERSION, fmt="npz")


# ---------------------------------------------------------------------------------------------------------
# The limits of notebook 04: networks on a grid of widths and depths, the solver on a grid of Euler steps
# ---------------------------------------------------------------------------------------------------------
def limit_networks(*, ns: Sequence[int], Ls: Sequence[int], seeds: Sequence[int], backward: str = "true",
                   task: dict | None = None, T: float = 1.0, lr: float = 0.5, steps: int = 10,
                   progress: bool = True) -> dict[str, np.ndarray]:
    """Finite depth-muP networks on the grid ``ns x Ls`` (one per seed), trained by
    :func:`~nfdlib.nfd.finite.run_finite_network` on the task of notebook 02 (:func:`make_task`).

    Returns arrays with leading axes ``(len(ns), len(Ls), len(seeds))``: ``f_train (.., S+1, P, C)``,
    ``f_test (.., S+1, Q, C)``, ``train_loss``, ``test_loss`` ``(.., S+1)``; and ``ns``, ``Ls``.
    """
    data = make_task(task)
    out: dict[str, list] = {k: [] for k in ("f_train", "f_test", "train_loss", "test_loss")}
    jobs = [(n, L) for n in ns for L in Ls]
    for n, L in tqdm(jobs, desc=f"{backward} networks", disable=not progress, leave=False):
        res = [run_finite_network(data.X_train, data.Y_train, X_test=data.X_test, Y_test=data.Y_test, n=n, L=L,
                                  T=T, steps=steps, lr=lr, backward=backward, seed=s, kernel_layers=[0])
               for s in seeds]
        for k in out:
            out[k].append(np.stack([getattr(r, k) for r in res]))
    shape = (len(ns), len(Ls), len(seeds))
    arrays = {k: np.stack(v).reshape(shape + v[0].shape[1:]) for k, v in out.items()}
    arrays["ns"], arrays["Ls"] = np.asarray(ns), np.asarray(Ls)
    return arrays


def limit_solver(*, Ks: Sequence[int], M: int, seeds: Sequence[int], coupling: str = "reused",
                 task: dict | None = None, T: float = 1.0, lr: float = 0.5, steps: int = 10,
                 noise_grid: int | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """NFD solves (:func:`solve_over_seeds`) for each ``K`` and seed, with ``coupling`` ``"decoupled"``
    or ``"reused"`` (:mod:`nfdlib.nfd.reused`); with a common ``noise_grid`` (a multiple of every ``K``) all
    solves of one seed share their Brownian paths, so differences across ``K`` and couplings have little Monte
    Carlo noise. Arrays with leading axes ``(len(Ks), len(seeds))`` as in :func:`limit_networks`, and ``Ks``."""
    coupling = check_choice("coupling", coupling, ("decoupled", "reused"))
    keys = ("f_train", "f_test", "train_loss", "test_loss")
    # one grid size at a time, so that the progress bar counts grid sizes (each solve is independent)
    runs = [solve_over_seeds(Ks=[K], M=M, seeds=seeds, task=task, T=T, lr=lr, steps=steps, noise_grid=noise_grid,
                             layer_fractions=(0.0,), coupling=coupling)
            for K in tqdm(list(Ks), desc=f"NFD {coupling}", disable=not progress, leave=False)]
    arrays = {k: np.concatenate([r[k] for r in runs]) for k in keys}
    arrays["Ks"] = np.asarray(Ks)
    return arrays


def init_moments(*, n: int, L: int, seeds: Sequence[int], task: dict | None = None, T: float = 1.0,
                 activation: str = "relu", backward: str = "true", parametrization: str = "depth-mup",
                 layer_fractions=(0.0, 0.5, 1.0), device=None, cache: bool = True,
                 progress: bool = True) -> dict[str, np.ndarray]:
    """Seed mean and seed variance of the initialization kernels ``Phi`` and ``G`` of many networks.

    For bias measurements that need thousands of seeds: only the first two moments over seeds are kept (per
    kernel entry), so the cache stays small. Returns ``Phi_mean``, ``Phi_var`` (shape ``(J, N, N)``), ``G_mean``,
    ``G_var`` (``(J, P C, P C)``), ``seeds`` and ``kernel_tau``.
    """
    task = dict(task or DEFAULT_TASK)
    config = {"kind": "init_moments", "n": check_int("n", n), "L": check_int("L", L),
              "seeds": check_seeds(seeds), "task": task, "T": T, "activation": activation,
              "backward": backward, "parametrization": parametrization, "layer_fractions": list(layer_fractions)}

    def compute():
        data = make_task(task)
        layers = layers_at(L, layer_fractions)
        sums = {}
        for seed in tqdm(config["seeds"], desc=f"init moments n={n} L={L}", disable=not progress, leave=False):
            r = _init_only(data, n, L, seed, T, activation, layers, backward, parametrization, device)
            for key, val in (("Phi", r.Phi[:, 0]), ("G", r.G[:, 0])):
                s1, s2 = sums.get(key, (0.0, 0.0))
                sums[key] = (s1 + val, s2 + val**2)
        R = len(config["seeds"])
        out = {"seeds": np.array(R), "kernel_tau": np.linspace(0, T, L + 1)[layers]}
        for key, (s1, s2) in sums.items():
            mean = s1 / R
            out[f"{key}_mean"] = mean
            out[f"{key}_var"] = np.maximum(s2 / R - mean**2, 0.0) * R / max(R - 1, 1)
        return out

    if not check_bool("cache", cache):
        return compute()
    return cached(f"nfd_init_moments_{backward}", config, compute, version=VERSION, fmt="npz")


def bias_from_moments(mean, var, seeds: int, reference, scale: float | None = None) -> dict[str, float]:
    """:func:`error_parts` computed from the seed mean and seed variance alone (``strong`` is
    ``sqrt(fluctuation^2 + bias^2)`` up to the ``1/R`` correction)."""
    mean, var = np.asarray(mean, float), np.asarray(var, float)
    R = int(seeds)
    fluct = math.sqrt(float(var.mean()))
    bias = rms(mean - np.asarray(reference, float))
    floor = fluct / math.sqrt(R)
    s = 1.0 if scale is None else float(scale)
    strong = math.sqrt(max(bias**2 - floor**2, 0.0) + fluct**2)
    return {"strong": strong / s, "fluctuation": fluct / s, "bias": bias / s,
            "bias_debiased": math.sqrt(max(bias**2 - floor**2, 0.0)) / s, "noise_floor": floor / s, "seeds": R}


def seen_bias_fit(sizes, bias, noise_floor, min_points: int = 3):
    """Log-log fit of a seed-mean bias against size over the sizes where it stands above twice its noise floor
    (below that the bias is only bounded, not measured). Returns ``(fit, seen)``: the
    :class:`nfdlib.stats.SlopeFit`, or ``None`` when fewer than ``min_points`` sizes qualify, and those sizes."""
    sizes, bias = np.asarray(sizes), np.asarray(bias, float)
    seen = bias > 2 * np.asarray(noise_floor, float)
    fit = fit_loglog(sizes[seen], bias[seen]) if seen.sum() >= min_points else None
    return fit, [int(size) for size in sizes[seen]]


def init_width_errors(samples_by_width: dict, moments_by_width: dict, key: str, layer: int, reference) -> tuple:
    """Width errors of one initialization kernel (notebook 02, section 3), relative to ``rms(reference)``.

    ``samples_by_width``: ``{n: per-seed kernels}`` of a few seeds per width (one network's error, from
    :func:`errors_by_size`); ``moments_by_width``: ``{n: init_moments(...)}`` of many seeds of narrow networks (the
    bias of the seed mean, from :func:`bias_from_moments`); ``key`` (``"Phi"`` or ``"G"``) and ``layer`` pick the
    kernel in the moments. Returns ``(fit of one network's error, fit of the bias or None, errors_by_size result,
    debiased biases, their noise floors, the bias widths where the bias stands above twice its floor)``."""
    scale = rms(reference)
    errs = errors_by_size(samples_by_width, reference, scale=scale)
    parts = [bias_from_moments(mo[f"{key}_mean"][layer], mo[f"{key}_var"][layer], int(mo["seeds"]), reference,
                               scale=scale) for mo in moments_by_width.values()]
    bias, floor = (np.array([part[name] for part in parts]) for name in ("bias_debiased", "noise_floor"))
    fit_bias, seen = seen_bias_fit(list(moments_by_width), bias, floor)
    return fit_loglog(errs["x"], errs["per_seed"]), fit_bias, errs, bias, floor, seen


# ---------------------------------------------------------------------------------------------------------
# Nondegeneracy (claim R8 of docs/reconstruction.md, section 7): the feature-gradient second-moment matrix over
# (training input, step)
# ---------------------------------------------------------------------------------------------------------
def feature_gradient_spectrum(phis, gs) -> dict[str, float]:
    """Extreme eigenvalues of the (sample x step) second-moment matrix of ``(phi(h), g)`` at one layer.

    ``phis`` and ``gs`` are ``(n, D)``: per neuron (or particle) the values ``phi(h_l(mu, k))`` and
    ``g_l(mu, k)`` over the ``D`` pairs (training input ``mu``, SGD step ``k``). The matrix is
    ``C = [phi, g]^T [phi, g] / n`` (``2D x 2D``, uncentred like the kernels ``Phi`` and ``G`` of the SDE; its
    diagonal blocks are the two-time kernels, the off-diagonal block the feature-gradient cross-covariance that
    training creates). Returns ``lam_min``, ``lam_max`` and ``lam_mean`` (trace / 2D)."""
    X = np.concatenate([np.asarray(phis, float), np.asarray(gs, float)], axis=1)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"phis and gs must be (n, D) arrays with n >= 2 rows, got {np.shape(phis)}, {np.shape(gs)}")
    lam = np.linalg.eigvalsh(X.T @ X / X.shape[0])
    return {"lam_min": float(lam[0]), "lam_max": float(lam[-1]), "lam_mean": float(lam.mean())}


def _network_histories(model, data, lr: float, steps: int, layers, every: int) -> tuple[list, list]:
    """Train by full-batch SGD and collect, per layer, ``phi(h_l)`` and ``g_l = n df/dh_l`` on the training inputs
    at the steps ``0, every, 2 every, ..`` (before their update): two lists of ``(n, R P)`` arrays, step-major."""
    P = data.X_train.shape[0]
    phis: list[list] = [[] for _ in layers]
    grads: list[list] = [[] for _ in layers]

    def collect(step, m):
        if step % every:
            return
        with torch.enable_grad():
            f, feats = m(data.X_train.to(m.U), return_features=True)
            hs = [feats.h[j] for j in layers]
            gl = torch.autograd.grad(f[:P].sum(), hs)
        for i, (h, g) in enumerate(zip(hs, gl)):
            phis[i].append(m.phi(h.detach()).double().cpu().numpy().T)  # (n, P)
            grads[i].append((m.n * g).double().cpu().numpy().T)

    train(model, data, lr, steps, eval_every=every, seed=0, callback=collect)
    return [np.concatenate(p, axis=1) for p in phis], [np.concatenate(g, axis=1) for g in grads]


def nondegeneracy_networks(*, ns: Sequence[int], L: int, seeds: Sequence[int], task: dict | None = None, T: float = 1.0,
                           lr: float = 0.5, steps: int = 10, every: int = 5, backward: str = "true",
                           parametrization: str = "depth-mup", device=None, cache: bool = True,
                           progress: bool = True) -> dict[str, np.ndarray]:
    """:func:`feature_gradient_spectrum` of finite networks (width ``n`` in ``ns``, depth ``L``, one per seed, in
    float64) trained by full-batch SGD on the task of notebook 02, over the training inputs and the steps ``0,
    every, .., steps``, at every layer ``l = 0..L``: arrays ``lam_min``, ``lam_max``, ``lam_mean`` of shape
    ``(len(ns), len(seeds), L + 1)``, with ``ns`` and ``tau``. (Consecutive SGD steps barely differ, so over every
    step the smallest eigenvalue would sit at the rounding level; a few well-separated steps keep it measurable.)"""
    task = dict(task or DEFAULT_TASK)
    ns = [check_int("n", n, minimum=2) for n in ns]
    config = {"kind": "networks", "ns": ns, "L": check_int("L", L), "seeds": check_seeds(seeds), "task": task,
              "T": T, "lr": lr, "steps": check_int("steps", steps, minimum=0), "every": check_int("every", every),
              "backward": backward, "parametrization": parametrization}

    def compute():
        data = make_teacher_task(**task, dtype=torch.float64)
        layers = list(range(L + 1))
        out = {k: np.full((len(ns), len(config["seeds"]), L + 1), np.nan) for k in ("lam_min", "lam_max", "lam_mean")}
        jobs = [(i, n, j, s) for i, n in enumerate(ns) for j, s in enumerate(config["seeds"])]
        for i, n, j, s in tqdm(jobs, desc=f"nondegeneracy, {backward} networks", disable=not progress, leave=False):
            model = ResNet(data.d, data.num_outputs, n, L, parametrization=parametrization, T=T, backward=backward,
                           seed=s, device=device, dtype=torch.float64)
            phis, gs = _network_histories(model, data, lr, steps, layers, every)
            del model
            for l, (a, b) in enumerate(zip(phis, gs)):
                for k, v in feature_gradient_spectrum(a, b).items():
                    out[k][i, j, l] = v
        out["ns"], out["tau"] = np.asarray(ns), np.linspace(0.0, T, L + 1)
        return out

    if not check_bool("cache", cache):
        return compute()
    return cached(f"nfd_nondeg_net_{backward}", config, compute, version=VERSION, fmt="npz")


def nondegeneracy_solver(*, M: int, K: int, seeds: Sequence[int], task: dict | None = None, T: float = 1.0,
                         lr: float = 0.5, steps: int = 10, every: int = 5, coupling: str = "decoupled", device=None,
                         cache: bool = True, progress: bool = True) -> dict[str, np.ndarray]:
    """The same spectrum for the particle solver (``M`` particles, ``K`` steps, float64; ``coupling``
    ``"decoupled"`` for NFD, ``"reused"`` for the limit of true backpropagation), from its particle histories at
    every grid point and the steps ``0, every, .., steps``: arrays of shape ``(len(seeds), K + 1)`` and ``tau``."""
    task = dict(task or DEFAULT_TASK)
    config = {"kind": "solver", "M": check_int("M", M, minimum=2), "K": check_int("K", K),
              "seeds": check_seeds(seeds), "task": task, "T": T, "lr": lr,
              "steps": check_int("steps", steps, minimum=0), "every": check_int("every", every), "coupling": coupling}

    def compute():
        data = make_task(task)
        solver_class = coupling_solver(coupling)
        P, N = data.X_train.shape[0], data.X_train.shape[0]
        out = {k: np.full((len(config["seeds"]), K + 1), np.nan) for k in ("lam_min", "lam_max", "lam_mean")}
        for j, s in enumerate(tqdm(config["seeds"], desc=f"nondegeneracy, {coupling} solver", disable=not progress,
                                   leave=False)):
            solver = solver_class(data.X_train, data.Y_train, M=M, K=K, T=T, steps=steps, lr=lr, seed=s,
                                         kernel_layers=[0], device=device, dtype=torch.float64)
            solver.run()
            S1, kept = steps + 1, np.arange(0, steps + 1, every)
            for l in range(K + 1):
                phis = solver.phi_hist[l].reshape(M, S1, N)[:, kept, :P].reshape(M, -1).double().cpu().numpy()
                gs = solver.g_hist[l].reshape(M, S1, solver.PC)[:, kept].reshape(M, -1).double().cpu().numpy()
                for k, v in feature_gradient_spectrum(phis, gs).items():
                    out[k][j, l] = v
            del solver
        out["tau"] = np.linspace(0.0, T, K + 1)
        return out

    if not check_bool("cache", cache):
        return compute()
    return cached("nfd_nondeg_solver", config, compute, version=VERSION, fmt="npz")


# ---------------------------------------------------------------------------------------------------------
# Errors: fluctuation and bias
# ---------------------------------------------------------------------------------------------------------
def error_parts(samples, reference, scale: float | None = None, reference_noise: float = 0.0) -> dict[str, float]:
    """Distance of per-seed ``samples`` (leading axis = seeds) from ``reference``, split in two.

    * ``strong``: rms over seeds of ``rms(sample - reference)`` (what one network is off by);
    * ``fluctuation``: rms over seeds of ``rms(sample - seed mean)`` (the ``O(n^-1/2)`` part);
    * ``bias``: ``rms(seed mean - reference)``; ``noise_floor`` is the bias a seed mean shows when the true bias
      is zero, ``sqrt(fluctuation^2 / R + reference_noise^2)`` (``reference_noise``: the rms Monte Carlo error of
      the reference itself); ``bias_debiased`` is ``sqrt(max(bias^2 - noise_floor^2, 0))``.

    Everything is divided by ``scale`` when given (for example ``rms(reference)`` for a relative error).
    """
    x = np.asarray(samples, float)
    ref = np.broadcast_to(np.asarray(reference, float), x.shape[1:])
    R = x.shape[0]
    mean = x.mean(0)
    per_seed = np.sqrt(((x - ref) ** 2).reshape(R, -1).mean(1))
    fluct = float(np.sqrt(((x - mean) ** 2).reshape(R, -1).mean(1).sum() / max(R - 1, 1)))
    bias = rms(mean - ref)
    floor = math.sqrt(fluct**2 / R + float(reference_noise) ** 2)
    s = 1.0 if scale is None else float(scale)
    return {"strong": rms(per_seed) / s, "fluctuation": fluct / s, "bias": bias / s,
            "bias_debiased": math.sqrt(max(bias**2 - floor**2, 0.0)) / s, "noise_floor": floor / s, "seeds": R,
            "per_seed": per_seed / s}


def errors_by_size(samples_by_size: dict, reference, *, scale: float | None = None,
                   reference_noise: float = 0.0) -> dict[str, np.ndarray]:
    """:func:`error_parts` for each size of a sweep (``{n or L: per-seed samples}``) against one ``reference``.

    Returns ``sizes`` and, per size, ``bias``, ``noise_floor``, ``fluctuation``; and the per-seed errors flattened
    for a log-log fit, ``x`` (the size of each seed's network) and ``per_seed``. ``seen`` marks the sizes whose bias
    stands above twice its noise floor (below that the bias is not measured, only bounded).
    """
    if not samples_by_size:
        raise ValueError("samples_by_size must hold at least one size")
    sizes = list(samples_by_size)
    parts = [error_parts(samples_by_size[n], reference, scale=scale, reference_noise=reference_noise) for n in sizes]
    out = {"sizes": np.array(sizes), "x": np.concatenate([[n] * p["seeds"] for n, p in zip(sizes, parts)]),
           "per_seed": np.concatenate([p["per_seed"] for p in parts])}
    for key in ("bias", "noise_floor", "fluctuation", "bias_debiased"):
        out[key] = np.array([p[key] for p in parts])
    out["seen"] = out["bias"] > 2 * out["noise_floor"]
    return out


def outputs(runs: dict) -> np.ndarray:
    """The output trajectories on training and held-out inputs together, ``(R, S+1, P+Q, C)``."""
    return np.concatenate([runs["f_train"], runs["f_test"]], axis=2) if "f_test" in runs else runs["f_train"]


def first_steps(runs: dict) -> np.ndarray:
    """The measured first SGD step ``f(x, 1) - f(x, 0)`` of output 0 on all inputs, per seed: ``(seeds, P + Q)``."""
    f = outputs(runs)
    return (f[:, 1] - f[:, 0])[..., 0]


def predicted_first_step(runs: dict, theta, targets, lr: float) -> np.ndarray:
    """The first SGD step of output 0 predicted to first order in the rate, ``-lr Theta chi(0)``, per seed:
    ``(seeds, N)``. ``theta`` is a tangent kernel on all ``N`` inputs with the ``P`` training inputs first (from
    :func:`nfdlib.nfd.theory.first_step_kernels`); each run's own ``chi(0) = (f(x_mu, 0) - y_mu) / P`` enters, so
    the prediction carries the same seed noise as the measured :func:`first_steps`."""
    P = runs["f_train"].shape[2]
    chi0 = (runs["f_train"][:, 0] - np.asarray(targets))[..., 0] / P
    return -lr * chi0 @ np.asarray(theta)[:, :P].T


def measured_step_ratio(a: dict, true: dict) -> float:
    """``<df_a, df_true> / |df_true|^2`` of the seed-mean first steps (:func:`first_steps`) of two sets of runs:
    how much of the true networks' first step the runs ``a`` (decoupled networks, a solver) take."""
    step, true_step = first_steps(a).mean(0), first_steps(true).mean(0)
    return float(step @ true_step / (true_step @ true_step))


def _step_ratio(rows: np.ndarray) -> float:
    true_step, decoupled_step = rows[:, 0].mean(0), rows[:, 1].mean(0)
    return decoupled_step @ true_step / (true_step @ true_step)


def _ntk_preference(rows: np.ndarray) -> float:
    step, ntk, nfd = rows[:, 0].mean(0), rows[:, 2].mean(0), rows[:, 3].mean(0)
    return rms(step - nfd) / rms(nfd) - rms(step - ntk) / rms(ntk)


def first_step_intervals(true_runs: dict, decoupled_runs: dict, predicted_ntk, predicted_nfd, *,
                         boot: int = 1000) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Bootstrap intervals over seeds (:func:`nfdlib.stats.bootstrap_interval`) for the first SGD step of true
    against decoupled networks (notebook 02). A seed is resampled as a pair, since true and decoupled networks of
    one seed share their forward weights. ``predicted_ntk`` and ``predicted_nfd`` are the true networks' steps
    predicted from the NTK and from ``Theta_nfd`` (:func:`predicted_first_step`, ``(seeds, N)``).

    Returns ``(value, lo, hi)`` twice: the decoupled/true step ratio (as :func:`measured_step_ratio`), and how
    much closer the true networks' step is to the NTK prediction than to the ``Theta_nfd`` one (relative rms
    errors; positive when the NTK is closer)."""
    rows = np.stack([first_steps(true_runs), first_steps(decoupled_runs), np.asarray(predicted_ntk),
                     np.asarray(predicted_nfd)], axis=1)  # (seeds, 4, inputs)
    return bootstrap_interval(_step_ratio, rows, boot=boot), bootstrap_interval(_ntk_preference, rows, boot=boot)


def distance_in_noise_units(a: dict, b: dict) -> float:
    """The rms difference of two sets of runs' seed-mean outputs (steps >= 1), divided by the rms standard error of
    that difference (variances pooled over entries): about 1 when the two have the same law (notebook 02)."""
    a, b = outputs(a)[:, 1:], outputs(b)[:, 1:]
    se2 = (a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b)).mean()
    return rms(a.mean(0) - b.mean(0)) / math.sqrt(se2)


def mean_and_noise(runs_or_array) -> tuple[np.ndarray, float]:
    """Seed mean of an array with seeds first (or of :func:`outputs` of a run dict), and its rms standard error."""
    x = outputs(runs_or_array) if isinstance(runs_or_array, dict) else np.asarray(runs_or_array, float)
    R = x.shape[0]
    se = float(np.sqrt(x.var(0, ddof=1).mean() / R)) if R > 1 else float("nan")
    return x.mean(0), se


def paired_gap(a: dict, b: dict) -> dict[str, float]:
    """How far the seed-mean outputs of ``a`` are from those of ``b``, relative to how far ``b``'s outputs move in
    training: ``rms(mean(f_a - f_b)) / rms(mean(f_b(k) - f_b(0)))``. Seeds are paired (a network built with the
    same seed has the same forward weights whatever its backward), which removes most of the seed noise;
    ``noise`` is the same ratio for the standard error of the paired mean, and ``lo, hi`` the interval
    ``[max(0, gap - 2 noise), gap + 2 noise]`` (the rms of a mean difference is at most ``2 noise`` off its
    true value at about 95%, and never below 0)."""
    fa, fb = outputs(a), outputs(b)
    diff = fa - fb
    R = diff.shape[0]
    move = rms((fb - fb[:, :1]).mean(0))
    se = float(np.sqrt(diff.var(0, ddof=1).mean() / R)) if R > 1 else float("nan")
    gap, noise = rms(diff.mean(0)) / move, se / move
    return {"gap": gap, "noise": noise, "movement": move, "lo": max(gap - 2 * noise, 0.0), "hi": gap + 2 * noise}


def unpaired_gap(a: dict, b: dict) -> dict[str, float]:
    """:func:`paired_gap` for two sets of runs that share no randomness (a solver against networks): the noise of
    the difference of the two seed means adds the two standard errors in quadrature."""
    (ma, sa), (mb, sb) = mean_and_noise(a), mean_and_noise(b)
    fb = outputs(b)
    move = rms((fb - fb[:, :1]).mean(0))
    gap, noise = rms(ma - mb) / move, math.hypot(sa, sb) / move
    return {"gap": gap, "noise": noise, "movement": move, "lo": max(gap - 2 * noise, 0.0), "hi": gap + 2 * noise}


def relative_kernel_change(kernels) -> np.ndarray:
    """``|A(k) - A(0)|_F / |A(0)|_F`` for a kernel ``A`` (``Phi`` or ``G``) along the step axis (axis ``-3``;
    works on stacked seeds)."""
    kernels = np.asarray(kernels, float)
    diff = kernels - kernels[..., :1, :, :]
    return np.linalg.norm(diff, axis=(-2, -1)) / np.linalg.norm(kernels[..., :1, :, :], axis=(-2, -1))


def init_kernel_networks(X, P: int, *, n: int, L: int, seeds: Sequence[int], T: float = 1.0,
                         activation: str = "relu", device=None) -> dict[str, np.ndarray]:
    """Empirical kernels of freshly initialized depth-muP networks at every layer (notebook 01, step e).

    For each seed, a ``ResNet`` of width ``n`` and depth ``L`` on the inputs ``X`` (the first ``P`` are the
    training inputs, whose backward kernel is taken): ``q_l = h_l h_l^T / n``, ``Phi_l = phi(h_l) phi(h_l)^T / n``
    over all inputs and ``G_l = g_l g_l^T / n`` over the training inputs, ``l = 0..L``. Returns arrays shaped
    ``(seeds, L + 1, ., .)`` under ``"q"``, ``"Phi"`` and ``"G"`` (float64), not cached (a few seconds).
    """
    X = torch.as_tensor(X, dtype=torch.float32)
    n, L, P = check_int("n", n), check_int("L", L), check_int("P", P)
    if X.ndim != 2 or X.shape[0] < P:
        raise ValueError(f"X must have shape (N, d) with N >= P = {P}, got {tuple(X.shape)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    out = {"q": [], "Phi": [], "G": []}
    for seed in seeds:
        model = ResNet(X.shape[1], 1, n, L, T=T, seed=seed, activation=activation, device=device)
        Xd = X.to(model.U.device)
        _, Phi, G = network_kernels(model, Xd, P, list(range(L + 1)))
        with torch.no_grad():
            hs = model(Xd, return_features=True)[1].h
        out["q"].append(np.stack([(h.double() @ h.double().T / n).cpu().numpy() for h in hs]))
        out["Phi"].append(Phi)
        out["G"].append(G)
    return {key: np.array(value) for key, value in out.items()}


__all__ = ["VERSION", "DEFAULT_TASK", "FIELDS", "SOLVE_COST", "solve_cost", "make_task", "network_runs", "solver_runs",
           "error_parts",
           "outputs", "mean_and_noise", "paired_gap", "unpaired_gap", "relative_kernel_change", "init_moments",
           "bias_from_moments", "init_kernel_networks", "errors_by_size",
           "distance_in_noise_units", "first_steps", "predicted_first_step", "measured_step_ratio",
           "first_step_intervals", "seen_bias_fit", "init_width_errors",
           "feature_gradient_spectrum", "nondegeneracy_networks", "nondegeneracy_solver"]
