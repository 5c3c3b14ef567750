"""The limit of notebook 07's networks: the NFD solver with the reused-weight terms of true backpropagation.

The limit ``E_NFD`` that trained networks approach as width and depth grow, computed by the solver
(:func:`nfdlib.nfd.runs.solve_over_seeds` with ``coupling="reused"``): notebook 04's solves plus more grids and
particle counts (:func:`limit_reference`, :func:`particle_seeds`), extrapolated to ``K -> infinity`` with an interval
that holds the solver's own Monte Carlo error (:func:`limit_estimate`, :func:`limit_with_particles`,
:func:`limit_at`), and what moves the limit itself (:func:`solver_sweeps`). Used by notebook 07.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import torch
from scipy.stats import t as student_t

from ..gia import experiment_result, run_experiment
from ..jobs import CachedResult, Job, stack_parts
from ..nfd.runs import solve_cost, solve_over_seeds
from ..stats import extrapolate
from ..validation import check_choice, check_float
from .grids import VERSION

#: What :func:`solver_runs` keeps of each solve (and so what its cached files hold).
SOLVER_ARRAYS = ("train_loss", "test_loss", "failed", "seconds", "Ks")


def solver_runs(*, Ks: Sequence[int], M: int, seeds: Sequence[int], task: Mapping | None = None, T: float = 1.0,
                lr: float = 0.5, steps: int = 10, noise_grid: int | None = None, coupling: str = "reused",
                dtype: str = "float32", progress: bool = False) -> dict[str, np.ndarray]:
    """Solves of :func:`nfdlib.nfd.simulate_nfd` for each ``K`` and seed on a teacher task (``task``: the
    keyword arguments of :func:`nfdlib.data.make_teacher_task`, default the task of notebooks 02 to 04), run by
    :func:`nfdlib.nfd.runs.solve_over_seeds`.

    A solve that blows up (``FloatingPointError``) is recorded as NaN with ``failed`` set. Returns
    ``train_loss``, ``test_loss`` of shape ``(len(Ks), len(seeds), steps + 1)``, ``failed``, ``Ks``,
    ``seconds`` (wall time of each solve)."""
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    dt = dtypes[check_choice("dtype", dtype, tuple(dtypes))]
    out = solve_over_seeds(Ks=Ks, M=M, seeds=seeds, task=dict(task) if task is not None else None, T=T, lr=lr,
                           steps=steps, noise_grid=noise_grid, kernel_layers=[0], coupling=coupling, dtype=dt,
                           on_failure="nan", progress=progress)
    return {k: out[k] for k in SOLVER_ARRAYS}


def solver_result(name: str, config: dict, label: str) -> CachedResult:
    """The cached :func:`solver_runs` ``scaling_<name>`` with keyword arguments ``config``, one job per grid size
    (labelled ``scaling_<label>_K<K>``; each solve is independent, so the merged arrays are those of one run)."""
    config = dict(config)
    cost = solve_cost(config["M"], config.get("steps", 10), len(config["seeds"]), config.get("task"))
    jobs = [Job(f"scaling_{label}_K{int(K)}", "nfdlib.scaling.limit:solver_runs", dict(config, Ks=[int(K)]),
                version=VERSION, cost=cost) for K in config["Ks"]]
    return CachedResult(f"scaling_{name}", config, VERSION, jobs, stack_parts)


def _cached_solver(name: str, config: dict, label: str, cache: bool, progress: bool) -> dict[str, np.ndarray]:
    if cache:
        return solver_result(name, config, label).load(progress=progress)
    return solver_runs(**config, progress=progress)


def _seeds_label(seeds) -> str:
    return "s" + "-".join(str(int(s)) for s in seeds)


def limit_results(spec: Mapping) -> list[CachedResult]:
    """The cached solves :func:`limit_reference` and :func:`particle_seeds` read: notebook 04's shared solves
    (:func:`nfdlib.gia.experiment_result`), the extra grid sizes, and the smaller particle counts with their
    extra seeds."""
    shared, part = dict(spec["shared"]), dict(spec["particles"])
    out = [experiment_result("limit_solver", shared),
           solver_result("limit_solver", _solver_config(shared, Ks=list(spec["extra_Ks"])), "limit_solver")]
    for M in part["Ms"]:
        out.append(solver_result("limit_particles", _solver_config(shared, M=int(M), Ks=[int(part["K"])]),
                                 f"limit_particles_M{int(M)}_{_seeds_label(shared['seeds'])}"))
    for M, more in part.get("more_seeds", []):
        seeds = [int(s) for s in more]
        out.append(solver_result("limit_particles", _solver_config(shared, M=int(M), seeds=seeds,
                                                                   Ks=[int(part["K"])]),
                                 f"limit_particles_M{int(M)}_{_seeds_label(seeds)}"))
    return out


def limit_reference(spec: Mapping, *, cache: bool = True, progress: bool = True) -> dict:
    """The limit ``E_NFD`` of the networks of regime 1 and what it is made of.

    ``spec`` holds ``shared`` (keyword arguments of :func:`nfdlib.nfd.runs.limit_solver`; in full mode exactly
    notebook 04's reused solves, whose cache this reads), ``extra_Ks`` (more grid sizes, same ``M``, seeds and
    ``noise_grid``, so they share the Brownian paths) and ``particles`` (``{"K": K, "Ms": [...]}``: smaller
    particle counts at one ``K``, for the particle error). Returns ``Ks``, ``train_loss``, ``test_loss`` of shape
    ``(K, seeds, steps + 1)`` (all grids together, sorted by ``K``), ``particles`` (``Ms``, losses) and ``seconds``
    (compute time of what this notebook added; the shared solves were timed by notebook 04).
    """
    shared = dict(spec["shared"])
    base = run_experiment("limit_solver", shared, cache=cache, progress=progress)
    extra = _cached_solver("limit_solver", _solver_config(shared, Ks=list(spec["extra_Ks"])), "limit_solver", cache,
                           progress)
    part = dict(spec["particles"])
    runs = [_cached_solver("limit_particles", _solver_config(shared, M=int(M), Ks=[int(part["K"])]),
                           f"limit_particles_M{int(M)}_{_seeds_label(shared['seeds'])}", cache, progress)
            for M in part["Ms"]]
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
    ``y = E_NFD + sum_t c_t t(K)`` (:func:`nfdlib.stats.extrapolate` with ``K`` as the depth), whose t interval holds
    the seed noise and the extrapolation. ``particle_error`` (an estimate of the finite-``M`` bias) widens the
    interval on both sides. Returns ``limit``, ``lo``, ``hi``, ``se``, the fit and ``predict(K)`` values.
    """
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


def _sweep_configs(spec: Mapping) -> dict[str, list[dict]]:
    """For each setting of ``spec["vary"]``, the :func:`solver_runs` keyword arguments of each of its values."""
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
        out[name] = configs
    return out


def _stack_values(parts: Sequence[Mapping], configs: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """One setting's solves (one job per value and grid size, in that order) as arrays ``(values, K, ...)``."""
    per_value = len(parts) // len(configs)
    runs = [stack_parts(parts[i * per_value:(i + 1) * per_value]) for i in range(len(configs))]
    res = {k: np.stack([r[k] for r in runs]) for k in ("train_loss", "test_loss", "failed", "seconds")}
    res["Ks"] = runs[0]["Ks"]
    res["lr"] = np.array([c["lr"] for c in configs])
    return res


def solver_sweep_results(spec: Mapping) -> dict[str, CachedResult]:
    """The cached files of :func:`solver_sweeps`: one per setting (``scaling_solver_<setting>``), assembled from one
    job per value and grid size, and the long solve (``"steps"``)."""
    out = {}
    for name, configs in _sweep_configs(spec).items():
        values = spec["vary"][name]
        jobs = [job for v, c in zip(values, configs)
                for job in solver_result(f"solver_{name}", c, f"solver_{name}_{float(v):g}").jobs]
        config = {"setting": name, "values": [float(v) for v in values], "configs": configs}
        out[name] = CachedResult(f"scaling_solver_{name}", config, VERSION, jobs,
                                 partial(_stack_values, configs=configs))
    if "long" in spec:
        out["steps"] = solver_result("solver_steps", dict(spec["base"], **spec["long"]), "solver_steps")
    return out


def solver_sweeps(spec: Mapping, *, cache: bool = True, progress: bool = True) -> dict[str, dict]:
    """What moves the limit itself: the reused solver alone, one setting varied at a time.

    ``spec`` holds ``base`` (keyword arguments of :func:`solver_runs`: ``Ks``, ``M``, ``seeds``, ``task``, ``T``,
    ``lr``, ``steps``, ``noise_grid``), ``vary`` (a dict setting -> list of values; ``"n_train"`` changes the
    task's training set size, ``"T"`` comes with the matching ``lr`` list under ``"T_lr"`` when given) and
    ``long`` (keyword overrides of ``base`` for one long solve: loss against SGD steps). One cached file per
    setting (``scaling_solver_<setting>``, :func:`solver_sweep_results`). Returns setting -> ``{"values",
    "train_loss", "test_loss"}`` with arrays ``(values, K, seeds, steps + 1)``, and ``"steps"`` -> the long solve.
    """
    if cache:
        out = {name: result.load(progress=progress) for name, result in solver_sweep_results(spec).items()}
    else:
        out = {name: _stack_values([solver_runs(**c, progress=progress) for c in configs], configs)
               for name, configs in _sweep_configs(spec).items()}
        if "long" in spec:
            out["steps"] = solver_runs(**dict(spec["base"], **spec["long"]), progress=progress)
    for name, values in spec["vary"].items():
        if name in out:
            out[name] = dict(out[name], values=np.asarray(values, float))
    return out


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
        seeds = [int(s) for s in more]
        runs = _cached_solver("limit_particles", _solver_config(shared, M=int(M), seeds=seeds, Ks=[int(part["K"])]),
                              f"limit_particles_M{int(M)}_{_seeds_label(seeds)}", cache, progress)
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
    half = float(student_t.ppf(0.5 + level / 2, max(df, 1.0))) * se
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
