"""Coordinate checks of any model: every module's output size per training step, over sizes and seeds.

In the spirit of mup's ``get_coord_data``: ``models`` maps a size to a function that builds the model at that
size (usually ``parametrize(MyNet(...), rule, ...)``), forward hooks record the rms of each module's output on
one fixed batch before each step, and the result is one tidy row per size x seed x module x step x statistic::

    records = coord_check({L: lambda L=L: parametrize(MyNet(64, L), "completep", branches="blocks.*", n=64, L=L)
                           for L in (2, 4, 8, 16)}, (X, Y), steps=3, optimizer="adamw", lr=1e-2, size_name="L")

Statistics (column ``statistic``): ``rms``, the root-mean-square of the module's output at step ``t`` (``t = 0``
is the initialization), and ``delta_rms``, the rms of its change since step ``t - 1`` (``t >= 1``), as
:func:`nfdlib.diagnostics.coord_check` records for nfdlib's own ResNet. Under a rule stable in width (depth) the
numbers do not move with ``n`` (``L``). A run that goes non-finite records ``nan`` from then on with
``diverged=True``; it never raises. :func:`module_series` reads one statistic of a group of modules against size
(what a coord-check figure draws, ``nfdlib.viz.plot_coord_data``); ``records.to_frame()`` gives pandas the rows.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .config import check_seeds
from .parametrization import OPTIMIZERS
from .parametrize import Parametrized
from .records import Records
from .stats import rms
from .training import LOSSES, loss_fn
from .validation import check_choice, check_float, check_int

STATISTICS = ("rms", "delta_rms")


def _size_columns(size, size_name: str | Sequence[str]) -> dict:
    names_ = (size_name,) if isinstance(size_name, str) else tuple(size_name)
    values = size if isinstance(size, tuple) else (size,)
    if len(values) != len(names_):
        raise ValueError(f"size_name must name each entry of a size key: got size {size!r} and size_name "
                         f"{size_name!r}")
    return {name: check_int(name, value) for name, value in zip(names_, values)}


def coord_check(models: Mapping, data, *, steps: int = 3, optimizer: str = "sgd", lr: float,
                seeds: Sequence[int] = (0,), size_name: str | Sequence[str] = "n", loss: str = "mse",
                weight_decay: float = 0.0) -> Records:
    """Coord-check records of the models built by ``models`` (size -> builder) on the batch ``data = (X, Y)``.

    A builder returns a :class:`nfdlib.parametrize.Parametrized` (its ``param_groups`` set the rates) or a plain
    ``nn.Module`` (one rate ``lr`` for every parameter). Each seed seeds torch before the model is built, so the
    initialization is reproducible. A size key is an integer (its column is ``size_name``) or a tuple (one column
    per name of ``size_name``, e.g. ``("n", "L")``). Columns: the size columns, ``seed``, ``module``, ``step``,
    ``statistic``, ``value``, ``diverged``. Modules that return something other than a tensor are not recorded.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"models must be a non-empty dict mapping a size to a function that builds the model, "
                         f"got {type(models).__name__}")
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise ValueError("data must be a pair (X, Y) of tensors: one fixed batch and its targets")
    X, Y = data
    steps = check_int("steps", steps, minimum=0)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    lr = check_float("lr", lr)
    loss = check_choice("loss", loss, LOSSES)
    seeds = check_seeds(seeds)
    columns = {size: _size_columns(size, size_name) for size in models}
    for size, build in models.items():
        if isinstance(build, nn.Module) or not callable(build):  # a module is callable, but built once only
            raise ValueError(f"models[{size!r}] must be a function that builds the model, got {type(build).__name__}")
    records = Records()
    for size, build in models.items():
        for seed in seeds:
            torch.manual_seed(seed)
            built = build()
            records.extend_rows(_run(built, X, Y, steps, optimizer, lr, loss, weight_decay),
                                **columns[size], seed=seed)
    return records


def _optimizer(built, optimizer: str, lr: float, weight_decay: float) -> tuple[nn.Module, torch.optim.Optimizer]:
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    if isinstance(built, Parametrized):
        return built.model, make(built.param_groups(lr, optimizer=optimizer, weight_decay=weight_decay))
    if isinstance(built, nn.Module):
        kwargs = {"weight_decay": check_float("weight_decay", weight_decay, allow_zero=True)}
        return built, make(built.parameters(), lr=lr, **kwargs)
    raise ValueError(f"a model builder must return an nn.Module or the result of nfdlib.parametrize, got "
                     f"{type(built).__name__}")


def _run(built, X, Y, steps: int, optimizer: str, lr: float, loss: str, weight_decay: float) -> list[dict]:
    model, opt = _optimizer(built, optimizer, lr, weight_decay)
    outputs: dict[str, torch.Tensor] = {}

    def record(name: str) -> Callable:
        def hook(module, args, output):
            if isinstance(output, torch.Tensor):
                outputs[name] = output.detach().clone()
        return hook

    handles = [m.register_forward_hook(record(name)) for name, m in model.named_modules()]
    rows: list[dict] = []
    previous: dict[str, torch.Tensor] = {}
    diverged = False
    try:
        for step in range(steps + 1):
            outputs.clear()
            f = model(X)
            # For cross-entropy Y holds the integer labels.
            value = loss_fn(f, Y, None, loss) if loss == "mse" else loss_fn(f, None, Y, loss)
            diverged = diverged or not bool(torch.isfinite(value))
            for name, out in outputs.items():
                label = name or "(model)"
                stats = {"rms": rms(out)}
                if name in previous:
                    stats["delta_rms"] = rms(out - previous[name])
                for statistic, v in stats.items():
                    rows.append({"module": label, "step": step, "statistic": statistic,
                                 "value": float("nan") if diverged else v, "diverged": diverged})
            previous = dict(outputs)
            if step == steps or diverged:
                if diverged:
                    rows += _nan_rows(outputs, step, steps)
                break
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
    finally:
        for handle in handles:
            handle.remove()
    return rows


def _nan_rows(outputs, step: int, steps: int) -> list[dict]:
    """The rows a diverged run did not measure, so every run has the same rows."""
    return [{"module": name or "(model)", "step": t, "statistic": s, "value": float("nan"), "diverged": True}
            for t in range(step + 1, steps + 1) for name in outputs for s in STATISTICS]

def module_series(records: Records, modules: str | Callable[[str], bool], *, step: int,
                  statistic: str = "delta_rms", size: str = "L") -> tuple[np.ndarray, np.ndarray]:
    """``(size, value)`` per size and seed: the root-mean-square, over the modules that ``modules`` selects (a glob
    pattern over module names, or a test), of their ``statistic`` at ``step``."""
    statistic = check_choice("statistic", statistic, STATISTICS)
    keep = (lambda name: fnmatch.fnmatchcase(name, modules)) if isinstance(modules, str) else modules
    xs, ys = [], []
    for x in records.unique(size):
        for seed in records.where(**{size: x}).unique("seed"):
            values = [r["value"] for r in records.where(**{size: x}, seed=seed, statistic=statistic, step=step)
                      if keep(r["module"])]
            if not values:
                raise ValueError(f"modules {modules!r} selects no module of the records at {size}={x}, step {step}")
            xs.append(x)
            ys.append(float(np.sqrt(np.mean(np.square(values)))))
    return np.array(xs), np.array(ys)


__all__ = ["coord_check", "module_series", "STATISTICS"]
