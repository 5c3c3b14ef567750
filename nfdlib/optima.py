"""Reading learning-rate sweeps: optima, their drift with depth, plateaus and budgets.

The optimum ``eta*`` of one seed is the vertex of a parabola fitted to ``log(loss)`` against ``log2(eta)`` around
the best grid point (:func:`best_lr`), and the drift of the optimum with depth is the least-squares slope of
``log2 eta*`` against ``log2 L`` with a 95% t-interval (seeds pooled), checked by a bootstrap over seeds
(:func:`optimum_drift`, :class:`Drift`); the edge of stability drifts the same way (:func:`max_stable_lr`,
:func:`stability_drift`). How long to train: the best loss reachable with each budget of steps
(:func:`best_loss_by_step`) and where it stops improving (:func:`plateau_step`, :func:`plateau_budget`). The
tables of notebook 06 read the metrics at the best rate of each depth (:func:`best_by_depth`, :func:`best_depths`),
read drifts at shorter budgets (:func:`drifts_by_budget`), compare rules (:func:`excess_drifts`,
:func:`paired_cases`, :func:`ahead_by`, :func:`leading_rule`), tabulate drifts (:func:`drift_table`) and judge
claims over cases or parts (:func:`claim_over_cases`, :func:`claim_of_parts`). Every function here reads the arrays
of :func:`nfdlib.sweeps.lr_sweep` and :func:`nfdlib.sweeps.depth_sweep` (or anything laid out the same way, as
:mod:`nfdlib.transfer_any`); none trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .records import Records
from .rules import TrainingRule, as_rule
from .stats import (
    SlopeFit,
    Verdict,
    combine_verdicts,
    fit_loglog,
    interval_verdict,
    markdown_table,
    paired_verdicts,
    slope_difference,
    slope_verdict,
)
from .validation import check_choice, check_float, check_grid, check_int

# The tolerance of the transfer claim: octave of the optimum per doubling of depth (0.75 octave over L = 2..64).
TRANSFER_TOL = 0.15


# -- reading a sweep ---------------------------------------------------------------------------------------
METRICS = ("train_loss", "test_loss", "test_acc", "val_loss", "val_acc")


def _column(sweep: Mapping, step: int | None) -> int:
    """The evaluation column of ``step`` (the last one for ``None``)."""
    if step is None:
        return -1
    recorded = np.asarray(sweep["steps"]).tolist()
    if step not in recorded:
        raise ValueError(f"step must be one of the evaluation steps of this sweep {recorded}, got {step!r}")
    return recorded.index(step)


def final_metric(sweep: Mapping, key: str = "train_loss", step: int | None = None, average: int = 1) -> np.ndarray:
    """The last recorded value of ``key`` for every configuration (NaN where the run diverged); with ``step``
    (one of ``sweep["steps"]``) the value after that many steps instead (NaN where the run had diverged by
    then: with a constant rate, a longer run passes through the shorter one).

    ``average`` > 1 takes the mean of the last ``average`` evaluations up to ``step``: at a constant rate the
    loss of SGD fluctuates from one evaluation to the next, and the mean over the last stretch of training
    estimates the level it has settled at with less of that noise."""
    check_choice("key", key, METRICS)
    if key not in sweep:
        raise ValueError(f"key {key!r} is not in this sweep (it has {sorted(sweep)})")
    recorded = np.asarray(sweep[key], float)
    col = _column(sweep, step) % recorded.shape[-1]
    average = check_int("average", average)
    if average > col + 1:
        raise ValueError(f"average must be <= {col + 1} (the evaluations up to step {step}), got {average}")
    values = recorded[..., col - average + 1:col + 1].mean(-1)
    diverged = np.asarray(sweep["diverged"], bool)
    if step is not None and "diverged_at" in sweep:
        diverged = diverged & (np.asarray(sweep["diverged_at"]) <= step)
    values[diverged] = np.nan
    return values


def sweep_records(sweep: Mapping) -> Records:
    """A learning-rate sweep (or depth sweep) as tidy rows, one per run and evaluation: ``L`` (for a depth sweep),
    ``lr``, ``seed``, ``step``, every recorded metric and ``diverged`` (the run had diverged by that step).
    ``sweep_records(sweep).to_frame()`` is the pandas table."""
    metrics = [k for k in METRICS if k in sweep]
    lrs, seeds, steps = (np.asarray(sweep[k]) for k in ("lr", "seed", "steps"))
    depths = np.atleast_1d(sweep["L"]) if np.ndim(sweep[metrics[0]]) == 4 else [None]
    diverged_at = np.asarray(sweep.get("diverged_at", np.full(np.shape(sweep["diverged"]), -1)))
    rows = Records()
    for d, L in enumerate(depths):
        for i, lr in enumerate(lrs):
            for j, seed in enumerate(seeds):
                at = diverged_at[d, i, j] if L is not None else diverged_at[i, j]
                for t, step in enumerate(steps):
                    row = {"lr": float(lr), "seed": int(seed), "step": int(step), "diverged": bool(0 <= at <= step)}
                    if L is not None:
                        row = {"L": int(L), **row}
                    for k in metrics:
                        values = np.asarray(sweep[k])
                        row[k] = float(values[d, i, j, t] if L is not None else values[i, j, t])
                    rows.append(row)
    return rows


@dataclass(frozen=True)
class Optimum:
    """The best learning rate of one loss curve: ``lr`` (parabola vertex in log2), the best grid point, the
    loss there, and ``at_edge`` when the best grid point is the first or last of the grid (the true optimum may
    lie outside it)."""

    lr: float
    grid_lr: float
    value: float
    at_edge: bool


def best_lr(lrs: Sequence[float], values: Sequence[float], *, window: float = 1.0, maximize: bool = False,
            log_values: bool = True) -> Optimum:
    """The optimum of one curve ``values(lrs)``; NaN values (diverged runs) are skipped.

    A parabola is fitted by least squares to ``log(values)`` (or ``values``) against ``log2(lr)`` over the
    grid points within ``window`` octaves of the best one; its vertex, clipped to that window, is the optimum.
    With fewer than three points or a parabola that opens the wrong way the best grid point is returned.
    """
    x = np.log2(check_grid("lrs", lrs))
    y = np.asarray(values, float).ravel()
    if y.shape != x.shape:
        raise ValueError(f"values must have one entry per learning rate, got {y.size} and {x.size}")
    window = check_float("window", window)
    ok = np.isfinite(y) & ((y > 0) | (not log_values))
    if not ok.any():
        return Optimum(float("nan"), float("nan"), float("nan"), True)
    yy = np.log(np.where(ok, y, 1.0)) if log_values else y
    sign = -1.0 if maximize else 1.0
    masked = np.where(ok, sign * yy, np.inf)
    i = int(np.argmin(masked))
    # Only the ends of the grid make the optimum a bound; a best point next to a diverged run is a real
    # optimum (the best rate that still trains), located to within the grid step.
    at_edge = i == 0 or i == len(x) - 1
    near = ok & (np.abs(x - x[i]) <= window + 1e-9)
    vertex = x[i]
    if near.sum() >= 3:
        a, b, _ = np.polyfit(x[near] - x[i], sign * yy[near], 2)
        if a > 0:
            vertex = x[i] + float(np.clip(-b / (2 * a), -window, window))
            lo, hi = x[near].min(), x[near].max()
            vertex = float(np.clip(vertex, lo, hi))
    return Optimum(float(2.0**vertex), float(2.0 ** x[i]), float(y[i]), bool(at_edge))


def per_seed_optima(sweep: Mapping, key: str = "train_loss", step: int | None = None, average: int = 1,
           **kwargs) -> np.ndarray:
    """Per-seed optimum learning rates of a (depth) sweep: shape ``(depths, seeds)`` (or ``(seeds,)``), of
    ``key`` at the end of training or after ``step`` steps (``average``: see :func:`final_metric`). Optima at
    the edge of the grid are NaN (censored), so they do not enter slope fits."""
    values = final_metric(sweep, key, step, average)
    maximize = key.endswith("_acc")
    lrs = np.asarray(sweep["lr"], float)
    flat = values.reshape(-1, *values.shape[-2:]) if values.ndim == 3 else values[None]
    res = np.full(flat.shape[0:1] + flat.shape[2:], np.nan)
    for d in range(flat.shape[0]):
        for s in range(flat.shape[2]):
            opt = best_lr(lrs, flat[d, :, s], maximize=maximize, log_values=not maximize, **kwargs)
            res[d, s] = np.nan if opt.at_edge else opt.lr
    return res if values.ndim == 3 else res[0]


def seed_mean_optima(sweep: Mapping, key: str = "train_loss", step: int | None = None, average: int = 1,
                      **kwargs) -> list[Optimum]:
    """The optimum of the seed-averaged curve at each depth (a seed that diverged makes the point missing)."""
    values = final_metric(sweep, key, step, average)
    maximize = key.endswith("_acc")
    curves = values.mean(axis=-1)  # NaN if any seed diverged: a missing point
    lrs = np.asarray(sweep["lr"], float)
    return [best_lr(lrs, c, maximize=maximize, log_values=not maximize, **kwargs) for c in np.atleast_2d(curves)]


def transfer_grid_optima(sweeps_by_rule: Mapping, keys: Sequence[str] = ("train_loss",), step: int | None = None,
                         average: int = 1) -> dict[tuple, list[Optimum]]:
    """The optima a grid of transfer plots marks (:func:`nfdlib.viz.plot_transfer_grid`): for each sweep of
    ``sweeps_by_rule`` (rule -> sweep) and each metric of ``keys``, the optimum of every depth's seed-mean curve
    (:func:`seed_mean_optima`, read after ``step`` steps, averaged over ``average`` evaluations), keyed
    ``(rule, key)``."""
    return {(rule, key): seed_mean_optima(sweep, key, step, average) for rule, sweep in sweeps_by_rule.items()
            for key in keys}


@dataclass(frozen=True)
class Drift:
    """How an optimum moves with depth: the slope of ``log2 eta*`` against ``log2 L`` with its 95% t-interval
    (per-seed optima pooled) and a bootstrap interval over seeds; ``censored`` optima (at the edge of the grid,
    or every rate diverged) are left out of the fit and counted."""

    fit: SlopeFit | None
    boot_lo: float
    boot_hi: float
    censored: int
    points: int

    @property
    def slope(self) -> float:
        return float("nan") if self.fit is None else self.fit.slope

    def transfers(self, tol: float = TRANSFER_TOL) -> Verdict:
        """The claim "the optimum does not move with depth" as an equivalence test
        (:func:`nfdlib.stats.slope_verdict`): *agree* when the whole 95% interval of the slope lies within
        ``+- tol`` octave per doubling of depth, *disagree* when it lies wholly outside, else *not resolved*
        (also without a fit). Optima at the edge of the grid count against transfer: with any of them an
        agreement is withdrawn (*not resolved*), since the optimum of that depth and seed is outside the grid."""
        tol = check_float("tol", tol)
        v = slope_verdict(self.fit, 0.0, tol=tol)
        if self.censored:
            v = v.downgrade(f"{self.censored} optima at the grid edge")
        return v

    def moves(self, tol: float = TRANSFER_TOL) -> Verdict:
        """The opposite claim, "the optimum moves with depth" (depth-muP with two-layer blocks, by the paper):
        the equivalence test of :meth:`transfers` negated, so *agree* when the whole interval lies outside
        ``+- tol``, *disagree* when it lies within. Optima at the grid edge are outside the fit either way, so
        they withdraw an agreement here too."""
        tol = check_float("tol", tol)
        v = slope_verdict(self.fit, 0.0, tol=tol).negated(f"moves: outside +0 +- {tol:g}")
        if self.censored:
            v = v.downgrade(f"{self.censored} optima at the grid edge")
        return v

    def minus(self, other: Drift) -> Drift:
        """How much more this optimum moves with depth than ``other`` (a control trained on other runs): the
        difference of the slopes with Welch's interval (:func:`nfdlib.stats.slope_difference`). Its
        :meth:`moves` and :meth:`transfers` judge the excess; optima at the grid edge of either side count. The
        bootstrap interval does not carry over (NaN); ``fit`` is None when either side has none."""
        fit = None if self.fit is None or other.fit is None else slope_difference(self.fit, other.fit)
        return Drift(fit, float("nan"), float("nan"), self.censored + other.censored, self.points + other.points)

    def fit_text(self) -> str:
        """The fitted slope with its interval, or ``"no fit"`` when too few optima were inside the grid."""
        return "no fit" if self.fit is None else str(self.fit)

    def reading(self, tol: float = TRANSFER_TOL) -> str:
        """:meth:`transfers` as the words a table shows: ``"flat"``, ``"drifts down"``, ``"drifts up"`` or ``"not
        resolved"``. Plain words rather than *agree*/*disagree*, which read backwards for the opposite claim
        (:meth:`moves`), for an edge rather than an optimum, and for an excess over a control (:meth:`minus`:
        flat = moves like the control)."""
        v = self.transfers(tol)
        if v.agrees:
            return "flat"
        if v.disagrees:
            return "drifts down" if self.slope < 0 else "drifts up"
        return "not resolved"

    def cell(self, tol: float = TRANSFER_TOL) -> str:
        """One cell of a markdown table of drifts: the fit, how many optima sat at the grid edge (they block
        "flat") and the :meth:`reading` in bold."""
        edge = f" ({self.censored} at the grid edge)" if self.censored else ""
        return f"{self.fit_text()}{edge}: **{self.reading(tol)}**"

    def verdict(self, tol: float = TRANSFER_TOL) -> str:
        """:meth:`transfers` in words, with the tolerance."""
        text = self.reading(tol)
        return f"{'flat (transfers)' if text == 'flat' else text}: {self.transfers(tol)}"

    def __str__(self) -> str:
        if self.fit is None:
            return f"too few optima inside the grid to fit ({self.censored} at the grid edge)"
        boot = (f"[{self.boot_lo:+.2f}, {self.boot_hi:+.2f}]" if math.isfinite(self.boot_lo)
                and math.isfinite(self.boot_hi) else "undefined")
        return (f"{self.fit} (t, {self.points} optima; bootstrap over seeds {boot}; "
                f"{self.censored} at the grid edge)")


def _drift_from(depths: np.ndarray, eta: np.ndarray, boot: int, seed: int) -> Drift:
    """Slope of log eta against log L (eta shaped (depths, seeds), NaN = missing)."""
    depths = np.asarray(depths, float)
    x = np.repeat(depths[:, None], eta.shape[1], axis=1)
    ok = np.isfinite(eta)
    censored = int((~ok).sum())
    if len(np.unique(x[ok])) < 2:
        return Drift(None, float("nan"), float("nan"), censored, int(ok.sum()))
    fit = fit_loglog(x[ok], eta[ok])
    rng = np.random.default_rng(seed)
    slopes = []
    S = eta.shape[1]
    for _ in range(boot):
        pick = rng.integers(0, S, S)
        e, xx = eta[:, pick], x[:, pick]
        good = np.isfinite(e)
        if len(np.unique(xx[good])) < 2:
            continue
        slopes.append(np.polyfit(np.log(xx[good]), np.log(e[good]), 1)[0])
    lo, hi = (np.percentile(slopes, [2.5, 97.5]) if slopes else (float("nan"), float("nan")))
    return Drift(fit, float(lo), float(hi), censored, int(ok.sum()))


def _depths_of(sweep: Mapping) -> np.ndarray:
    if "L" not in sweep:
        raise ValueError("sweep must be a depth_sweep result with an 'L' array of depths (an lr_sweep has one depth)")
    return np.asarray(sweep["L"])


def optimum_drift(sweep: Mapping, key: str = "train_loss", *, step: int | None = None, average: int = 1,
                  boot: int = 2000, seed: int = 0, **kwargs) -> Drift:
    """The drift of the per-seed optimum (of ``key``, after ``step`` steps or at the end, ``average``: see
    :func:`final_metric`) with depth for a :func:`nfdlib.sweeps.depth_sweep` result."""
    depths = _depths_of(sweep)
    return _drift_from(depths, per_seed_optima(sweep, key, step, average, **kwargs), check_int("boot", boot), seed)


def max_stable_lr(sweep: Mapping) -> np.ndarray:
    """Per depth and seed, the largest grid rate below which no run diverged (NaN if the smallest diverged;
    the largest grid rate if none did, which is then a lower bound)."""
    div = np.asarray(sweep["diverged"], bool)
    flat = div if div.ndim == 3 else div[None]
    lrs = np.asarray(sweep["lr"], float)
    out = np.full((flat.shape[0], flat.shape[2]), np.nan)
    for d in range(flat.shape[0]):
        for s in range(flat.shape[2]):
            bad = np.flatnonzero(flat[d, :, s])
            first_bad = bad[0] if bad.size else len(lrs)
            out[d, s] = lrs[first_bad - 1] if first_bad > 0 else np.nan
    return out if div.ndim == 3 else out[0]


def stability_drift(sweep: Mapping, *, boot: int = 2000, seed: int = 0) -> Drift:
    """The slope of the largest stable rate against depth (rates equal to the top of the grid are censored)."""
    depths = _depths_of(sweep)
    eta = max_stable_lr(sweep)
    eta = np.where(eta >= np.max(sweep["lr"]), np.nan, eta)
    return _drift_from(depths, eta, check_int("boot", boot), seed)


# -- how long to train -----------------------------------------------------------------------------------
def best_loss_by_step(sweep: Mapping, key: str = "val_loss") -> np.ndarray:
    """The loss of the best configuration at every evaluation step: for each depth and step, the smallest over
    learning rates of the seed-averaged ``key`` (a rate at which a seed has diverged by then is left out).
    With a constant learning rate a run of ``S`` steps is the start of a longer run, so entry ``[d, j]`` is the
    best loss reachable with a budget of ``steps[j]`` steps at depth ``d``. Shape ``(depths, evals)``."""
    check_choice("key", key, METRICS)
    if key.endswith("_acc"):
        raise ValueError(f"key must be a loss ({[k for k in METRICS if k.endswith('_loss')]}), got {key!r}")
    if key not in sweep:
        raise ValueError(f"key {key!r} is not in this sweep (it has {sorted(sweep)})")
    values = np.asarray(sweep[key], float)
    if "L" not in sweep:
        values = values[None]
    mean = values.mean(axis=2)  # (depths, lrs, evals); NaN where a seed is missing
    with np.errstate(all="ignore"):
        best = np.where(np.isfinite(mean).any(axis=1), np.nanmin(np.where(np.isfinite(mean), mean, np.inf), axis=1),
                        np.nan)
    return best


def plateau_step(steps: Sequence[int], values: Sequence[float], *, rel: float = 0.01,
                 window: float = 0.25) -> int | None:
    """The first budget ``S`` (one of ``steps``) at which the loss curve ``values`` has stopped improving: its
    mean over the last ``window`` of training, ``((1 - window) S, S]``, is less than ``rel`` (relative) below
    its mean over the ``window`` before, ``((1 - 2 window) S, (1 - window) S]``, and this holds at every later
    evaluation too (a pause that training later breaks is no plateau). Means over windows rather than two
    single evaluations, because at a constant rate the loss of SGD fluctuates by more than ``rel`` from one
    evaluation to the next. ``None`` when the curve never settles within ``steps``."""
    steps = np.asarray(steps, float).ravel()
    values = np.asarray(values, float).ravel()
    if steps.shape != values.shape or steps.size < 2:
        raise ValueError(f"steps and values must be two sequences of the same length >= 2, got {steps.size} "
                         f"and {values.size}")
    if np.any(np.diff(steps) <= 0):
        raise ValueError("steps must increase")
    rel, window = check_float("rel", rel), check_float("window", window)
    if window > 0.5:
        raise ValueError(f"window must be in (0, 0.5], got {window}")
    settled = np.zeros(steps.size, bool)
    for j in range(1, steps.size):
        S = steps[j]
        late = values[(steps > (1 - window) * S) & (steps <= S)]
        early = values[(steps > (1 - 2 * window) * S) & (steps <= (1 - window) * S)]
        if late.size and early.size and np.isfinite(late).all() and np.isfinite(early).all():
            settled[j] = early.mean() - late.mean() < rel * abs(late.mean())
    for j in range(1, steps.size):
        if settled[j:].all():
            return int(steps[j])
    return None


def plateau_budget(sweep: Mapping, key: str = "val_loss", *, rel: float = 0.01, window: float = 0.25) -> list[dict]:
    """Per depth of a sweep, the plateau of the best configuration's ``key`` (:func:`best_loss_by_step`,
    :func:`plateau_step`): rows with ``L``, ``plateau_step`` (``None`` if not reached), the best loss at the
    end and at the plateau, and ``gain_last_window``, the relative fall of the best loss between the means of
    the last two ``window`` stretches of the whole run (the quantity :func:`plateau_step` compares with
    ``rel``)."""
    curves = best_loss_by_step(sweep, key)
    steps = np.asarray(sweep["steps"], float)
    depths = np.atleast_1d(sweep.get("L", -1))
    rows = []
    S = steps[-1]
    late = (steps > (1 - window) * S)
    early = (steps > (1 - 2 * window) * S) & ~late
    for d, curve in enumerate(curves):
        P = plateau_step(steps, curve, rel=rel, window=window)
        at = float(curve[list(steps).index(P)]) if P is not None else float("nan")
        gain = (curve[early].mean() - curve[late].mean()) / abs(curve[late].mean())
        rows.append({"L": int(depths[d]), "plateau_step": P, "best_end": float(curve[-1]), "best_at_plateau": at,
                     "gain_last_window": float(gain)})
    return rows


def best_by_depth(sweep: Mapping, select: str = "train_loss",
                  report: Sequence[str] = ("train_loss", "test_loss", "test_acc", "val_loss", "val_acc"), *,
                  step: int | None = None, average: int = 1) -> list[dict]:
    """Per depth, the metrics at the best learning rate: the grid point nearest the optimum of the
    seed-averaged ``select`` curve, and there the mean and standard error over seeds of each ``report`` metric
    (keys ``<metric>`` and ``<metric>_sem``; ``<metric>_seeds`` holds the per-seed values). A rate chosen on
    the split it is reported on (``select="train_loss"`` reported as training loss) flatters the best point
    slightly; choose on ``"val_loss"`` and report ``test_*`` to avoid it. ``step`` and ``average`` read every
    metric as :func:`final_metric` does."""
    values = {k: final_metric(sweep, k, step, average) for k in report if k in sweep}
    if "L" not in sweep:  # one lr_sweep: a single depth
        values = {k: v[None] for k, v in values.items()}
    opts = seed_mean_optima(sweep, select, step, average)
    lrs = np.asarray(sweep["lr"], float)
    depths = np.atleast_1d(sweep.get("L", -1))
    rows = []
    for d, opt in enumerate(opts):
        row = {"L": int(depths[d]), "lr": opt.lr, "grid_lr": opt.grid_lr, "at_edge": opt.at_edge}
        i = int(np.argmin(np.abs(lrs - opt.grid_lr))) if math.isfinite(opt.grid_lr) else None
        for key, v in values.items():
            seeds = v[d, i] if i is not None else np.full(v.shape[-1], np.nan)
            ok = seeds[np.isfinite(seeds)]
            row[key] = float(ok.mean()) if ok.size else float("nan")
            row[f"{key}_sem"] = float(ok.std(ddof=1) / math.sqrt(ok.size)) if ok.size > 1 else float("nan")
            row[f"{key}_seeds"] = seeds.tolist()
        rows.append(row)
    return rows


def best_rate(sweep: Mapping, select: str = "train_loss",
              report: Sequence[str] = ("train_loss", "test_loss", "test_acc")) -> dict:
    """:func:`best_by_depth` for one :func:`nfdlib.sweeps.lr_sweep` result (a single depth): the best grid rate,
    whether it is at the edge of the grid, the metrics there, and ``max_stable_lr``, the largest rate at which no
    seed diverged (NaN if even the smallest did)."""
    row = best_by_depth(sweep, select, report)[0]
    row.pop("L", None)
    row["max_stable_lr"] = float(np.min(max_stable_lr(sweep)))
    return row


# -- tables of notebook 06: drifts, trends with depth, the best rule, compute ---------------------------------
def drift_of(sweep: Mapping, kind: str = "train_loss", *, step: int | None = None, average: int = 1,
             boot: int = 2000, seed: int = 0) -> Drift:
    """The drift with depth of one of the rates notebook 06 tells apart: ``kind="stable"`` is the largest
    stable rate (:func:`stability_drift`; ``step`` and ``average`` do not apply to it), any metric of
    :data:`METRICS` the per-seed optimum of that metric read after ``step`` steps, averaged over the last
    ``average`` evaluations (:func:`optimum_drift`)."""
    if kind == "stable":
        return stability_drift(sweep, boot=boot, seed=seed)
    check_choice("kind", kind, ("stable",) + METRICS)
    return optimum_drift(sweep, kind, step=step, average=average, boot=boot, seed=seed)


def drifts_by_budget(sweeps: Mapping[tuple, Mapping], kinds: Sequence[str], budgets: Sequence[int], *,
                     average: int = 1, boot: int = 2000, seed: int = 0) -> tuple[list[int], dict[tuple, list[Drift]]]:
    """How the drift of each kind of optimum depends on the training budget: the same sweeps read after fewer
    steps (:func:`drift_of`). A budget is kept when every sweep was evaluated at it and has at least ``average``
    evaluations after step 0 up to it (the mean over the last ``average`` evaluations then never includes the
    loss at initialization). Returns the budgets kept and ``{(key, kind): [one Drift per budget kept]}`` for
    every key of ``sweeps`` and kind of ``kinds``."""
    average = check_int("average", average)

    def readable(sweep, budget):
        steps = np.asarray(sweep["steps"])
        return budget in steps.tolist() and int(np.sum((steps > 0) & (steps <= budget))) >= average

    kept = [b for b in budgets if all(readable(sweep, b) for sweep in sweeps.values())]
    drifts = {(key, kind): [drift_of(sweep, kind, step=b, average=average, boot=boot, seed=seed) for b in kept]
              for key, sweep in sweeps.items() for kind in kinds}
    return kept, drifts


def excess_drifts(drifts: Mapping[tuple, Drift], control: TrainingRule | tuple[str, str]) -> dict[tuple, Drift]:
    """Each drift minus the drift of ``control`` (a rule, :func:`nfdlib.rules.as_rule`) in the same task and
    width (:meth:`Drift.minus`). ``drifts`` is keyed ``(task, n, parametrization, block, ...)`` as
    :func:`nfdlib.plans.run_plan` keys its results, with any further key parts (the kind of optimum) matched
    too; the control itself and keys without a control are left out."""
    control = as_rule(control).pair
    return {key: d.minus(drifts[key[:2] + control + key[4:]]) for key, d in drifts.items()
            if tuple(key[2:4]) != control and key[:2] + control + key[4:] in drifts}


def cases_of(table: Mapping[tuple, object], rule: TrainingRule | tuple[str, str],
             kind: str | None = None) -> dict[tuple, object]:
    """The entries of one ``rule`` (:func:`nfdlib.rules.as_rule`) in a table keyed ``(task, n, parametrization,
    block[, kind])`` as :func:`nfdlib.plans.run_plan` keys its results (a fifth part, e.g. the kind of optimum,
    must equal ``kind`` when given), re-keyed by ``(task, n)``: the cases over which a claim about that rule is
    tested."""
    rule = as_rule(rule).pair
    return {key[:2]: value for key, value in table.items()
            if tuple(key[2:4]) == rule and (kind is None or key[4] == kind)}


def claim_over_cases(cases: Mapping[tuple, object], judge: Callable[[object], Verdict],
                     text: Callable[[object], str] = str) -> tuple[str, Verdict]:
    """One claim tested on several ``(task, n)`` cases (:func:`cases_of`): the measured text of every case,
    ``"task n=N: text(value)"`` joined by ``"; "``, and the verdicts of ``judge`` on every case combined by
    :func:`nfdlib.stats.combine_verdicts` (*agree* only when every case agrees)."""
    if not cases:
        raise ValueError("cases must hold at least one (task, n) entry")
    measured = "; ".join(f"{task} n={n}: {text(value)}" for (task, n), value in cases.items())
    return measured, combine_verdicts(*(judge(value) for value in cases.values()))


def claim_of_parts(table: Mapping[object, tuple[object, Verdict]], parts: Sequence) -> tuple[str, Verdict]:
    """One claim measured on several ``parts``, keys of ``table`` (key -> ``(fit, verdict)``): the measured texts
    ``str(fit)`` joined by ``"; "`` and the verdict, a single part's own or the parts' verdicts combined by
    :func:`nfdlib.stats.combine_verdicts` (*agree* only when every part agrees)."""
    if not parts:
        raise ValueError("parts must name at least one entry of the table")
    fits, verdicts = zip(*(table[part] for part in parts))
    return "; ".join(map(str, fits)), verdicts[0] if len(parts) == 1 else combine_verdicts(*verdicts)


def drift_table(drifts: Mapping[tuple, Drift], kinds: Sequence[tuple[str, str]], *, labels: Mapping | None = None,
                what: str = "drift per doubling of L", tol: float = TRANSFER_TOL) -> str:
    """A markdown table of drifts keyed ``(task, n, parametrization, block, kind)`` (:func:`drift_of` of each
    kind of optimum): one row per ``(task, n, rule)`` in the order of ``drifts``, one column per ``(kind,
    label)`` of ``kinds`` headed ``"label: what"``, each cell :meth:`Drift.cell`; ``labels`` names the rules
    (``(parametrization, block)`` -> text; default the pair itself)."""
    labels = {} if labels is None else labels
    rows = []
    for key in dict.fromkeys(k[:4] for k in drifts):
        rule = tuple(key[2:])
        rows.append([key[0], key[1], labels.get(rule, rule)] + [drifts[key + (kind,)].cell(tol) for kind, _ in kinds])
    return markdown_table(["task", "n", "rule"] + [f"{label}: {what}" for _, label in kinds], rows)


def paired_cases(table: Mapping[tuple, Sequence[Mapping]], rule_a: TrainingRule | tuple[str, str],
                 rule_b: TrainingRule | tuple[str, str],
                 better: Mapping[str, tuple[float, float]] | None = None) -> dict[tuple, tuple[dict, Verdict]]:
    """Does ``rule_a`` beat ``rule_b``, case by case? ``table`` holds the rows of :func:`best_by_depth` keyed
    ``(task, n, parametrization, block)``; for every ``(task, n)`` that has both rules, in the order of ``table``,
    :func:`nfdlib.stats.paired_verdicts` of ``a`` against ``b`` (the difference ``a - b`` paired by depth and
    seed, and the verdict on "``a`` is better"), keyed ``(task, n, metric)``. Cases missing either rule are
    left out."""
    b = as_rule(rule_b).pair
    out = {}
    for case, rows_a in cases_of(table, rule_a).items():
        if case + b in table:
            for metric, result in paired_verdicts(rows_a, table[case + b], better).items():
                out[case + (metric,)] = result
    return out


def transfer_outcomes(drifts: Mapping[tuple, Drift], rules: Sequence[TrainingRule | tuple[str, str]],
                      tol: float = TRANSFER_TOL) -> dict[tuple, list[str]]:
    """Per rule, the outcome (``"agree"``, ``"disagree"``, ``"not resolved"``) of :meth:`Drift.transfers` for
    every drift of that rule, in the order of ``drifts`` (keyed ``(task, n, parametrization, block)`` as
    :func:`nfdlib.plans.run_plan` keys its results): how often the optimum transfers, case by case. Keyed by
    each rule's ``(parametrization, block)``, however the rule is given (:func:`nfdlib.rules.as_rule`)."""
    pairs = [as_rule(rule).pair for rule in rules]
    return {pair: [d.transfers(tol).outcome for key, d in drifts.items() if tuple(key[2:]) == pair]
            for pair in pairs}


def depth_trend(rows: Sequence[Mapping], metric: str = "train_loss") -> SlopeFit:
    """The log-log slope of ``metric`` against depth over the rows of :func:`best_by_depth` (its per-seed values
    at the best rate of each depth pooled; missing and non-positive values left out by
    :func:`nfdlib.stats.fit_loglog`): below zero when deeper networks reach a lower loss."""
    key = f"{metric}_seeds"
    if not rows or key not in rows[0]:
        raise ValueError(f"metric {metric!r} is not reported in these rows")
    L = [r["L"] for r in rows for _ in r[key]]
    y = [v for r in rows for v in r[key]]
    return fit_loglog(L, y)


def ahead_by(ahead: Mapping, behind: Mapping, metric: str = "train_loss") -> tuple[float, float, Verdict]:
    """How far one row of :func:`best_by_depth` is ahead of another on a loss ``metric``: ``gap``, the value of
    ``behind`` minus that of ``ahead``; ``err``, the standard error of that difference (the two standard errors
    over seeds in quadrature); and the verdict on "``ahead`` has the lower loss", judged on ``gap +- 1.96 err``
    (a 95% interval) by :func:`nfdlib.stats.interval_verdict` against ``(0, inf)``."""
    gap = behind[metric] - ahead[metric]
    err = math.hypot(ahead[f"{metric}_sem"], behind[f"{metric}_sem"])
    return gap, err, interval_verdict(gap - 1.96 * err, gap + 1.96 * err, allowed=(0.0, math.inf))


def leading_rule(rows: Mapping[object, Mapping], metric: str = "train_loss") -> tuple:
    """Which entry of ``rows`` (rule -> one row of :func:`best_by_depth`, e.g. at the largest depth) has the
    lowest ``metric``, and whether its lead over the runner-up is resolved: ``(best, runner_up, gap, err,
    verdict)`` with ``gap, err, verdict`` from :func:`ahead_by`. Non-finite values rank last; ties keep the order of
    ``rows``."""
    if len(rows) < 2:
        raise ValueError(f"rows must hold at least two entries to rank, got {len(rows)}")
    ranked = sorted(rows.items(), key=lambda e: e[1][metric] if math.isfinite(e[1][metric]) else np.inf)
    (r1, a), (r2, b) = ranked[0], ranked[1]
    return (r1, r2, *ahead_by(a, b, metric))


def best_depth_row(rows: Sequence[Mapping], metric: str = "test_acc") -> Mapping:
    """The row of :func:`best_by_depth` (one depth) with the best ``metric``: the highest accuracy, or the lowest
    loss; a missing (non-finite) value never wins, and the first of equal rows is returned."""
    check_choice("metric", metric, METRICS)
    sign = 1.0 if metric.endswith("_acc") else -1.0

    def score(row):
        value = sign * row[metric]
        return value if math.isfinite(value) else -math.inf

    return max(rows, key=score)


def best_depths(table: Mapping[tuple, Sequence[Mapping]],
                metrics: Sequence[str] = ("test_acc", "test_loss")) -> dict[tuple, tuple[str, dict]]:
    """Per ``(task, n)``, the best depth of every rule: ``table`` holds the rows of :func:`best_by_depth` keyed
    ``(task, n, parametrization, block)``; each case is judged on the first of ``metrics`` its first rule's rows
    report (by default the highest test accuracy, else the lowest test loss) and maps to ``(metric, {(parametrization,
    block): the row of the best depth})`` (:func:`best_depth_row`), rules in the order of ``table``."""
    out = {}
    for key, rows in table.items():
        case = tuple(key[:2])
        if case not in out:
            reported = [m for m in metrics if rows and m in rows[0]]
            if not reported:
                raise ValueError(f"the rows of {key} report none of {list(metrics)}")
            out[case] = (reported[0], {})
        metric, best = out[case]
        best[tuple(key[2:4])] = best_depth_row(rows, metric)
    return out


def best_loss_at_budget(sweep: Mapping, step: int, key: str = "val_loss", window: float = 0.25) -> np.ndarray:
    """Per depth, the loss of the best configuration (:func:`best_loss_by_step`) averaged over the evaluations in
    ``((1 - window) step, step]``: how good the best model of a budget of ``step`` steps is, with less of the
    step-to-step noise of SGD than a single evaluation (compare two budgets read from the same runs)."""
    window = check_float("window", window)
    if window > 1:
        raise ValueError(f"window must be in (0, 1], got {window}")
    steps = np.asarray(sweep["steps"], float)
    inside = (steps > (1 - window) * step) & (steps <= step)
    if not inside.any():
        raise ValueError(f"step {step!r} with window {window} holds no evaluation step of this sweep")
    return np.array([float(curve[inside].mean()) for curve in best_loss_by_step(sweep, key)])


def compute_time(results: Mapping[tuple, Mapping]) -> tuple[float, float, list[int]]:
    """What the cached sweeps of a plan cost, from the compute stored with each
    (:func:`nfdlib.sweeps.depth_sweep`): total process CPU seconds, total wall seconds, and the thread counts they
    ran with (sweeps without the record, computed before it was kept, are left out)."""
    cpu = sum(float(np.sum(r["cpu_seconds"])) for r in results.values() if "cpu_seconds" in r)
    wall = sum(float(np.sum(r["wall_seconds"])) for r in results.values() if "wall_seconds" in r)
    threads = sorted({int(r["threads"]) for r in results.values() if "threads" in r})
    return cpu, wall, threads


__all__ = ["TRANSFER_TOL", "METRICS", "final_metric", "sweep_records",
           "Optimum", "best_lr", "per_seed_optima", "seed_mean_optima",
           "transfer_grid_optima",
           "Drift", "optimum_drift", "max_stable_lr", "stability_drift", "best_loss_by_step", "plateau_step",
           "plateau_budget", "best_by_depth", "best_rate", "drift_of", "drifts_by_budget", "excess_drifts",
           "cases_of",
           "claim_over_cases", "claim_of_parts", "drift_table", "paired_cases", "transfer_outcomes", "depth_trend",
           "ahead_by", "leading_rule", "best_depth_row", "best_depths", "best_loss_at_budget", "compute_time"]
