"""Learning-rate sweeps over depth of any parametrized model, under SGD, Adam or AdamW.

``build(L)`` returns the result of :func:`nfdlib.parametrize` at depth ``L``; each (depth, rate, seed) trains a
fresh model for ``steps`` full-batch steps on the mean squared error of one batch. The result has the layout of
:func:`nfdlib.sweeps.depth_sweep` (``L``, ``lr``, ``seeds``, ``steps``, ``train_loss`` shaped ``(depths, rates,
seeds, 1)``, ``diverged``), so :func:`nfdlib.optima.optimum_drift`, :func:`~nfdlib.optima.seed_mean_optima`
and :class:`~nfdlib.optima.Drift`'s verdicts read it unchanged. A run whose loss goes non-finite or above
``loss_bound`` is marked diverged (its loss is NaN); it never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .config import check_seeds
from .parametrization import OPTIMIZERS
from .parametrize import Parametrized
from .training import loss_fn
from .validation import check_choice, check_float, check_int


def final_loss(p: Parametrized, X: torch.Tensor, Y: torch.Tensor, *, lr: float, steps: int, optimizer: str = "adamw",
               weight_decay: float = 0.0, loss_bound: float = 1e3) -> float:
    """The training loss after ``steps`` full-batch steps (NaN when the run diverged)."""
    if not isinstance(p, Parametrized):
        raise ValueError(f"build must return the result of nfdlib.parametrize, got {type(p).__name__}")
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    opt = make(p.param_groups(lr, optimizer=optimizer, weight_decay=weight_decay))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        value = loss_fn(p.model(X), Y, None, "mse")
        if not (torch.isfinite(value) and float(value.detach()) <= loss_bound):
            return float("nan")
        value.backward()
        opt.step()
    with torch.no_grad():
        value = float(loss_fn(p.model(X), Y, None, "mse"))
    return value if np.isfinite(value) and value <= loss_bound else float("nan")


def depth_lr_sweep(build: Callable[[int], Parametrized], depths: Sequence[int], lrs: Sequence[float], data, *,
                   steps: int, optimizer: str = "adamw", seeds: Sequence[int] = (0, 1), weight_decay: float = 0.0,
                   loss_bound: float = 1e3) -> dict:
    """Final training losses over depths x rates x seeds, in the layout of :func:`nfdlib.sweeps.depth_sweep`."""
    if not callable(build):
        raise ValueError(f"build must be a function L -> nfdlib.parametrize result, got {type(build).__name__}")
    depths = [check_int("depths", L) for L in depths]
    lrs = [check_float("lrs", lr) for lr in lrs]
    steps = check_int("steps", steps)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    weight_decay = check_float("weight_decay", weight_decay, allow_zero=True)
    loss_bound = check_float("loss_bound", loss_bound)
    seeds = check_seeds(seeds)
    X, Y = data
    losses = np.full((len(depths), len(lrs), len(seeds), 1), np.nan)
    for i, L in enumerate(depths):
        for j, lr in enumerate(lrs):
            for k, seed in enumerate(seeds):
                torch.manual_seed(seed)
                losses[i, j, k, 0] = final_loss(build(L), X, Y, lr=lr, steps=steps, optimizer=optimizer,
                                                weight_decay=weight_decay, loss_bound=loss_bound)
    return {"L": np.array(depths), "lr": np.array(lrs), "seeds": np.array(seeds), "steps": np.array([steps]),
            "train_loss": losses, "diverged": np.isnan(losses[..., 0])}


__all__ = ["depth_lr_sweep", "final_loss"]
