"""Activations ``phi`` and their derivatives ``phi'`` (the backward pass and the NFD solver need both)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .validation import check_choice

Tensor = torch.Tensor


def _relu_prime(x: Tensor) -> Tensor:
    return (x > 0).to(x.dtype)


def _tanh_prime(x: Tensor) -> Tensor:
    return 1.0 - torch.tanh(x) ** 2


def _gelu_prime(x: Tensor) -> Tensor:
    # d/dx [x Phi(x)] = Phi(x) + x phi_N(x), with Phi the standard normal CDF (exact, not the tanh approximation).
    cdf = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


_ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "relu": (torch.relu, _relu_prime),
    "tanh": (torch.tanh, _tanh_prime),
    "gelu": (F.gelu, _gelu_prime),
    "identity": (lambda x: x, torch.ones_like),
}

ACTIVATIONS = tuple(_ACTIVATIONS)


def get_activation(name: str) -> Callable[[Tensor], Tensor]:
    """``phi`` by name: one of ``relu``, ``tanh``, ``gelu``, ``identity``."""
    return _ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)][0]


def get_activation_derivative(name: str) -> Callable[[Tensor], Tensor]:
    """``phi'`` by name (the derivative used in backpropagation)."""
    return _ACTIVATIONS[check_choice("activation", name, ACTIVATIONS)][1]
