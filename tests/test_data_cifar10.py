"""The CIFAR-10 loader, on a small archive in the official binary format that the test builds itself."""

import io
import tarfile

import numpy as np
import pytest

from nfdlib.data import load_cifar10, load_dataset


def _write_archive(path, per_batch=6, seed=0):
    rng = np.random.default_rng(seed)
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            labels = rng.integers(0, 10, size=(per_batch, 1), dtype=np.uint8)
            pixels = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            blob = np.concatenate([labels, pixels], axis=1).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))


def test_load_cifar10_from_a_local_archive(tmp_path):
    _write_archive(tmp_path / "cifar-10-binary.tar.gz")
    data = load_cifar10(n_train=20, n_test=4, root=tmp_path, download=False, seed=1)
    assert data.X_train.shape == (20, 3072) and data.X_test.shape == (4, 3072)
    assert data.Y_train.shape == (20, 10) and data.labels_train.max() < 10
    assert abs(float((data.X_train ** 2).mean()) - 1.0) < 1e-4  # |x|^2 / d = 1 on average, like the other loaders
    again = load_dataset("cifar10", n_train=20, n_test=4, root=tmp_path, download=False, seed=1)
    assert np.array_equal(again.X_train.numpy(), data.X_train.numpy())


def test_load_cifar10_errors(tmp_path):
    with pytest.raises(ValueError, match=r"^root"):
        load_cifar10(root=tmp_path, download=False)
    _write_archive(tmp_path / "cifar-10-binary.tar.gz", per_batch=2)
    with pytest.raises(ValueError, match=r"^n_train"):
        load_cifar10(n_train=11, n_test=1, root=tmp_path, download=False)
