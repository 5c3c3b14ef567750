"""Gradient-independence measurements (nfdlib.gia): kernels, the GIA expectation, the conditional-Gaussian
coupling, paired training and the extrapolation."""

import math
import re

import numpy as np
import pytest
import torch

from nfdlib import gia
from nfdlib.coupling import coupling_summary, coupling_sweep, coupling_trajectory
from nfdlib.data import make_teacher_task
from nfdlib.models import ResNet
from nfdlib.nfd.runs import limit_solver
from nfdlib.nfd.theory import first_step_ratio_theory
from nfdlib.stats import extrapolate


def _x(P=4, d=6, seed=0):
    return make_teacher_task(d=d, n_train=P, n_test=1, seed=seed, dtype=torch.float64).X_train


def test_decoupled_statistics_equal_true_ones_when_B_equals_W():
    m = ResNet(6, 1, 32, 4, backward="decoupled", seed=1, dtype=torch.float64)
    X = _x()
    st = gia.init_statistics(m, X)
    assert not torch.allclose(st["G_dec"], st["G_true"])
    m.set_backward_weights("W", m.W.detach())
    st = gia.init_statistics(m, X)
    torch.testing.assert_close(st["G_dec"], st["G_true"])
    torch.testing.assert_close(st["K_cross"], st["K_true"])
    torch.testing.assert_close(st["K_dec"], st["K_true"])


@pytest.mark.parametrize("kwargs", [{}, {"parametrization": "mup"}, {"skip": False, "parametrization": "mup"},
                                    {"activation": "tanh", "T": 2.0}])
def test_kernel_formula_equals_the_parameter_gradient_kernel(kwargs):
    """K from feature gradients equals sum over parameters of lr_scale * <df(x)/dtheta, df(x')/dtheta>."""
    m = ResNet(6, 1, 16, 3, seed=0, dtype=torch.float64, **kwargs)
    X = _x()
    _, h, phis, D = gia.feature_gradients(m, X)
    K = gia.kernels(m, X, h, phis, D)
    grads = []
    for p in range(X.shape[0]):
        g = torch.autograd.grad(m(X[p:p + 1]).sum(), list(m.parameters()))
        grads.append(g)
    roles = m.param_roles()
    scales = {name: m.scales[roles[name]].lr_scale for name, _ in m.named_parameters()}
    names = [name for name, _ in m.named_parameters()]
    ref = torch.zeros_like(K)
    for a in range(X.shape[0]):
        for b in range(X.shape[0]):
            ref[a, b] = sum(scales[nm] * (grads[a][i] * grads[b][i]).sum() for i, nm in enumerate(names))
    torch.testing.assert_close(K, ref)


def test_gia_expectation_matches_monte_carlo_over_backward_weights():
    m = ResNet(6, 1, 16, 3, backward="decoupled", seed=2, dtype=torch.float64)
    X = _x(P=3)
    st = gia.init_statistics(m, X)
    gen = torch.Generator().manual_seed(0)
    acc = torch.zeros_like(st["G_gia"][0])
    draws = 3000
    for _ in range(draws):
        m.set_backward_weights("W", torch.randn(m.W.shape, generator=gen, dtype=torch.float64))
        _, _, _, D = gia.feature_gradients(m, X)
        acc += m.n * D[0] @ D[0].mT
    mc = acc / draws
    rel = (mc - st["G_gia"][0]).norm() / st["G_gia"][0].norm()
    assert rel < 0.03, f"E_B[G_0] by Monte Carlo differs from the closed form by {rel:.3f}"


def test_first_step_ratio_theory_limits_and_measurement():
    assert first_step_ratio_theory(1.0) == pytest.approx(0.8)
    assert first_step_ratio_theory(1.0, trained=["hidden"]) == pytest.approx(2 * (1 - math.exp(-0.5)))
    assert first_step_ratio_theory(1.0, 4000) == pytest.approx(first_step_ratio_theory(1.0), abs=1e-3)
    assert first_step_ratio_theory(1e-4) == pytest.approx(1.0, abs=1e-4)
    assert first_step_ratio_theory(4.0) < first_step_ratio_theory(1.0) < 1
    # A wide network's measured K_cross / K_true (mean diagonal) agrees with the infinite-width prediction.
    rec = gia.init_gap([1024], [8], seeds=(0, 1), P=4, progress=False)
    measured = np.mean([r["value"] for r in rec.where(quantity="cross_ratio")])
    assert measured == pytest.approx(first_step_ratio_theory(1.0, 8), abs=0.04)


def test_init_gap_records_reproduce_and_summarize():
    kw = dict(seeds=(0, 1, 2), P=3, d=5, progress=False)
    a = gia.init_gap([16, 32], [2, 4], **kw)
    b = gia.init_gap([16, 32], [2, 4], **kw)
    assert [r["value"] for r in a] == [r["value"] for r in b]
    s = gia.init_gap_summary(a)
    assert set(s.unique("quantity")) >= {"G0_bias", "K_bias", "G_fluct", "cross_ratio"}
    row = s.where(n=32, L=4, quantity="G_fluct")[0]
    assert row["lo"] <= row["value"] <= row["hi"] and row["value"] > 0


def _coupling(backward, n=256, L=8, steps=2, seed=0):
    task = make_teacher_task(d=8, n_train=4, n_test=1, seed=0, dtype=torch.float64)
    m = ResNet(8, 1, n, L, backward=backward, seed=seed, dtype=torch.float64)
    return coupling_trajectory(m, task.X_train, task.Y_train, lr=0.5, steps=steps)


def _one(rec, q, step=1):
    return rec.where(quantity=q, step=step, layer=None)[0]["value"]


def test_coupling_is_noise_for_decoupled_and_signal_for_true_networks():
    true, dec = _coupling("true"), _coupling("decoupled")
    # Decoupled: W never multiplied the backward vectors, so the explained part is at its noise floor.
    assert _one(dec, "coupling_sum") < 1.6 * _one(dec, "floor_sum")
    # True: well above the floor after one step, and of the order of the training drift.
    assert _one(true, "coupling_sum") > 3 * _one(true, "floor_sum")
    assert _one(true, "excess_sum") > 0.3 * _one(true, "drift_sum")
    # Per layer, the reused-weight term of the true network also exceeds its floor on average.
    c = np.array([r["value"] for r in true.where(quantity="coupling", step=1)])
    f = np.array([r["value"] for r in true.where(quantity="floor", step=1)])
    assert np.mean(c ** 2) > 2 * np.mean(f ** 2)
    # The backward decomposition exists for the true network only.
    assert true.where(quantity="bwd_total_sum") and not dec.where(quantity="bwd_total_sum")


def test_coupling_noise_floor_shrinks_with_width():
    floors = [_one(_coupling("decoupled", n=n, L=4, steps=1), "floor_sum") for n in (64, 1024)]
    assert floors[1] < 0.5 * floors[0]  # ~ n^{-1/2}: a factor 4 expected


def test_coupling_seeds_reproduce_and_summary():
    a, b = _coupling("true", n=64, L=3), _coupling("true", n=64, L=3)
    assert [r["value"] for r in a] == [r["value"] for r in b]
    rec = coupling_sweep([64], [2, 4], seeds=(0, 1), steps=1, P=3, d=5, progress=False)
    s = coupling_summary(rec, step=1)
    row = s.where(backward="true", L=4, quantity="sum_excess")[0]
    assert row["value"] > 0 and row["seeds"] == 2


def test_paired_training_gaps():
    task = make_teacher_task(d=8, n_train=8, n_test=8, seed=0)
    rec = gia.paired_training(task, n=128, L=4, seeds=(0, 1), lr=0.5, steps=3, probe=8, progress=False)
    # Same forward weights: the outputs agree at step 0, and a decoupled step moves f less than a true one.
    r1 = gia.paired_gap_summary(rec, "update_ratio", by=("L",), step=1)[0]
    assert 0.4 < r1["value"] < 1.0
    assert rec.where(quantity="train_loss", backward="decoupled", step=0)[0]["value"] == pytest.approx(
        rec.where(quantity="train_loss", backward="true", step=0)[0]["value"])
    gaps = gia.paired_gap_summary(rec, "out_gap", by=("L",))
    assert gaps[0]["value"] > 0 and gaps[0]["step"] == 3


def test_extrapolation_recovers_a_known_limit():
    rng = np.random.default_rng(0)
    n, L, y = [], [], []
    for nn in (64, 128, 256, 512):
        for LL in (4, 8, 16, 32):
            for _ in range(3):
                n.append(nn)
                L.append(LL)
                y.append(2.0 + 30.0 / nn - 1.5 / LL + 0.01 * rng.standard_normal())
    fit = extrapolate(n, L, y)
    assert abs(fit.limit - 2.0) < 3 * fit["se"] and fit["se"] < 0.01  # the known limit, within its error
    assert fit.predict(n=64, L=4) == pytest.approx(2.0 + 30 / 64 - 1.5 / 4, abs=0.02)
    # Missing the 1/L term: the residual rms shows the misfit.
    bad = extrapolate(n, L, y, terms=("1/n",))
    assert bad["residual_rms"] > 10 * fit["residual_rms"]


@pytest.mark.parametrize("call, arg", [
    (lambda: gia.init_gap([0], [2], progress=False), "widths"),
    (lambda: gia.init_gap([8], [2], seeds=(), progress=False), "seeds"),
    (lambda: gia.init_statistics(ResNet(3, 1, 8, 2), torch.randn(2, 3)),
     "init_statistics needs a model built with backward='decoupled'"),
    (lambda: gia.init_statistics(ResNet(3, 2, 8, 2, backward="decoupled"), torch.randn(2, 3)),
     r"init_statistics needs a scalar-output model \(d_out=1\), got d_out=2"),
    (lambda: coupling_trajectory(ResNet(3, 1, 8, 2, block="two"), torch.randn(2, 3), torch.randn(2, 1),
                                     lr=0.1, steps=1), "model.block must be 'one'"),
    (lambda: coupling_trajectory(ResNet(3, 1, 8, 2), torch.randn(2, 3), torch.randn(2, 1), lr=-1.0, steps=1),
     "lr"),
    (lambda: coupling_trajectory(ResNet(3, 1, 8, 2), torch.randn(2, 3), torch.randn(2, 1), lr=0.1, steps=0),
     "steps"),
    (lambda: coupling_trajectory(ResNet(3, 1, 8, 2, preact=False), torch.randn(2, 3), torch.randn(2, 1),
                                     lr=0.1, steps=1), r"model must use pre-activation blocks \(preact=True\)"),
    (lambda: coupling_sweep([8], [2], backwards=("sideways",), progress=False), "backward"),
    (lambda: extrapolate([1, 2, 3], [1, 2, 3], [1, 2, 3], terms=("1/x",)), "terms"),
    (lambda: extrapolate([8, 16], [2, 4], [1.0, 2.0]), r"extrapolate needs more finite points \(2\)"),
    (lambda: first_step_ratio_theory(-1.0), "T"),
    (lambda: first_step_ratio_theory(1.0, activation="gelu"), "activation"),
    (lambda: gia.paired_training(make_teacher_task(), n=8, L=2, probe=0, progress=False), "probe"),
])
def test_bad_input_raises(call, arg):
    # anchored: the message starts with the argument's name ("n must ...") or with the function's own phrasing
    with pytest.raises(ValueError, match=rf"^{arg}\b" if re.fullmatch(r"\w+", arg) else rf"^{arg}"):
        call()


@pytest.fixture
def _restore_couplings():
    from nfdlib.nfd import COUPLINGS

    before = dict(COUPLINGS)
    yield
    COUPLINGS.clear()
    COUPLINGS.update(before)


def test_run_experiment_caches_and_limit_runs(tmp_path, monkeypatch, _restore_couplings):
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    cfg = dict(widths=[8], depths=[2], seeds=[0, 1], P=3, d=5)
    first = gia.run_experiment("init_gap", cfg, progress=False)
    assert list(tmp_path.glob("gia_init_gap-*.json"))
    again = gia.run_experiment("init_gap", cfg, progress=False)
    assert [r["value"] for r in first] == [r["value"] for r in again]
    task = {"d": 4, "n_train": 3, "n_test": 2, "seed": 0}
    net = gia.run_experiment("limit_networks", dict(ns=[16], Ls=[2], seeds=[0], task=task, steps=2), cache=False)
    assert net["f_test"].shape == (1, 1, 1, 3, 2, 1)
    for coupling in ("decoupled", "reused"):
        sol = gia.run_experiment("limit_solver", dict(Ks=[2], M=64, seeds=[0], task=task, steps=2,
                                                      coupling=coupling), cache=False)
        assert sol["f_test"].shape == (1, 1, 3, 2, 1)
        assert gia.delta_outputs(sol).shape == (1, 1, 2)
    with pytest.raises(ValueError, match=r"^kind"):
        gia.run_experiment("nothing", {})
    with pytest.raises(ValueError, match=r"^coupling"):
        limit_solver(Ks=[2], M=8, seeds=[0], coupling="half", progress=False)


@pytest.mark.parametrize("L", [None, 4, 16])
def test_first_step_ratio_agrees_with_the_general_kernels_of_the_nfd_theory(L):
    # nfd.theory.first_step_kernels computes Theta_true and Theta_nfd for any inputs; on an input with |x|^2/d = 1
    # the diagonal ratio is the closed form of first_step_ratio_theory.
    from nfdlib.nfd.theory import first_step_kernels

    X = np.ones((1, 4))
    k = first_step_kernels(X, T=2.0, K=L)
    ratio = float(k["Theta_nfd"][0, 0] / k["Theta_true"][0, 0])
    assert ratio == pytest.approx(first_step_ratio_theory(2.0, L), rel=2e-3)


def test_paired_gap_summary_sorts_depths_numerically():
    # The rows of the summary come out in the order of the depths (2, 4, 8, 16), not as text (16, 2, 4, 8).
    from nfdlib.records import Records

    rec = Records({"L": L, "arch": a, "step": 1, "quantity": "loss_gap", "seed": s, "value": L + s}
                  for L in (16, 2, 8, 4) for a in ("b", "a") for s in (0, 1))
    rows = gia.paired_gap_summary(rec, "loss_gap", by=("L",))
    assert [r["L"] for r in rows] == [2, 4, 8, 16]
    assert [r["value"] for r in rows] == pytest.approx([2.5, 4.5, 8.5, 16.5])
    rows = gia.paired_gap_summary(rec, "loss_gap", by=("arch", "L"))
    assert [(r["arch"], r["L"]) for r in rows] == [(a, L) for a in ("a", "b") for L in (2, 4, 8, 16)]
