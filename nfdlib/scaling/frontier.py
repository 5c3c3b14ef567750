"""Reading fitted laws and grids: the size to train at a budget, and whether size keeps paying.

The compute-optimal ``(n, L)`` a fitted law implies at a FLOP budget (:func:`compute_optimal`,
:func:`fitted_frontier`) beside the best measured size under each budget (:func:`empirical_frontier`); whether a
rule keeps improving along one arm of a grid (:func:`arm_trend`) or along lines of sizes (:func:`slopes_along`);
how far each size is from its limit (:func:`deviations`); the width above which depth pays in the law with an
``n x L`` interaction (:func:`depth_pays_width`, :func:`depth_threshold`); the lines of constant aspect ratio
``L / n`` the figures draw (:func:`aspect_lines`); the law with its floor held at the computed limit
(:func:`floor_pinned_fits`); what moves the limit itself (:func:`limit_moves`); and the tables the notebook shows
(:func:`extrapolation_markdown`, :func:`frontier_markdown`). Used by notebook 07.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.optimize import minimize_scalar

from ..optima import final_metric
from ..stats import fit_loglog, interval_verdict, markdown_table, richardson
from ..validation import check_choice, check_float, check_int
from .counts import _blocks_per_layer
from .laws import LawFit, SizeTable, _interval, _min_seeds, fit_law


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


def fitted_frontier(fit: LawFit, budgets: Sequence[float], compute: Callable, **kwargs) -> list[dict]:
    """:func:`compute_optimal` at each budget: the compute-optimal frontier implied by a fit (beside the measured
    one, :func:`empirical_frontier`)."""
    return [compute_optimal(fit, b, compute, **kwargs) for b in budgets]


def feasible_frontiers(fit: LawFit, table: SizeTable, budgets: Sequence[float], compute: Callable, *,
                       n_range, L_range) -> tuple[list[dict], list[dict]]:
    """:func:`fitted_frontier` and :func:`empirical_frontier` at the same budgets, each budget that no size inside
    ``n_range`` and ``L_range`` can spend (the fitted optimum's ``n`` is NaN) left out of both."""
    front = fitted_frontier(fit, budgets, compute, n_range=n_range, L_range=L_range)
    emp = empirical_frontier(table, budgets)
    feasible = [k for k, row in enumerate(front) if np.isfinite(row["n"])]
    return [front[k] for k in feasible], [emp[k] for k in feasible]


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
    check_choice("along", along, ("n", "L"))
    last = check_int("last", last, minimum=2)
    mask = np.ones(len(runs["n"]), bool)
    for k, v in where.items():
        mask &= np.asarray(runs[check_choice("where", k, ("n", "L"))]) == v
    x = np.asarray(runs[along])[mask]
    values = final_metric(runs, key)[mask]
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


# -- lines of constant aspect ratio, for the figures -------------------------------------------------------------
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


def aspect_lines(table: SizeTable, x: str = "params", *, ratios: Sequence[float] | None = None,
                 fit: LawFit | None = None) -> list[dict]:
    """The lines of constant aspect ratio ``L / n`` through ``table`` that :func:`nfdlib.viz.plot_by_aspect` draws:
    one dict per ratio of ``ratios`` (default :func:`aspect_ratios`) with its ``ratio`` and its sizes ordered by
    width: ``x`` (the per-size ``"params"`` or ``"flops"``), the seed ``mean`` and its standard error ``se``
    (empty arrays when no size lies on the ratio); with an ``"nL"`` ``fit``, ``curve`` holds the law along the same
    ratio as ``(x, loss)`` (``None`` otherwise)."""
    check_choice("x", x, ("params", "flops"))
    ratios = aspect_ratios(table) if ratios is None else list(ratios)
    xs = table.var(x)
    lines = []
    for r in ratios:
        sel = np.flatnonzero(np.isclose(table.L / table.n, r))
        sel = sel[np.argsort(table.n[sel])]
        curve = None
        if sel.size and fit is not None and fit.form.removesuffix("-pure") == "nL":
            nn = np.geomspace(table.n[sel].min(), table.n[sel].max(), 40)
            LL = r * nn
            # the x of the continuous curve: interpolate log x against log n along the measured points
            xx = np.exp(np.interp(np.log(nn), np.log(table.n[sel]), np.log(xs[sel])))
            curve = (xx, fit.predict(n=nn, L=LL))
        lines.append({"ratio": r, "x": xs[sel], "mean": table.mean[sel], "se": table.se[sel], "curve": curve})
    return lines


# -- the law with its floor held at the computed limit -----------------------------------------------------------
def floor_pinned_fits(table: SizeTable, limit: Mapping, form: str = "nL", *, boot: int = 200, seed: int = 0,
                      params: Sequence[str] = ("alpha", "beta")) -> tuple[dict[str, LawFit], dict[str, tuple]]:
    """:func:`nfdlib.scaling.fit_law` with the floor ``E`` held at the limit's estimate and at both ends of its
    interval (``limit["limit"]``, ``limit["lo"]``, ``limit["hi"]``; a floor below ``1e-12`` is raised to it, a loss
    floor being positive), so the limit's own error travels into each exponent: the three fits by end, and per
    name of ``params`` the union of their intervals ``(lo, hi)``."""
    fits = {end: fit_law(table, form, boot=boot, seed=seed, E=max(limit[end], 1e-12)) for end in ("limit", "lo", "hi")}
    union = {k: (min(f.interval(k)[0] for f in fits.values()), max(f.interval(k)[1] for f in fits.values()))
             for k in params}
    return fits, union


# -- what moves the limit itself ---------------------------------------------------------------------------------
def limit_moves(sweeps: Mapping, names: Sequence[str] = ("n_train", "lr", "T"),
                keys: Sequence[str] = ("train_loss", "test_loss")) -> dict[tuple[str, str], np.ndarray]:
    """Per swept setting ``name`` and loss ``key`` of :func:`nfdlib.scaling.solver_sweeps`: the loss after the last
    GD step relative to before training, extrapolated to ``K -> infinity`` from the sweep's two largest grids
    (:func:`nfdlib.stats.richardson`), seed mean (NaN seeds skipped), one value per setting value.
    ``sweeps[name][key]`` is shaped ``(values, K, seeds, steps + 1)``."""
    moves = {}
    for name in names:
        sweep = sweeps[name]
        for key in keys:
            rel = sweep[key][..., -1] / sweep[key][..., 0]  # (values, K, seeds)
            moves[(name, key)] = np.nanmean(richardson(sweep["Ks"], np.moveaxis(rel, 1, 0)), -1)
    return moves


# -- the tables of notebook 07 -----------------------------------------------------------------------------------
def _interval_text(lo: float, hi: float, digits: int = 3) -> str:
    return f"[{lo:.{digits}g}, {hi:.{digits}g}]"


def extrapolation_markdown(results: Sequence[Mapping]) -> str:
    """The rows of :func:`nfdlib.scaling.extrapolation_test` as a markdown table: per form the rms, the largest and
    the mean (bias) of the log error on the held-out sizes, and the held-out / fitted counts."""
    return markdown_table(["form", "rms log error", "max", "bias (mean log error)", "held out / fitted"],
                          [(r["form"], f"{r['rms_log_error']:.3f}", f"{r['max_log_error']:.3f}", f"{r['bias']:+.3f}",
                            f"{r['held']} / {r['fitted']}") for r in results])


def frontier_markdown(front: Sequence[Mapping], emp: Sequence[Mapping], table: SizeTable) -> str:
    """A markdown table of the compute-optimal frontier (:func:`feasible_frontiers`): per budget the predicted
    ``n*``, ``L*`` (marked when on the grid's edge) and loss with their intervals, the seed-mean loss measured at
    the grid size nearest the prediction (:func:`nearest_size`), and the best measured run within the budget."""
    rows = []
    for f, e in zip(front, emp):
        i = nearest_size(table, f["n"], f["L"])
        rows.append((f"{f['budget']:.2e}", f"{f['n']:.0f} {_interval_text(f['n_lo'], f['n_hi'])}",
                     f"{f['L']:.1f} {_interval_text(f['L_lo'], f['L_hi'])}" + (" (grid edge)" if f["at_edge"] else ""),
                     f"{f['loss']:.3f} {_interval_text(f['loss_lo'], f['loss_hi'])}",
                     f"n = {table.n[i]:.0f}, L = {table.L[i]:.0f}: {table.mean[i]:.3f} +- {table.se[i]:.3f}",
                     f"n = {e['n']:.0f}, L = {e['L']:.0f}: {e['loss']:.3f} +- {e['se']:.3f}"))
    return markdown_table(["budget (FLOPs)", "predicted n*", "predicted L*", "predicted loss",
                           "measured at the predicted size", "best measured run at <= budget"], rows)


__all__ = [
    "compute_model", "compute_optimal", "fitted_frontier", "feasible_frontiers", "empirical_frontier", "arm_trend",
    "depth_pays_width", "depth_threshold", "slopes_along", "distinct_budgets", "nearest_size", "floor_identified",
    "aspect_ratios", "aspect_lines", "floor_pinned_fits", "limit_moves", "extrapolation_markdown", "frontier_markdown",
]
