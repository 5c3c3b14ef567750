"""Learning-rate sweeps over depth of a model nfdlib did not define (nfdlib.transfer_any)."""

import numpy as np
import pytest
import torch
from torch import nn

from nfdlib import optima, parametrize
from nfdlib.transfer_any import depth_lr_sweep, final_loss


class Net(nn.Module):
    def __init__(self, d, n, L):
        super().__init__()
        self.embed = nn.Linear(d, n)
        self.blocks = nn.ModuleList(nn.Sequential(nn.LayerNorm(n), nn.Linear(n, n), nn.ReLU(), nn.Linear(n, n))
                                    for _ in range(L))
        self.head = nn.Linear(n, 1)

    def forward(self, x):
        h = self.embed(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(h)


def _build(L, n=16, rule="completep"):
    return parametrize(Net(4, n, L), rule, branches="blocks.*", n=n, L=L)


def _data():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(32, 4, generator=g)
    return X, X[:, :1].sin()


def test_layout_divergence_and_drift_reader():
    X, Y = _data()
    lrs = [1e-3, 1e-2, 1e-1, 1e6]
    sweep = depth_lr_sweep(_build, [2, 4], lrs, (X, Y), steps=5, optimizer="sgd", seeds=(0, 1))
    assert sweep["train_loss"].shape == (2, 4, 2, 1) and sweep["diverged"].shape == (2, 4, 2)
    # a rate of 1e6 diverges: marked, its loss NaN; the others are finite and marked as not diverged
    assert sweep["diverged"][:, -1].all() and np.isnan(sweep["train_loss"][:, -1]).all()
    assert not sweep["diverged"][:, :-1].any() and np.isfinite(sweep["train_loss"][:, :-1]).all()
    assert isinstance(optima.optimum_drift(sweep, boot=10), optima.Drift)
    # a finite loss above the bound counts as diverged too
    bounded = depth_lr_sweep(_build, [2, 4], [1e-3], (X, Y), steps=2, optimizer="sgd", seeds=(0,), loss_bound=1e-9)
    assert bounded["diverged"].all() and np.isnan(bounded["train_loss"]).all()


def test_final_loss_trains_and_seeds_set_the_init():
    X, Y = _data()
    torch.manual_seed(0)
    start = final_loss(_build(2), X, Y, lr=0.01, steps=0, optimizer="adamw")
    torch.manual_seed(0)
    trained = final_loss(_build(2), X, Y, lr=0.01, steps=20, optimizer="adamw")
    assert trained < 0.9 * start
    a = depth_lr_sweep(_build, [2, 3], [0.01], (X, Y), steps=3, seeds=(1,))
    b = depth_lr_sweep(_build, [2, 3], [0.01], (X, Y), steps=3, seeds=(1,))
    assert np.array_equal(a["train_loss"], b["train_loss"])


def test_bad_input():
    X, Y = _data()
    with pytest.raises(ValueError, match="nfdlib.parametrize"):
        depth_lr_sweep(lambda L: Net(4, 16, L), [2, 4], [0.1], (X, Y), steps=1)
    with pytest.raises(ValueError, match="optimizer"):
        depth_lr_sweep(_build, [2, 4], [0.1], (X, Y), steps=1, optimizer="rmsprop")
