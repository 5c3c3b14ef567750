"""Log-log slope fits with confidence intervals, and the verdicts printed under figures and in claims tables.

The collection's one rule for turning a measured interval into a verdict (:func:`interval_verdict`):

* **agree** only when the whole interval lies inside the range the claim allows (for a predicted value, the
  prediction plus or minus a stated tolerance: an equivalence test, as in two one-sided tests);
* **disagree** when the whole interval lies outside that range;
* **not resolved** otherwise, and always when the interval is undefined (NaN).

Absence of evidence is never agreement: an interval wide enough to hold both the prediction and its
alternative is *not resolved*, whatever its centre. Every verdict carries the range it was judged against
(:attr:`Verdict.claim`), and tables print it beside the outcome. Everything else in the collection that says
"agree", "flat", "transfers" or "drifts" is built on this function: :func:`slope_verdict` (a fitted exponent),
:func:`combine_verdicts` (a claim made of several parts), :func:`describe_slope` (the sentence under a figure),
:meth:`nfdlib.optima.Drift.transfers`, :class:`nfdlib.diagnostics.CoordVerdict`, and the :class:`Claims` table
of every notebook. Exact identities (a recursion against autograd) are not claims: :class:`Checks` asserts them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy import stats as _st

from .records import Records
from .validation import check_choice

OUTCOMES = ("agree", "disagree", "not resolved")


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`interval_verdict`, with what it was computed from.

    ``outcome`` is one of :data:`OUTCOMES`; ``lo, hi`` the measured interval; ``allowed`` the range the claim
    allows, ``(lo, hi)`` with ``-inf``/``inf`` for one-sided claims; ``claim`` a short description of it (the
    tolerance); ``parts`` the verdicts a combined verdict (:func:`combine_verdicts`) was made of; ``note`` why an
    agreement was withdrawn (:meth:`downgrade`).
    """

    outcome: str
    lo: float
    hi: float
    allowed: tuple[float, float]
    claim: str = ""
    parts: tuple = field(default=())
    note: str = ""

    @property
    def agrees(self) -> bool:
        return self.outcome == "agree"

    @property
    def disagrees(self) -> bool:
        return self.outcome == "disagree"

    @property
    def resolved(self) -> bool:
        return self.outcome != "not resolved"

    def downgrade(self, reason: str) -> Verdict:
        """The same verdict with an agreement withdrawn (``not resolved``) for ``reason``: evidence the interval
        does not carry (for example optima outside a grid) can weaken an agreement, never create one."""
        if not self.agrees:
            return self
        return replace(self, outcome="not resolved", note=reason)

    def negated(self, claim: str) -> Verdict:
        """The verdict on the opposite claim, that the value lies *outside* the allowed range (for example "the
        optimum moves" against "the optimum transfers"): agree and disagree swap, not resolved stays."""
        swap = {"agree": "disagree", "disagree": "agree", "not resolved": "not resolved"}
        return replace(self, outcome=swap[self.outcome], claim=str(claim))

    def cell(self) -> str:
        """The verdict with its tolerance, for a table cell: ``agree (allowed -0.5 +- 0.1)``."""
        text = f"{self.outcome} ({'allowed ' if not self.parts else ''}{self.claim})"
        if self.note:
            text += f"; {self.note}"
        return f"**{text}**" if self.disagrees else text

    def __str__(self) -> str:
        if self.parts:
            return self.cell()
        out = f"{self.outcome} ({self.claim}; measured [{self.lo:+.3g}, {self.hi:+.3g}])"
        return out + (f"; {self.note}" if self.note else "")


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
    ``a < lo`` and ``hi < b``; *disagree* when ``hi < a`` or ``lo > b``; *not resolved* otherwise, and when
    ``lo`` or ``hi`` is NaN or ``lo > hi`` (an undefined interval is never a verdict). An interval end exactly on
    a finite end of the range is *not resolved* from either side: the data cannot tell the claim's limit from
    values just beyond it. A claim with a natural floor (a distance is never below 0) is therefore written
    ``allowed=(-inf, b)``, not ``(0, b)``, so that an interval clipped at the floor can agree. An infinite end is a
    one-sided bound: ``[x, inf]`` says "at least x" (a run that diverged has the growth exponent ``[inf, inf]``).
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
    lo, hi = _number("lo", lo), _number("hi", hi)
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        outcome = "not resolved"
    elif (lo > a or a == -math.inf) and (hi < b or b == math.inf):
        outcome = "agree"
    elif hi < a or lo > b:
        outcome = "disagree"
    else:
        outcome = "not resolved"
    return Verdict(outcome, lo, hi, (a, b), claim)


def combine_verdicts(*verdicts: Verdict) -> Verdict:
    """A claim made of several parts: *agree* when every part agrees, *disagree* when one part disagrees,
    else *not resolved*. The parts are kept (``parts``) and their tolerances listed in ``claim``."""
    if not verdicts:
        raise ValueError("combine_verdicts needs at least one verdict")
    for v in verdicts:
        if not isinstance(v, Verdict):
            raise ValueError(f"combine_verdicts takes Verdict objects, got {type(v).__name__}: {v!r}")
    if all(v.agrees for v in verdicts):
        outcome = "agree"
    elif any(v.disagrees for v in verdicts):
        outcome = "disagree"
    else:
        outcome = "not resolved"
    claims = {v.claim for v in verdicts}
    if len(claims) == 1 and len(verdicts) > 1:
        claim = f"{len(verdicts)} parts, each {verdicts[0].claim}: " + ", ".join(v.outcome for v in verdicts)
    else:
        claim = "each part: " + "; ".join(f"{v.outcome}, {v.claim}" for v in verdicts)
    return Verdict(outcome, float("nan"), float("nan"), (float("nan"), float("nan")), claim, tuple(verdicts))


def _numbers(name: str, values) -> np.ndarray:
    """``values`` as a flat float array, or a ``ValueError`` that names the argument (not numpy's "could not
    convert string to float")."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be numbers (a number or a sequence of numbers), got {values!r}")
    try:
        return np.asarray(values, float).ravel()
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers (a number or a sequence of numbers), got {values!r}") from err


def _number(name: str, value) -> float:
    arr = _numbers(name, value)
    if arr.size != 1:
        raise ValueError(f"{name} must be one number, got {value!r}")
    return float(arr[0])


def _check_level(level) -> float:
    try:
        level = float(level)
    except (TypeError, ValueError) as err:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}") from err
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return level


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the finite ``values`` and its t confidence interval ``(mean, lo, hi)``.

    NaN when there is no finite value; the interval is NaN (undefined, never zero width) with a single value.
    """
    level = _check_level(level)
    v = _numbers("values", values)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size < 2:
        return m, float("nan"), float("nan")
    half = float(_st.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - half, m + half


def ks_interval(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """Two-sample Kolmogorov-Smirnov distance ``D = sup |F_a - F_b|`` of two samples, and an interval for the
    distance between the two *laws*: by the Dvoretzky-Kiefer-Wolfowitz inequality each empirical CDF lies
    within ``eps_i = sqrt(ln(4 / (1 - level)) / (2 n_i))`` of its law (each with probability ``1 - (1 -
    level)/2``), so the laws differ by at least ``D - eps_a - eps_b`` and at most ``D + eps_a + eps_b``.
    Returns ``(D, lo, hi)`` (``lo`` clipped at 0)."""
    level = _check_level(level)
    a = np.sort(np.asarray(a, float).ravel())
    b = np.sort(np.asarray(b, float).ravel())
    if a.size == 0 or b.size == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be non-empty samples of finite numbers")
    grid = np.concatenate([a, b])
    D = float(np.abs(np.searchsorted(a, grid, side="right") / a.size
                     - np.searchsorted(b, grid, side="right") / b.size).max())
    eps = sum(math.sqrt(math.log(4 / (1 - level)) / (2 * n)) for n in (a.size, b.size))
    return D, max(D - eps, 0.0), D + eps


def bootstrap_interval(statistic, data, *, boot: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float, float]:
    """``statistic(data)`` and its percentile bootstrap interval, resampling the rows (axis 0) of ``data`` with
    replacement ``boot`` times (for example the neurons of one network). Returns ``(value, lo, hi)``."""
    level = _check_level(level)
    if isinstance(boot, bool) or not isinstance(boot, (int, np.integer)) or boot < 2:
        raise ValueError(f"boot must be an integer >= 2, got {boot!r}")
    data = np.asarray(data)
    if data.ndim == 0 or data.shape[0] < 2:
        raise ValueError("data must have at least two rows to resample")
    rng = np.random.default_rng(seed)
    n = data.shape[0]
    values = np.array([float(statistic(data[rng.integers(0, n, n)])) for _ in range(int(boot))])
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(statistic(data)), float(lo), float(hi)


@dataclass(frozen=True)
class SlopeFit:
    """``log y = intercept + slope * log x`` fitted by least squares; ``lo, hi`` is the ``level`` interval
    (NaN when it is undefined: a fit through only two points has no residual to estimate it from)."""

    slope: float
    lo: float
    hi: float
    intercept: float
    r2: float
    points: int
    level: float = 0.95

    def contains(self, value: float) -> bool:
        return self.lo <= value <= self.hi

    def interval_text(self) -> str:
        """``[lo, hi]``, or why the interval is undefined (never ``[+nan, +nan]``)."""
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return f"[interval undefined: {self.points} points]"
        return f"[{self.lo:+.2f}, {self.hi:+.2f}]"

    def __str__(self) -> str:
        return f"{self.slope:+.2f} {self.interval_text()}"


def fit_loglog(x, y, level: float = 0.95) -> SlopeFit:
    """Fit ``y ~ C x^slope`` on all finite positive pairs (repeat an ``x`` once per seed to pool seeds).

    The interval is the t interval of the least-squares slope. With two points there is no residual to
    estimate the noise from, so the interval is NaN (undefined: a verdict built on it is *not resolved*);
    a perfect fit through three or more points has a zero-width interval. The number of points is reported.
    """
    level = _check_level(level)
    x, y = _numbers("x", x), _numbers("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same size, got {x.size} and {y.size}")
    if np.any(np.isfinite(x) & (x <= 0)):
        # y may hold NaN or 0 for runs that diverged (they are left out and counted in ``points``); an x of 0 or
        # below is a size that has no logarithm: a mistake, not a missing run
        raise ValueError(f"x must be > 0 (a log-log fit), got {x[np.isfinite(x) & (x <= 0)].tolist()}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if len(np.unique(lx)) < 2:
        raise ValueError("fit_loglog needs finite positive y at two or more distinct x values")
    dx, dy = lx - lx.mean(), ly - ly.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ dy) / sxx
    intercept = float(ly.mean() - slope * lx.mean())
    ss_res = float(np.sum((dy - slope * dx) ** 2))
    ss_tot = float(dy @ dy)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else float("nan"))
    dof = int(ok.sum()) - 2
    if dof > 0:
        half = float(_st.t.ppf(0.5 + level / 2, dof)) * math.sqrt(ss_res / dof / sxx)
    else:
        half = float("nan")
    return SlopeFit(slope, slope - half, slope + half, intercept, r2, int(ok.sum()), level)


def slope_difference(a: SlopeFit, b: SlopeFit) -> SlopeFit:
    """``a.slope - b.slope`` for two fits of independent data, with Welch's t interval at their common level: each
    fit's standard error is recovered from its interval and its points, and the degrees of freedom are
    Welch-Satterthwaite's. The interval is NaN (undefined) when either fit's is. ``points`` is the total of both;
    ``r2`` does not apply (NaN)."""
    if a.level != b.level:
        raise ValueError(f"the two fits must have the same level, got {a.level} and {b.level}")
    diff = a.slope - b.slope
    dofs = (a.points - 2, b.points - 2)
    defined = all(math.isfinite(v) for v in (a.lo, a.hi, b.lo, b.hi)) and min(dofs) > 0
    if not defined:
        return SlopeFit(diff, float("nan"), float("nan"), a.intercept - b.intercept, float("nan"),
                        a.points + b.points, a.level)
    q = 0.5 + a.level / 2
    var = [((f.hi - f.lo) / 2 / float(_st.t.ppf(q, dof))) ** 2 for f, dof in zip((a, b), dofs)]
    total = sum(var)
    if total == 0.0:  # two exact fits: no noise to widen the interval
        half = 0.0
    else:
        dof = total**2 / sum(v**2 / d for v, d in zip(var, dofs))
        half = float(_st.t.ppf(q, dof)) * math.sqrt(total)
    return SlopeFit(diff, diff - half, diff + half, a.intercept - b.intercept, float("nan"), a.points + b.points,
                    a.level)


def slope_verdict(fit: SlopeFit | None, expected: float | None = None, *, tol: float = 0.1, sign: int | None = None,
                  allowed: tuple[float, float] | None = None) -> Verdict:
    """A claim about a fitted exponent, judged by :func:`interval_verdict` from the fit's interval.

    Exactly one of: ``expected`` (the exponent ``expected +- tol``), ``sign`` (+1: the exponent is positive,
    ``allowed=(0, inf)``; -1: negative) or ``allowed=(a, b)``. ``fit=None`` (nothing to fit) is *not resolved*.
    """
    given = [expected is not None, sign is not None, allowed is not None]
    if sum(given) != 1:
        raise ValueError("slope_verdict needs exactly one of expected, sign or allowed")
    if sign is not None:
        if sign not in (-1, 1):
            raise ValueError(f"sign must be +1 or -1, got {sign!r}")
        allowed = (0.0, math.inf) if sign > 0 else (-math.inf, 0.0)
    lo, hi = (float("nan"), float("nan")) if fit is None else (fit.lo, fit.hi)
    if allowed is not None:
        return interval_verdict(lo, hi, allowed=allowed)
    return interval_verdict(lo, hi, prediction=expected, tol=tol)


def describe_slope(fit: SlopeFit, quantity: str, x_name: str, flat_tol: float = 0.1) -> str:
    """A one-line verdict computed from a fit: flat, growing or shrinking, with the interval.

    *Flat* is the claim "the exponent is 0 within ``flat_tol``" judged by :func:`interval_verdict`: flat when
    the whole interval lies within ``+- flat_tol``, growing or shrinking when it lies wholly outside, and not
    resolved otherwise (printed with the interval and the tolerance).
    """
    v = slope_verdict(fit, 0.0, tol=flat_tol)
    if v.agrees:
        trend = f"flat in {x_name} (interval within +-{flat_tol:g})"
    elif v.disagrees:
        trend = (f"grows like {x_name}^{fit.slope:.2f}" if fit.slope > 0 else f"shrinks like {x_name}^{fit.slope:.2f}")
        trend += f" (interval outside +-{flat_tol:g})"
    else:
        trend = f"not resolved (the interval is neither within nor outside +-{flat_tol:g} of 0)"
    return f"{quantity}: log-log slope {fit} ({fit.level:.0%} CI, {fit.points} points) -> {trend}"


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


class Claims:
    """The closing table of a notebook: the paper's claims, what was measured, and a :class:`Verdict`.

    Only a :class:`Verdict` is accepted as a verdict, so a row cannot carry a typed-in string; the table
    prints each verdict with the tolerance it was judged against.
    """

    def __init__(self):
        self.rows: list[tuple[str, str, Verdict]] = []

    def add(self, claim: str, measured: str, verdict: Verdict, *, echo: bool = True) -> Verdict:
        if not isinstance(verdict, Verdict):
            raise ValueError(f"verdict must be an nfdlib.stats.Verdict, got {type(verdict).__name__}: {verdict!r}")
        self.rows.append((str(claim), str(measured), verdict))
        if echo:
            print(f"CLAIM {claim}: {measured} -> {verdict.cell()}")
        return verdict

    def counts(self) -> dict[str, int]:
        return {o: sum(v.outcome == o for _, _, v in self.rows) for o in OUTCOMES}

    def to_frame(self):
        """One row per claim: ``claim``, ``measured``, ``verdict`` and the interval and allowed range it compared
        (a :class:`pandas.DataFrame`)."""
        return Records({"claim": c, "measured": m, "verdict": v.outcome, "lo": v.lo, "hi": v.hi,
                        "allowed_lo": v.allowed[0], "allowed_hi": v.allowed[1], "tolerance": v.claim}
                       for c, m, v in self.rows).to_frame()

    def markdown(self) -> str:
        return markdown_table(["claim", "measured", "verdict (tolerance)"],
                              [(c, m, v.cell()) for c, m, v in self.rows])

    def __len__(self) -> int:
        return len(self.rows)


class Checks:
    """Exact identities a notebook relies on (a recursion against autograd, an update formula against the
    optimizer). They are not claims: each is asserted when added, so a regression fails the notebook (and CI,
    which runs every notebook in quick mode)."""

    def __init__(self):
        self.rows: list[tuple[str, float, float]] = []

    def add(self, name: str, error: float, bound: float) -> None:
        """Record ``error`` (a measured discrepancy, for example a maximum relative difference) and assert that
        it is finite and at most ``bound``."""
        error, bound = float(error), float(bound)
        self.rows.append((str(name), error, bound))
        print(f"CHECK {name}: {error:.1e} (bound {bound:.0e})")
        if not (math.isfinite(error) and error <= bound):
            raise AssertionError(f"check failed: {name}: {error!r} > {bound!r}")

    def to_frame(self):
        """One row per check: ``check``, ``error``, ``bound`` (a :class:`pandas.DataFrame`)."""
        return Records({"check": n, "error": e, "bound": b} for n, e, b in self.rows).to_frame()

    def markdown(self) -> str:
        return markdown_table(["identity", "measured discrepancy", "bound", "status"],
                              [(n, f"{e:.1e}", f"{b:.0e}", "holds") for n, e, b in self.rows])

    def __len__(self) -> int:
        return len(self.rows)


def rms(x) -> float:
    """Root mean square of every entry of a tensor (in double precision, detached) or of an array."""
    if isinstance(x, torch.Tensor):
        return float(x.detach().double().pow(2).mean().sqrt())
    x = np.asarray(x, float)
    return float(np.sqrt(np.mean(x**2)))


# -- Richardson extrapolation
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


# -- paired comparisons
def paired_difference(rows_a: Sequence[Mapping], rows_b: Sequence[Mapping], metric: str = "test_acc",
                      level: float = 0.95) -> dict:
    """How much rule ``a`` beats rule ``b`` on ``metric`` at their best rates, from two
    :func:`nfdlib.optima.best_by_depth` results over the same depths and seeds: the differences ``a - b`` paired
    by depth and seed (the same seed gives both rules the same initial weights and minibatches), their mean and
    its ``level`` t-interval over all pairs, and the mean difference per depth. Pairs where either run is missing
    are left out."""
    if [r["L"] for r in rows_a] != [r["L"] for r in rows_b]:
        raise ValueError("rows_a and rows_b must cover the same depths")
    key = f"{metric}_seeds"
    if not rows_a or key not in rows_a[0] or key not in rows_b[0]:
        raise ValueError(f"metric {metric!r} is not reported in these rows")
    per_depth, pairs = [], []
    for ra, rb in zip(rows_a, rows_b):
        diff = np.asarray(ra[key], float) - np.asarray(rb[key], float)
        diff = diff[np.isfinite(diff)]
        pairs.extend(diff.tolist())
        per_depth.append(float(diff.mean()) if diff.size else float("nan"))
    pairs = np.asarray(pairs)
    if pairs.size < 2:
        return {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "pairs": int(pairs.size),
                "per_depth": per_depth}
    mean, se = float(pairs.mean()), float(pairs.std(ddof=1) / math.sqrt(pairs.size))
    half = float(_st.t.ppf(0.5 + level / 2, pairs.size - 1) * se)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "pairs": int(pairs.size), "per_depth": per_depth}


def paired_verdicts(rows_a: Sequence[Mapping], rows_b: Sequence[Mapping],
                    better: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[dict, Verdict]]:
    """Does rule ``a`` beat rule ``b``? For each metric of ``better`` that the rows report (default: test
    accuracy higher, test loss lower), the :func:`paired_difference` ``a - b`` and the verdict of
    :func:`interval_verdict` on its interval against ``better[metric]``, the allowed range of a
    difference in ``a``'s favour."""
    better = {"test_acc": (0.0, math.inf), "test_loss": (-math.inf, 0.0)} if better is None else better
    out = {}
    for metric, allowed in better.items():
        if not rows_a or f"{metric}_seeds" not in rows_a[0]:
            continue
        diff = paired_difference(rows_a, rows_b, metric)
        out[metric] = (diff, interval_verdict(diff["lo"], diff["hi"], allowed=allowed))
    return out


# -- extrapolation in 1/n and 1/L
class ExtrapolationFit(dict):
    """Result of :func:`extrapolate`: ``limit``, ``lo``, ``hi`` (interval), ``se``, ``coef`` (per term),
    ``terms``, ``residual_rms``, ``points``. A dict, so it caches as JSON."""

    @property
    def limit(self) -> float:
        return self["limit"]

    def predict(self, **sizes) -> float:
        """The fitted ``y`` at the given sizes (for example ``n=512, L=16``)."""
        y = self["limit"]
        for term, c in zip(self["terms"], self["coef"]):
            y += c * _term_value(term, sizes)
        return y


_TERMS = ("1/n", "1/L", "1/(nL)", "1/n^2", "1/L^2", "1/sqrt(n)")


def _term_value(term: str, sizes: dict) -> float:
    n, L = sizes.get("n"), sizes.get("L")
    return {"1/n": lambda: 1 / n, "1/L": lambda: 1 / L, "1/(nL)": lambda: 1 / (n * L), "1/n^2": lambda: 1 / n ** 2,
            "1/L^2": lambda: 1 / L ** 2, "1/sqrt(n)": lambda: 1 / math.sqrt(n)}[term]()


def extrapolate(n, L, y, terms: Sequence[str] = ("1/n", "1/L"), level: float = 0.95) -> ExtrapolationFit:
    """Least-squares fit ``y = y_inf + sum_t c_t t(n, L)`` over all points (one per seed and size) and its limit.

    ``n``, ``L``, ``y`` are equal-length sequences (repeat sizes once per seed; ``L`` may be ``None`` for a
    fit in ``n`` only). The interval on ``y_inf`` is the t interval of ordinary least squares; with seed-level
    points it includes the seed noise, and the residual rms is returned so that a misfit (a missing term) shows.
    """
    terms = [check_choice("terms", t, _TERMS) for t in terms]
    y = np.asarray(y, float).ravel()
    n_arr = np.asarray([np.nan if v is None else v for v in np.broadcast_to(np.asarray(n, object), y.shape)], float)
    L_arr = np.asarray([np.nan if v is None else v for v in np.broadcast_to(np.asarray(L, object), y.shape)], float)
    cols = [np.ones_like(y)]
    for t in terms:
        cols.append(np.array([_term_value(t, {"n": a, "L": b}) for a, b in zip(n_arr, L_arr)]))
    A = np.stack(cols, axis=1)
    ok = np.isfinite(y) & np.all(np.isfinite(A), axis=1)
    A, yy = A[ok], y[ok]
    if A.shape[0] <= A.shape[1]:
        raise ValueError(f"extrapolate needs more finite points ({A.shape[0]}) than parameters ({A.shape[1]})")
    if np.linalg.matrix_rank(A) < A.shape[1]:
        raise ValueError("extrapolate needs distinct sizes for every term (the design matrix is singular)")
    coef, *_ = np.linalg.lstsq(A, yy, rcond=None)
    resid = yy - A @ coef
    dof = A.shape[0] - A.shape[1]
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(A.T @ A)
    se = float(np.sqrt(cov[0, 0]))
    half = float(_st.t.ppf(0.5 + level / 2, dof)) * se
    return ExtrapolationFit(limit=float(coef[0]), lo=float(coef[0] - half), hi=float(coef[0] + half), se=se,
                            coef=[float(c) for c in coef[1:]], terms=list(terms),
                            residual_rms=float(np.sqrt(s2)), points=int(A.shape[0]), level=level)


__all__ = ["OUTCOMES", "Verdict", "interval_verdict", "combine_verdicts", "mean_interval", "ks_interval",
           "slope_difference", "bootstrap_interval", "SlopeFit", "fit_loglog", "slope_verdict", "describe_slope",
           "markdown_table", "Claims", "Checks", "rms",
           "richardson",
           "paired_difference", "paired_verdicts",
           "extrapolate", "ExtrapolationFit"]
