"""Batched learning-rate x seed sweeps: many SGD runs trained at once (notebooks 04, 05).

A sweep trains one network per configuration ``(eta, seed)``: the architecture is shared, the initial weights
come from ``seed`` (the same draw as ``ResNet(..., seed=seed)``) and the SGD step of a parameter of role ``r`` is

    theta <- theta - eta * lr_scale(r) * grad_theta  mean_{mu in B_k} ell(f(x_mu), y_mu)

with the registry's ``lr_scale`` (the same rates as :func:`nfdlib.optim.param_groups`). Minibatches are drawn
exactly as :func:`nfdlib.training.train` draws them from ``seed``, so a batched run reproduces the plain loop
``train(ResNet(..., seed=s), data, lr=eta, seed=s)`` up to floating-point rounding (tested).

How the batching works: the parameters of all configurations are stacked along a new leading axis and one pass
computes every configuration's gradient: batched matrix products through :meth:`ResNet.forward_with` and one
autograd call (engine ``"bmm"``, the default), or ``torch.func.vmap(grad_and_value(loss))`` over
``functional_call`` (engine ``"vmap"``); both give the same numbers. Each configuration then takes its own SGD
step with its own rate. Runs that diverge (a loss that is not finite or
exceeds ``loss_bound``) are recorded and dropped from the stack, so the rest of the sweep runs on fewer
configurations; a divergence never raises. Diverged runs have NaN entries from the step they diverged on and are
drawn as missing points.

Reading a sweep (:func:`best_lr`, :func:`optimum_drift`, :func:`max_stable_lr`): the optimum ``eta*`` of one
seed is the vertex of a parabola fitted to ``log(loss)`` against ``log2(eta)`` around the best grid point, and
the drift of the optimum with depth is the least-squares slope of ``log2 eta*`` against ``log2 L`` with a 95%
t-interval (seeds pooled), checked by a bootstrap over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, grad_and_value, vmap
from tqdm.auto import tqdm

from . import cache
from .config import check_seed, get_device, make_generator
from .data import DATASETS, Dataset, load_dataset
from .models import BLOCKS, ResNet
from .optim import scaling_table
from .parametrization import get_parametrization
from .stats import SlopeFit, Verdict, fit_loglog, slope_verdict
from .training import LOSSES, loss_fn, train
from .validation import check_choice, check_float, check_int

# Bump when the code that computes a sweep changes in a way that changes its numbers: cached files then recompute.
SWEEP_VERSION = "1"
cache.register_kind("sweep", SWEEP_VERSION, "npz",
                    ("L", "lr", "seed", "steps", "train_loss", "test_loss", "diverged", "diverged_at"))
# The tolerance of the transfer claim: octave of the optimum per doubling of depth (0.75 octave over L = 2..64).
TRANSFER_TOL = 0.15

Tensor = torch.Tensor


def log2_grid(lo: float, hi: float, step: float = 0.5) -> np.ndarray:
    """Learning rates ``2**k`` for ``k = log2(lo), log2(lo) + step, ..., <= log2(hi)`` (half-octave by default)."""
    lo, hi, step = check_float("lo", lo), check_float("hi", hi), check_float("step", step)
    if hi < lo:
        raise ValueError(f"hi must be >= lo, got lo={lo}, hi={hi}")
    k = np.arange(math.log2(lo), math.log2(hi) + 1e-9, step)
    return 2.0**k


def _check_lrs(lrs) -> np.ndarray:
    arr = np.asarray(lrs, dtype=float).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"lrs must be a non-empty sequence of finite positive learning rates, got {lrs!r}")
    return arr


def _check_seeds(seeds) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    return [check_seed(s) for s in seeds]


def batch_indices(P: int, batch_size: int, steps: int, seed: int) -> Tensor | None:
    """The minibatch of every SGD step, drawn as :func:`nfdlib.training.train` draws them: shape
    ``(steps, batch_size)``, or ``None`` for full-batch gradient descent (``batch_size >= P``)."""
    if batch_size >= P:
        return None
    gen = make_generator(seed)
    order, cursor = torch.randperm(P, generator=gen), 0
    rows = []
    for _ in range(steps):
        if cursor + batch_size > P:
            order, cursor = torch.randperm(P, generator=gen), 0
        rows.append(order[cursor:cursor + batch_size])
        cursor += batch_size
    return torch.stack(rows) if rows else torch.zeros(0, batch_size, dtype=torch.long)


ENGINES = ("bmm", "vmap")


@dataclass
class _Setup:
    """What every configuration of a sweep shares."""

    base: ResNet
    rate_scale: dict[str, float]
    loss: str


def _per_config_loss(f: Tensor, y: Tensor, labels: Tensor | None, loss: str) -> Tensor:
    """``loss_fn`` of each configuration: ``f`` and ``y`` are ``(C, batch, outputs)``, the result ``(C,)``."""
    if loss == "mse":
        return 0.5 * ((f - y) ** 2).sum(-1).mean(-1)
    return torch.nn.functional.cross_entropy(f.transpose(1, 2), labels, reduction="none").mean(-1)


class _Stack:
    """The weights of the active configurations of one chunk, with their SGD rates.

    Two engines compute the same numbers. ``"vmap"``: the parameters are stacked as the module's own tensors
    along a leading axis and ``torch.func.vmap(grad_and_value(...))`` over ``functional_call`` gives every
    configuration's gradient. ``"bmm"``: the block matrices are kept as one ``(C, n, n)`` leaf per block and
    :meth:`ResNet.forward_with` runs all configurations as batched matrix products; one autograd pass over the
    sum of the per-configuration losses gives every configuration's own gradient (they share no weights). The
    second avoids functorch's per-operation overhead and the re-stacking of per-block gradients, and measured
    about 1.3-1.5x faster on CPU (benchmarks/sweeps.py), so it is the default.
    """

    def __init__(self, setup: _Setup, weights: list[dict[str, Tensor]], rates: dict[str, Tensor], engine: str):
        self.setup, self.engine, self.rates = setup, engine, rates
        base = setup.base
        self.hidden = base.hidden_names()
        if engine == "vmap":
            self.params = {k: torch.stack([w[k] for w in weights]).clone() for k in weights[0]}
            self._grad = vmap(grad_and_value(self._vmap_loss))
        else:
            self.params = {"U": torch.stack([w["U"] for w in weights]).clone(),
                           "v": torch.stack([w["v"] for w in weights]).clone()}
            for k in self.hidden:
                stacked = torch.stack([w[k] for w in weights])  # (C, L, n, n)
                for l in range(base.L):
                    self.params[f"{k}.{l}"] = stacked[:, l].clone()

    # -- vmap engine ------------------------------------------------------------------------------------
    def _vmap_loss(self, params, x, y, labels=None):
        return loss_fn(functional_call(self.setup.base, params, (x,)), y, labels, self.setup.loss)

    # -- bmm engine -------------------------------------------------------------------------------------
    def _forward(self, params, x):
        layers = {k: [params[f"{k}.{l}"] for l in range(self.setup.base.L)] for k in self.hidden}
        return self.setup.base.forward_with(x, params["U"], layers, params["v"])

    def _rate(self, key: str) -> Tensor:
        return self.rates[key.split(".")[0]]

    def step(self, x: Tensor, y: Tensor, labels: Tensor | None) -> np.ndarray:
        """One SGD step of every configuration on its own minibatch; returns the minibatch losses before it."""
        if self.engine == "vmap":
            args = (x, y) if labels is None else (x, y, labels)
            grads, values = self._grad(self.params, *args)
        else:
            leaves = {k: v.requires_grad_(True) for k, v in self.params.items()}
            values = _per_config_loss(self._forward(leaves, x), y, labels, self.setup.loss)
            grads = dict(zip(leaves, torch.autograd.grad(values.sum(), list(leaves.values()))))
        with torch.no_grad():
            for k, p in self.params.items():
                # In place: the stacked tensors are large, and fresh allocations of that size page-fault.
                p.requires_grad_(False)
                p.addcmul_(grads[k], self._rate(k).view((-1,) + (1,) * (p.dim() - 1)), value=-1.0)
        return values.detach().double().cpu().numpy()

    @torch.no_grad()
    def evaluate(self, X: Tensor, Y: Tensor, labels: Tensor | None, eval_batch: int) -> tuple[Tensor, Tensor | None]:
        """Mean loss and accuracy of every configuration on ``(X, Y)``, in slices of ``eval_batch`` inputs."""
        if self.engine == "vmap":
            forward = vmap(lambda p, x: functional_call(self.setup.base, p, (x,)), in_dims=(0, None))
        else:
            forward = self._forward  # an unbatched x broadcasts against the batched weights
        C = self.params["U"].shape[0]
        total = torch.zeros(C, dtype=torch.float64, device=X.device)
        correct = torch.zeros_like(total)
        P = X.shape[0]
        for start in range(0, P, eval_batch):
            sl = slice(start, start + eval_batch)
            f = forward(self.params, X[sl])  # (C, b, d_out)
            if self.setup.loss == "mse":
                per = 0.5 * ((f - Y[sl]) ** 2).sum(-1)
            else:
                per = torch.nn.functional.cross_entropy(f.transpose(1, 2), labels[sl].expand(C, -1),
                                                        reduction="none")
            total += per.double().sum(-1)
            if labels is not None:
                correct += (f.argmax(-1) == labels[sl]).double().sum(-1)
        return total / P, (correct / P if labels is not None else None)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the configurations where ``mask`` is true (the others diverged)."""
        idx = torch.as_tensor(np.flatnonzero(mask), device=self.params["U"].device)
        self.params = {k: v.detach().index_select(0, idx) for k, v in self.params.items()}
        self.rates = {k: v.index_select(0, idx) for k, v in self.rates.items()}


def train_stacked(make_model: Callable[[int], ResNet], lrs: Sequence[float], seeds: Sequence[int], data: Dataset,
                  steps: int, *, batch_size: int | None = None, loss: str = "mse",
                  parametrization: str | None = None, eval_every: int | None = None, loss_bound: float = 1e6,
                  chunk_size: int | None = None, eval_batch: int = 4096, engine: str = "bmm",
                  progress: bool = False, desc: str = "sweep") -> dict[str, np.ndarray]:
    """Train every configuration ``(lrs[i], seeds[i])`` at once and return tidy arrays.

    ``make_model(seed)`` builds the network of one seed (all must share the architecture; true backprop).
    Configurations are processed ``chunk_size`` at a time (all at once by default) in one batched
    computation; ``engine`` is ``"bmm"`` (batched matrix products, default) or ``"vmap"`` (``torch.func``),
    see :class:`_Stack`.

    Returns a dict of arrays with one row per configuration: ``lr``, ``seed``, ``steps`` (the evaluation
    steps, shared), ``train_loss`` and ``test_loss`` (mean over the whole split, shape ``(C, E)``),
    ``test_acc`` (only with labels), ``diverged`` (bool) and ``diverged_at`` (the step, ``-1`` if never).
    A run diverges when a minibatch loss is not finite or exceeds ``loss_bound``, or when the training loss
    at an evaluation does; its later entries are NaN.
    """
    lrs = _check_lrs(lrs)
    seeds = np.asarray(_check_seeds(seeds), dtype=np.int64)
    if lrs.shape != seeds.shape:
        raise ValueError(f"lrs and seeds must have one entry per configuration, got {lrs.size} and {seeds.size}")
    steps = check_int("steps", steps, minimum=0)
    loss = check_choice("loss", loss, LOSSES)
    engine = check_choice("engine", engine, ENGINES)
    loss_bound = check_float("loss_bound", loss_bound)
    eval_batch = check_int("eval_batch", eval_batch)
    P = data.X_train.shape[0]
    batch_size = P if batch_size is None else min(check_int("batch_size", batch_size), P)
    eval_every = steps if eval_every is None else check_int("eval_every", eval_every)
    eval_every = max(eval_every, 1)
    if loss == "xent" and data.labels_train is None:
        raise ValueError("loss='xent' needs a dataset with integer labels (the dataset has none)")
    C = lrs.size
    chunk_size = C if chunk_size is None else check_int("chunk_size", chunk_size)

    eval_steps = np.array(sorted(set(range(0, steps + 1, eval_every)) | {steps}))
    has_labels = data.labels_test is not None
    out = {
        "lr": lrs.copy(), "seed": seeds.copy(), "steps": eval_steps,
        "train_loss": np.full((C, len(eval_steps)), np.nan), "test_loss": np.full((C, len(eval_steps)), np.nan),
        "diverged": np.zeros(C, dtype=bool), "diverged_at": np.full(C, -1, dtype=np.int64),
    }
    if has_labels:
        out["test_acc"] = np.full((C, len(eval_steps)), np.nan)

    # One model per distinct seed; configurations with the same seed share its initial weights.
    models = {int(s): make_model(int(s)) for s in np.unique(seeds)}
    base = models[int(seeds[0])]
    if base.backward_mode != "true":
        raise ValueError("make_model must build networks with backward='true' (sweeps use true backprop)")
    data = data.to(base.U.device)
    table = scaling_table(base, parametrization)
    setup = _Setup(base, {k: row["lr_scale"] for k, row in table.items()}, loss)
    indices = {int(s): batch_indices(P, batch_size, steps, int(s)) for s in np.unique(seeds)}

    chunks = [np.arange(i, min(i + chunk_size, C)) for i in range(0, C, chunk_size)]
    bar = tqdm(total=steps * len(chunks), desc=desc, disable=not progress, leave=False)
    for chunk in chunks:
        _train_chunk(setup, models, lrs, seeds, chunk, data, indices, steps, eval_steps, loss_bound, eval_batch,
                     engine, out, bar)
    bar.close()
    return out


def _train_chunk(setup, models, lrs, seeds, chunk, data, indices, steps, eval_steps, loss_bound, eval_batch,
                 engine, out, bar):
    device, dtype = setup.base.U.device, setup.base.U.dtype
    active = np.array(chunk)
    weights = [{k: p.detach() for k, p in models[int(seeds[i])].named_parameters()} for i in active]
    # Each configuration's rate for each parameter, as train() computes it: eta * lr_scale(role) in double.
    rates = {k: torch.tensor([lrs[i] * scale for i in active], dtype=dtype, device=device)
             for k, scale in setup.rate_scale.items()}
    stack = _Stack(setup, weights, rates, engine)
    full_batch = {s: idx is None for s, idx in indices.items()}
    row, done = 0, 0
    for step in range(steps + 1):
        if active.size and step == eval_steps[row]:
            tr, _ = stack.evaluate(data.X_train, data.Y_train, data.labels_train, eval_batch)
            te, acc = stack.evaluate(data.X_test, data.Y_test, data.labels_test, eval_batch)
            tr, te = tr.cpu().numpy(), te.cpu().numpy()
            bad = ~(np.isfinite(tr) & (tr <= loss_bound))
            out["train_loss"][active[~bad], row] = tr[~bad]
            out["test_loss"][active[~bad], row] = te[~bad]
            if acc is not None:
                out["test_acc"][active[~bad], row] = acc.cpu().numpy()[~bad]
            active = _drop(active, bad, step, stack, out)
            row += 1
        if step == steps or active.size == 0:
            break
        xs, ys, labs = [], [], []
        for i in active:
            s = int(seeds[i])
            idx = slice(None) if full_batch[s] else indices[s][step].to(device)
            xs.append(data.X_train[idx])
            ys.append(data.Y_train[idx])
            if setup.loss == "xent":
                labs.append(data.labels_train[idx])
        values = stack.step(torch.stack(xs), torch.stack(ys), torch.stack(labs) if labs else None)
        bad = ~(np.isfinite(values) & (values <= loss_bound))
        active = _drop(active, bad, step, stack, out)
        bar.update(1)
        done += 1
    bar.update(steps - done)


def _drop(active, bad, step, stack, out):
    """Record the configurations that diverged at ``step`` and remove them from the stack."""
    if not bad.any():
        return active
    out["diverged"][active[bad]] = True
    out["diverged_at"][active[bad]] = step
    stack.keep(~bad)
    return active[~bad]


def train_loop(make_model: Callable[[int], ResNet], lrs: Sequence[float], seeds: Sequence[int], data: Dataset,
               steps: int, *, batch_size: int | None = None, loss: str = "mse", parametrization: str | None = None,
               eval_every: int | None = None, loss_bound: float = 1e6, progress: bool = False,
               desc: str = "loop") -> dict[str, np.ndarray]:
    """The same as :func:`train_stacked`, one :func:`nfdlib.training.train` call per configuration (the
    reference the batched path is tested and benchmarked against)."""
    lrs = _check_lrs(lrs)
    seeds = np.asarray(_check_seeds(seeds), dtype=np.int64)
    if lrs.shape != seeds.shape:
        raise ValueError(f"lrs and seeds must have one entry per configuration, got {lrs.size} and {seeds.size}")
    steps = check_int("steps", steps, minimum=0)
    eval_every = steps if eval_every is None else check_int("eval_every", eval_every)
    rows = []
    for lr, seed in tqdm(list(zip(lrs, seeds)), desc=desc, disable=not progress, leave=False):
        res = train(make_model(int(seed)), data, float(lr), steps, batch_size=batch_size, loss=loss,
                    parametrization=parametrization, eval_every=max(eval_every, 1), seed=int(seed),
                    loss_bound=loss_bound)
        rows.append(res)
    out = {"lr": lrs.copy(), "seed": seeds.copy(), "steps": rows[0].steps,
           "train_loss": np.stack([r.train_loss for r in rows]), "test_loss": np.stack([r.test_loss for r in rows]),
           "diverged": np.array([r.diverged for r in rows]),
           "diverged_at": np.array([-1 if r.diverged_at is None else r.diverged_at for r in rows], dtype=np.int64)}
    if rows[0].test_acc is not None:
        out["test_acc"] = np.stack([r.test_acc for r in rows])
    return out


# -- sweeps over learning rates, seeds and depths ----------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A training rule of the comparison: a parametrization and a block type."""

    parametrization: str
    block: str
    label: str

    def __post_init__(self):
        get_parametrization(self.parametrization)
        check_choice("block", self.block, BLOCKS)


# The four rules notebook 05 compares.
RULES = (
    Rule("depth-mup", "one", "depth-muP, one-layer blocks"),
    Rule("depth-mup", "two", "depth-muP, two-layer blocks"),
    Rule("depth-mup-corrected", "two", "two-layer, corrected (eta_1 = eta n sqrt(L))"),
    Rule("completep", "two", "two-layer, CompleteP"),
)


def _check_task(task: Mapping) -> dict:
    if not isinstance(task, Mapping) or "name" not in task:
        raise ValueError(f"task must be a dict with a 'name' in {DATASETS} and loader arguments, got {task!r}")
    check_choice("task['name']", task["name"], DATASETS)
    return dict(task)


def load_task(task: Mapping) -> Dataset:
    """The dataset a task dict describes: ``{"name": "mnist1d" | "digits" | "teacher", **loader kwargs}``."""
    task = _check_task(task)
    name = task.pop("name")
    return load_dataset(name, **task)


def lr_sweep(task: Mapping | Dataset, parametrization: str, block: str, n: int, L: int, lrs: Sequence[float],
             seeds: Sequence[int], steps: int, *, batch_size: int | None = None, loss: str = "mse", T: float = 1.0,
             activation: str = "relu", eval_every: int | None = None, loss_bound: float = 1e6,
             chunk_size: int | None = None, engine: str = "bmm", preact: bool = True, device=None,
             progress: bool = False) -> dict[str, np.ndarray]:
    """Every ``(eta, seed)`` in ``lrs x seeds`` for one architecture, batched; arrays shaped ``(lr, seed, ...)``.
    ``preact=False`` sweeps post-activation blocks (notebook 00).

    Returns ``lr`` (the grid), ``seed``, ``steps``, ``train_loss`` / ``test_loss`` / ``test_acc`` of shape
    ``(len(lrs), len(seeds), evals)``, ``diverged`` and ``diverged_at`` of shape ``(len(lrs), len(seeds))``.
    """
    data = task if isinstance(task, Dataset) else load_task(task)
    lrs, seeds = _check_lrs(lrs), _check_seeds(seeds)
    get_parametrization(parametrization)
    check_choice("block", block, BLOCKS)
    n, L = check_int("n", n), check_int("L", L)
    dev = get_device(device)

    def make_model(seed):
        return ResNet(data.d, data.num_outputs, n, L, block=block, parametrization=parametrization,
                      activation=activation, T=T, preact=preact, seed=seed, device=dev)

    grid_lr = np.repeat(lrs, len(seeds))
    grid_seed = np.tile(seeds, len(lrs))
    flat = train_stacked(make_model, grid_lr, grid_seed, data, steps, batch_size=batch_size, loss=loss,
                         eval_every=eval_every, loss_bound=loss_bound, chunk_size=chunk_size, engine=engine,
                         progress=progress,
                         desc=f"{parametrization}/{block} n={n} L={L}")
    shape = (len(lrs), len(seeds))
    out = {"lr": lrs, "seed": np.asarray(seeds), "steps": flat["steps"]}
    for key in ("train_loss", "test_loss", "test_acc", "diverged", "diverged_at"):
        if key in flat:
            out[key] = flat[key].reshape(shape + flat[key].shape[1:])
    return out


def depth_sweep(task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                lrs: Sequence[float], seeds: Sequence[int], steps: int, *, progress: bool = True,
                **kwargs) -> dict[str, np.ndarray]:
    """:func:`lr_sweep` at each depth; arrays gain a leading depth axis (``depths`` is returned as ``L``)."""
    depths = [check_int("depths", L) for L in depths]
    if not depths:
        raise ValueError("depths must list at least one depth")
    data = load_task(task)
    parts = [lr_sweep(data, parametrization, block, n, L, lrs, seeds, steps, progress=progress, **kwargs)
             for L in tqdm(depths, desc=f"{parametrization}/{block} n={n}", disable=not progress, leave=False)]
    out = {"L": np.asarray(depths), "lr": parts[0]["lr"], "seed": parts[0]["seed"], "steps": parts[0]["steps"]}
    for key in ("train_loss", "test_loss", "test_acc", "diverged", "diverged_at"):
        if key in parts[0]:
            out[key] = np.stack([p[key] for p in parts])
    return out


# Arguments of depth_sweep / lr_sweep that change how the numbers are computed but not the numbers: never keyed.
NOT_KEYED = ("chunk_size", "engine", "device", "progress")
# Arguments added after sweeps were first cached: keyed only when they differ from this default, so that the
# files written before them keep their names (they were computed at the default).
KEYED_UNLESS_DEFAULT = {"preact": True}


def depth_sweep_config(task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                       lrs: Sequence[float], seeds: Sequence[int], steps: int, **kwargs) -> dict:
    """The cache key of a :func:`cached_depth_sweep`: every argument that changes the numbers. Everything in
    ``kwargs`` is keyed except :data:`NOT_KEYED`, and the arguments of :data:`KEYED_UNLESS_DEFAULT` at their
    default (so a new argument can never be served another configuration's file)."""
    config = {"task": _check_task(task), "parametrization": parametrization, "block": block, "n": check_int("n", n),
              "depths": [int(L) for L in depths], "lrs": [float(x) for x in _check_lrs(lrs)],
              "seeds": _check_seeds(seeds), "steps": check_int("steps", steps, minimum=0)}
    for key, value in kwargs.items():
        if key in NOT_KEYED or (key in KEYED_UNLESS_DEFAULT and value == KEYED_UNLESS_DEFAULT[key]):
            continue
        config[key] = value
    return config


def cached_depth_sweep(name: str, task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                       lrs: Sequence[float], seeds: Sequence[int], steps: int, *, directory=None,
                       refresh: bool = False, **kwargs) -> dict[str, np.ndarray]:
    """:func:`depth_sweep`, read from (or written to) ``data/`` as ``.npz`` keyed by the whole configuration
    (:func:`depth_sweep_config`) and :data:`SWEEP_VERSION`. A corrupt, incomplete or stale file is recomputed
    with a warning (see :mod:`nfdlib.cache`).
    """
    task = _check_task(task)
    config = depth_sweep_config(task, parametrization, block, n, depths, lrs, seeds, steps, **kwargs)
    return cache.cached(name, config,
                        lambda: depth_sweep(task, parametrization, block, n, depths, lrs, seeds, steps, **kwargs),
                        version=SWEEP_VERSION, fmt="npz", directory=directory, refresh=refresh)


def sweep_name(prefix: str, task_key: str, parametrization: str, block: str, n: int) -> str:
    """The cache file name of one depth sweep, e.g. ``sweep_05_mnist1d_depth-mup-corrected_two_n128``."""
    return f"{prefix}_{task_key}_{parametrization}_{block}_n{n}"


def run_plan(rules: Sequence[tuple[str, str]], tasks: Mapping[str, Mapping], sweep: Mapping, *,
             prefix: str = "sweep", use_cache: bool = True, progress: bool = True,
             only: Sequence[tuple[str, str]] | None = None) -> dict[tuple, dict]:
    """Every depth sweep of a notebook's plan: one per task, width and rule.

    ``rules`` lists ``(parametrization, block)``; ``tasks`` maps a key to ``{"task": task dict, "loss": ...,
    "widths": [...]}``; ``sweep`` holds ``depths, lrs, seeds, steps`` and optional ``batch_size, loss_bound,
    T, activation, eval_every``. Results are keyed ``(task_key, n, parametrization, block)``. With
    ``use_cache`` each sweep is read from / written to ``data/<prefix>_...-<hash>.npz``; otherwise it is
    computed directly (quick mode). ``only`` restricts to some ``(parametrization, block)`` rules.
    """
    required = ("depths", "lrs", "seeds", "steps")
    missing = [k for k in required if k not in sweep]
    if missing:
        raise ValueError(f"sweep must give {required}; missing {missing}")
    extra = {k: sweep[k] for k in ("batch_size", "loss_bound", "T", "activation", "eval_every") if k in sweep}
    jobs = [(n, key, p, b) for key, spec in tasks.items() for n in spec["widths"] for p, b in rules
            if only is None or (p, b) in only]
    jobs.sort(key=lambda job: job[0])  # narrow networks first: the cheap results are ready soonest
    out = {}
    for n, key, p, b in tqdm(jobs, desc="sweeps", disable=not progress or len(jobs) < 2):
        spec = tasks[key]
        args = (spec["task"], p, b, n, sweep["depths"], sweep["lrs"], sweep["seeds"], sweep["steps"])
        kw = dict(extra, loss=spec.get("loss", "mse"), progress=progress)
        if use_cache:
            out[(key, n, p, b)] = cached_depth_sweep(sweep_name(prefix, key, p, b, n), *args, **kw)
        else:
            out[(key, n, p, b)] = depth_sweep(*args, **kw)
    return out


def parameters_cell(path: str) -> dict:
    """Execute the cell tagged ``parameters`` of a percent-format notebook source in full mode
    (``NFD_QUICK=0``) and return its variables: how the sweeps of a notebook are precomputed in the background
    with exactly the notebook's configuration (``python -m nfdlib.sweeps notebooks/05_lr_correction.py``)."""
    import os
    import re

    with open(path) as fh:
        text = fh.read()
    cells = re.split(r"^# %%", text, flags=re.M)
    params = [c for c in cells if re.match(r"[^\n]*tags=\[[^\]]*\"parameters\"", c)]
    if not params:
        raise ValueError(f"path {path!r} has no cell tagged parameters")
    old = os.environ.get("NFD_QUICK")
    os.environ["NFD_QUICK"] = "0"
    try:
        scope: dict = {}
        exec(compile(params[0].split("\n", 1)[1], path, "exec"), scope)  # noqa: S102 - our own notebook source
    finally:
        if old is None:
            os.environ.pop("NFD_QUICK", None)
        else:
            os.environ["NFD_QUICK"] = old
    return {k: v for k, v in scope.items() if not k.startswith("__")}


# -- reading a sweep ---------------------------------------------------------------------------------------
def final_metric(sweep: Mapping, key: str = "train_loss") -> np.ndarray:
    """The last recorded value of ``key`` for every configuration (NaN where the run diverged)."""
    check_choice("key", key, ("train_loss", "test_loss", "test_acc"))
    if key not in sweep:
        raise ValueError(f"key {key!r} is not in this sweep (it has {sorted(sweep)})")
    values = np.asarray(sweep[key], float)[..., -1].copy()
    values[np.asarray(sweep["diverged"], bool)] = np.nan
    return values


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
    x = np.log2(_check_lrs(lrs))
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


def optima(sweep: Mapping, key: str = "train_loss", **kwargs) -> np.ndarray:
    """Per-seed optimum learning rates of a (depth) sweep: shape ``(depths, seeds)`` (or ``(seeds,)``).
    Optima at the edge of the grid are NaN (censored), so they do not enter slope fits."""
    values = final_metric(sweep, key)
    maximize = key == "test_acc"
    lrs = np.asarray(sweep["lr"], float)
    flat = values.reshape(-1, *values.shape[-2:]) if values.ndim == 3 else values[None]
    res = np.full(flat.shape[0:1] + flat.shape[2:], np.nan)
    for d in range(flat.shape[0]):
        for s in range(flat.shape[2]):
            opt = best_lr(lrs, flat[d, :, s], maximize=maximize, log_values=not maximize, **kwargs)
            res[d, s] = np.nan if opt.at_edge else opt.lr
    return res if values.ndim == 3 else res[0]


def mean_curve_optima(sweep: Mapping, key: str = "train_loss", **kwargs) -> list[Optimum]:
    """The optimum of the seed-averaged curve at each depth (a seed that diverged makes the point missing)."""
    values = final_metric(sweep, key)
    maximize = key == "test_acc"
    curves = values.mean(axis=-1)  # NaN if any seed diverged: a missing point
    lrs = np.asarray(sweep["lr"], float)
    return [best_lr(lrs, c, maximize=maximize, log_values=not maximize, **kwargs) for c in np.atleast_2d(curves)]


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

    def verdict(self, tol: float = TRANSFER_TOL) -> str:
        """:meth:`transfers` in words, with the tolerance."""
        v = self.transfers(tol)
        if v.agrees:
            text = "flat (transfers)"
        elif v.disagrees:
            text = "drifts down" if self.slope < 0 else "drifts up"
        else:
            text = "not resolved"
        return f"{text}: {v}"

    def __str__(self) -> str:
        if self.fit is None:
            return f"too few optima inside the grid to fit ({self.censored} at the grid edge)"
        return (f"{self.fit.slope:+.2f} [{self.fit.lo:+.2f}, {self.fit.hi:+.2f}] (t, {self.points} optima; "
                f"bootstrap over seeds [{self.boot_lo:+.2f}, {self.boot_hi:+.2f}]; {self.censored} at the grid edge)")


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


def optimum_drift(sweep: Mapping, key: str = "train_loss", *, boot: int = 2000, seed: int = 0, **kwargs) -> Drift:
    """The drift of the per-seed optimum with depth for a :func:`depth_sweep` result."""
    depths = _depths_of(sweep)
    return _drift_from(depths, optima(sweep, key, **kwargs), check_int("boot", boot), seed)


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


def best_by_depth(sweep: Mapping, select: str = "train_loss",
                  report: Sequence[str] = ("train_loss", "test_loss", "test_acc")) -> list[dict]:
    """Per depth, the metrics at the best learning rate: the grid point nearest the optimum of the
    seed-averaged ``select`` curve, and there the mean and standard error over seeds of each ``report`` metric
    (keys ``<metric>`` and ``<metric>_sem``; ``<metric>_seeds`` holds the per-seed values). The rate is chosen
    on the same seeds it is reported on, which flatters the best point slightly."""
    values = {k: final_metric(sweep, k) for k in report if k in sweep}
    if "L" not in sweep:  # one lr_sweep: a single depth
        values = {k: v[None] for k, v in values.items()}
    opts = mean_curve_optima(sweep, select)
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
    """:func:`best_by_depth` for one :func:`lr_sweep` result (a single depth): the best grid rate, whether it is
    at the edge of the grid, the metrics there, and ``max_stable_lr``, the largest rate at which no seed
    diverged (NaN if even the smallest did)."""
    row = best_by_depth(sweep, select, report)[0]
    row.pop("L", None)
    row["max_stable_lr"] = float(np.min(max_stable_lr(sweep)))
    return row


# -- figures -------------------------------------------------------------------------------------------------
METRIC_LABELS = {"train_loss": "training loss after training", "test_loss": "test loss after training",
                 "test_acc": "test accuracy after training"}


def plot_transfer(sweep: Mapping, key: str = "train_loss", *, ax=None, title: str | None = None,
                  cmap: str = "viridis", legend: bool = True, color=None, label: str | None = None):
    """A transfer plot: ``key`` at the end of training against ``log2 eta``, one curve per depth (mean over
    seeds with a min-max band), a dot at each curve's optimum (:func:`best_lr` of the seed-mean curve).
    ``color`` and ``label`` override the per-depth colours and labels (for comparing single-depth sweeps).

    A rate at which any seed diverged is a missing point; the optimum of a curve whose best point is at the
    edge of the grid is drawn as an open circle (it is only a bound).
    """
    import matplotlib.pyplot as plt

    values = final_metric(sweep, key)
    if values.ndim == 2:
        values = values[None]
    depths = np.atleast_1d(sweep.get("L", [0]))
    lrs = np.asarray(sweep["lr"], float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.4, 3.3))
    colors = plt.get_cmap(cmap)(np.linspace(0, 0.9, len(depths)))
    opts = mean_curve_optima(sweep, key) if "L" in sweep else [best_lr(lrs, values[0].mean(-1))]
    if color is not None:
        colors = [color] * len(depths)
    for d, (L, color) in enumerate(zip(depths, colors)):
        mean = values[d].mean(-1)
        lo, hi = values[d].min(-1), values[d].max(-1)
        ax.plot(lrs, mean, "-", marker=".", ms=4, color=color, label=label if label is not None else f"L = {L}")
        ax.fill_between(lrs, lo, hi, color=color, alpha=0.18, linewidth=0)
        opt = opts[d]
        if math.isfinite(opt.lr):
            i = int(np.argmin(np.abs(lrs - opt.grid_lr)))
            ax.plot([opt.lr], [mean[i]], "o", ms=7, color=color, mfc="none" if opt.at_edge else color,
                    mec="k", mew=0.8, zorder=5)
    ax.set_xscale("log", base=2)
    if key != "test_acc":
        ax.set_yscale("log")
    ax.set_xlabel("base learning rate η (log2 scale)")
    ax.set_ylabel(METRIC_LABELS[key])
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _main(argv: Sequence[str] | None = None) -> None:
    """Precompute (and cache under ``data/``) every sweep of a notebook's plan, in full mode."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m nfdlib.sweeps", description=_main.__doc__)
    ap.add_argument("notebook", help="percent-format notebook source whose parameters cell defines RULES, TASKS, "
                                     "SWEEP and SWEEP_PREFIX")
    args = ap.parse_args(argv)
    params = parameters_cell(args.notebook)
    for key in ("RULES", "TASKS", "SWEEP", "SWEEP_PREFIX"):
        if key not in params:
            raise ValueError(f"the parameters cell of {args.notebook} must define {key}")
    run_plan(params["RULES"], params["TASKS"], params["SWEEP"], prefix=params["SWEEP_PREFIX"], use_cache=True)


__all__ = ["SWEEP_VERSION", "ENGINES", "log2_grid", "batch_indices", "train_stacked", "train_loop", "Rule", "RULES",
           "load_task", "lr_sweep", "depth_sweep", "cached_depth_sweep", "final_metric", "Optimum", "best_lr",
           "optima", "mean_curve_optima", "Drift", "optimum_drift", "max_stable_lr", "stability_drift",
           "best_by_depth", "best_rate", "sweep_name", "run_plan", "parameters_cell", "METRIC_LABELS",
           "plot_transfer"]


if __name__ == "__main__":
    _main()
