"""Coordinate checks of nfdlib's ResNet over width and depth, with their computed verdicts.

Coordinate checks over width and depth.

A coord check trains a network for a few SGD steps on one fixed batch and records, per layer and per step,
the root-mean-square size of the features and of their per-step change. Under a parametrization that is
stable in width (depth), these numbers do not move as ``n`` (``L``) grows; one that blows up or stalls shows a
slope on a log-log plot. Quantities (columns ``quantity`` / ``value`` of the records):

``h_rms``   rms of ``h_l(t)`` over inputs and coordinates, for ``l = 0..L``
``dh_rms``  rms of ``h_l(t) - h_l(t-1)``  (``t >= 1``)
``z_rms``, ``dz_rms``  the same for the first internal layer ``z_l`` of two-layer blocks (``l = 1..L``)
``f_rms``, ``df_rms``  the same for the output (``layer`` is ``None``)

Each row also has ``tau = l T / L``, the layer-time of the NFD limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import check_seeds
from .data import make_teacher_task
from .models import ResNet
from .optim import make_sgd
from .records import Records
from .stats import SlopeFit, Verdict, describe_slope, fit_loglog, interval_verdict, rms
from .training import LOSSES, loss_fn
from .validation import check_choice, check_float, check_grid, check_int, check_sizes, known_arguments

LAYER_QUANTITIES = ("h_rms", "dh_rms", "z_rms", "dz_rms")
OUTPUT_QUANTITIES = ("f_rms", "df_rms")
QUANTITY_LABELS = {
    "h_rms": "rms of h_l",
    "dh_rms": "rms per-step change of h_l",
    "z_rms": "rms of z_l",
    "dz_rms": "rms per-step change of z_l",
    "f_rms": "rms of the output f",
    "df_rms": "rms per-step change of f",
}


@known_arguments
def coord_check(parametrization: str, sizes: Iterable[tuple[int, int]], *, steps: int = 3,
                seeds: Sequence[int] = (0, 1, 2), lr: float = 0.05, block: str = "one",
                activation: str = "relu", T: float = 1.0, preact: bool = True, skip: bool = True,
                backward: str = "true", batch: int = 32, d: int = 16, loss: str = "mse",
                device=None, dtype=torch.float32, progress: bool = True) -> Records:
    """Coord-check records for each ``(n, L)`` in ``sizes`` and each seed.

    The batch is a synthetic regression task (Gaussian inputs, a random teacher; :func:`make_teacher_task`)
    drawn from the seed, so every size sees the same data. SGD is full-batch with base rate ``lr`` and the
    registry's group rates. A run that goes non-finite records ``inf``/``nan`` for the remaining steps and
    the column ``diverged=True``; it never raises.
    """
    sizes = check_sizes("sizes", sizes)
    steps = check_int("steps", steps, minimum=0)
    lr = check_float("lr", lr)
    loss = check_choice("loss", loss, LOSSES)
    seeds = check_seeds(seeds)
    records = Records()
    jobs = [(n, L, s) for n, L in sizes for s in seeds]
    for n, L, seed in tqdm(jobs, desc=f"coord check {parametrization}", disable=not progress, leave=False):
        model = ResNet(d, 1, n, L, block=block, parametrization=parametrization, activation=activation, T=T,
                       preact=preact, skip=skip, backward=backward, seed=seed, device=device, dtype=dtype)
        dev = model.U.device
        task = make_teacher_task(d=d, n_train=batch, n_test=1, seed=seed, dtype=dtype).to(dev)
        common = {"parametrization": parametrization, "n": n, "L": L, "T": T, "block": block,
                  "activation": activation, "preact": preact, "skip": skip, "backward": backward, "seed": seed}
        rows = _run_one(model, task.X_train, task.Y_train, lr, steps, loss)
        records.extend_rows(rows, **common)
    return records


def _run_one(model: ResNet, X: torch.Tensor, Y: torch.Tensor, lr: float, steps: int, loss: str) -> list[dict]:
    opt = make_sgd(model, lr)
    rows: list[dict] = []
    prev = None
    diverged = False
    L, T = model.L, model.T

    def add(step, layer, quantity, value):
        tau = None if layer is None else layer * T / L
        if diverged:
            value = float("nan")  # after a non-finite step nothing measured is meaningful
        rows.append({"step": step, "layer": layer, "tau": tau, "quantity": quantity, "value": value,
                     "diverged": diverged})

    for step in range(steps + 1):
        with torch.no_grad():
            f, feats = model(X, return_features=True)
        finite = bool(torch.isfinite(f).all())
        diverged = diverged or not finite
        for l, h in enumerate(feats.h):
            add(step, l, "h_rms", rms(h))
            if prev is not None:
                add(step, l, "dh_rms", rms(h - prev[0][l]))
        if feats.z is not None:
            for l, z in enumerate(feats.z, start=1):
                add(step, l, "z_rms", rms(z))
                if prev is not None:
                    add(step, l, "dz_rms", rms(z - prev[1][l - 1]))
        add(step, None, "f_rms", rms(f))
        if prev is not None:
            add(step, None, "df_rms", rms(f - prev[2]))
        prev = (feats.h, feats.z, f)
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        value = loss_fn(model(X), Y, None, loss)
        if torch.isfinite(value):
            value.backward()
            opt.step()
        else:
            diverged = True
    return rows


def coord_check_width(parametrization: str, widths: Iterable[int], L: int, **kwargs) -> Records:
    """:func:`coord_check` over widths at a fixed depth ``L``."""
    return coord_check(parametrization, [(n, L) for n in check_grid("widths", widths, integer=True)], **kwargs)


def coord_check_depth(parametrization: str, depths: Iterable[int], n: int, **kwargs) -> Records:
    """:func:`coord_check` over depths at a fixed width ``n``."""
    return coord_check(parametrization, [(n, L) for L in check_grid("depths", depths, integer=True)], **kwargs)


def layer_at(L: int, fraction: float) -> int:
    """The block index nearest to layer-time ``fraction * T`` in a depth-``L`` network."""
    return int(round(fraction * L))


def select_series(records: Records, x: str, quantity: str, *, step: int | None = None,
                  layer_fraction: float | None = 1.0) -> tuple[list, list[list[float]]]:
    """``(x values, per-x lists of per-seed values)`` for one quantity at one step and layer-time.

    ``layer_fraction`` picks the layer ``round(fraction * L)`` (ignored for output quantities). ``step=None``
    takes the last recorded step.
    """
    check_choice("x", x, ("n", "L"))
    check_choice("quantity", quantity, LAYER_QUANTITIES + OUTPUT_QUANTITIES)
    rows = records.where(quantity=quantity)
    if not rows:
        raise ValueError(f"the records hold no rows of quantity {quantity!r}")
    if step is None:
        step = max(rows.unique("step"))
    rows = rows.where(step=step)
    xs, ys = [], []
    for xv in rows.unique(x):
        sub = rows.where(**{x: xv})
        if quantity in LAYER_QUANTITIES:
            L = sub[0]["L"]
            target = layer_at(L, layer_fraction)
            if quantity.startswith(("z", "dz")):
                target = max(target, 1)
            sub = sub.where(layer=target)
        xs.append(xv)
        ys.append([r["value"] for r in sub])
    return xs, ys


# A coord check is "unstable" when the quantity grows faster than this power of the size (or diverges).
GROWTH_EXPONENT = 0.5


@dataclass(frozen=True)
class CoordVerdict:
    """The outcome of :func:`coord_check_verdict`: the fit (``None`` when fewer than two sizes are finite), the
    sentence to print, the ratio of the mean value at the largest size to that at the smallest finite size, the
    sizes at which a seed diverged, and two verdicts of :func:`nfdlib.stats.interval_verdict` on the exponent:
    ``flatness`` (the claim "flat": exponent ``0 +- flat_tol``) and ``growth`` (the claim "blows up": exponent
    above :data:`GROWTH_EXPONENT`). A size where a seed diverged makes the exponent ``[inf, inf]``: it
    disagrees with flatness and agrees with growth."""

    fit: SlopeFit | None
    text: str
    ratio: float
    diverged_at: tuple
    flatness: Verdict
    growth: Verdict

    @property
    def flat(self) -> bool:
        """The flatness claim agrees (finite at every size, interval within the tolerance of 0)."""
        return self.flatness.agrees

    @property
    def unstable(self) -> bool:
        """The growth claim agrees (diverged somewhere, or the whole interval lies above the growth exponent)."""
        return self.growth.agrees

    def summary(self) -> str:
        """A short form for tables: the slope with its interval, the ratio, and divergence."""
        if self.fit is None:
            return "diverged" + (f" at {list(self.diverged_at)}" if self.diverged_at else "")
        out = f"slope {self.fit}, x{self.ratio:.3g} across the range"
        return out + (f"; diverged at {list(self.diverged_at)}" if self.diverged_at else "")


def _exponent_verdicts(fit: SlopeFit | None, diverged: bool, flat_tol: float) -> tuple[Verdict, Verdict]:
    if diverged:
        lo = hi = math.inf  # a quantity that went non-finite grows faster than any power
    elif fit is None:
        lo = hi = math.nan
    else:
        lo, hi = fit.lo, fit.hi
    return (interval_verdict(lo, hi, prediction=0.0, tol=flat_tol),
            interval_verdict(lo, hi, allowed=(GROWTH_EXPONENT, math.inf)))


def coord_check_verdict(records: Records, x: str, quantity: str, *, step: int | None = None,
                        layer_fraction: float | None = 1.0, flat_tol: float = 0.1) -> CoordVerdict:
    """Fit the log-log slope of ``quantity`` against ``x`` (seeds pooled) and say what it means.

    Sizes where a seed went non-finite are reported as diverged (and fitted without that seed); the ratio of
    the values at the ends of the range is given too, since exponential growth has no meaningful power law.
    """
    flat_tol = check_float("flat_tol", flat_tol)
    xs, ys = select_series(records, x, quantity, step=step, layer_fraction=layer_fraction)
    px, py, bad = [], [], []
    for xv, vals in zip(xs, ys):
        finite = [v for v in vals if math.isfinite(v) and v > 0]
        if len(finite) < len(vals):
            bad.append(xv)
        px += [xv] * len(finite)
        py += finite
    label = QUANTITY_LABELS[quantity]
    if quantity in LAYER_QUANTITIES and layer_fraction is not None:
        label += f" at tau = {layer_fraction:g} T"
    name = records[0]["parametrization"] if records else "?"
    prefix = f"[{name}] " + (f"UNSTABLE, diverged at {x} = {bad}; " if bad else "")
    if len(set(px)) < 2:
        flatness, growth = _exponent_verdicts(None, bool(bad), flat_tol)
        return CoordVerdict(None, prefix + f"{label}: too few finite sizes to fit", float("nan"), tuple(bad),
                            flatness, growth)
    fit = fit_loglog(px, py)
    lo_x, hi_x = min(px), max(px)
    ratio = float(np.mean([v for xv, v in zip(px, py) if xv == hi_x])
                  / np.mean([v for xv, v in zip(px, py) if xv == lo_x]))
    text = prefix + describe_slope(fit, label, x, flat_tol) + f" (x{ratio:.3g} from {x}={lo_x} to {hi_x})"
    flatness, growth = _exponent_verdicts(fit, bool(bad), flat_tol)
    return CoordVerdict(fit, text, ratio, tuple(bad), flatness, growth)
