import math

import pytest
import torch

from nfdlib.models import ResNet, decoupled_matmul
from nfdlib.optim import make_sgd


def test_shapes_and_features():
    x = torch.randn(5, 7)
    m = ResNet(7, 3, 32, 6)
    f, feats = m(x, return_features=True)
    assert f.shape == (5, 3)
    assert len(feats.h) == 7 and feats.z is None
    assert all(h.shape == (5, 32) for h in feats.h)
    m2 = ResNet(7, 3, 32, 6, block="two")
    f2, feats2 = m2(x, return_features=True)
    assert f2.shape == (5, 3) and len(feats2.z) == 6
    assert m2.param_roles() == {"U": "input", "W1": "internal1", "W2": "internal2", "v": "readout"}


def test_forward_matches_equations():
    torch.manual_seed(0)
    x = torch.randn(4, 5, dtype=torch.float64)
    m = ResNet(5, 2, 16, 3, T=2.0, dtype=torch.float64)
    h = (x @ m.U.T) / math.sqrt(5)
    for l in range(3):
        h = h + math.sqrt(2.0 / 3) * torch.relu(h) @ m.W[l].T / 4
    f = torch.relu(h) @ m.v.T / 16
    torch.testing.assert_close(m(x), f)


def test_init_std_follows_registry():
    sp = ResNet(10, 1, 256, 2, parametrization="sp", seed=1)
    assert sp.W.std().item() == pytest.approx(1 / 16, rel=0.02)
    assert sp.U.std().item() == pytest.approx(1 / math.sqrt(10), rel=0.1)
    mup = ResNet(10, 1, 256, 2, parametrization="mup", seed=1)
    assert mup.W.std().item() == pytest.approx(1.0, rel=0.02)


def test_seed_reproducible_and_forward_weights_independent_of_backward_mode():
    a, b = ResNet(4, 1, 16, 3, seed=5), ResNet(4, 1, 16, 3, seed=5)
    c = ResNet(4, 1, 16, 3, seed=6)
    d = ResNet(4, 1, 16, 3, seed=5, backward="decoupled")
    assert torch.equal(a.W, b.W) and not torch.equal(a.W, c.W)
    for name in ("U", "W", "v"):
        assert torch.equal(getattr(a, name), getattr(d, name))


def test_decoupled_backward_uses_independent_weights():
    m = ResNet(4, 1, 128, 4, backward="decoupled", seed=0)
    B, W = m.backward_weights("W"), m.W.detach()
    assert not torch.allclose(B, W)
    # Same law as W (N(0,1) entries) and uncorrelated with it.
    assert B.std().item() == pytest.approx(1.0, rel=0.05)
    corr = torch.corrcoef(torch.stack([B.flatten(), W.flatten()]))[0, 1].item()
    assert abs(corr) < 0.02


@pytest.mark.parametrize("block", ["one", "two"])
def test_decoupled_equals_true_backprop_when_B_equals_W(block):
    x, y = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 1, dtype=torch.float64)
    true = ResNet(4, 1, 32, 5, block=block, seed=2, dtype=torch.float64)
    dec = ResNet(4, 1, 32, 5, block=block, seed=2, backward="decoupled", dtype=torch.float64)
    # With independent B the gradients differ ...
    ((dec(x) - y) ** 2).sum().backward()
    ((true(x) - y) ** 2).sum().backward()
    assert not torch.allclose(true.U.grad, dec.U.grad)
    # ... and with B = W they are those of true backpropagation.
    dec.zero_grad()
    for name in dec.hidden_names():
        dec.set_backward_weights(name, getattr(dec, name).detach())
    ((dec(x) - y) ** 2).sum().backward()
    for (name, p), q in zip(true.named_parameters(), dec.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_decoupled_B_receives_the_same_updates_as_W():
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    m = ResNet(4, 1, 32, 3, backward="decoupled", seed=0)
    W0, B0 = m.W.detach().clone(), m.backward_weights("W")
    opt = make_sgd(m, 0.1)
    for _ in range(3):
        opt.zero_grad()
        ((m(x) - y) ** 2).mean().backward()
        opt.step()
    torch.testing.assert_close(m.backward_weights("W") - B0, m.W.detach() - W0)
    assert not torch.allclose(m.W.detach(), W0)


def test_decoupled_matmul_gradients():
    x = torch.randn(3, 5, requires_grad=True)
    W = torch.randn(4, 5, requires_grad=True)
    off = torch.randn(4, 5)
    out = decoupled_matmul(x, W, off)
    grad = torch.randn(3, 4)
    out.backward(grad)
    torch.testing.assert_close(x.grad, grad @ (W.detach() + off))
    torch.testing.assert_close(W.grad, grad.T @ x.detach())


def test_decoupled_matmul_works_under_vmap():
    x = torch.randn(3, 5)
    W = torch.randn(2, 4, 5)
    off = torch.randn(2, 4, 5)

    def loss(W_, off_, x_):
        return decoupled_matmul(torch.tanh(x_), W_, off_).pow(2).sum()

    grads = torch.func.vmap(torch.func.grad(loss), in_dims=(0, 0, None))(W, off, x)
    for i in range(2):
        Wi = W[i].clone().requires_grad_()
        loss(Wi, off[i], x).backward()
        torch.testing.assert_close(grads[i], Wi.grad)


def test_post_activation_and_mlp_run():
    x = torch.randn(3, 4)
    for kwargs in ({"preact": False}, {"skip": False}, {"activation": "tanh"}, {"activation": "gelu"},
                   {"activation": "identity", "block": "two"}):
        assert torch.isfinite(ResNet(4, 2, 16, 4, **kwargs)(x)).all()
    assert ResNet(4, 2, 16, 4, skip=False).beta == 1.0


@pytest.mark.parametrize("kwargs, arg", [
    ({"n": 0}, "n"), ({"L": -2}, "L"), ({"L": 0}, "L"), ({"parametrization": "xyz"}, "parametrization"),
    ({"activation": "swishy"}, "activation"), ({"T": float("inf")}, "T"), ({"T": float("nan")}, "T"),
    ({"T": -1.0}, "T"), ({"block": "three"}, "block"), ({"backward": "fake"}, "backward"), ({"seed": -1}, "seed"),
])
def test_bad_input_raises(kwargs, arg):
    base = {"d_in": 3, "d_out": 1, "n": 8, "L": 2}
    with pytest.raises(ValueError, match=rf"^{arg}\b"):
        ResNet(**{**base, **kwargs})


def test_wrong_input_dimension_raises():
    with pytest.raises(ValueError, match=r"^x must have last dimension d_in=3, got shape \(2, 4\)"):
        ResNet(3, 1, 8, 2)(torch.randn(2, 4))


def test_input_gaps_are_refused():
    net = ResNet(3, 1, 8, 2)
    with pytest.raises(ValueError, match=r"^x must have shape \(batch, d_in=3\)"):
        net(torch.randn(3))  # one input without its batch axis: no silent (d_out,) output
    dec = ResNet(3, 1, 8, 2, backward="decoupled")
    with pytest.raises(ValueError, match=r"^name must be one of 'W'; got 'Q'"):
        dec.set_backward_weights("Q", torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match=r"^B must have shape \(2, 8, 8\)"):
        dec.set_backward_weights("W", torch.zeros(8, 8))
