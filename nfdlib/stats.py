"""Log-log slope fits with confidence intervals, and the verdicts printed under figures and in claims tables.

The collection's one rule for turning a measured interval into a verdict (:func:`interval_verdict`):

* **agree** only when the whole interval lies inside the range the claim allows (for a predicted value, the
  prediction plus or minus a stated tolerance: an equivalence test);
* **disagree** when the whole interval lies outside that range;
* **not resolved** otherwise, and always when the interval is undefined (NaN, or infinite).

Absence of evidence is never agreement: an interval wide enough to hold both the prediction and its
alternative is *not resolved*, whatever its centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

OUTCOMES = ("agree", "disagree", "not resolved")


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`interval_verdict`, with what it was computed from.

    ``outcome`` is one of :data:`OUTCOMES`; ``lo, hi`` the measured interval; ``allowed`` the range the claim
    allows, ``(lo, hi)`` with ``-inf``/``inf`` for one-sided claims; ``claim`` a short description of it.
    """

    outcome: str
    lo: float
    hi: float
    allowed: tuple[float, float]
    claim: str = ""

    @property
    def agrees(self) -> bool:
        return self.outcome == "agree"

    @property
    def disagrees(self) -> bool:
        return self.outcome == "disagree"

    def __str__(self) -> str:
        return f"{self.outcome} ({self.claim}; measured [{self.lo:+.3g}, {self.hi:+.3g}])" if self.claim \
            else f"{self.outcome} (measured [{self.lo:+.3g}, {self.hi:+.3g}])"


def _describe_range(a: float, b: float) -> str:
    if math.isinf(a) and math.isinf(b):
        return "any value"
    if math.isinf(a):
        return f"< {b:+.3g}"
    if math.isinf(b):
        return f"> {a:+.3g}"
    return f"in [{a:+.3g}, {b:+.3g}]"


def interval_verdict(lo: float, hi: float, *, allowed: tuple[float, float] | None = None,
                     prediction: float | None = None, tol: float | None = None) -> Verdict:
    """The three-outcome verdict for a measured interval ``[lo, hi]``.

    Give either ``allowed=(a, b)`` (the range the claim allows; ``a`` may be ``-inf``, ``b`` may be ``inf``) or
    ``prediction`` with ``tol`` (the range ``prediction +- tol``, an equivalence test). *agree* when
    ``a <= lo`` and ``hi <= b``; *disagree* when ``hi < a`` or ``lo > b``; *not resolved* otherwise, and when
    ``lo`` or ``hi`` is NaN or infinite (an undefined interval is never a verdict).
    """
    if allowed is None:
        if prediction is None or tol is None:
            raise ValueError("interval_verdict needs allowed=(a, b), or prediction and tol")
        prediction, tol = float(prediction), float(tol)
        if not (math.isfinite(prediction) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"prediction must be finite and tol finite and >= 0, got {prediction!r}, {tol!r}")
        a, b = prediction - tol, prediction + tol
        claim = f"{prediction:+.3g} +- {tol:.3g}"
    else:
        if prediction is not None or tol is not None:
            raise ValueError("give allowed=(a, b), or prediction and tol, not both")
        try:
            a, b = (float(v) for v in allowed)
        except (TypeError, ValueError) as err:
            raise ValueError(f"allowed must be a pair (a, b) of numbers, got {allowed!r}") from err
        if math.isnan(a) or math.isnan(b) or a > b:
            raise ValueError(f"allowed must be a pair (a, b) with a <= b, got {allowed!r}")
        claim = _describe_range(a, b)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        outcome = "not resolved"
    elif a <= lo and hi <= b:
        outcome = "agree"
    elif hi < a or lo > b:
        outcome = "disagree"
    else:
        outcome = "not resolved"
    return Verdict(outcome, lo, hi, (a, b), claim)


@dataclass(frozen=True)
class SlopeFit:
    """``log y = intercept + slope * log x`` fitted by least squares; ``lo, hi`` is the ``level`` interval."""

    slope: float
    lo: float
    hi: float
    intercept: float
    r2: float
    points: int
    level: float = 0.95

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"{self.slope:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}]"


def fit_loglog(x, y, level: float = 0.95) -> SlopeFit:
    """Fit ``y ~ C x^slope`` on all finite positive pairs (repeat an ``x`` once per seed to pool seeds).

    The interval is the t interval of the least-squares slope. With only two distinct ``x`` values, or a
    perfect fit, the interval has zero width; the number of points used is reported.
    """
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same size, got {x.size} and {y.size}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if len(np.unique(lx)) < 2:
        raise ValueError("fit_loglog needs finite positive y at two or more distinct x values")
    res = _st.linregress(lx, ly)
    dof = ok.sum() - 2
    half = float(_st.t.ppf(0.5 + level / 2, dof) * res.stderr) if dof > 0 else float("nan")
    if not np.isfinite(half):
        half = 0.0
    return SlopeFit(float(res.slope), float(res.slope - half), float(res.slope + half), float(res.intercept),
                    float(res.rvalue**2), int(ok.sum()), level)


def describe_slope(fit: SlopeFit, quantity: str, x_name: str, flat_tol: float = 0.1,
                   max_width: float = 1.0) -> str:
    """A one-line verdict computed from a fit: flat, growing or shrinking, with the interval.

    Flat means the interval contains 0 or the slope is within ``flat_tol`` of 0; an interval wider than
    ``max_width`` is reported as no clear power law rather than as flat.
    """
    if fit.hi - fit.lo > max_width:
        trend = "no clear power law (interval too wide)"
    elif fit.contains(0.0) or abs(fit.slope) < flat_tol:
        trend = f"flat in {x_name}"
    elif fit.slope > 0:
        trend = f"grows like {x_name}^{fit.slope:.2f}"
    else:
        trend = f"shrinks like {x_name}^{fit.slope:.2f}"
    return f"{quantity}: log-log slope {fit} ({fit.level:.0%} CI, {fit.points} points) -> {trend}"


def slope_verdict(fit: SlopeFit | None, expected: float | None = None, *, sign: int | None = None,
                  tol: float = 0.1, max_width: float = 1.0) -> str:
    """A claim about a fitted exponent, judged from the fit.

    With ``expected``: ``"agree"`` when the interval contains it or the slope is within ``tol`` of it, else
    ``"DISAGREE"``. With ``sign`` (+1 grows, -1 falls): ``"agree"`` when the whole interval has that sign,
    ``"DISAGREE"`` when it has the other, ``"not resolved (interval contains 0)"`` otherwise. Either way an
    interval wider than ``max_width`` (or no fit) is ``"undetermined"``, and ``expected=None`` without a sign
    (no prediction) is ``"-"``.
    """
    if fit is None or fit.hi - fit.lo > max_width:
        return "undetermined"
    if sign is not None:
        if (fit.lo > 0 and sign > 0) or (fit.hi < 0 and sign < 0):
            return "agree"
        return "not resolved (interval contains 0)" if fit.contains(0.0) else "DISAGREE"
    if expected is None:
        return "-"
    return "agree" if fit.contains(expected) or abs(fit.slope - expected) < tol else "DISAGREE"


def combine_verdicts(*verdicts: str) -> str:
    """``"agree"`` when every part agrees, ``"DISAGREE"`` when one disagrees, else ``"undetermined"``."""
    if all(v == "agree" for v in verdicts):
        return "agree"
    return "DISAGREE" if "DISAGREE" in verdicts else "undetermined"


def markdown_table(header, rows) -> str:
    """A markdown table from a header and rows of cells; ``|`` inside a cell is escaped so it cannot split it."""
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"each row must have {len(header)} cells, got {len(row)}: {row!r}")
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines)
