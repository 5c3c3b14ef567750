import math

import pytest
import torch
from torch import nn

from nfdlib.models import ResNet
from nfdlib.optim import make_sgd, param_groups, scaling_table


def lrs(groups):
    return {g["name"]: g["lr"] for g in groups}


def test_depth_mup_groups():
    m = ResNet(5, 2, 64, 16, block="two", parametrization="depth-mup")
    got = lrs(param_groups(m, 0.01))
    assert got == {k: pytest.approx(0.01 * 64) for k in ("U", "W1", "W2", "v")}


def test_corrected_groups_differ_only_in_first_internal_layer():
    m = ResNet(5, 2, 64, 16, block="two", parametrization="depth-mup")
    base, corr = lrs(param_groups(m, 0.01)), lrs(param_groups(m, 0.01, "depth-mup-corrected"))
    assert corr["W1"] == pytest.approx(base["W1"] * math.sqrt(16))
    for k in ("U", "W2", "v"):
        assert corr[k] == base[k]


def test_completep_and_sp_groups():
    m = ResNet(5, 2, 32, 8, parametrization="completep", T=2.0)
    got = lrs(param_groups(m, 0.1))
    assert got["W"] == pytest.approx(0.1 * 32 * 8 / 2.0)
    assert got["U"] == pytest.approx(0.1 * 32) and got["v"] == pytest.approx(0.1 * 32)
    assert set(lrs(param_groups(ResNet(5, 2, 32, 8, parametrization="sp"), 0.1)).values()) == {0.1}


def test_groups_drive_sgd():
    m = ResNet(3, 1, 16, 2, parametrization="mup")
    opt = make_sgd(m, 0.05)
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.05 * 16)] * 3
    x = torch.randn(4, 3)
    before = m.W.detach().clone()
    m(x).pow(2).sum().backward()
    grad = m.W.grad.clone()
    opt.step()
    torch.testing.assert_close(m.W.detach(), before - 0.05 * 16 * grad)


def test_mismatched_parametrization_warns():
    m = ResNet(3, 1, 16, 2, parametrization="depth-mup")
    with pytest.warns(UserWarning, match="only the learning rates"):
        param_groups(m, 0.1, "sp")


class TwoBlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8, bias=False)
        self.fc1 = nn.Linear(8, 8, bias=False)
        self.fc2 = nn.Linear(8, 8, bias=False)
        self.head = nn.Linear(8, 1, bias=False)


def test_user_module_with_role_mapping():
    net = TwoBlockNet()
    roles = {"embed.weight": "input", "fc1.weight": "internal1", "fc2.weight": "internal2", "head.weight": "readout"}
    got = lrs(param_groups(net, 0.1, "depth-mup-corrected", roles=roles, n=8, L=4))
    assert got["fc1.weight"] == pytest.approx(0.1 * 8 * 2)
    assert got["fc2.weight"] == pytest.approx(0.1 * 8)
    table = scaling_table(net, "depth-mup", roles=roles, n=8, L=4)
    assert table["head.weight"]["multiplier"] == pytest.approx(1 / 8)
    # Metadata lives in the table, not on the parameters.
    assert not any(hasattr(p, "role") or hasattr(p, "lr_scale") for p in net.parameters())


def test_user_module_errors():
    net = TwoBlockNet()
    with pytest.raises(ValueError, match=r"^roles"):
        param_groups(net, 0.1, "mup", n=8, L=2)
    with pytest.raises(ValueError, match=r"^roles must give a role for every parameter; missing"):
        param_groups(net, 0.1, "mup", roles={"embed.weight": "input"}, n=8, L=2)
    roles = {"embed.weight": "input", "fc1.weight": "hidden", "fc2.weight": "hidden", "head.weight": "head"}
    with pytest.raises(ValueError, match=r"^role"):
        param_groups(net, 0.1, "mup", roles=roles, n=8, L=2)
    roles["head.weight"] = "readout"
    with pytest.raises(ValueError, match=r"^n must be given"):
        param_groups(net, 0.1, "mup", roles=roles, L=2)


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), 0.0, -1.0])
def test_bad_learning_rate_raises(lr):
    with pytest.raises(ValueError, match=r"^lr"):
        param_groups(ResNet(3, 1, 8, 2), lr)
