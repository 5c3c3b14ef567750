"""Counting the size of a network: parameters and matrix-multiply FLOPs.

Parameters and FLOPs of a :class:`~nfdlib.models.ResNet`, forward and backward per example, per SGD step and per
run (:func:`count_params`, :func:`flops_per_example`, :func:`flops_per_run`): the ``x`` axes of notebook 07's
scaling laws. Both are checked against the model itself: the parameter count against its own tensors
(:func:`model_params`), the FLOPs against torch's FLOP counter run on a real forward and backward pass
(:func:`measured_flops_per_example`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..models import BLOCKS, ResNet
from ..validation import check_choice, check_int


def _blocks_per_layer(block: str) -> int:
    return 1 if check_choice("block", block, BLOCKS) == "one" else 2


def count_params(d_in: int, d_out: int, n: int, L: int, block: str = "one") -> int:
    """Trainable parameters of a ``ResNet``: ``d_in n`` (input) ``+ k L n^2`` (blocks, ``k = 1`` or ``2``
    matrices per block) ``+ n d_out`` (readout). Biases: none (the models have none)."""
    d_in, d_out = check_int("d_in", d_in), check_int("d_out", d_out)
    n, L = check_int("n", n), check_int("L", L)
    return d_in * n + _blocks_per_layer(block) * L * n * n + n * d_out


def model_params(model: torch.nn.Module) -> int:
    """Trainable parameters counted from the model's own tensors (the check of :func:`count_params`)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


@dataclass(frozen=True)
class Flops:
    """Matrix-multiply FLOPs (a multiply-add counts 2) of one training example."""

    forward: float
    backward: float

    @property
    def total(self) -> float:
        return self.forward + self.backward


def flops_per_example(d_in: int, d_out: int, n: int, L: int, block: str = "one") -> Flops:
    """FLOPs of the forward and backward pass of one example through a ``ResNet``.

    Forward: ``2 (d_in n + k L n^2 + n d_out)``. Backward: every matrix gets its weight gradient (the same cost as
    its forward product) and every matrix but the input layer also passes the gradient to its input (once more):
    ``2 d_in n + 4 (k L n^2 + n d_out)``. So the total is ``6 (k L n^2 + n d_out) + 4 d_in n``, the familiar
    "6 x parameters" up to the input layer. Activations, additions and the SGD update (``O(N)`` per step, not per
    example) are not counted: at the sizes used here they are a few percent of the products.
    """
    d_in, d_out = check_int("d_in", d_in), check_int("d_out", d_out)
    n, L = check_int("n", n), check_int("L", L)
    hidden = _blocks_per_layer(block) * L * n * n
    forward = 2.0 * (d_in * n + hidden + n * d_out)
    backward = 2.0 * d_in * n + 4.0 * (hidden + n * d_out)
    return Flops(forward, backward)


def flops_per_step(d_in: int, d_out: int, n: int, L: int, batch_size: int, block: str = "one") -> float:
    """FLOPs of one SGD step on a minibatch of ``batch_size`` examples (forward and backward)."""
    return check_int("batch_size", batch_size) * flops_per_example(d_in, d_out, n, L, block).total


def flops_per_run(d_in: int, d_out: int, n: int, L: int, batch_size: int, steps: int, block: str = "one") -> float:
    """FLOPs of a training run of ``steps`` SGD steps (evaluations not counted): the compute ``C`` of the fits."""
    return check_int("steps", steps) * flops_per_step(d_in, d_out, n, L, batch_size, block)


def measured_flops_per_example(model: ResNet, batch: int = 2) -> Flops:
    """The FLOPs torch's own counter (``torch.utils.flop_counter``) sees in one forward and one backward pass of
    ``model`` on ``batch`` random inputs, divided by ``batch``: the independent check of
    :func:`flops_per_example`."""
    batch = check_int("batch", batch)
    p = next(model.parameters())
    x = torch.randn(batch, model.d_in, dtype=p.dtype, device=p.device)
    model.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as fwd:
        out = model(x)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    model.zero_grad(set_to_none=True)
    return Flops(fwd.get_total_flops() / batch, bwd.get_total_flops() / batch)
