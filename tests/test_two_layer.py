"""Two-layer block diagnostics (nfdlib.two_layer): the tangent kernel against brute force, the kernel's prediction
of a small step, own updates under the correction, the backward signal's depth scaling, and input checks."""

import math

import pytest
import torch

from nfdlib import two_layer
from nfdlib.models import ResNet
from nfdlib.optim import make_sgd, scaling_table
from nfdlib.training import loss_fn


def _brute_force_kernel(model, X):
    """Per-sample autograd gradients of s = f . e, weighted by the registry's rates, grouped by role."""
    e = torch.ones(model.d_out, dtype=X.dtype) / math.sqrt(model.d_out)
    table = scaling_table(model)
    rows = {name: [] for name in table}
    for mu in range(X.shape[0]):
        model.zero_grad()
        (model(X[mu:mu + 1])[0] @ e).backward()
        for name, prm in model.named_parameters():
            rows[name].append(prm.grad.flatten().clone())
    out = {}
    for name, grads in rows.items():
        J = torch.stack(grads)
        out[table[name]["role"]] = table[name]["lr_scale"] * J @ J.T
    return out


@pytest.mark.parametrize("block", ["one", "two"])
@pytest.mark.parametrize("parametrization", ["depth-mup", "depth-mup-corrected", "completep"])
def test_tangent_kernel_matches_per_sample_gradients(block, parametrization):
    torch.manual_seed(0)
    model = ResNet(5, 3, 12, 3, block=block, parametrization=parametrization, T=1.5, seed=1, dtype=torch.float64)
    X = torch.randn(6, 5, dtype=torch.float64)
    fast = two_layer.tangent_kernel(model, X)
    slow = _brute_force_kernel(model, X)
    assert set(fast) == set(slow)
    for role in slow:
        torch.testing.assert_close(fast[role], slow[role], rtol=1e-10, atol=1e-12, msg=role)
    per_layer = two_layer.tangent_kernel(model, X, per_layer=True)
    inner = "hidden" if block == "one" else "internal1"
    assert per_layer[inner].shape == (3, 6, 6)
    torch.testing.assert_close(per_layer[inner].sum(0), fast[inner])


def test_kernel_predicts_a_small_gradient_step():
    """ds = -eta K chi to first order in eta (MSE, full batch, chi = (f - y)/P)."""
    torch.manual_seed(1)
    model = ResNet(4, 1, 32, 4, block="two", parametrization="depth-mup-corrected", seed=2, dtype=torch.float64)
    X, Y = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    K = sum(two_layer.tangent_kernel(model, X).values())
    f0 = model(X).detach()
    eta = 1e-5
    opt = make_sgd(model, eta)
    loss_fn(model(X), Y, None, "mse").backward()
    opt.step()
    ds = (model(X).detach() - f0)[:, 0]
    chi = (f0 - Y)[:, 0] / X.shape[0]
    torch.testing.assert_close(ds, -eta * K @ chi, rtol=1e-3, atol=1e-12)


def test_summary_shares_sum_to_one_and_correction_raises_the_first_internal_share():
    X = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
    shares = {}
    for p in ("depth-mup", "depth-mup-corrected"):
        model = ResNet(6, 1, 64, 16, block="two", parametrization=p, seed=0)
        s = two_layer.kernel_summary(model, X)
        assert sum(v for k, v in s.items() if k.startswith("share_")) == pytest.approx(1.0)
        assert s["lambda_max"] <= s["trace"] * 16 + 1e-9 and s["lambda_max"] > 0
        shares[p] = s["share_internal1"]
    # same weights and same signals: only W1's rate differs, by sqrt(16) = 4
    m, c = shares["depth-mup"], shares["depth-mup-corrected"]
    assert c / (1 - c) == pytest.approx(4 * m / (1 - m), rel=1e-4)


def test_first_step_own_update_scales_by_sqrt_L_under_the_correction():
    """From the same weights, the corrected first step moves z_l by exactly sqrt(L) times more through W1,
    and the second layer's own update is unchanged."""
    L = 16
    X = torch.randn(8, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    Y = torch.randn(8, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    own = {}
    for p in ("depth-mup", "depth-mup-corrected"):
        model = ResNet(5, 1, 16, L, block="two", seed=0, dtype=torch.float64)
        rows = two_layer.block_updates(model, X, Y, 0.01, 1, parametrization=p, kernel=False)
        own[p] = {q: [r["value"] for r in rows if r["quantity"] == q and r["step"] == 1] for q in ("dz_own",
                                                                                                  "du_own")}
    for a, b in zip(own["depth-mup"]["dz_own"], own["depth-mup-corrected"]["dz_own"]):
        assert b == pytest.approx(math.sqrt(L) * a, rel=1e-9)
    assert own["depth-mup"]["du_own"] == pytest.approx(own["depth-mup-corrected"]["du_own"], rel=1e-9)


def test_backward_signal_at_z_shrinks_like_beta():
    """g^z_l = beta phi'(z) m2 W2^T g^h_l: at initialization its rms divided by beta does not depend on L."""
    X = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    ratios = {}
    for L in (4, 64):
        model = ResNet(8, 1, 256, L, block="two", seed=0)
        sig = two_layer.backward_signals(model, X)
        gz = torch.stack(sig["gz"]).pow(2).mean().sqrt().item()
        gh = torch.stack(sig["gh"]).pow(2).mean().sqrt().item()
        ratios[L] = gz / (model.beta * gh)
    assert ratios[64] == pytest.approx(ratios[4], rel=0.1)
    assert 0.3 < ratios[4] < 1.0  # about sqrt(E[phi'(z)^2]) = sqrt(1/2) for ReLU


def test_collapse_scan_records_and_slope():
    rec = two_layer.collapse_scan([("depth-mup", "two"), ("depth-mup", "one")], [(64, 4), (64, 16)], steps=2,
                                  seeds=(0,), progress=False)
    two = rec.where(block="two")
    quantities = set(two.unique("quantity"))
    assert {"dz_own", "dz", "du_own", "dbranch", "dh", "gz", "gh", "df", "dz_own_cum",
            "kernel_share_internal1"} <= quantities
    assert "dz_own" not in set(rec.where(block="one").unique("quantity"))
    xs, ys = two_layer.layer_average(two, "dz_own", step=1)
    assert xs == [4, 16] and all(len(v) == 1 for v in ys)
    fit = two_layer.fit_against(two, "gz", step=0)
    assert fit.slope < -0.3  # the backward signal at z_l falls with depth under depth-muP
    # cumulative own update after two steps is larger than after one (it accumulates)
    one, two_steps = (two_layer.layer_average(two, "dz_own_cum", step=s)[1][0][0] for s in (1, 2))
    assert two_steps > one > 0


def test_bad_input_raises_value_error():
    X, Y = torch.randn(4, 3), torch.randn(4, 1)
    with pytest.raises(ValueError, match=r"^model must be a pre-activation ResNet with skips"):
        two_layer.block_updates(ResNet(3, 1, 8, 2, block="two", preact=False), X, Y, 0.1)
    with pytest.raises(ValueError, match=r"^model must use backward='true'"):
        two_layer.tangent_kernel(ResNet(3, 1, 8, 2, block="two", backward="decoupled"), X)
    with pytest.raises(ValueError, match=r"^model"):
        two_layer.backward_signals(torch.nn.Linear(3, 1), X)
    with pytest.raises(ValueError, match=r"^lr"):
        two_layer.block_updates(ResNet(3, 1, 8, 2, block="two"), X, Y, -0.1)
    with pytest.raises(ValueError, match=r"^block"):
        two_layer.collapse_scan([("depth-mup", "three")], [(8, 2)], progress=False)
    with pytest.raises(ValueError, match=r"^seeds"):
        two_layer.collapse_scan([("depth-mup", "two")], [(8, 2)], seeds=(), progress=False)
    with pytest.raises(ValueError, match=r"^x must be one of"):
        two_layer.layer_average(two_layer.collapse_scan([("depth-mup", "two")], [(8, 2)], seeds=(0,),
                                                        progress=False), "dz_own", step=1, x="T")


def test_divergence_is_recorded():
    X, Y = torch.randn(4, 3), torch.randn(4, 1)
    rows = two_layer.block_updates(ResNet(3, 1, 8, 2, block="two"), X, Y, 1e12, 3, kernel=False)
    assert any(r["diverged"] for r in rows)


@pytest.mark.parametrize("X, Y, message", [
    (torch.randn(4, 3), torch.randn(3, 1), r"^Y must have shape \(4, 1\), one row per input of X"),
    (torch.randn(4, 3), torch.full((4, 1), float("nan")), r"^Y must be finite"),
    (torch.randn(4, 5), torch.randn(4, 1), r"^X must have shape \(P, 3\)"),
])
def test_wrong_or_nan_targets_are_refused(X, Y, message):
    from nfdlib import coupling

    with pytest.raises(ValueError, match=message):
        two_layer.block_updates(ResNet(3, 1, 8, 2, block="two"), X, Y, 0.1)
    with pytest.raises(ValueError, match=message):
        coupling.coupling_trajectory(ResNet(3, 1, 8, 2), X, Y, lr=0.1, steps=1)


def test_kernel_by_depth_series_and_fits():
    """The kernel's size, odds and share against depth from scan records, and the fits notebook 06 reports."""
    from nfdlib.records import Records

    rows = Records()
    rules = [("depth-mup", "one"), ("depth-mup-corrected", "two")]
    for rule in rules:
        for L in (2, 4, 8, 16):
            for seed in (0, 1):
                common = {"parametrization": rule[0], "block": rule[1], "n": 32, "L": L, "seed": seed}
                share = L**0.5 / (L**0.5 + 3.0)  # odds share / (1 - share) = sqrt(L) / 3
                rows.append({**common, "step": 0, "quantity": "kernel_lambda_max", "value": 2.0 * L**0.25})
                rows.append({**common, "step": 1, "quantity": "df", "value": 0.1 * L**0.1})
                rows.append({**common, "step": 5, "quantity": "df", "value": 0.1 * L**0.4 * (1 + 0.01 * seed)})
                if rule[1] == "two":
                    rows.append({**common, "step": 0, "quantity": "kernel_share_internal1", "value": share})
    series, fits = two_layer.kernel_by_depth(rows, rules, df_steps={"df": 1, "dfK": 5})
    corr = rules[1]
    assert (rules[0], "odds") not in series and (rules[0], "share") not in series  # one-layer blocks
    xs, odds = series[(corr, "odds")]
    assert list(xs) == [2, 2, 4, 4, 8, 8, 16, 16]
    assert odds == pytest.approx(xs**0.5 / 3.0)
    assert series[(corr, "share")][1] == pytest.approx(xs**0.5 / (xs**0.5 + 3.0))
    assert fits[(corr, "odds")].slope == pytest.approx(0.5) and fits[(rules[0], "lambda")].slope == pytest.approx(0.25)
    assert fits[(corr, "df")].slope == pytest.approx(0.1) and fits[(corr, "dfK")].slope == pytest.approx(0.4)
    assert set(two_layer.kernel_by_depth(rows, rules)[1]) == {(r, k) for r in rules for k in ("df", "lambda")} | {
        (corr, "odds")}
