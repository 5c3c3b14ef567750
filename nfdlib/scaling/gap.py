"""The finite-size gap: how far trained networks sit from the computed limit, and how fast it closes.

For every size ``(n, L)`` the seed mean's distance from the limit at its depth (the *bias*) and one network's
spread around the seed mean (:func:`deviations`); the bias fitted as ``a n^-p + d`` at every size, whatever its
sign (:func:`fit_signed_bias`), weighted by standard errors taken from the pooled spread law (:func:`smoothed_se`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import t as student_t

from ..validation import check_float
from .laws import SizeTable


# -- one network's distance, and the seed mean's, from the limit ---------------------------------------------
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
    res = minimize_scalar(lambda p: linear(p)[0], bounds=(max(lo, best - step), min(hi, best + step)), method="bounded")
    p = float(res.x)
    chi2, coef = linear(p)
    a = float(coef[0])
    d = float(coef[1]) if offset else 0.0
    J = np.stack([n**-p, -a * np.log(n) * n**-p] + ([np.ones_like(n)] if offset else []), axis=1) * w[:, None]
    dof = n.size - k
    scale = max(1.0, chi2 / dof)
    cov = scale * np.linalg.pinv(J.T @ J)
    t = float(student_t.ppf(0.5 + level / 2, dof))
    hp = t * math.sqrt(cov[1, 1])
    hd = t * math.sqrt(cov[2, 2]) if offset else 0.0
    return BiasFit(p, p - hp, p + hp, a, d, d - hd, d + hd, chi2 / dof, int(n.size), level)


def smoothed_se(table: SizeTable, spread_fit) -> np.ndarray:
    """The standard error of each size's seed mean from the pooled spread law ``spread_fit``
    (:func:`nfdlib.stats.fit_loglog` of the seed standard deviation against ``n``) and the size's number of
    seeds: a two-seed size's own standard deviation is too noisy to weight a fit by."""
    sd = math.exp(spread_fit.intercept) * table.n.astype(float) ** spread_fit.slope
    return sd / np.sqrt(table.count)


__all__ = ["deviations", "BiasFit", "fit_signed_bias", "smoothed_se"]
