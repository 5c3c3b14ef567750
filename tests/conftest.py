import os

import pytest
import torch

# The 2 cores are shared by pytest-xdist workers: one thread each keeps matmuls from collapsing.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))


@pytest.fixture(autouse=True)
def _cpu_only(monkeypatch):
    """Unit tests run on the CPU whatever the machine has, so results are comparable everywhere."""
    monkeypatch.setenv("NFD_DEVICE", "cpu")
