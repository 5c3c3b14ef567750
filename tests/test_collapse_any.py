"""The first internal layer's own update of a model nfdlib did not define (nfdlib.collapse_any)."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nfdlib import parametrize
from nfdlib.collapse_any import depth_scan, depth_slope, own_updates, predicted_slope
from nfdlib.stats import slope_verdict

TOL = 0.15  # the notebook's tolerance on a depth exponent


class Block(nn.Module):
    def __init__(self, n, two=True):
        super().__init__()
        self.ln = nn.LayerNorm(n)
        self.fc1 = nn.Linear(n, n)
        self.fc2 = nn.Linear(n, n) if two else None

    def forward(self, h):
        if self.fc2 is None:
            return self.fc1(self.ln(h))
        return self.fc2(torch.relu(self.fc1(self.ln(h))))


class PreLNMLP(nn.Module):
    """A pre-LayerNorm residual MLP with biases, written without any scaling."""

    def __init__(self, d, n, L, C, two=True):
        super().__init__()
        self.embed = nn.Linear(d, n)
        self.blocks = nn.ModuleList(Block(n, two) for _ in range(L))
        self.norm = nn.LayerNorm(n)
        self.head = nn.Linear(n, C)

    def forward(self, x):
        h = self.embed(x)
        for block in self.blocks:
            h = h + block(h)
        return self.head(self.norm(h))


def _batch(d=4, C=2, batch=6):
    g = torch.Generator().manual_seed(3)
    return torch.randn(batch, d, generator=g, dtype=torch.float64), torch.randn(batch, C, generator=g,
                                                                               dtype=torch.float64)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_own_update_against_a_hand_computation(optimizer):
    d, n, L, C = 4, 5, 2, 2
    X, Y = _batch(d, C)
    torch.manual_seed(0)
    p = parametrize(PreLNMLP(d, n, L, C).double(), "depth-mup", branches="blocks.*", n=n, L=L)
    table, net, lr = p.table(), p.model, 0.3
    # By hand, from the raw weights (calling the modules would apply parametrize's hooks): the stream, each
    # block's LayerNorm output a_l, and the gradient G_l of W1_l, before the step.
    W1 = [blk.fc1.weight for blk in net.blocks]
    m = {name: row["multiplier"] for name, row in table.items()}
    h = F.linear(m["embed.weight"] * X, net.embed.weight, net.embed.bias)
    inputs = []
    for l, blk in enumerate(net.blocks):
        a = F.layer_norm(h, (n,), blk.ln.weight, blk.ln.bias)
        inputs.append(a.detach())
        z = F.linear(m[f"blocks.{l}.fc1.weight"] * a, blk.fc1.weight, blk.fc1.bias)
        h = h + p.beta * F.linear(m[f"blocks.{l}.fc2.weight"] * torch.relu(z), blk.fc2.weight, blk.fc2.bias)
    f = F.linear(m["head.weight"] * F.layer_norm(h, (n,), net.norm.weight, net.norm.bias), net.head.weight,
                 net.head.bias)
    G = torch.autograd.grad(((f - Y) ** 2).sum() / (2 * len(X)), W1)
    m1 = table["blocks.0.fc1.weight"]["multiplier"]
    if optimizer == "sgd":
        steps = [-lr * table["blocks.0.fc1.weight"]["lr_scale"] * g for g in G]
    else:  # Adam's first step: the rate times g / (|g| + eps), bias corrections cancelling
        steps = [-lr * table["blocks.0.fc1.weight"]["adam_lr"] * g / (g.abs() + 1e-8
                 * table["blocks.0.fc1.weight"]["adam_eps"]) for g in G]
    expected = [float((m1 * a @ dW.T).pow(2).mean().sqrt()) for a, dW in zip(inputs, steps)]
    measured = own_updates(p, X, Y, lr=lr, optimizer=optimizer)
    assert measured == pytest.approx(expected, rel=1e-6)


def test_own_update_is_not_the_total_change_of_z():
    # The second block's input moves with the first block's update: its total change differs from its own.
    d, n, L, C = 4, 8, 2, 2
    X, Y = _batch(d, C)
    torch.manual_seed(1)
    p = parametrize(PreLNMLP(d, n, L, C).double(), "completep", branches="blocks.*", n=n, L=L)
    net = p.model
    # (the modules' hooks apply m1 and beta)
    z0 = net.blocks[1].fc1(net.blocks[1].ln(net.embed(X) + net.blocks[0](net.embed(X)))).detach()
    own = own_updates(p, X, Y, lr=0.5)
    z1 = net.blocks[1].fc1(net.blocks[1].ln(net.embed(X) + net.blocks[0](net.embed(X)))).detach()
    total = float((z1 - z0).pow(2).mean().sqrt())
    assert abs(own[1] - total) > 0.05 * total


def _scan(rules, optimizers, depths=(2, 8, 32), n=64):
    d, C = 8, 2
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(16, d, generator=g), torch.randn(16, C, generator=g)

    def build(rule, L):
        return parametrize(PreLNMLP(d, n, L, C), rule, branches="blocks.*", n=n, L=L)

    return depth_scan(build, rules, depths, (X, Y), lr={"sgd": 0.1, "adam": 0.01}, optimizers=optimizers,
                      seeds=(0, 1))


def test_sgd_collapse_under_depth_mup_and_its_correction():
    records = _scan(["depth-mup", "depth-mup-corrected"], ["sgd"])
    for rule in ("depth-mup", "depth-mup-corrected"):
        fit = depth_slope(records, rule=rule, optimizer="sgd")
        assert slope_verdict(fit, predicted_slope(rule, "sgd"), tol=TOL).agrees, (rule, str(fit))


def test_adam_power_count_depth_mup_and_completep():
    records = _scan(["depth-mup", "completep"], ["adam"])
    for rule in ("depth-mup", "completep"):
        fit = depth_slope(records, rule=rule, optimizer="adam")
        assert slope_verdict(fit, predicted_slope(rule, "adam"), tol=TOL).agrees, (rule, str(fit))


def test_bad_input():
    X, Y = _batch()
    with pytest.raises(ValueError, match="p must be the result of nfdlib.parametrize"):
        own_updates(PreLNMLP(4, 5, 1, 2), X, Y, lr=0.1)
    one = parametrize(PreLNMLP(4, 5, 2, 2, two=False).double(), "depth-mup", branches="blocks.*", n=5, L=2)
    with pytest.raises(ValueError, match="two-layer blocks"):
        own_updates(one, X, Y, lr=0.1)
    two = parametrize(PreLNMLP(4, 5, 2, 2).double(), "depth-mup", branches="blocks.*", n=5, L=2)
    with pytest.raises(ValueError, match="optimizer"):
        own_updates(two, X, Y, lr=0.1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="Y must have the model's output shape"):
        own_updates(two, X, Y[:, :1], lr=0.1)
    with pytest.raises(ValueError, match="rule"):
        predicted_slope("sp", "sgd")
