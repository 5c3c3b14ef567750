"""Run-wide settings: quick mode, device choice and seeding.

* ``NFD_QUICK=1`` (CI) asks every notebook for its small sizes; users get full mode by default.
* ``NFD_DEVICE`` overrides the automatic device choice (CUDA, then MPS, then CPU).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def quick_mode() -> bool:
    """True when the environment variable ``NFD_QUICK`` asks for the small, fast sizes."""
    value = os.environ.get("NFD_QUICK", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"NFD_QUICK must be one of {sorted(_TRUE | _FALSE)}, got {value!r}")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return bool(mps is not None and mps.is_available())
    return kind == "cpu"


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on.

    Order of precedence: the ``device`` argument, then ``NFD_DEVICE``, then the first available of CUDA, MPS
    and CPU. A device that was asked for but is not available raises ``ValueError``.
    """
    if device is None:
        device = os.environ.get("NFD_DEVICE") or None
    if device is None:
        for kind in ("cuda", "mps"):
            if _available(kind):
                return torch.device(kind)
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be one of 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}") from err
    if chosen.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be one of 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}")
    if not _available(chosen.type):
        raise ValueError(f"device {device!r} was requested but is not available on this machine")
    return chosen


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for code that draws from the global generators."""
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the legacy global generator is the point
    torch.manual_seed(seed)


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_seeds(seeds) -> list[int]:
    """A non-empty list of distinct seeds: a repeated seed trains the same network twice, which would then count
    as two independent samples in every interval."""
    if isinstance(seeds, (str, bytes)) or np.ndim(seeds) != 1:
        raise ValueError(f"seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0]
    if bad:
        raise ValueError(f"seeds must be non-negative integers, got {bad[0]!r} in {list(seeds)!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat a seed (each one is an independent sample), got {seeds}")
    return seeds


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``.

    Random draws are made on the CPU and then moved, so that one seed gives the same numbers on every device.
    """
    return torch.Generator(device="cpu").manual_seed(check_seed(seed))
