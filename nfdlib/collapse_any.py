"""The first internal layer's own update in any parametrized model with two-layer blocks, under SGD or Adam.

Notebook 05 measures the collapse on nfdlib's own ResNet (:func:`nfdlib.two_layer.block_updates`). This module
does the same measurement on a model the library did not define, once :func:`nfdlib.parametrize` has given its
parameters roles. In each block the first internal layer computes ``z = m1 W1 a`` (``a`` its input: ``phi(h)``,
or ``LayerNorm(h)`` in a pre-norm block; ``m1`` the multiplier the rule put on it). One optimizer step changes
``W1`` by ``dW1``; the layer's **own** update is

    dz_own = m1 dW1 a        (``a`` held at its value before the step),

the part of the change of ``z`` that ``W1``'s update alone causes (the rest of ``z(t+1) - z(t)`` is inherited from
the stream below, and a bias change is not counted). :func:`own_updates` returns its rms over the batch and the
coordinates, one number per block; :func:`depth_scan` repeats it over rules, depths, seeds and optimizers, and
:func:`depth_slope` fits its log-log slope against depth.

Power count (docs/reconstruction.md section 10). Under SGD ``dz_own = O(eta_1 / n * g^z)`` with ``g^z = O(beta)``:
depth-muP (``eta_1 = eta n``, ``beta ~ L^-1/2``) gives ``L^-1/2``, the correction (``eta_1 * sqrt(L)``) and
CompleteP (``beta ~ 1/L``, ``eta_1 ~ n L``) give ``L^0``. Adam's first step is ``lr * sign(gradient)`` (up to
epsilon), so the gradient's size drops out and ``dz_own = O(lr_1 sqrt(n))`` (the ``n`` signed entries of a row
add up coherently against ``a``): depth-muP's Adam rate ``n^-1/2 L^-1/2`` gives ``L^-1/2`` again, but from the
rate rather than the gradient; the corrected rule's ``n^-1/2`` and CompleteP's ``n^-1/2 L^0`` give ``L^0``
(our inference, measured in notebook 09).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .config import check_seeds
from .parametrize import Parametrized
from .records import Records
from .stats import SlopeFit, fit_loglog, rms
from .training import loss_fn
from .validation import check_choice, check_float, check_int

# The optimizers whose first step is measured (AdamW's first step is Adam's plus the decay).
OPTIMIZERS = ("sgd", "adam")


def first_internal_layers(p: Parametrized) -> list[tuple[str, nn.Linear]]:
    """``(name, module)`` of every parameter with role ``internal1``, in the model's order (one per block)."""
    if not isinstance(p, Parametrized):
        raise ValueError(f"p must be the result of nfdlib.parametrize, got {type(p).__name__}")
    modules = dict(p.model.named_modules())
    out = []
    for name, row in p.rows.items():
        if row["role"] != "internal1":
            continue
        owner = name.rpartition(".")[0]
        if not isinstance(modules[owner], nn.Linear):
            raise ValueError(f"the first internal layer {name!r} must be the weight of an nn.Linear, "
                             f"got {type(modules[owner]).__name__}")
        out.append((owner, modules[owner]))
    if not out:
        raise ValueError("p must have two-layer blocks: no parameter has the role 'internal1' (roles: "
                         f"{sorted({r['role'] for r in p.rows.values()})})")
    return out


def own_updates(p: Parametrized, X: torch.Tensor, Y: torch.Tensor, *, lr: float, optimizer: str = "sgd",
                eps: float = 1e-8) -> list[float]:
    """The rms of each block's first-internal-layer own update ``m1 dW1 a`` after ONE full-batch step on the mean
    squared error of ``(X, Y)``, with base rate ``lr`` and the rule's groups (``p.param_groups``); ``optimizer``
    is ``"sgd"`` or ``"adam"``. The model takes the step (it is changed). One number per block, in order."""
    layers = first_internal_layers(p)
    lr = check_float("lr", lr)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    if not (isinstance(X, torch.Tensor) and isinstance(Y, torch.Tensor)) or X.shape[0] != Y.shape[0]:
        raise ValueError("X and Y must be tensors with one row per example (the same first dimension)")
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
    opt = make(p.param_groups(lr, optimizer=optimizer, eps=eps))
    inputs: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable:
        # registered after parametrize's own pre-hook, so it sees the input already multiplied by m1
        def hook(module, args):
            inputs[name] = args[0].detach().clone()
        return hook

    handles = [module.register_forward_pre_hook(keep(name)) for name, module in layers]
    try:
        f = p.model(X)
    finally:
        for handle in handles:
            handle.remove()
    if f.shape != Y.shape:
        raise ValueError(f"Y must have the model's output shape {tuple(f.shape)}, got {tuple(Y.shape)}")
    before = [module.weight.detach().clone() for _, module in layers]
    opt.zero_grad(set_to_none=True)
    loss_fn(f, Y, None, "mse").backward()
    opt.step()
    with torch.no_grad():
        return [rms(F.linear(inputs[name], module.weight - W0)) for (name, module), W0 in zip(layers, before)]


def depth_scan(build: Callable[[str, int], Parametrized], rules: Iterable[str], depths: Sequence[int], data, *,
               lr: float | dict, optimizers: Iterable[str] = OPTIMIZERS, seeds: Sequence[int] = (0, 1, 2)) -> Records:
    """:func:`own_updates` for every rule, depth, optimizer and seed. ``build(rule, L)`` returns a parametrized
    model of depth ``L``; each seed seeds torch before it is built, so the two optimizers start from the same
    weights. ``lr`` is one base rate or a dict ``optimizer -> rate``. Rows: ``rule, L, optimizer, seed, block,
    value`` (``block`` 1..L)."""
    if not callable(build):
        raise ValueError(f"build must be a function (rule, L) -> nfdlib.parametrize result, got {type(build).__name__}")
    X, Y = data
    rules, depths = list(rules), [check_int("depths", L) for L in depths]
    optimizers = [check_choice("optimizers", o, OPTIMIZERS) for o in optimizers]
    rates = lr if isinstance(lr, dict) else {o: lr for o in optimizers}
    missing = [o for o in optimizers if o not in rates]
    if missing:
        raise ValueError(f"lr must give a rate for every optimizer of {optimizers}; missing {missing}")
    seeds = check_seeds(seeds)
    if not rules or len(set(depths)) < 2:
        raise ValueError("rules must list a rule and depths at least two different depths (a slope needs two)")
    records = Records()
    for rule in rules:
        for L in depths:
            for optimizer in optimizers:
                for seed in seeds:
                    torch.manual_seed(seed)
                    values = own_updates(build(rule, L), X, Y, lr=rates[optimizer], optimizer=optimizer)
                    records.extend_rows([{"block": b + 1, "value": v} for b, v in enumerate(values)],
                                        rule=rule, L=L, optimizer=optimizer, seed=seed)
    return records


def block_rms(records: Records, *, rule: str, optimizer: str) -> tuple[np.ndarray, np.ndarray]:
    """``(L, value)`` with one point per depth and seed: the rms over blocks ``sqrt(mean_l dz_own_l^2)``."""
    rows = records.where(rule=rule, optimizer=optimizer)
    if not rows:
        raise ValueError(f"no rows for rule={rule!r}, optimizer={optimizer!r}; the records hold rules "
                         f"{records.unique('rule')} and optimizers {records.unique('optimizer')}")
    xs, ys = [], []
    for L in rows.unique("L"):
        for seed in rows.unique("seed"):
            values = rows.where(L=L, seed=seed).column("value")
            xs.append(L)
            ys.append(float(np.sqrt(np.mean(values**2))))
    return np.array(xs, float), np.array(ys, float)


def depth_slope(records: Records, *, rule: str, optimizer: str) -> SlopeFit:
    """The log-log slope of the block rms of ``dz_own`` against depth, seeds pooled (:func:`fit_loglog`)."""
    return fit_loglog(*block_rms(records, rule=rule, optimizer=optimizer))


def predicted_slope(rule: str, optimizer: str) -> float:
    """The power count of the module docstring: depth exponent of the first internal layer's own update (our
    inference for Adam). Rules outside the depth-muP family have no prediction here."""
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    predictions = {"depth-mup": -0.5, "depth-mup-corrected": 0.0, "completep": 0.0}
    return predictions[check_choice("rule", rule, tuple(predictions))]


__all__ = ["own_updates", "first_internal_layers", "depth_scan", "block_rms", "depth_slope", "predicted_slope",
           "OPTIMIZERS"]
