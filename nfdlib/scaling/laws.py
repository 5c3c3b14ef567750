"""Scaling laws fitted to trained grids, with intervals from a bootstrap over seeds.

The parametric law ``loss(n, L) = E + A n^-alpha + B L^-beta`` and its one-variable forms in the parameter count
``N`` and the compute ``C``, with or without the floor ``E`` (:data:`FORMS`), fitted to the seed means of a
:class:`SizeTable` by a Huber loss on log-loss residuals from many starts (:func:`fit_law`), with Student-t
intervals on a bootstrap over seeds; model comparison by extrapolation to held-out larger sizes
(:func:`extrapolation_test`); a signed fit of the finite-size bias against width (:func:`fit_signed_bias`); and the
law with an ``n x L`` interaction (:func:`fit_interaction_law`).

None of these laws is the paper's: the paper's text gives none that we could read. They are the standard
parametric forms of the empirical scaling-law literature, used here as measuring instruments. Used by notebook 07.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import t as student_t
from tqdm.auto import tqdm

from ..optima import final_metric
from ..validation import check_choice, check_float, check_int, known_arguments

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
    """The :class:`SizeTable` of a run table from :func:`~nfdlib.scaling.grids.train_sizes` (final ``key`` of
    every run), with the diverged runs left out; returns ``(table, number left out)``."""
    values = final_metric(runs, key)
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
