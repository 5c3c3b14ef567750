"""Batched learning-rate x seed sweeps: many SGD runs trained at once (notebooks 05, 06).

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
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, grad_and_value, vmap
from tqdm.auto import tqdm

from . import cache
from .activations import get_activation_derivative
from .config import check_seed, check_seeds, get_device, make_generator
from .data import DATASETS, Dataset, load_dataset
from .models import BLOCKS, ResNet
from .optim import scaling_table
from .parametrization import get_parametrization
from .stats import SlopeFit, Verdict, combine_verdicts, fit_loglog, interval_verdict, slope_difference, slope_verdict
from .training import LOSSES, loss_fn, train
from .validation import check_choice, check_float, check_grid, check_int

# Bump when the code that computes a sweep changes in a way that changes its numbers: cached files then recompute.
SWEEP_VERSION = "1"
_SWEEP_ARRAYS = ("L", "lr", "seed", "steps", "train_loss", "test_loss", "diverged", "diverged_at")
# Depth sweeps are cached as <prefix>_<task>_<rule>_n<width>: the 200-step plans ("sweep_05") and the pilot and
# plateau plans of notebook 06 ("pilot_05", "plateau_05"; the prefixes keep the number the notebook had).
for _prefix in ("sweep", "pilot_", "plateau_"):
    cache.register_kind(_prefix, SWEEP_VERSION, "npz", _SWEEP_ARRAYS)
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
    return check_grid("lrs", lrs)


def _check_configurations(lrs, seeds) -> tuple[np.ndarray, np.ndarray]:
    """The flat ``(lr, seed)`` pairs of a batch of runs: positive rates and seeds, one of each per run, no pair
    twice (a repeated pair trains the same network twice)."""
    if np.ndim(lrs) != 1 or np.ndim(seeds) != 1:
        raise ValueError(f"lrs and seeds must be sequences with one entry per configuration, got {lrs!r} and "
                         f"{seeds!r}")
    rates = np.asarray([check_float("lrs", x) for x in lrs], dtype=float)
    seeds = np.asarray([check_seed(x) for x in seeds], dtype=np.int64)
    if rates.shape != seeds.shape or rates.size == 0:
        raise ValueError(f"lrs and seeds must have one entry per configuration, got {rates.size} and {seeds.size}")
    if len(set(zip(rates.tolist(), seeds.tolist()))) != rates.size:
        raise ValueError("lrs and seeds repeat a configuration (the same rate with the same seed)")
    return rates, seeds


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


ENGINES = ("fused", "bmm", "vmap")
# The per-configuration arrays of a sweep (those present: accuracy needs labels, validation a validation split).
SWEEP_ARRAYS = ("train_loss", "test_loss", "test_acc", "val_loss", "val_acc", "diverged", "diverged_at")


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


def _evaluate(forward, params, loss, X, Y, labels, eval_batch):
    """Mean loss and accuracy of every configuration on ``(X, Y)``, ``forward(x)`` on slices of ``eval_batch``
    inputs (shared by the engines)."""
    C = params["U"].shape[0]
    total = torch.zeros(C, dtype=torch.float64, device=X.device)
    correct = torch.zeros_like(total)
    P = X.shape[0]
    for start in range(0, P, eval_batch):
        sl = slice(start, start + eval_batch)
        f = forward(X[sl])  # (C, b, d_out)
        if loss == "mse":
            per = 0.5 * ((f - Y[sl]) ** 2).sum(-1)
        else:
            per = torch.nn.functional.cross_entropy(f.transpose(1, 2), labels[sl].expand(C, -1), reduction="none")
        total += per.double().sum(-1)
        if labels is not None:
            correct += (f.argmax(-1) == labels[sl]).double().sum(-1)
    return total / P, (correct / P if labels is not None else None)


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
            vf = vmap(lambda p, x: functional_call(self.setup.base, p, (x,)), in_dims=(0, None))

            def forward(x):
                return vf(self.params, x)
        else:
            def forward(x):  # an unbatched x broadcasts against the batched weights
                return self._forward(self.params, x)
        return _evaluate(forward, self.params, self.setup.loss, X, Y, labels, eval_batch)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the configurations where ``mask`` is true (the others diverged)."""
        idx = torch.as_tensor(np.flatnonzero(mask), device=self.params["U"].device)
        self.params = {k: v.detach().index_select(0, idx) for k, v in self.params.items()}
        self.rates = {k: v.index_select(0, idx) for k, v in self.rates.items()}


def fused_supported(model: ResNet) -> bool:
    """Whether the ``"fused"`` engine computes this architecture: residual, pre-activation blocks (one- or
    two-layer, any activation) with true backprop. Other architectures run on the ``"bmm"`` engine."""
    return model.skip and model.preact and model.backward_mode == "true"


class _FusedStack:
    """The ``"fused"`` engine: the same SGD steps as :class:`_Stack`, with the backward pass written out and
    each weight update fused into the matrix product that makes its gradient.

    Pre-activation residual blocks only (:func:`fused_supported`). With ``a = phi(h_{l-1})`` the forward pass
    of a two-layer block is ``z = m_1 a W_1^T``, ``b = phi(z)``, ``h_l = h_{l-1} + beta m_2 b W_2^T``; going
    back with ``g = dloss/dh_l``:

        dW_2 = beta m_2 g^T b,    e = phi'(z) * (g W_2),    dW_1 = beta m_2 m_1 e^T a,
        dloss/dh_{l-1} = g + beta m_2 m_1 phi'(h_{l-1}) * (e W_1)

    (one-layer blocks drop ``z``). Every configuration ``c`` has its own rate ``eta_c``, and every gradient is
    linear in the output gradient ``chi = dloss/df``, so ``chi`` is multiplied by ``eta_c`` once: the update of
    each matrix is then ``W <- W - lr_scale(role) * m * (scaled signal)^T (input)``, one in-place ``baddbmm_``
    with a scalar factor, made just after the matrix has passed its signal back. The activations live in
    buffers allocated once per chunk (fresh tensors of this size cost page faults on every step). This removes
    autograd's bookkeeping, the separate gradient tensors, the allocations, and the elementwise multiplier and
    rate products that the ``"bmm"`` engine spends most of its non-matmul time on (benchmarks/sweeps.py
    measures both). The numbers are those of the other engines up to floating-point rounding (tested in
    float64).
    """

    def __init__(self, setup: _Setup, weights: list[dict[str, Tensor]], lr: Tensor):
        self.setup, self.lr = setup, lr
        base = setup.base
        self.hidden = base.hidden_names()
        self.two = base.block == "two"
        self.relu = base.activation == "relu"
        self.phi = base.phi
        self.phi_prime = get_activation_derivative(base.activation)
        s = base.scales
        self.m = {"U": s["input"].multiplier, "v": s["readout"].multiplier}
        if self.two:
            self.m["W1"], self.m["W2"] = s["internal1"].multiplier, s["internal2"].multiplier
        else:
            self.m["W"] = s["hidden"].multiplier
        self.beta = base.beta
        self.params = {"U": torch.stack([w["U"] for w in weights]).clone(),
                       "v": torch.stack([w["v"] for w in weights]).clone()}
        for k in self.hidden:
            stacked = torch.stack([w[k] for w in weights])  # (C, L, n, n)
            for l in range(base.L):
                self.params[f"{k}.{l}"] = stacked[:, l].clone()
        self._ws: dict[str, Tensor] = {}

    def _workspace(self, C: int, B: int) -> dict[str, Tensor]:
        """Buffers for one step at ``C`` configurations and minibatch ``B`` (kept while the shape is the same).
        ``acts[i]`` holds the i-th activation ``phi(.)`` of the forward pass (``a`` and, in two-layer blocks,
        ``b`` of every block, then ``phi(h_L)``); ``pres`` the matching pre-activations when ``phi`` is not the
        relu (whose derivative is read off its output)."""
        U = self.params["U"]
        shape = (C, B, self.setup.base.n)
        if "h" not in self._ws or self._ws["h"].shape != shape:
            count = self.setup.base.L * (2 if self.two else 1) + 1
            kw = dict(dtype=U.dtype, device=U.device)
            self._ws = {"h": torch.empty(shape, **kw), "z": torch.empty(shape, **kw),
                        "t1": torch.empty(shape, **kw), "t2": torch.empty(shape, **kw),
                        "acts": torch.empty((count,) + shape, **kw)}
            if not self.relu:
                self._ws["pres"] = torch.empty((count,) + shape, **kw)
        return self._ws

    def _act(self, x: Tensor, i: int, ws: dict | None) -> Tensor:
        """``phi(x)``, written into the workspace as activation ``i`` when training (``ws`` given)."""
        if ws is None:
            return self.phi(x)
        if self.relu:
            return torch.clamp_min(x, 0.0, out=ws["acts"][i])
        ws["pres"][i].copy_(x)
        return ws["acts"][i].copy_(self.phi(x))

    def _back(self, g: Tensor, i: int, ws: dict) -> Tensor:
        """``g * phi'`` at activation ``i`` of the forward pass, in place in ``g``."""
        if self.relu:
            return torch.ops.aten.threshold_backward.grad_input(g, ws["acts"][i], 0.0, grad_input=g)
        return g.mul_(self.phi_prime(ws["pres"][i]))

    def _forward(self, x: Tensor, ws: dict | None = None) -> Tensor:
        """The output ``f`` of every configuration, ``(C, batch, d_out)``; ``x`` is ``(C, batch, d_in)`` or
        ``(batch, d_in)`` (shared, for evaluation). With a workspace ``ws`` the activations are kept there."""
        p, m, L = self.params, self.m, self.setup.base.L
        if ws is None:
            h = torch.matmul(x, p["U"].mT)
        else:
            h = torch.bmm(x, p["U"].mT, out=ws["h"])
        h.mul_(m["U"])  # (C, batch, n) either way
        i = 0
        for l in range(L):
            a = self._act(h, i, ws)
            i += 1
            if self.two:
                z = torch.bmm(a, p[f"W1.{l}"].mT, out=ws["z"]) if ws is not None else torch.bmm(a, p[f"W1.{l}"].mT)
                if m["W1"] != 1.0:
                    z.mul_(m["W1"])
                b = self._act(z, i, ws)
                i += 1
                h.baddbmm_(b, p[f"W2.{l}"].mT, alpha=self.beta * m["W2"])
            else:
                h.baddbmm_(a, p[f"W.{l}"].mT, alpha=self.beta * m["W"])
        a = self._act(h, i, ws)
        return torch.bmm(a, p["v"].mT).mul_(m["v"])

    def step(self, x: Tensor, y: Tensor, labels: Tensor | None) -> np.ndarray:
        """One SGD step of every configuration on its own minibatch; returns the minibatch losses before it."""
        p, m, scale, beta = self.params, self.m, self.setup.rate_scale, self.beta
        ws = self._workspace(x.shape[0], x.shape[1])
        acts = ws["acts"]
        with torch.no_grad():
            f = self._forward(x, ws)
            B = f.shape[1]
            if self.setup.loss == "mse":
                chi = f - y
                values = 0.5 * (chi * chi).sum(-1).mean(-1)
            else:
                logp = torch.log_softmax(f, -1)
                values = -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(-1)
                chi = logp.exp_()
                chi.scatter_add_(-1, labels.unsqueeze(-1), torch.full_like(chi[..., :1], -1.0))
            # dloss/df of the mean loss, times each configuration's rate: every later signal carries eta_c.
            chi.mul_((self.lr / B).view(-1, 1, 1))
            i = acts.shape[0] - 1
            g = torch.bmm(chi, p["v"], out=ws["t1"]).mul_(m["v"])
            p["v"].baddbmm_(chi.mT, acts[i], alpha=-m["v"] * scale["v"])
            g = self._back(g, i, ws)
            t2 = ws["t2"]
            for l in reversed(range(self.setup.base.L)):
                if self.two:
                    W1, W2 = p[f"W1.{l}"], p[f"W2.{l}"]
                    e = self._back(torch.bmm(g, W2, out=t2), i - 1, ws)
                    W2.baddbmm_(g.mT, acts[i - 1], alpha=-beta * m["W2"] * scale["W2"])
                    back = torch.bmm(e, W1, out=ws["z"])
                    W1.baddbmm_(e.mT, acts[i - 2], alpha=-beta * m["W2"] * m["W1"] * scale["W1"])
                    g.add_(self._back(back, i - 2, ws), alpha=beta * m["W2"] * m["W1"])
                    i -= 2
                else:
                    W = p[f"W.{l}"]
                    back = torch.bmm(g, W, out=t2)
                    W.baddbmm_(g.mT, acts[i - 1], alpha=-beta * m["W"] * scale["W"])
                    g.add_(self._back(back, i - 1, ws), alpha=beta * m["W"])
                    i -= 1
            p["U"].baddbmm_(g.mT, x, alpha=-m["U"] * scale["U"])
        return values.double().cpu().numpy()

    @torch.no_grad()
    def evaluate(self, X: Tensor, Y: Tensor, labels: Tensor | None, eval_batch: int) -> tuple[Tensor, Tensor | None]:
        """Mean loss and accuracy of every configuration on ``(X, Y)`` (see :meth:`_Stack.evaluate`)."""
        return _evaluate(self._forward, self.params, self.setup.loss, X, Y, labels, eval_batch)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the configurations where ``mask`` is true (the others diverged)."""
        idx = torch.as_tensor(np.flatnonzero(mask), device=self.params["U"].device)
        self.params = {k: v.index_select(0, idx) for k, v in self.params.items()}
        self.lr = self.lr.index_select(0, idx)
        self._ws = {}


def train_stacked(make_model: Callable[[int], ResNet], lrs: Sequence[float], seeds: Sequence[int], data: Dataset,
                  steps: int, *, batch_size: int | None = None, loss: str = "mse",
                  parametrization: str | None = None, eval_every: int | None = None, loss_bound: float = 1e6,
                  chunk_size: int | None = None, eval_batch: int = 512, engine: str = "fused",
                  train_eval: int | None = None, progress: bool = False,
                  desc: str = "sweep") -> dict[str, np.ndarray]:
    """Train every configuration ``(lrs[i], seeds[i])`` at once and return tidy arrays.

    ``make_model(seed)`` builds the network of one seed (all must share the architecture; true backprop).
    Configurations are processed ``chunk_size`` at a time (all at once by default) in one batched
    computation; ``engine`` is ``"fused"`` (default: hand-written backward pass with fused updates,
    :class:`_FusedStack`; architectures it does not cover run on ``"bmm"``), ``"bmm"`` (batched matrix
    products and autograd) or ``"vmap"`` (``torch.func``), see :class:`_Stack`. All give the same numbers up to
    rounding.

    Returns a dict of arrays with one row per configuration: ``lr``, ``seed``, ``steps`` (the evaluation
    steps, shared), ``train_loss`` and ``test_loss`` (mean over the split, shape ``(C, E)``), ``test_acc``
    (only with labels), ``val_loss`` and ``val_acc`` (only when the dataset holds a validation split),
    ``diverged`` (bool) and ``diverged_at`` (the step, ``-1`` if never). ``train_eval`` evaluates the training
    loss on the first ``train_eval`` training examples only (a fixed random subset: the loaders shuffle), which
    saves time on large training sets; by default all of them. Evaluations run ``eval_batch`` inputs at a time
    (small slices keep the activations of all configurations in cache: 512 measured about twice as fast as
    4096). A run diverges when a minibatch loss is not finite or exceeds ``loss_bound``, or when the training
    loss at an evaluation does; its later entries are NaN.
    """
    lrs, seeds = _check_configurations(lrs, seeds)
    steps = check_int("steps", steps, minimum=0)
    loss = check_choice("loss", loss, LOSSES)
    engine = check_choice("engine", engine, ENGINES)
    loss_bound = check_float("loss_bound", loss_bound)
    eval_batch = check_int("eval_batch", eval_batch)
    P = data.X_train.shape[0]
    train_eval = P if train_eval is None else min(check_int("train_eval", train_eval), P)
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
    if data.has_val:
        out["val_loss"] = np.full((C, len(eval_steps)), np.nan)
        if data.labels_val is not None:
            out["val_acc"] = np.full((C, len(eval_steps)), np.nan)

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
                     engine, train_eval, out, bar)
    bar.close()
    return out


def _train_chunk(setup, models, lrs, seeds, chunk, data, indices, steps, eval_steps, loss_bound, eval_batch,
                 engine, train_eval, out, bar):
    device, dtype = setup.base.U.device, setup.base.U.dtype
    active = np.array(chunk)
    weights = [{k: p.detach() for k, p in models[int(seeds[i])].named_parameters()} for i in active]
    # Each configuration's rate for each parameter, as train() computes it: eta * lr_scale(role) in double.
    rates = {k: torch.tensor([lrs[i] * scale for i in active], dtype=dtype, device=device)
             for k, scale in setup.rate_scale.items()}
    if engine == "fused" and fused_supported(setup.base):
        stack = _FusedStack(setup, weights, torch.tensor([lrs[i] for i in active], dtype=dtype, device=device))
    else:
        stack = _Stack(setup, weights, rates, "bmm" if engine == "fused" else engine)
    full_batch = {s: idx is None for s, idx in indices.items()}
    row, done = 0, 0
    for step in range(steps + 1):
        if active.size and step == eval_steps[row]:
            sub = slice(0, train_eval)
            labels_sub = data.labels_train[sub] if data.labels_train is not None else None
            tr, _ = stack.evaluate(data.X_train[sub], data.Y_train[sub], labels_sub, eval_batch)
            te, acc = stack.evaluate(data.X_test, data.Y_test, data.labels_test, eval_batch)
            tr, te = tr.cpu().numpy(), te.cpu().numpy()
            bad = ~(np.isfinite(tr) & (tr <= loss_bound))
            out["train_loss"][active[~bad], row] = tr[~bad]
            out["test_loss"][active[~bad], row] = te[~bad]
            if acc is not None:
                out["test_acc"][active[~bad], row] = acc.cpu().numpy()[~bad]
            if data.has_val:
                va, vacc = stack.evaluate(data.X_val, data.Y_val, data.labels_val, eval_batch)
                out["val_loss"][active[~bad], row] = va.cpu().numpy()[~bad]
                if vacc is not None:
                    out["val_acc"][active[~bad], row] = vacc.cpu().numpy()[~bad]
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
    lrs, seeds = _check_configurations(lrs, seeds)
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


# The four rules notebook 06 compares.
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
             chunk_size: int | None = None, engine: str = "fused", preact: bool = True, device=None,
             train_eval: int | None = None, progress: bool = False) -> dict[str, np.ndarray]:
    """Every ``(eta, seed)`` in ``lrs x seeds`` for one architecture, batched; arrays shaped ``(lr, seed, ...)``.
    ``preact=False`` sweeps post-activation blocks (notebook 00).

    Returns ``lr`` (the grid), ``seed``, ``steps``, ``train_loss`` / ``test_loss`` / ``test_acc`` (and
    ``val_loss`` / ``val_acc`` when the task holds a validation split) of shape ``(len(lrs), len(seeds), evals)``,
    ``diverged`` and ``diverged_at`` of shape ``(len(lrs), len(seeds))``.
    """
    data = task if isinstance(task, Dataset) else load_task(task)
    lrs, seeds = _check_lrs(lrs), check_seeds(seeds)
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
                         train_eval=train_eval, progress=progress,
                         desc=f"{parametrization}/{block} n={n} L={L}")
    shape = (len(lrs), len(seeds))
    out = {"lr": lrs, "seed": np.asarray(seeds), "steps": flat["steps"]}
    for key in SWEEP_ARRAYS:
        if key in flat:
            out[key] = flat[key].reshape(shape + flat[key].shape[1:])
    return out


def depth_file_problem(part: Mapping, L: int, lrs, seeds) -> str | None:
    """What is wrong with the stored result of one depth for the depth, rates and seeds asked (``None`` when
    nothing is): a missing array, another depth (files written since the depth was stored in them: ``L``), or
    another rate/seed grid. A file is never trusted by its name alone."""
    need = [k for k in (*_SWEEP_ARRAYS[1:], "wall_seconds", "cpu_seconds") if k not in part]
    if need:
        return f"missing {need}"
    if "L" in part and int(part["L"]) != int(L):
        return f"holds depth {int(part['L'])}, not {int(L)}"
    grid = (len(lrs), len(seeds))
    if (np.shape(part["lr"]) != grid[:1] or not np.allclose(part["lr"], lrs)
            or np.asarray(part["seed"]).tolist() != list(seeds) or np.shape(part["train_loss"])[:2] != grid):
        return "its rates, seeds or shape are not the plan's"
    return None


def _load_depth(path: Path, L: int, lrs, seeds) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            part = {k: z[k] for k in z.files}
    except Exception as err:  # noqa: BLE001 - an unreadable partial result is recomputed, never trusted
        warnings.warn(f"partial sweep file {path} is unreadable ({type(err).__name__}); recomputing that depth",
                      stacklevel=3)
        return None
    problem = depth_file_problem(part, L, lrs, seeds)
    if problem is not None:
        warnings.warn(f"partial sweep file {path} is not depth {L} of this sweep ({problem}); recomputing that "
                      "depth", stacklevel=3)
        return None
    return part


def _save_depth(path: Path, part: Mapping) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per writer, so that two processes on the same depth never write one temporary file.
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in part.items()})
    os.replace(tmp, path)


def depth_sweep(task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                lrs: Sequence[float], seeds: Sequence[int], steps: int, *, progress: bool = True,
                resume_dir: str | Path | None = None, **kwargs) -> dict[str, np.ndarray]:
    """:func:`lr_sweep` at each depth; arrays gain a leading depth axis (``depths`` is returned as ``L``).

    The compute each depth took is returned too: ``wall_seconds`` and ``cpu_seconds`` (process CPU time, which
    other load on a shared machine does not inflate) and ``threads`` (torch's intra-op threads).

    ``resume_dir`` keeps each finished depth there as ``L<depth>.npz``, and a later call with the same directory
    reads those depths instead of training them again: a sweep of hours survives an interrupted session. The
    directory must belong to this one configuration (:func:`cached_depth_sweep` names it by the cache key)."""
    import time

    depths = check_grid("depths", depths, integer=True).tolist()
    grid_lrs, grid_seeds = _check_lrs(lrs), check_seeds(seeds)
    data = load_task(task)
    parts, wall, cpu = [], [], []
    for L in tqdm(depths, desc=f"{parametrization}/{block} n={n}", disable=not progress, leave=False):
        saved = Path(resume_dir) / f"L{L}.npz" if resume_dir is not None else None
        part = _load_depth(saved, L, grid_lrs, grid_seeds) if saved is not None and saved.exists() else None
        if part is not None and progress:
            tqdm.write(f"{parametrization}/{block} n={n} L={L}: finished earlier, read from {saved}")
        if part is None:
            w0, c0 = time.perf_counter(), time.process_time()
            part = lr_sweep(data, parametrization, block, n, L, lrs, seeds, steps, progress=progress, **kwargs)
            part = dict(part, L=np.asarray(L), wall_seconds=time.perf_counter() - w0,
                        cpu_seconds=time.process_time() - c0)
            if saved is not None:
                _save_depth(saved, part)
        parts.append(part)
        wall.append(float(part["wall_seconds"]))
        cpu.append(float(part["cpu_seconds"]))
    out = {"L": np.asarray(depths), "lr": parts[0]["lr"], "seed": parts[0]["seed"], "steps": parts[0]["steps"]}
    for key in SWEEP_ARRAYS:
        if key in parts[0]:
            out[key] = np.stack([p[key] for p in parts])
    out.update(wall_seconds=np.asarray(wall), cpu_seconds=np.asarray(cpu),
               threads=np.asarray(torch.get_num_threads()))
    return out


# Arguments of depth_sweep / lr_sweep that change how the numbers are computed but not the numbers: never keyed.
NOT_KEYED = ("chunk_size", "engine", "device", "progress", "resume_dir")
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
              "seeds": check_seeds(seeds), "steps": check_int("steps", steps, minimum=0)}
    for key, value in kwargs.items():
        if key in NOT_KEYED or (key in KEYED_UNLESS_DEFAULT and value == KEYED_UNLESS_DEFAULT[key]):
            continue
        config[key] = value
    return config


def partial_dir(final: Path) -> Path:
    """Where the finished depths of the unfinished sweep whose cache file is ``final`` wait: in the folder
    ``partial`` beside it, a folder named like the file without its suffix (so by the whole configuration and
    :data:`SWEEP_VERSION`)."""
    return Path(final).parent / "partial" / Path(final).stem


def cached_depth_sweep(name: str, task: Mapping, parametrization: str, block: str, n: int, depths: Sequence[int],
                       lrs: Sequence[float], seeds: Sequence[int], steps: int, *, directory=None,
                       refresh: bool = False, **kwargs) -> dict[str, np.ndarray]:
    """:func:`depth_sweep`, read from (or written to) ``data/`` as ``.npz`` keyed by the whole configuration
    (:func:`depth_sweep_config`) and :data:`SWEEP_VERSION`. A corrupt, incomplete or stale file is recomputed
    with a warning (see :mod:`nfdlib.cache`).
    """
    task = _check_task(task)
    config = depth_sweep_config(task, parametrization, block, n, depths, lrs, seeds, steps, **kwargs)
    final = cache.cache_path(name, config, SWEEP_VERSION, "npz", directory)
    # Finished depths wait in a "partial" folder beside the cache until the whole sweep is written. The folder is
    # named by the cache key, so it can be committed: a sweep longer than a session accumulates across sessions.
    resume = partial_dir(final)
    if refresh and resume.exists():
        shutil.rmtree(resume)
    out = cache.cached(name, config,
                       lambda: depth_sweep(task, parametrization, block, n, depths, lrs, seeds, steps,
                                           resume_dir=resume, **kwargs),
                       version=SWEEP_VERSION, fmt="npz", directory=directory, refresh=refresh)
    if resume.exists() and final.exists():
        shutil.rmtree(resume)
    return out


def sweep_name(prefix: str, task_key: str, parametrization: str, block: str, n: int) -> str:
    """The cache file name of one depth sweep, e.g. ``sweep_05_mnist1d_depth-mup-corrected_two_n128``."""
    return f"{prefix}_{task_key}_{parametrization}_{block}_n{n}"


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


def optima(sweep: Mapping, key: str = "train_loss", step: int | None = None, average: int = 1,
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


def mean_curve_optima(sweep: Mapping, key: str = "train_loss", step: int | None = None, average: int = 1,
                      **kwargs) -> list[Optimum]:
    """The optimum of the seed-averaged curve at each depth (a seed that diverged makes the point missing)."""
    values = final_metric(sweep, key, step, average)
    maximize = key.endswith("_acc")
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
    :func:`final_metric`) with depth for a :func:`depth_sweep` result."""
    depths = _depths_of(sweep)
    return _drift_from(depths, optima(sweep, key, step, average, **kwargs), check_int("boot", boot), seed)


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
def best_curve(sweep: Mapping, key: str = "val_loss") -> np.ndarray:
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
    """Per depth of a sweep, the plateau of the best configuration's ``key`` (:func:`best_curve`,
    :func:`plateau_step`): rows with ``L``, ``plateau_step`` (``None`` if not reached), the best loss at the
    end and at the plateau, and ``gain_last_window``, the relative fall of the best loss between the means of
    the last two ``window`` stretches of the whole run (the quantity :func:`plateau_step` compares with
    ``rel``)."""
    curves = best_curve(sweep, key)
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
    opts = mean_curve_optima(sweep, select, step, average)
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


def paired_difference(rows_a: Sequence[Mapping], rows_b: Sequence[Mapping], metric: str = "test_acc",
                      level: float = 0.95) -> dict:
    """How much rule ``a`` beats rule ``b`` on ``metric`` at their best rates, from two :func:`best_by_depth`
    results over the same depths and seeds: the differences ``a - b`` paired by depth and seed (the same seed
    gives both rules the same initial weights and minibatches), their mean and its ``level`` t-interval over
    all pairs, and the mean difference per depth. Pairs where either run is missing are left out."""
    if [r["L"] for r in rows_a] != [r["L"] for r in rows_b]:
        raise ValueError("rows_a and rows_b must cover the same depths")
    key = f"{metric}_seeds"
    if not rows_a or key not in rows_a[0] or key not in rows_b[0]:
        raise ValueError(f"metric {metric!r} is not reported in these rows")
    from scipy import stats as st

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
    half = float(st.t.ppf(0.5 + level / 2, pairs.size - 1) * se)
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "pairs": int(pairs.size), "per_depth": per_depth}


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


def excess_drifts(drifts: Mapping[tuple, Drift], control: tuple[str, str]) -> dict[tuple, Drift]:
    """Each drift minus the drift of ``control`` in the same task and width (:meth:`Drift.minus`). ``drifts``
    is keyed ``(task, n, parametrization, block, ...)`` as :func:`run_plan` keys its results, with any further
    key parts (the kind of optimum) matched too; the control itself and keys without a control are left out."""
    control = tuple(control)
    return {key: d.minus(drifts[key[:2] + control + key[4:]]) for key, d in drifts.items()
            if tuple(key[2:4]) != control and key[:2] + control + key[4:] in drifts}


def cases_of(table: Mapping[tuple, object], rule: tuple[str, str], kind: str | None = None) -> dict[tuple, object]:
    """The entries of one ``rule`` in a table keyed ``(task, n, parametrization, block[, kind])`` as
    :func:`run_plan` keys its results (a fifth part, e.g. the kind of optimum, must equal ``kind`` when given),
    re-keyed by ``(task, n)``: the cases over which a claim about that rule is tested."""
    rule = tuple(rule)
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


def transfer_outcomes(drifts: Mapping[tuple, Drift], rules: Sequence[tuple[str, str]],
                      tol: float = TRANSFER_TOL) -> dict[tuple, list[str]]:
    """Per rule, the outcome (``"agree"``, ``"disagree"``, ``"not resolved"``) of :meth:`Drift.transfers` for
    every drift of that rule, in the order of ``drifts`` (keyed ``(task, n, parametrization, block)`` as
    :func:`run_plan` keys its results): how often the optimum transfers, case by case."""
    return {tuple(rule): [d.transfers(tol).outcome for key, d in drifts.items() if tuple(key[2:]) == tuple(rule)]
            for rule in rules}


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


def lead(ahead: Mapping, behind: Mapping, metric: str = "train_loss") -> tuple[float, float, Verdict]:
    """How far one row of :func:`best_by_depth` is ahead of another on a loss ``metric``: ``gap``, the value of
    ``behind`` minus that of ``ahead``; ``err``, the standard error of that difference (the two standard errors
    over seeds in quadrature); and the verdict on "``ahead`` has the lower loss", judged on ``gap +- 1.96 err``
    (a 95% interval) by :func:`nfdlib.stats.interval_verdict` against ``(0, inf)``."""
    gap = behind[metric] - ahead[metric]
    err = math.hypot(ahead[f"{metric}_sem"], behind[f"{metric}_sem"])
    return gap, err, interval_verdict(gap - 1.96 * err, gap + 1.96 * err, allowed=(0.0, math.inf))


def leader(rows: Mapping[object, Mapping], metric: str = "train_loss") -> tuple:
    """Which entry of ``rows`` (rule -> one row of :func:`best_by_depth`, e.g. at the largest depth) has the
    lowest ``metric``, and whether its lead over the runner-up is resolved: ``(best, runner_up, gap, err,
    verdict)`` with ``gap, err, verdict`` from :func:`lead`. Non-finite values rank last; ties keep the order of
    ``rows``."""
    if len(rows) < 2:
        raise ValueError(f"rows must hold at least two entries to rank, got {len(rows)}")
    ranked = sorted(rows.items(), key=lambda e: e[1][metric] if math.isfinite(e[1][metric]) else np.inf)
    (r1, a), (r2, b) = ranked[0], ranked[1]
    return (r1, r2, *lead(a, b, metric))


def best_row(rows: Sequence[Mapping], metric: str = "test_acc") -> Mapping:
    """The row of :func:`best_by_depth` (one depth) with the best ``metric``: the highest accuracy, or the lowest
    loss; a missing (non-finite) value never wins, and the first of equal rows is returned."""
    check_choice("metric", metric, METRICS)
    sign = 1.0 if metric.endswith("_acc") else -1.0

    def score(row):
        value = sign * row[metric]
        return value if math.isfinite(value) else -math.inf

    return max(rows, key=score)


def best_window_mean(sweep: Mapping, step: int, key: str = "val_loss", window: float = 0.25) -> np.ndarray:
    """Per depth, the loss of the best configuration (:func:`best_curve`) averaged over the evaluations in
    ``((1 - window) step, step]``: how good the best model of a budget of ``step`` steps is, with less of the
    step-to-step noise of SGD than a single evaluation (compare two budgets read from the same runs)."""
    window = check_float("window", window)
    if window > 1:
        raise ValueError(f"window must be in (0, 1], got {window}")
    steps = np.asarray(sweep["steps"], float)
    inside = (steps > (1 - window) * step) & (steps <= step)
    if not inside.any():
        raise ValueError(f"step {step!r} with window {window} holds no evaluation step of this sweep")
    return np.array([float(curve[inside].mean()) for curve in best_curve(sweep, key)])


def paired_verdicts(rows_a: Sequence[Mapping], rows_b: Sequence[Mapping],
                    better: Mapping[str, tuple[float, float]] | None = None) -> dict[str, tuple[dict, Verdict]]:
    """Does rule ``a`` beat rule ``b``? For each metric of ``better`` that the rows report (default: test
    accuracy higher, test loss lower), the :func:`paired_difference` ``a - b`` and the verdict of
    :func:`nfdlib.stats.interval_verdict` on its interval against ``better[metric]``, the allowed range of a
    difference in ``a``'s favour."""
    better = {"test_acc": (0.0, math.inf), "test_loss": (-math.inf, 0.0)} if better is None else better
    out = {}
    for metric, allowed in better.items():
        if not rows_a or f"{metric}_seeds" not in rows_a[0]:
            continue
        diff = paired_difference(rows_a, rows_b, metric)
        out[metric] = (diff, interval_verdict(diff["lo"], diff["hi"], allowed=allowed))
    return out


def compute_time(results: Mapping[tuple, Mapping]) -> tuple[float, float, list[int]]:
    """What the cached sweeps of a plan cost, from the compute stored with each (:func:`depth_sweep`): total
    process CPU seconds, total wall seconds, and the thread counts they ran with (sweeps without the record,
    computed before it was kept, are left out)."""
    cpu = sum(float(np.sum(r["cpu_seconds"])) for r in results.values() if "cpu_seconds" in r)
    wall = sum(float(np.sum(r["wall_seconds"])) for r in results.values() if "wall_seconds" in r)
    threads = sorted({int(r["threads"]) for r in results.values() if "threads" in r})
    return cpu, wall, threads


# -- figures -------------------------------------------------------------------------------------------------
METRIC_LABELS = {"train_loss": "training loss after training", "test_loss": "test loss after training",
                 "test_acc": "test accuracy after training", "val_loss": "validation loss after training",
                 "val_acc": "validation accuracy after training"}


def plot_transfer(sweep: Mapping, key: str = "train_loss", *, ax=None, title: str | None = None,
                  cmap: str = "viridis", legend: bool = True, color=None, label: str | None = None,
                  step: int | None = None, average: int = 1):
    """A transfer plot: ``key`` at the end of training against ``log2 eta``, one curve per depth (mean over
    seeds with a min-max band), a dot at each curve's optimum (:func:`best_lr` of the seed-mean curve).
    ``color`` and ``label`` override the per-depth colours and labels (for comparing single-depth sweeps).
    ``step`` and ``average`` read ``key`` as :func:`final_metric` does (after ``step`` steps, averaged over the
    last ``average`` evaluations).

    A rate at which any seed diverged is a missing point; the optimum of a curve whose best point is at the
    edge of the grid is drawn as an open circle (it is only a bound).
    """
    import matplotlib.pyplot as plt

    values = final_metric(sweep, key, step, average)
    if values.ndim == 2:
        values = values[None]
    depths = np.atleast_1d(sweep.get("L", [0]))
    lrs = np.asarray(sweep["lr"], float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.4, 3.3))
    colors = plt.get_cmap(cmap)(np.linspace(0, 0.9, len(depths)))
    maximize = key.endswith("_acc")
    opts = mean_curve_optima(sweep, key, step, average) if "L" in sweep else \
        [best_lr(lrs, values[0].mean(-1), maximize=maximize, log_values=not maximize)]
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
    if not key.endswith("_acc"):
        ax.set_yscale("log")
    ax.set_xlabel("base learning rate η (log2 scale)")
    ax.set_ylabel(METRIC_LABELS[key])
    if title:
        ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    return ax


__all__ = ["SWEEP_VERSION", "ENGINES", "log2_grid", "batch_indices", "train_stacked", "train_loop", "Rule", "RULES",
           "load_task", "lr_sweep", "depth_sweep", "cached_depth_sweep", "final_metric", "Optimum", "best_lr",
           "optima", "mean_curve_optima", "Drift", "optimum_drift", "max_stable_lr", "stability_drift",
           "best_by_depth", "best_rate", "sweep_name", "METRIC_LABELS", "plot_transfer", "SWEEP_ARRAYS", "METRICS",
           "fused_supported", "best_curve", "plateau_step", "plateau_budget", "paired_difference", "partial_dir",
           "drift_of", "excess_drifts", "transfer_outcomes", "depth_trend", "lead", "leader", "best_row",
           "best_window_mean", "paired_verdicts", "compute_time"]
