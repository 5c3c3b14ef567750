"""The NFD particle solver (nfdlib.nfd) and the initialization kernels (nfdlib.nfd.theory)."""

import math

import numpy as np
import pytest
import torch

from nfdlib.data import make_teacher_task
from nfdlib.nfd import (
    COUPLINGS,
    ConditionalGaussian,
    NFDSolver,
    layers_at,
    register_coupling,
    run_finite_network,
    simulate_nfd,
)
from nfdlib.nfd.theory import closed_form_discrete, closed_form_variances, gaussian_expectations, init_kernels


@pytest.fixture(scope="module")
def task():
    return make_teacher_task(d=8, n_train=4, n_test=2, seed=3, dtype=torch.float64)


# -- initialization kernels: ODEs against closed forms ------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "identity"])
@pytest.mark.parametrize("T", [0.5, 2.0])
def test_init_ode_matches_closed_forms(task, activation, T):
    X = task.X_train.numpy()
    ik = init_kernels(X, T=T, activation=activation, fine_steps=256)
    cf = closed_form_variances(activation, T)
    q0 = np.diag(ik.q[0])
    np.testing.assert_allclose(np.diag(ik.q[-1]) / q0, cf["q_T"], rtol=1e-9)
    np.testing.assert_allclose(np.diag(ik.G[-1]), cf["G_T"], rtol=1e-12)
    np.testing.assert_allclose(np.diag(ik.G[0]), cf["G_0"], rtol=1e-8)
    # The Euler recursion of a depth-K network has (1 + rate T/K)^K in place of e^{rate T}.
    ikd = init_kernels(X, T=T, activation=activation, K=7)
    cd = closed_form_discrete(activation, T, 7)
    np.testing.assert_allclose(np.diag(ikd.q[-1]) / q0, cd["q_T"], rtol=1e-12)
    np.testing.assert_allclose(np.diag(ikd.G[0]), cd["G_0"], rtol=1e-12)
    assert abs(cd["q_T"] - cf["q_T"]) > 1e-3  # the depth error at K = 7 is visible


def test_identity_off_diagonal_and_relu_expectations(task):
    X = task.X_train.numpy()
    ik = init_kernels(X, T=1.0, activation="identity", fine_steps=128)
    np.testing.assert_allclose(ik.q[-1], ik.q[0] * math.e, rtol=1e-8)
    np.testing.assert_allclose(ik.G[0], np.full_like(ik.G[0], math.e), rtol=1e-8)
    # ReLU arc-cosine expectations against a Monte Carlo estimate.
    q = np.array([[1.0, 0.6], [0.6, 2.0]])
    Phi, Psi = gaussian_expectations("relu", q)
    rng = np.random.default_rng(0)
    h = rng.multivariate_normal([0, 0], q, size=400_000)
    r = np.maximum(h, 0)
    np.testing.assert_allclose(Phi, r.T @ r / len(h), atol=0.01)
    np.testing.assert_allclose(Psi, (h > 0).T.astype(float) @ (h > 0) / len(h), atol=0.005)
    # tanh by quadrature against Monte Carlo as well.
    Phi_t, _ = gaussian_expectations("tanh", q)
    t = np.tanh(h)
    np.testing.assert_allclose(Phi_t, t.T @ t / len(h), atol=0.005)


# -- the solver at initialization against the closed forms ------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_solver_matches_closed_forms_at_init(task, activation):
    K, T, seeds = 6, 1.0, 6
    runs = [simulate_nfd(task.X_train, task.Y_train, M=2048, K=K, T=T, steps=0, activation=activation, seed=s,
                         dtype=torch.float64) for s in range(seeds)]
    q0 = np.diag(task.X_train.numpy() @ task.X_train.numpy().T / task.X_train.shape[1])
    cd = closed_form_discrete(activation, T, K)
    # Phi_T on the diagonal is E[phi(h_T)^2] = q_T / 2 (ReLU) or q_T (identity); G_0 is G_T (1 + rate dtau)^K.
    half = 0.5 if activation == "relu" else 1.0
    phi_T = np.array([np.diag(r.Phi[-1, 0]) for r in runs]) / (half * q0 * cd["q_T"])
    G_0 = np.array([np.diag(r.G[0, 0]) for r in runs]) / cd["G_0"]
    for name, ratio in (("Phi_T", phi_T), ("G_0", G_0)):
        mean, se = ratio.mean(), ratio.mean(1).std(ddof=1) / math.sqrt(seeds)
        assert abs(mean - 1) < 4 * se + 1e-3, f"{name}: ratio {mean:.4f} +- {se:.4f}"
    # and the whole kernel matrices against the deterministic recursion, within a few standard errors
    ikd = init_kernels(task.X_train.numpy(), T=T, activation=activation, K=K)
    Phi = np.array([r.Phi[-1, 0] for r in runs])
    z = (Phi.mean(0) - ikd.Phi[-1]) / (Phi.std(0, ddof=1) / math.sqrt(seeds) + 1e-12)
    assert np.abs(z).max() < 5


def test_solver_at_init_depends_on_depth_like_the_euler_recursion(task):
    # q_T grows with K as (1 + T/(2K))^K: the solver at K = 1 and K = 8 must differ by the predicted amount.
    X, T = task.X_train, 2.0
    out = {}
    for K in (1, 8):
        runs = [simulate_nfd(X, task.Y_train, M=4096, K=K, T=T, steps=0, seed=s, dtype=torch.float64)
                for s in range(3)]
        out[K] = np.mean([np.trace(r.Phi[-1, 0]) for r in runs])
    predicted = closed_form_discrete("relu", T, 8)["q_T"] / closed_form_discrete("relu", T, 1)["q_T"]
    assert out[8] / out[1] == pytest.approx(predicted, rel=0.03)


@pytest.mark.parametrize("noise_grid", [2, 8])
def test_fine_noise_grid_keeps_the_variance_of_each_euler_step(task, noise_grid):
    # With the identity, q grows by (1 + dtau) per Euler step whatever grid the innovations are drawn on: an
    # innovation that sums noise_grid / K normals must still have unit variance. Normalizing the sum by m instead
    # of sqrt(m) leaves variance 1/m, so q_T = (1 + dtau/4)^K at noise_grid = 4K: 1.56 instead of 4 here.
    K, T, seeds = 2, 2.0, 4
    runs = [simulate_nfd(task.X_train, task.Y_train, M=2048, K=K, T=T, steps=0, activation="identity", seed=s,
                         noise_grid=noise_grid, dtype=torch.float64) for s in range(seeds)]
    q0 = np.diag(task.X_train.numpy() @ task.X_train.numpy().T / task.X_train.shape[1])
    ratio = np.array([np.diag(r.Phi[-1, 0]) for r in runs]) / (q0 * closed_form_discrete("identity", T, K)["q_T"])
    mean, se = ratio.mean(), ratio.mean(1).std(ddof=1) / math.sqrt(seeds)
    assert abs(mean - 1) < 4 * se + 0.02, f"noise_grid={noise_grid}: q_T ratio {mean:.4f} +- {se:.4f}"


def test_solves_on_one_noise_grid_share_their_brownian_paths(task):
    # K = 2 and K = 4 on the same fine grid (and seed) are two discretizations of one Brownian path, so their
    # terminal features differ by the O(1/K) Euler error only, far less than two independent draws differ.
    kw = dict(M=256, T=1.0, steps=0, activation="identity", seed=5, return_particles=True, dtype=torch.float64)
    h2, h4 = (simulate_nfd(task.X_train, task.Y_train, K=K, noise_grid=4, **kw).particles["h_T"][0] for K in (2, 4))
    h4_other = simulate_nfd(task.X_train, task.Y_train, K=4, noise_grid=4, **{**kw, "seed": 6}).particles["h_T"][0]
    coupled, independent = np.sqrt(np.mean((h2 - h4) ** 2)), np.sqrt(np.mean((h2 - h4_other) ** 2))
    assert coupled < 0.25 * independent


# -- reproducibility, structure ---------------------------------------------------------------------------
def test_reproducible_from_seed(task):
    kw = dict(X_test=task.X_test, Y_test=task.Y_test, M=64, K=4, steps=3, lr=0.5)
    a = simulate_nfd(task.X_train, task.Y_train, seed=7, **kw)
    b = simulate_nfd(task.X_train, task.Y_train, seed=7, **kw)
    c = simulate_nfd(task.X_train, task.Y_train, seed=8, **kw)
    np.testing.assert_array_equal(a.f_train, b.f_train)
    np.testing.assert_array_equal(a.Phi, b.Phi)
    np.testing.assert_array_equal(a.G, b.G)
    assert not np.allclose(a.f_train, c.f_train)


def test_result_structure_and_multi_output():
    task = make_teacher_task(d=6, n_train=3, n_test=2, outputs=2, seed=1)
    r = simulate_nfd(task.X_train, task.Y_train, X_test=task.X_test, Y_test=task.Y_test, M=32, K=4, steps=2,
                     lr=0.3, kernel_layers=layers_at(4, (0, 0.5, 1)), two_time_layers=[4], return_particles=True)
    assert r.f_train.shape == (3, 3, 2) and r.f_test.shape == (3, 2, 2)
    assert r.Phi.shape == (3, 3, 5, 5) and r.G.shape == (3, 3, 6, 6) and r.G_output(1).shape == (3, 3, 3, 3)
    assert list(r.kernel_layers) == [0, 2, 4] and np.allclose(r.kernel_tau, [0, 0.5, 1])
    assert r.two_time[4]["Phi"].shape == (15, 15)
    assert np.all(np.isfinite(r.Phi)) and np.all(np.isfinite(r.G)) and np.all(np.isfinite(r.train_loss))
    assert r.particles["h_T"].shape == (3, 32, 5) and r.particles["g_0"].shape == (3, 32, 6)
    # f is the particle average of v phi(h_T), and the recorded loss is the MSE of f.
    f = np.einsum("smc,smx->sxc", r.particles["v"], np.maximum(r.particles["h_T"], 0)) / 32
    np.testing.assert_allclose(f[:, :3], r.f_train, rtol=1e-4, atol=1e-6)
    Y = task.Y_train.numpy()
    np.testing.assert_allclose(r.train_loss, 0.5 * ((r.f_train - Y) ** 2).sum(-1).mean(-1), rtol=1e-6)
    # the equal-time kernel is the diagonal block of the two-time kernel (float32: the particle average is
    # symmetric only up to round-off, so the block and its transpose agree to about 1e-7)
    np.testing.assert_allclose(r.two_time[4]["Phi"][10:, 10:], r.Phi[-1, 2], rtol=1e-5, atol=1e-7)


def test_stored_kernels_are_particle_averages(task):
    # Phi_T and G_0 are the averages over the M particles (the law of one neuron), not unbiased covariances
    M = 16
    r = simulate_nfd(task.X_train, task.Y_train, X_test=task.X_test, M=M, K=3, steps=2, lr=0.4, seed=4,
                     return_particles=True, dtype=torch.float64)
    phi_T = np.maximum(r.particles["h_T"], 0)
    np.testing.assert_allclose(r.Phi[-1], np.einsum("smx,smy->sxy", phi_T, phi_T) / M, rtol=1e-10)
    g_0 = r.particles["g_0"]
    np.testing.assert_allclose(r.G[0], np.einsum("smx,smy->sxy", g_0, g_0) / M, rtol=1e-10)


def test_zero_learning_rate_reuses_the_same_brownian_motion(task):
    # With lr = 0 nothing changes between steps: the conditional sampling must redraw the same noise.
    r = simulate_nfd(task.X_train, task.Y_train, X_test=task.X_test, M=256, K=8, steps=3, lr=0.0, seed=2,
                     dtype=torch.float64)
    np.testing.assert_allclose(r.f_train, np.broadcast_to(r.f_train[:1], r.f_train.shape), atol=1e-4)
    np.testing.assert_allclose(r.Phi, np.broadcast_to(r.Phi[:, :1], r.Phi.shape), rtol=1e-3, atol=1e-6)


def test_training_reduces_the_loss(task):
    r = simulate_nfd(task.X_train, task.Y_train, M=512, K=8, steps=8, lr=0.5, seed=0)
    assert r.train_loss[-1] < 0.5 * r.train_loss[0]


# -- conditional sampling keeps the covariance across steps -----------------------------------------------
def test_conditional_gaussian_reproduces_a_target_covariance():
    rng = np.random.default_rng(0)
    b, S, M = 3, 5, 40_000
    # A covariance over (step, coordinate) with strongly correlated neighbouring steps (nearly singular).
    A = rng.standard_normal((b, b))
    space = A @ A.T + 0.5 * np.eye(b)
    t = np.arange(S)
    time_cov = np.exp(-0.5 * ((t[:, None] - t[None, :]) / 3.0) ** 2)
    target = np.kron(time_cov, space)
    cg = ConditionalGaussian(M, b, S, jitter=1e-10, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    for k in range(S):
        C_ow = torch.as_tensor(target[: k * b, k * b:(k + 1) * b])
        C_ww = torch.as_tensor(target[k * b:(k + 1) * b, k * b:(k + 1) * b])
        cg.sample(C_ow, C_ww, torch.randn(M, b, generator=gen, dtype=torch.float64))
    Z = cg.history.numpy()
    emp = Z.T @ Z / M
    scale = np.sqrt(np.outer(np.diag(target), np.diag(target)))
    assert np.abs(emp - target).max() / scale.max() < 6 * math.sqrt(2 / M)
    np.testing.assert_allclose(cg.covariance().numpy(), target, atol=1e-8)


def test_solver_noise_histories_keep_the_particle_kernel(task):
    # Inside the solver the targets are themselves particle averages (McKean-Vlasov); the drawn forward noise
    # over all (input, step) pairs must have the two-time kernel Phi_j as covariance, within Monte Carlo error.
    M, K, S, j = 4096, 4, 4, 2
    solver = NFDSolver(task.X_train, task.Y_train, X_test=task.X_test, M=M, K=K, steps=S, lr=0.5, seed=1,
                       two_time_layers=[j], dtype=torch.float64)
    solver.run()
    Z = solver.Z_hist[j].numpy()
    emp = Z.T @ Z / M
    target = solver.two_time[j]["Phi"]
    scale = np.sqrt(np.outer(np.diag(target), np.diag(target)))
    assert np.abs(emp - target).max() / scale.max() < 6 * math.sqrt(2 / M)
    # backward noise against the two-time G of the layer it is drawn with (Zb_hist index j - 1 for G_j)
    Zb = solver.Zb_hist[j - 1].numpy()
    emp_b = Zb.T @ Zb / M
    G = solver.two_time[j]["G"]
    scale_b = np.sqrt(np.outer(np.diag(G), np.diag(G)))
    assert np.abs(emp_b - G).max() / scale_b.max() < 6 * math.sqrt(2 / M)
    # and the steps really differ (training moved the kernel), so the test is not trivially satisfied
    N = task.X_train.shape[0] + task.X_test.shape[0]
    assert np.abs(target[:N, :N] - target[-N:, -N:]).max() > 0.01


# -- the solver is the decoupled network in distribution ----------------------------------------------------
def test_solver_agrees_with_decoupled_networks(task):
    kw = dict(X_test=task.X_test, T=1.0, steps=3, lr=0.5)
    seeds = range(10)
    nfd = np.array([simulate_nfd(task.X_train, task.Y_train, M=128, K=4, seed=s, **kw).train_loss for s in seeds])
    net = np.array([run_finite_network(task.X_train, task.Y_train, n=128, L=4, seed=s, backward="decoupled",
                                       **kw).train_loss for s in seeds])
    diff = nfd.mean(0) - net.mean(0)
    se = np.sqrt(nfd.var(0, ddof=1) / len(nfd) + net.var(0, ddof=1) / len(net))
    assert np.all(np.abs(diff[1:]) < 4 * se[1:] + 0.02 * net.mean(0)[1:])
    assert nfd.mean(0)[-1] < 0.8 * nfd.mean(0)[0]


# -- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    ({"M": 1}, "M"), ({"M": 2.5}, "M"), ({"K": 0}, "K"), ({"lr": float("nan")}, "lr"), ({"lr": float("inf")}, "lr"),
    ({"lr": -0.1}, "lr"), ({"activation": "swish"}, "activation"), ({"T": 0.0}, "T"), ({"steps": -1}, "steps"),
    ({"loss": "hinge"}, "loss"), ({"coupling": "bogus"}, "coupling"), ({"kernel_layers": [9]}, "kernel_layers"),
])
def test_bad_input_names_the_argument(task, kwargs, name):
    args = dict(M=8, K=2, steps=1, lr=0.1) | kwargs
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        simulate_nfd(task.X_train, task.Y_train, **args)


def test_bad_data_and_coupling_registry(task):
    with pytest.raises(ValueError, match=r"^Y_train"):
        simulate_nfd(task.X_train, task.Y_train[:2], M=8, K=2)
    with pytest.raises(ValueError, match=r"^X_test"):
        simulate_nfd(task.X_train, task.Y_train, X_test=torch.zeros(2, 3), M=8, K=2)
    bad = task.X_train.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^X_train"):
        simulate_nfd(bad, task.Y_train, M=8, K=2)
    with pytest.raises(ValueError, match=r"^coupling must be one of 'decoupled'"):
        simulate_nfd(task.X_train, task.Y_train, M=8, K=2, coupling="true")
    with pytest.raises(ValueError, match=r"^solver_class"):
        register_coupling("x", object)
    assert COUPLINGS["decoupled"] is NFDSolver


def test_subclass_hooks_extend_the_system(task):
    # The extension point used for the reused-weight terms: a subclass adds terms through the *_extra hooks and
    # registers itself; zero extras reproduce the decoupled solve exactly, nonzero ones change it.
    class ZeroExtra(NFDSolver):
        coupling = "test-zero"

        def forward_extra(self, j, k, h, Z, row):
            return torch.zeros_like(h)

        def backward_extra(self, j, k, g, Zb, row):
            return torch.zeros_like(g)

    class Shifted(NFDSolver):
        coupling = "test-shift"

        def forward_extra(self, j, k, h, Z, row):
            return 0.01 * torch.ones_like(h)

    kw = dict(M=64, K=4, steps=2, lr=0.5, seed=3)
    try:
        register_coupling("test-zero", ZeroExtra)
        register_coupling("test-shift", Shifted)
        base = simulate_nfd(task.X_train, task.Y_train, **kw)
        zero = simulate_nfd(task.X_train, task.Y_train, coupling="test-zero", **kw)
        shift = simulate_nfd(task.X_train, task.Y_train, coupling="test-shift", **kw)
    finally:
        COUPLINGS.pop("test-zero", None)
        COUPLINGS.pop("test-shift", None)
    np.testing.assert_array_equal(base.f_train, zero.f_train)
    assert zero.config["coupling"] == "test-zero"
    assert not np.allclose(base.f_train, shift.f_train)


@pytest.mark.parametrize("T", [0.25, 1.0, 4.0])
def test_first_step_kernels_relu_closed_form(task, T):
    # On the diagonal (ReLU): Theta_true = q0 e^{T/2} (1 + T/4), Theta_nfd = q0 e^{T/2}, ratio 1 / (1 + T/4).
    from nfdlib.nfd.theory import first_step_kernels

    X = task.X_train.numpy()
    k = first_step_kernels(X, T=T, fine_steps=512)
    q0 = np.diag(X @ X.T / X.shape[1])
    np.testing.assert_allclose(np.diag(k["Theta_true"]), q0 * math.exp(T / 2) * (1 + T / 4), rtol=1e-6)
    np.testing.assert_allclose(np.diag(k["Theta_nfd"]), q0 * math.exp(T / 2), rtol=1e-6)
    kd = first_step_kernels(X, T=T, K=64)
    np.testing.assert_allclose(kd["Theta_nfd"], k["Theta_nfd"], rtol=0.05)


@pytest.mark.parametrize("K", [None, 1, 5])
def test_first_step_kernels_identity_closed_form(task, K):
    # With the identity (Psi = 1) every term has a closed form. Depth K, dtau = T / K, growth r = 1 + dtau:
    # Phi_j = q0 r^j and G_l = r^(K - l), so the hidden-block sum over l = 1..K of dtau Phi_(l-1) G_l is
    # T q0 r^(K-1) (true) and dtau q0 (r^K - 1) / dtau = q0 (r^K - 1) (NFD: Phi_(l-1) Psi_T); the continuum
    # replaces r^K by e^T. A block read at the wrong layer (Phi_l for Phi_(l-1)) is off by a factor r.
    from nfdlib.nfd.theory import first_step_kernels

    X, T = task.X_train.numpy(), 1.5
    q0 = X @ X.T / X.shape[1]
    k = first_step_kernels(X, T=T, activation="identity", K=K, fine_steps=2048)
    grow, grow_less_one = (math.exp(T), math.exp(T)) if K is None else ((1 + T / K) ** K, (1 + T / K) ** (K - 1))
    tol = 1e-6 if K is None else 1e-12
    np.testing.assert_allclose(k["hidden_nfd"], q0 * (grow - 1), rtol=tol)
    np.testing.assert_allclose(k["hidden_true"], T * q0 * grow_less_one, rtol=tol)
    np.testing.assert_allclose(k["readout"], q0 * grow, rtol=tol)
    np.testing.assert_allclose(k["input_true"], q0 * grow, rtol=tol)
    np.testing.assert_allclose(k["input_nfd"], q0, rtol=tol)


def test_layers_at_rounds_to_the_nearest_grid_index():
    assert layers_at(10, (0.26, 0.74)) == [3, 7]  # nearest, not the grid index below
    assert layers_at(4) == [0, 1, 2, 3, 4]


def test_first_step_of_solver_and_networks_follow_their_kernels(task):
    # To first order in the rate, f(1) - f(0) = -eta Theta chi(0): Theta_nfd for the solver (and decoupled
    # networks), the NTK Theta_true for true backpropagation. The two kernels differ by ~20% at T = 1, so this
    # tells the two apart.
    from nfdlib.nfd.theory import first_step_kernels

    eta, K = 0.05, 8
    X_all = torch.cat([task.X_train, task.X_test])
    th = first_step_kernels(X_all.numpy(), T=1.0, K=K)
    P = task.X_train.shape[0]

    def predicted(r, which):
        chi = (r.f_train[0, :, 0] - task.Y_train.numpy()[:, 0]) / P
        return -eta * th[which][:, :P] @ chi

    def measured(r):
        return np.concatenate([r.f_train[1] - r.f_train[0], r.f_test[1] - r.f_test[0]])[:, 0]

    kw = dict(X_test=task.X_test, steps=1, lr=eta)
    sol = simulate_nfd(task.X_train, task.Y_train, M=4096, K=K, seed=0, dtype=torch.float64, **kw)
    err = {w: rms_rel(measured(sol), predicted(sol, w)) for w in ("Theta_nfd", "Theta_true")}
    assert err["Theta_nfd"] < 0.09 and err["Theta_true"] > 1.8 * err["Theta_nfd"], err
    # one network's kernels fluctuate by O(n^-1/2): average the step over a few seeds
    for backward, right, wrong in (("true", "Theta_true", "Theta_nfd"), ("decoupled", "Theta_nfd", "Theta_true")):
        nets = [run_finite_network(task.X_train, task.Y_train, n=512, L=K, seed=s, backward=backward,
                                   dtype=torch.float64, **kw) for s in range(6)]
        step = np.mean([measured(r) for r in nets], 0)
        err = {w: rms_rel(step, np.mean([predicted(r, w) for r in nets], 0)) for w in (right, wrong)}
        assert err[right] < 0.09 and err[wrong] > 1.8 * err[right], (backward, err)


def rms_rel(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2) / np.mean(b**2)))


def test_blown_up_solve_raises_floating_point_error_and_float64_solves_long():
    # A blown-up state must give a clear error, not linalg.eigh's "failed to converge".
    cg = ConditionalGaussian(4, 2, 3)
    cg.sample(torch.zeros(0, 2), torch.eye(2), torch.zeros(4, 2))
    with pytest.raises(FloatingPointError, match="non-finite"):
        cg.sample(torch.eye(2), torch.full((2, 2), float("inf")), torch.zeros(4, 2))
    # float64 keeps a 20-step solve finite and converging where float32 round-off blows up (simulate_nfd docs).
    task = make_teacher_task(d=16, n_train=8, n_test=4, seed=0)
    long = simulate_nfd(task.X_train, task.Y_train, M=256, K=8, steps=20, lr=0.5, dtype=torch.float64)
    assert np.all(np.isfinite(long.train_loss)) and long.train_loss[-1] < 0.01 * long.train_loss[0]


@pytest.mark.parametrize("fractions", [(0.0, 1.5), (-0.1,), ()])
def test_layers_at_refuses_fractions_outside_the_horizon(fractions):
    with pytest.raises(ValueError, match=r"^fractions must be layer-time fractions in \[0, 1\]"):
        layers_at(8, fractions)
    assert layers_at(8, (0.0, 0.5, 1.0)) == [0, 4, 8]


# -- notebook 02's first-step and bias helpers (nfdlib.nfd.runs) ---------------------------------------------
def _runs_with_first_step(f0, step):
    """A run dict of two steps: outputs f0 at step 0 and f0 + step at step 1 (seeds, inputs) -> (seeds, 2, P, 1)."""
    return {"f_train": np.stack([f0, f0 + step], axis=1)[..., None]}


def test_predicted_first_step_is_minus_lr_theta_chi():
    from nfdlib.nfd.runs import predicted_first_step

    rng = np.random.default_rng(0)
    R, P, N, lr = 3, 4, 6, 0.5
    f0, y = rng.normal(size=(R, P)), rng.normal(size=(P, 1))
    theta = rng.normal(size=(N, N))
    pred = predicted_first_step(_runs_with_first_step(f0, 0 * f0), theta, y, lr)
    assert pred.shape == (R, N)
    for s in range(R):
        chi0 = (f0[s] - y[:, 0]) / P
        np.testing.assert_allclose(pred[s], -lr * theta[:, :P] @ chi0)


def test_first_step_ratio_and_bootstrap_intervals():
    from nfdlib.nfd.runs import first_step_intervals, measured_step_ratio

    rng = np.random.default_rng(1)
    R, P = 8, 5
    f0 = rng.normal(size=(R, P))
    true_step = rng.normal(size=P) + 0.1 * rng.normal(size=(R, P))
    true, decoupled = _runs_with_first_step(f0, true_step), _runs_with_first_step(f0, 0.8 * true_step)
    assert measured_step_ratio(decoupled, true) == pytest.approx(0.8)
    assert measured_step_ratio(true, true) == pytest.approx(1.0)
    # the true step equals the NTK prediction exactly and is 100% off the other one (half of it)
    ratio, preference = first_step_intervals(true, decoupled, true_step, 0.5 * true_step, boot=200)
    assert ratio[0] == pytest.approx(0.8) and ratio[1] == pytest.approx(0.8) and ratio[2] == pytest.approx(0.8)
    assert preference == pytest.approx((1.0, 1.0, 1.0))
    # swapping the predictions turns the preference around
    assert first_step_intervals(true, decoupled, 0.5 * true_step, true_step, boot=200)[1][0] < 0


def test_seen_bias_fit_uses_only_biases_above_twice_their_floor():
    from nfdlib.nfd.runs import seen_bias_fit

    sizes = np.array([8, 16, 32, 64, 128])
    bias = 3.0 / sizes
    fit, seen = seen_bias_fit(sizes, bias, np.full(5, 1e-4))
    assert seen == [8, 16, 32, 64, 128] and fit.slope == pytest.approx(-1.0)
    fit, seen = seen_bias_fit(sizes, bias, np.array([1e-4, 1e-4, 1e-4, 0.5, 0.5]))
    assert seen == [8, 16, 32] and fit.slope == pytest.approx(-1.0)
    assert seen_bias_fit(sizes, bias, np.array([1e-4, 1e-4, 1.0, 1.0, 1.0])) == (None, [8, 16])


def test_init_width_errors_splits_fluctuation_and_bias():
    from nfdlib.nfd.runs import errors_by_size, init_width_errors

    rng = np.random.default_rng(2)
    reference = np.eye(3) + 0.5
    # a few networks per width fluctuate by n^-1/2 around the reference; the narrow networks' mean is off by 2/n
    samples = {n: reference + rng.normal(size=(6, 3, 3)) / math.sqrt(n) for n in (64, 256, 1024, 4096)}
    moments = {n: {"seeds": np.array(10**6), "Phi_mean": np.stack([reference * (1 + 2.0 / n)] * 2),
                   "Phi_var": np.full((2, 3, 3), 1.0 / n)} for n in (8, 16, 32, 64)}
    fit, fit_bias, errs, bias, floor, seen = init_width_errors(samples, moments, "Phi", 1, reference)
    assert fit.slope == pytest.approx(-0.5, abs=0.1)
    assert fit_bias.slope == pytest.approx(-1.0, abs=0.01) and seen == [8, 16, 32, 64]
    scale = float(np.sqrt(np.mean(reference**2)))
    np.testing.assert_allclose(bias, [2.0 / n for n in (8, 16, 32, 64)], rtol=0.01)
    np.testing.assert_allclose(floor, [math.sqrt(1.0 / n / 10**6) / scale for n in (8, 16, 32, 64)])
    np.testing.assert_allclose(errs["per_seed"], errors_by_size(samples, reference, scale=scale)["per_seed"])
