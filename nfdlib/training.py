"""Plain SGD training with the registry's learning rates, loss and accuracy records, and divergence detection.

The loss of a batch ``B`` is ``(1/|B|) sum_mu ell(f(x_mu), y_mu)`` with ``ell = |f - y|^2 / 2`` (``"mse"``) or
the cross-entropy (``"xent"``); so ``chi_mu = ell'(f(x_mu), y_mu) / |B|`` as in docs/reconstruction.md section 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import make_generator
from .data import Dataset
from .optim import make_sgd
from .validation import check_choice, check_float, check_int, check_module, known_arguments

LOSSES = ("mse", "xent")


def loss_fn(f: torch.Tensor, Y: torch.Tensor, labels: torch.Tensor | None, loss: str) -> torch.Tensor:
    """Mean loss over the batch."""
    if loss == "mse":
        return 0.5 * ((f - Y) ** 2).sum(-1).mean()
    if labels is None:
        raise ValueError("loss='xent' needs integer labels (the dataset has none)")
    return F.cross_entropy(f, labels)


@dataclass
class TrainResult:
    """Losses recorded at ``steps`` (the number of SGD steps taken before each evaluation)."""

    steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray | None
    diverged: bool = False
    diverged_at: int | None = None
    extras: dict = field(default_factory=dict)

    def final(self, key: str = "test_loss") -> float:
        """The last recorded value of ``key`` (NaN when the run diverged)."""
        values = getattr(self, key)
        return float("nan") if values is None or self.diverged else float(values[-1])


@torch.no_grad()
def evaluate(model: torch.nn.Module, X: torch.Tensor, Y: torch.Tensor, labels: torch.Tensor | None,
             loss: str = "mse") -> tuple[float, float | None]:
    """Loss and (when labels exist) accuracy of ``model`` on ``(X, Y)``."""
    f = model(X)
    value = float(loss_fn(f, Y, labels, loss))
    acc = None if labels is None else float((f.argmax(-1) == labels).float().mean())
    return value, acc


@known_arguments
def train(model: torch.nn.Module, data: Dataset, lr: float, steps: int, *, batch_size: int | None = None,
          loss: str = "mse", parametrization: str | None = None, eval_every: int = 1, seed: int = 0,
          loss_bound: float = 1e6, progress: bool = False,
          callback: Callable[[int, torch.nn.Module], None] | None = None) -> TrainResult:
    """Train ``model`` by SGD with base rate ``lr`` (group rates from the registry) for ``steps`` steps.

    ``batch_size=None`` is full-batch gradient descent; otherwise batches are drawn without replacement, one
    epoch after another, from ``seed``. A run whose loss goes non-finite or above ``loss_bound`` stops and is
    recorded as diverged (the remaining entries are NaN); it never raises. The test is made on the training loss
    at every evaluation and on the minibatch loss of every step (``diverged_at`` is the first step that fails).
    ``callback(step, model)`` runs after every evaluation, for diagnostics.
    """
    check_module("model", model)
    if not isinstance(data, Dataset):
        raise ValueError(f"data must be an nfdlib.data.Dataset (see nfdlib.data.load_dataset), got "
                         f"{type(data).__name__}")
    lr = check_float("lr", lr)
    d_in = getattr(model, "d_in", None)
    if d_in is not None and data.X_train.shape[-1] != d_in:
        raise ValueError(f"data must have inputs of the model's dimension d_in={d_in}; {data.name!r} has "
                         f"{data.X_train.shape[-1]}")
    steps = check_int("steps", steps, minimum=0)
    eval_every = check_int("eval_every", eval_every)
    loss = check_choice("loss", loss, LOSSES)
    loss_bound = check_float("loss_bound", loss_bound)
    P = data.X_train.shape[0]
    batch_size = P if batch_size is None else min(check_int("batch_size", batch_size), P)
    device = next(model.parameters()).device
    data = data.to(device)
    opt = make_sgd(model, lr, parametrization)
    gen = make_generator(seed)

    eval_steps = sorted(set(range(0, steps + 1, eval_every)) | {steps})
    record = {k: np.full(len(eval_steps), np.nan) for k in ("train", "test", "acc")}
    has_labels = data.labels_test is not None
    order, cursor = torch.randperm(P, generator=gen), 0
    diverged_at = None
    row = 0
    bar = tqdm(total=steps, disable=not progress, desc="SGD", leave=False)
    for step in range(steps + 1):
        if step == eval_steps[row]:
            tr, _ = evaluate(model, data.X_train, data.Y_train, data.labels_train, loss)
            te, acc = evaluate(model, data.X_test, data.Y_test, data.labels_test, loss)
            if not (math.isfinite(tr) and tr <= loss_bound):
                diverged_at = step
                break
            record["train"][row], record["test"][row] = tr, te
            if acc is not None:
                record["acc"][row] = acc
            if callback is not None:
                callback(step, model)
            row += 1
        if step == steps:
            break
        if batch_size == P:
            idx = slice(None)
        else:
            if cursor + batch_size > P:
                order, cursor = torch.randperm(P, generator=gen), 0
            idx = order[cursor:cursor + batch_size].to(device)
            cursor += batch_size
        labels = None if data.labels_train is None else data.labels_train[idx]
        opt.zero_grad(set_to_none=True)
        value = loss_fn(model(data.X_train[idx]), data.Y_train[idx], labels, loss)
        # The same test as at an evaluation, on the minibatch loss (as nfdlib.engine.train_stacked does).
        if not (torch.isfinite(value) and float(value.detach()) <= loss_bound):
            diverged_at = step
            break
        value.backward()
        opt.step()
        bar.update(1)
    bar.close()
    return TrainResult(np.array(eval_steps), record["train"], record["test"],
                       record["acc"] if has_labels else None,
                       diverged=diverged_at is not None, diverged_at=diverged_at)
