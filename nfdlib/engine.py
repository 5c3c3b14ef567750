"""The batched training engine: many SGD runs of one architecture trained at once.

A batch trains one network per configuration ``(eta, seed)``: the architecture is shared, the initial weights
come from ``seed`` (the same draw as ``ResNet(..., seed=seed)``) and the SGD step of a parameter of role ``r`` is

    theta <- theta - eta * lr_scale(r) * grad_theta  mean_{mu in B_k} ell(f(x_mu), y_mu)

with the registry's ``lr_scale`` (the same rates as :func:`nfdlib.optim.param_groups`). Minibatches are drawn
exactly as :func:`nfdlib.training.train` draws them from ``seed``, so a batched run reproduces the plain loop
``train(ResNet(..., seed=s), data, lr=eta, seed=s)`` up to floating-point rounding (tested).

How the batching works: the parameters of all configurations are stacked along a new leading axis and one pass
computes every configuration's gradient: a hand-written backward pass with the updates fused into the matrix
products (engine ``"fused"``, the default, :class:`_FusedStack`), batched matrix products through
:meth:`ResNet.forward_with` and one autograd call (engine ``"bmm"``), or ``torch.func.vmap(grad_and_value(loss))``
over ``functional_call`` (engine ``"vmap"``); all give the same numbers. Each configuration then takes its own
SGD step with its own rate. Runs that diverge (a loss that is not finite or exceeds ``loss_bound``) are recorded
and dropped from the stack, so the rest of the batch runs on fewer configurations; a divergence never raises.
Diverged runs have NaN entries from the step they diverged on and are drawn as missing points.

The learning-rate sweeps of :mod:`nfdlib.sweeps` and the scaling grids of :mod:`nfdlib.scaling` train through
:func:`train_stacked`; :func:`train_loop` is the plain reference it is tested and benchmarked against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, grad_and_value, vmap
from tqdm.auto import tqdm

from .activations import get_activation_derivative
from .config import check_seed, make_generator
from .data import Dataset
from .models import ResNet
from .optim import scaling_table
from .training import LOSSES, loss_fn, train
from .validation import check_choice, check_float, check_int

Tensor = torch.Tensor


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


def _stack_by_layer(weights: list[dict[str, Tensor]], hidden: Sequence[str], L: int) -> dict[str, Tensor]:
    """The weights of ``C`` configurations stacked on a leading axis, each hidden matrix split by block (``W.0``,
    ``W.1``, ...: shape ``(C, n, n)``), so that one block's update touches one contiguous tensor."""
    params = {"U": torch.stack([w["U"] for w in weights]).clone(), "v": torch.stack([w["v"] for w in weights]).clone()}
    for k in hidden:
        stacked = torch.stack([w[k] for w in weights])  # (C, L, n, n)
        for l in range(L):
            params[f"{k}.{l}"] = stacked[:, l].clone()
    return params

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
            self.params = _stack_by_layer(weights, self.hidden, base.L)

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
        self.params = _stack_by_layer(weights, self.hidden, base.L)
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


__all__ = ["ENGINES", "SWEEP_ARRAYS", "batch_indices", "fused_supported", "train_stacked", "train_loop"]
