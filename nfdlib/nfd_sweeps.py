"""Seed-averaged comparisons of finite ResNets with the NFD solver, cached under ``data/`` (notebook 02).

Every run records the same trajectories (an :class:`~nfdlib.nfd.NFDResult`): outputs on training and held-out
inputs at every SGD step, losses, and the equal-time kernels ``Phi`` and ``G`` at the layer-times
``layer_fractions * T``. :func:`network_runs` and :func:`solver_runs` stack them over seeds and cache the stack
(one ``.npz`` per configuration, names starting with ``nfd_``). :func:`error_parts` splits the distance of a
set of seeds from a reference into the seed-to-seed fluctuation and the bias of the seed mean.

The task is fixed by a small dict (``task``) passed to :func:`make_task`, so that a configuration is plain JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import cached, register_kind
from .data import Dataset, make_teacher_task
from .nfd import layers_at, network_kernels, run_finite_network, simulate_nfd
from .validation import check_int

# Bumped by hand whenever the code that produces a cached result changes.
VERSION = "1"

DEFAULT_TASK = {"d": 8, "n_train": 8, "n_test": 8, "seed": 0}
FIELDS = ("f_train", "f_test", "train_loss", "test_loss", "Phi", "G")
_RUN_ARRAYS = ("f_train", "train_loss", "test_loss", "Phi", "G", "kernel_tau", "seconds")
register_kind("nfd_net_", VERSION, "npz", _RUN_ARRAYS)
register_kind("nfd_solver", VERSION, "npz", _RUN_ARRAYS)
register_kind("nfd_init_moments_", VERSION, "npz", ("Phi_mean", "Phi_var", "G_mean", "G_var", "seeds", "kernel_tau"))


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
    from .models import ResNet
    from .nfd import NFDResult

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
    config = {"kind": "network", "n": check_int("n", n), "L": check_int("L", L), "seeds": [int(s) for s in seeds],
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

    if not cache:
        return compute()
    return cached(f"nfd_net_{backward}_{parametrization}", config, compute, version=VERSION, fmt="npz")


def solver_runs(*, M: int, K: int, seeds: Sequence[int], task: dict | None = None, T: float = 1.0, lr: float = 0.5,
                steps: int = 10, activation: str = "relu", noise_grid: int | None = None,
                layer_fractions=(0.0, 0.5, 1.0), coupling: str = "decoupled", device=None, cache: bool = True,
                progress: bool = True) -> dict[str, np.ndarray]:
    """NFD solves with ``M`` particles on ``K`` steps, one per seed (:func:`simulate_nfd`); same fields as
    :func:`network_runs`. With a common ``noise_grid`` solves at different ``K`` share their Brownian paths.
    ``coupling="reused"`` solves the system with the reused-weight terms (notebook 03)."""
    task = dict(task or DEFAULT_TASK)
    config = {"kind": "solver", "M": check_int("M", M, minimum=2), "K": check_int("K", K),
              "seeds": [int(s) for s in seeds], "task": task, "T": T, "lr": lr, "steps": steps,
              "activation": activation, "noise_grid": noise_grid, "layer_fractions": list(layer_fractions)}
    if coupling != "decoupled":  # only then, so that the caches of decoupled solves keep their keys
        config["coupling"] = coupling

    def compute():
        data = make_task(task)
        layers = layers_at(K, layer_fractions)
        results = [simulate_nfd(data.X_train, data.Y_train, X_test=data.X_test, Y_test=data.Y_test, M=M, K=K, T=T,
                                steps=steps, lr=lr, activation=activation, seed=seed, kernel_layers=layers,
                                noise_grid=noise_grid, coupling=coupling, device=device)
                   for seed in tqdm(config["seeds"], desc=f"NFD M={M} K={K}", disable=not progress, leave=False)]
        return _stack(results)

    if not cache:
        return compute()
    return cached("nfd_solver", config, compute, version=VERSION, fmt="npz")


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
              "seeds": [int(s) for s in seeds], "task": task, "T": T, "activation": activation,
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

    if not cache:
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


# ---------------------------------------------------------------------------------------------------------
# Errors: fluctuation and bias
# ---------------------------------------------------------------------------------------------------------
def rms(x) -> float:
    x = np.asarray(x, float)
    return float(np.sqrt(np.mean(x**2)))


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


def outputs(runs: dict) -> np.ndarray:
    """The output trajectories on training and held-out inputs together, ``(R, S+1, P+Q, C)``."""
    return np.concatenate([runs["f_train"], runs["f_test"]], axis=2) if "f_test" in runs else runs["f_train"]


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
    ``noise`` is the same ratio for the standard error of the paired mean."""
    fa, fb = outputs(a), outputs(b)
    diff = fa - fb
    R = diff.shape[0]
    move = rms((fb - fb[:, :1]).mean(0))
    se = float(np.sqrt(diff.var(0, ddof=1).mean() / R)) if R > 1 else float("nan")
    return {"gap": rms(diff.mean(0)) / move, "noise": se / move, "movement": move}


def relative_kernel_change(K_steps) -> np.ndarray:
    """``|K(k) - K(0)|_F / |K(0)|_F`` along the step axis (axis ``-3``; works on stacked seeds)."""
    K_steps = np.asarray(K_steps, float)
    diff = K_steps - K_steps[..., :1, :, :]
    return np.linalg.norm(diff, axis=(-2, -1)) / np.linalg.norm(K_steps[..., :1, :, :], axis=(-2, -1))


__all__ = ["VERSION", "DEFAULT_TASK", "FIELDS", "make_task", "network_runs", "solver_runs", "error_parts", "rms",
           "outputs", "mean_and_noise", "paired_gap", "relative_kernel_change", "init_moments", "bias_from_moments"]
