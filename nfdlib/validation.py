"""Argument checks shared by the library: each raises ``ValueError`` naming the argument and what it allows."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Iterable

import numpy as np


def known_arguments(func):
    """Decorate a public function (or ``__init__``) so that an unknown keyword or too many positional values raise
    a ``ValueError`` that lists the arguments it takes, instead of Python's bare ``TypeError``."""
    signature = inspect.signature(func)
    names = [p for p in signature.parameters if p != "self"]
    where = func.__qualname__.removesuffix(".__init__")

    @functools.wraps(func)
    def checked(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError as err:
            raise ValueError(f"{where}: {err}; it takes {', '.join(names)}") from None
        return func(*args, **kwargs)

    return checked


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (booleans are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """A boolean, and only a boolean: ``"no"``, ``"False"`` or ``0`` would all be truthy or ambiguous, so a flag
    given as a string or a number is refused instead of silently read as ``True``."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def check_float(name: str, value, *, positive: bool = True, allow_zero: bool = False) -> float:
    """A finite real number; by default strictly positive."""
    if isinstance(value, (bool, str, bytes)):  # "0.1" is refused like True: a number must come as a number
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a finite number, got {value!r}") from err
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and (out < 0 or (out == 0 and not allow_zero)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return out


def check_grid(name: str, values, *, integer: bool = False) -> np.ndarray:
    """A grid of positive, finite values in strictly increasing order (learning rates, depths, widths).

    Code that reads a grid takes its first and last entries as the edges of what was tried and its entries as
    distinct runs: an unsorted grid would misplace the edge, and a repeated entry would count one run twice."""
    kind = "integers >= 1" if integer else "finite positive numbers"
    if isinstance(values, (str, bytes)) or np.ndim(values) != 1:
        raise ValueError(f"{name} must be a non-empty sequence of {kind}, got {values!r}")
    if integer:
        arr = np.asarray([check_int(name, v) for v in values], dtype=int)
    else:
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a non-empty sequence of {kind}, got {values!r}") from err
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be a non-empty sequence of {kind}, got {values!r}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be in increasing order without repeats, got {list(arr.tolist())}")
    return arr


def check_sizes(name: str, sizes) -> list[tuple[int, int]]:
    """A non-empty list of ``(n, L)`` pairs of positive integers (widths and depths of networks to build)."""
    if isinstance(sizes, (str, bytes)) or np.ndim(sizes) != 2 or np.shape(sizes)[1:] != (2,) or len(sizes) == 0:
        raise ValueError(f"{name} must be a non-empty list of (n, L) pairs, got {sizes!r}")
    return [(check_int("n", n), check_int("L", L)) for n, L in sizes]


def check_module(name: str, value):
    """A ``torch.nn.Module`` (a model), so that a wrong object fails here and not deep inside torch."""
    import torch

    if not isinstance(value, torch.nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_batch(X, Y, d_in: int, d_out: int, labels=None):
    """Training inputs ``X`` of shape ``(P, d_in)`` and targets ``Y`` of shape ``(P, d_out)`` (optionally integer
    ``labels`` of shape ``(P,)``), all finite, as tensors (a NaN target would silently poison every update)."""
    import torch

    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    if X.ndim != 2 or X.shape[1] != d_in or X.shape[0] < 1:
        raise ValueError(f"X must have shape (P, {d_in}) with P >= 1, got {tuple(X.shape)}")
    P = X.shape[0]
    if Y.ndim != 2 or Y.shape != (P, d_out):
        raise ValueError(f"Y must have shape ({P}, {d_out}), one row per input of X, got {tuple(Y.shape)}")
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (P,):
            raise ValueError(f"labels must have shape ({P},), one label per input of X, got {tuple(labels.shape)}")
    for name, t in (("X", X), ("Y", Y)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (it holds NaN or infinite entries)")
    return X, Y, labels


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """One of a fixed set of names."""
    choices = tuple(choices)
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value
