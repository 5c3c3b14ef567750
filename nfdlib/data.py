"""Offline datasets: scikit-learn digits, MNIST-1D generated locally, synthetic teacher tasks, validation splits.

Small datasets that work offline: scikit-learn digits, MNIST-1D generated locally, and synthetic tasks; and
CIFAR-10 for machines that can download it.

Every loader returns a :class:`Dataset` with inputs scaled so that ``|x|^2 / d`` is about 1 (the features of a
network in the registry's convention are then O(1)), targets ``Y`` as one-hot rows (MSE) and integer
``labels`` (cross-entropy, accuracy). Splits and subsets are reproducible from ``seed``.

A loader given ``n_val > 0`` also holds a validation split apart (``X_val``, ``Y_val``, ``labels_val``): drawn
from the same pool as the training examples and disjoint from them and from the test split, so a learning rate
can be chosen on validation loss while the test split is only reported. ``n_val=0`` (the default) draws exactly
the same training and test examples as before the option existed.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass

import numpy as np
import torch

from .cache import cached, register_kind
from .config import check_seed
from .validation import check_bool, check_float, check_int

Tensor = torch.Tensor


@dataclass
class Dataset:
    """Train, test and (optionally) validation tensors of one task."""

    name: str
    X_train: Tensor
    Y_train: Tensor
    X_test: Tensor
    Y_test: Tensor
    labels_train: Tensor | None = None
    labels_test: Tensor | None = None
    X_val: Tensor | None = None
    Y_val: Tensor | None = None
    labels_val: Tensor | None = None

    @property
    def has_val(self) -> bool:
        """Whether a validation split is held apart."""
        return self.X_val is not None and self.X_val.shape[0] > 0

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
                                                      self.labels_train, self.labels_test, self.X_val,
                                                      self.Y_val, self.labels_val)))

    def __repr__(self) -> str:
        val = f", val={tuple(self.X_val.shape)}" if self.X_val is not None else ""
        return (f"Dataset({self.name!r}, train={tuple(self.X_train.shape)}, test={tuple(self.X_test.shape)}{val}, "
                f"outputs={self.num_outputs})")


def _standardize(X_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Centre and scale each input so that |x|^2/d = 1 on average, using training statistics only."""
    mean = X_train.mean(axis=0, keepdims=True)
    X_train = X_train - mean
    scale = np.sqrt((X_train**2).mean())
    return (X_train / scale,) + tuple((X - mean) / scale for X in others)


def _subset(rng: np.random.Generator, size: int, available: int, name: str) -> np.ndarray:
    if size > available:
        raise ValueError(f"{name} must be <= {available} for this dataset, got {size}")
    return rng.permutation(available)[:size]


def _split(rng: np.random.Generator, n_train: int, n_val: int, available: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint training and validation indices into one pool (with ``n_val=0`` the same draw as
    :func:`_subset` of ``n_train``)."""
    if n_train + n_val > available:
        name = "n_train + n_val" if n_val else "n_train"
        raise ValueError(f"{name} must be <= {available} for this dataset, got {n_train + n_val}")
    perm = rng.permutation(available)
    return perm[:n_train], perm[n_train:n_train + n_val]


def _classification(name, X_train, y_train, X_test, y_test, num_classes, dtype, X_val=None, y_val=None) -> Dataset:
    has_val = X_val is not None
    parts = (X_train, X_test) + ((X_val,) if has_val else ())
    parts = _standardize(*(X.astype(np.float64) for X in parts))
    X_train, X_test = parts[0], parts[1]
    eye = np.eye(num_classes)

    def t(a, kind=dtype):
        return torch.as_tensor(np.asarray(a), dtype=kind)

    val = (t(parts[2]), t(eye[y_val]), t(y_val, torch.long)) if has_val else ()
    return Dataset(name, t(X_train), t(eye[y_train]), t(X_test), t(eye[y_test]),
                   t(y_train, torch.long), t(y_test, torch.long), *val)


def load_digits(n_train: int = 1000, n_test: int = 500, seed: int = 0, dtype=torch.float32,
                n_val: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 64 inputs, 10 classes), split at random
    (``n_val`` more images held apart for validation)."""
    from sklearn.datasets import load_digits as sk_load_digits

    n_train, n_test = check_int("n_train", n_train), check_int("n_test", n_test)
    n_val = check_int("n_val", n_val, minimum=0)
    X, y = sk_load_digits(return_X_y=True)
    rng = np.random.default_rng(check_seed(seed))
    idx = _subset(rng, n_train + n_test + n_val, len(y), "n_train + n_test + n_val" if n_val else "n_train + n_test")
    tr, te, va = idx[:n_train], idx[n_train:n_train + n_test], idx[n_train + n_test:]
    val = (X[va], y[va]) if n_val else (None, None)
    return _classification("digits", X[tr], y[tr], X[te], y[te], 10, dtype, *val)


# The mnist1d generator's defaults: 5000 samples split 80/20, so 4000 training and 1000 test examples.
_MNIST1D_DEFAULT = (4000, 1000)
_MNIST1D_SPLIT = 0.8  # the generator's train_split
# Bump when the arrays generated for larger sizes change (a new mnist1d, a new rule for num_samples).
MNIST1D_VERSION = "1"
register_kind("mnist1d_arrays", MNIST1D_VERSION, "npz", ("x", "y", "x_test", "y_test"))


def mnist1d_num_samples(n_train: int, n_test: int, n_val: int = 0) -> int:
    """How many samples the generator must make so that its 80/20 split holds ``n_train + n_val`` and ``n_test``:
    the default 5000 when that is enough, else the next multiple of 5000 (so nearby sizes share one cached file)."""
    # Integer arithmetic: the split is 4/5 train, 1/5 test (1000 / 0.2 is 5000.000000000001 in floating point).
    need = max(-(-5 * (n_train + n_val) // 4), 5 * n_test, 5000)
    return 5000 * math.ceil(need / 5000)


@functools.lru_cache(maxsize=2)
def _mnist1d_generated(num_samples: int) -> tuple[tuple[str, np.ndarray], ...]:
    """The generator's arrays, kept in memory: generating them takes seconds, and a sweep loads its task once
    per rule and width. Read-only, so that no caller can change what the next one gets."""
    arrays = _mnist1d_arrays(num_samples)
    for a in arrays.values():
        a.setflags(write=False)
    return tuple(arrays.items())


def _mnist1d_arrays(num_samples: int) -> dict[str, np.ndarray]:
    """The generator's arrays for ``num_samples`` samples (its own fixed generation seed)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("load_mnist1d needs the 'mnist1d' package: pip install mnist1d") from err
    args = get_dataset_args()
    if num_samples != args.num_samples:
        args.num_samples = num_samples
    data = make_dataset(args)
    out = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
    if num_samples != 5000:
        # float32 halves the cached file; the loader standardizes in float64 either way.
        out["x"], out["x_test"] = out["x"].astype(np.float32), out["x_test"].astype(np.float32)
    return out


def load_mnist1d(n_train: int = 4000, n_test: int = 1000, seed: int = 0, dtype=torch.float32,
                 cache: bool = True, n_val: int = 0) -> Dataset:
    """MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package: 40 inputs, 10 classes.

    Up to 4000 training (plus validation) and 1000 test examples come from the benchmark's standard generation
    (its own seed, 5000 samples). Larger sizes are generated with more samples (:func:`mnist1d_num_samples`;
    25000 samples take about 15 s) and, with ``cache``, stored once under ``data/`` as ``.npz``. ``seed`` picks
    the subsets; the ``n_val`` validation examples come from the generator's training pool, disjoint from the
    ``n_train`` training examples (the test examples come from its separate test pool).
    """
    n_train, n_test = check_int("n_train", n_train), check_int("n_test", n_test)
    n_val = check_int("n_val", n_val, minimum=0)
    cache = check_bool("cache", cache)
    num_samples = mnist1d_num_samples(n_train, n_test, n_val)
    if num_samples == 5000:
        data = dict(_mnist1d_generated(5000))
    elif cache:
        data = cached("mnist1d_arrays", {"num_samples": num_samples, "train_split": _MNIST1D_SPLIT},
                      lambda: _mnist1d_arrays(num_samples), version=MNIST1D_VERSION, fmt="npz")
    else:
        data = _mnist1d_arrays(num_samples)
    rng = np.random.default_rng(check_seed(seed))
    tr, va = _split(rng, n_train, n_val, len(data["y"]))
    te = _subset(rng, n_test, len(data["y_test"]), "n_test")
    val = (data["x"][va], data["y"][va]) if n_val else (None, None)
    return _classification("mnist1d", data["x"][tr], data["y"][tr], data["x_test"][te], data["y_test"][te],
                           10, dtype, *val)


def make_teacher_task(d: int = 16, n_train: int = 64, n_test: int = 256, outputs: int = 1, seed: int = 0,
                      teacher_width: int = 64, noise: float = 0.0, dtype=torch.float32, n_val: int = 0) -> Dataset:
    """A regression task: Gaussian inputs ``x ~ N(0, I_d)`` and a random two-layer tanh teacher.

    ``y = a^T tanh(B x / sqrt(d)) / sqrt(teacher_width) + noise * eps``, normalized to unit variance.
    ``n_val`` validation examples are drawn after the training and test ones (so ``n_val=0`` gives the same
    training and test examples as any ``n_val``).
    """
    d, n_train, n_test = check_int("d", d), check_int("n_train", n_train), check_int("n_test", n_test)
    outputs, teacher_width = check_int("outputs", outputs), check_int("teacher_width", teacher_width)
    n_val = check_int("n_val", n_val, minimum=0)
    noise = check_float("noise", noise, allow_zero=True)
    rng = np.random.default_rng(check_seed(seed))
    B = rng.standard_normal((teacher_width, d))
    a = rng.standard_normal((teacher_width, outputs))
    X = rng.standard_normal((n_train + n_test, d))

    def teacher(X):
        return np.tanh(X @ B.T / np.sqrt(d)) @ a / np.sqrt(teacher_width)

    Y = teacher(X)
    std = Y[:n_train].std()
    Y = Y / std + noise * rng.standard_normal(Y.shape)
    t = lambda arr: torch.as_tensor(arr, dtype=dtype)  # noqa: E731
    val = ()
    if n_val:  # drawn last, so the other splits do not depend on n_val
        X_val = rng.standard_normal((n_val, d))
        Y_val = teacher(X_val) / std + noise * rng.standard_normal((n_val, outputs))
        val = (t(X_val), t(Y_val), None)
    return Dataset("teacher", t(X[:n_train]), t(Y[:n_train]), t(X[n_train:]), t(Y[n_train:]), None, None, *val)


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_CIFAR10_DIR = "cifar-10-batches-bin"
_CIFAR10_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue bytes


def _read_cifar10_batches(archive, names) -> tuple[np.ndarray, np.ndarray]:
    import tarfile

    xs, ys = [], []
    with tarfile.open(archive, "r:gz") as tar:
        for name in names:
            member = tar.extractfile(f"{_CIFAR10_DIR}/{name}")
            if member is None:
                raise ValueError(f"{archive} has no {_CIFAR10_DIR}/{name}: not the CIFAR-10 binary archive")
            raw = np.frombuffer(member.read(), dtype=np.uint8)
            if raw.size % _CIFAR10_RECORD:
                raise ValueError(f"{name} in {archive} is not a whole number of CIFAR-10 records")
            raw = raw.reshape(-1, _CIFAR10_RECORD)
            ys.append(raw[:, 0].astype(np.int64))
            xs.append(raw[:, 1:])
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar10(n_train: int = 50000, n_test: int = 10000, seed: int = 0, root: str | None = None,
                 download: bool = True, dtype=torch.float32) -> Dataset:
    """CIFAR-10 (60,000 32x32 colour images, 10 classes) as flat 3072-dimensional inputs, for machines online.

    Reads the official binary archive ``cifar-10-binary.tar.gz`` (no pickle) from ``root`` (default
    ``~/.cache/nfdlib``), downloading it from :data:`CIFAR10_URL` (about 160 MB) when missing and ``download``
    is true. ``seed`` picks random subsets of the 50,000 training and 10,000 test images. Inputs are centred and
    scaled with training statistics like the other loaders. CIFAR-10 cannot be downloaded on the project's own
    machines; use MNIST-1D or digits there.
    """
    import os
    import urllib.request
    from pathlib import Path

    n_train, n_test = check_int("n_train", n_train), check_int("n_test", n_test)
    download = check_bool("download", download)
    folder = Path(root) if root is not None else Path.home() / ".cache" / "nfdlib"
    archive = folder / "cifar-10-binary.tar.gz"
    if not archive.exists():
        if not download:
            raise ValueError(f"root must hold cifar-10-binary.tar.gz (not found in {folder}); or pass download=True")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = archive.with_suffix(".part")
        urllib.request.urlretrieve(CIFAR10_URL, tmp)
        os.replace(tmp, archive)
    X_tr, y_tr = _read_cifar10_batches(archive, [f"data_batch_{i}.bin" for i in range(1, 6)])
    X_te, y_te = _read_cifar10_batches(archive, ["test_batch.bin"])
    rng = np.random.default_rng(check_seed(seed))
    tr = _subset(rng, n_train, len(y_tr), "n_train")
    te = _subset(rng, n_test, len(y_te), "n_test")
    return _classification("cifar10", X_tr[tr], y_tr[tr], X_te[te], y_te[te], 10, dtype)


DATASETS = ("digits", "mnist1d", "teacher", "cifar10")


def load_dataset(name: str, **kwargs) -> Dataset:
    """Load one of :data:`DATASETS` by name."""
    loaders = {"digits": load_digits, "mnist1d": load_mnist1d, "teacher": make_teacher_task,
               "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"name must be one of {DATASETS}; got {name!r}")
    allowed = [k for k in inspect.signature(loaders[name]).parameters]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"{name} takes no argument {', '.join(unknown)}; its arguments are {', '.join(allowed)}")
    return loaders[name](**kwargs)
