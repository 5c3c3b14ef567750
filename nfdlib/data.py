"""Small datasets that work offline: scikit-learn digits, MNIST-1D generated locally, and synthetic tasks.

Every loader returns a :class:`Dataset` with inputs scaled so that ``|x|^2 / d`` is about 1 (the features of a
network in the registry's convention are then O(1)), targets ``Y`` as one-hot rows (MSE) and integer
``labels`` (cross-entropy, accuracy). Splits and subsets are reproducible from ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import check_seed
from .validation import check_int

Tensor = torch.Tensor


@dataclass
class Dataset:
    """Train and test tensors of one task."""

    name: str
    X_train: Tensor
    Y_train: Tensor
    X_test: Tensor
    Y_test: Tensor
    labels_train: Tensor | None = None
    labels_test: Tensor | None = None

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.X_train.shape[1]

    @property
    def num_outputs(self) -> int:
        return self.Y_train.shape[1]

    def to(self, device) -> Dataset:
        """A copy on ``device``."""
        def move(t):
            return None if t is None else t.to(device)
        return Dataset(self.name, *(move(t) for t in (self.X_train, self.Y_train, self.X_test, self.Y_test,
                                                      self.labels_train, self.labels_test)))

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={tuple(self.X_train.shape)}, test={tuple(self.X_test.shape)}, "
                f"outputs={self.num_outputs})")


def _standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale each input so that |x|^2/d = 1 on average, using training statistics only."""
    mean = X_train.mean(axis=0, keepdims=True)
    X_train, X_test = X_train - mean, X_test - mean
    scale = np.sqrt((X_train**2).mean())
    return X_train / scale, X_test / scale


def _subset(rng: np.random.Generator, size: int, available: int, name: str) -> np.ndarray:
    if size > available:
        raise ValueError(f"{name} must be <= {available} for this dataset, got {size}")
    return rng.permutation(available)[:size]


def _classification(name, X_train, y_train, X_test, y_test, num_classes, dtype) -> Dataset:
    X_train, X_test = _standardize(X_train.astype(np.float64), X_test.astype(np.float64))
    eye = np.eye(num_classes)

    def t(a, kind=dtype):
        return torch.as_tensor(np.asarray(a), dtype=kind)

    return Dataset(name, t(X_train), t(eye[y_train]), t(X_test), t(eye[y_test]),
                   t(y_train, torch.long), t(y_test, torch.long))


def load_digits(n_train: int = 1000, n_test: int = 500, seed: int = 0, dtype=torch.float32) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 64 inputs, 10 classes), split at random."""
    from sklearn.datasets import load_digits as sk_load_digits

    n_train, n_test = check_int("n_train", n_train), check_int("n_test", n_test)
    X, y = sk_load_digits(return_X_y=True)
    rng = np.random.default_rng(check_seed(seed))
    idx = _subset(rng, n_train + n_test, len(y), "n_train + n_test")
    tr, te = idx[:n_train], idx[n_train:]
    return _classification("digits", X[tr], y[tr], X[te], y[te], 10, dtype)


def load_mnist1d(n_train: int = 4000, n_test: int = 1000, seed: int = 0, dtype=torch.float32) -> Dataset:
    """MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package: 40 inputs, 10 classes.

    The benchmark's own generation seed is used; ``seed`` picks the subsets.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_mnist1d needs the 'mnist1d' package: pip install mnist1d") from err
    n_train, n_test = check_int("n_train", n_train), check_int("n_test", n_test)
    data = make_dataset(get_dataset_args())
    rng = np.random.default_rng(check_seed(seed))
    tr = _subset(rng, n_train, len(data["y"]), "n_train")
    te = _subset(rng, n_test, len(data["y_test"]), "n_test")
    return _classification("mnist1d", data["x"][tr], data["y"][tr], data["x_test"][te], data["y_test"][te],
                           10, dtype)


def make_teacher_task(d: int = 16, n_train: int = 64, n_test: int = 256, outputs: int = 1, seed: int = 0,
                      teacher_width: int = 64, noise: float = 0.0, dtype=torch.float32) -> Dataset:
    """A regression task: Gaussian inputs ``x ~ N(0, I_d)`` and a random two-layer tanh teacher.

    ``y = a^T tanh(B x / sqrt(d)) / sqrt(teacher_width) + noise * eps``, normalized to unit variance.
    """
    d, n_train, n_test = check_int("d", d), check_int("n_train", n_train), check_int("n_test", n_test)
    outputs, teacher_width = check_int("outputs", outputs), check_int("teacher_width", teacher_width)
    rng = np.random.default_rng(check_seed(seed))
    B = rng.standard_normal((teacher_width, d))
    a = rng.standard_normal((teacher_width, outputs))
    X = rng.standard_normal((n_train + n_test, d))
    Y = np.tanh(X @ B.T / np.sqrt(d)) @ a / np.sqrt(teacher_width)
    Y = Y / Y[:n_train].std()
    Y = Y + noise * rng.standard_normal(Y.shape)
    t = lambda arr: torch.as_tensor(arr, dtype=dtype)  # noqa: E731
    return Dataset("teacher", t(X[:n_train]), t(Y[:n_train]), t(X[n_train:]), t(Y[n_train:]))


DATASETS = ("digits", "mnist1d", "teacher")


def load_dataset(name: str, **kwargs) -> Dataset:
    """Load one of :data:`DATASETS` by name."""
    loaders = {"digits": load_digits, "mnist1d": load_mnist1d, "teacher": make_teacher_task}
    if name not in loaders:
        raise ValueError(f"name must be one of {DATASETS}; got {name!r}")
    return loaders[name](**kwargs)
