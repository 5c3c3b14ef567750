"""The reused-weight NFD solver (coupling='reused'): Stein responses, registration, and agreement with wide
true networks where the decoupled solver disagrees."""

import numpy as np
import pytest
import torch

from nfdlib.data import make_teacher_task
from nfdlib.nfd import COUPLINGS, run_finite_network, simulate_nfd
from nfdlib.nfd.reused import ReusedNFDSolver, simulate_reused, stein_response


def test_stein_response_recovers_known_derivatives():
    # psi = relu(Z1) + 2 Z2 with correlated Gaussian Z: E[d psi/dZ] = (P(Z1 > 0), 2) = (1/2, 2), whatever the
    # correlation (Stein's lemma with the covariance divided out), and the kink of relu needs no special care.
    gen = torch.Generator().manual_seed(0)
    M = 200_000
    xi = torch.randn(M, 2, generator=gen, dtype=torch.float64)
    Z = torch.stack([xi[:, 0], 0.8 * xi[:, 0] + 0.6 * xi[:, 1]], 1)
    psi = torch.stack([torch.relu(Z[:, 0]) + 2 * Z[:, 1], Z[:, 0] ** 2], 1)
    D = stein_response(Z, psi)
    assert D.shape == (2, 2)
    np.testing.assert_allclose(D[:, 0].numpy(), [0.5, 2.0], atol=0.02)
    np.testing.assert_allclose(D[:, 1].numpy(), [0.0, 0.0], atol=0.03)  # E[2 Z1] = 0


def test_stein_response_handles_a_degenerate_history_and_bad_shapes():
    Z = torch.randn(1000, 1, dtype=torch.float64)
    Z = Z - Z.mean()  # an exactly centred sample, so the fit is exact
    Zdup = torch.cat([Z, Z], 1)  # two identical columns: one direction, the product Z D stays defined
    psi = 3 * Z
    D = stein_response(Zdup, psi)
    np.testing.assert_allclose((Zdup @ D).numpy(), (psi - psi.mean()).numpy(), atol=1e-8)
    with pytest.raises(ValueError, match=r"^Zhat and psi"):
        stein_response(torch.randn(10, 2), torch.randn(9, 1))
    with pytest.raises(ValueError, match=r"^rcond"):
        stein_response(torch.randn(10, 2), torch.randn(10, 1), rcond=-1.0)


def _task():
    return make_teacher_task(d=8, n_train=4, n_test=4, seed=0)


def test_registered_and_equal_to_decoupled_before_the_first_update():
    assert COUPLINGS["reused"] is ReusedNFDSolver
    task = _task()
    kw = dict(X_test=task.X_test, M=512, K=3, T=1.0, steps=2, lr=0.3, seed=4, kernel_layers=[0])
    dec = simulate_nfd(task.X_train, task.Y_train, coupling="decoupled", **kw)
    reu = simulate_reused(task.X_train, task.Y_train, **kw)
    again = simulate_reused(task.X_train, task.Y_train, **kw)
    assert reu.config["coupling"] == "reused"
    # Step 0 has no earlier backward products, so the forward passes coincide; afterwards the Z-dot terms act.
    np.testing.assert_allclose(reu.f_test[0], dec.f_test[0])
    assert not np.allclose(reu.f_test[2], dec.f_test[2])
    np.testing.assert_array_equal(reu.f_test, again.f_test)  # seeds reproduce


def test_reused_solver_matches_wide_true_networks_and_decoupled_does_not():
    """The stated error: 3 combined standard errors (network seeds and solver seeds) of the seed means."""
    task = _task()
    kw = dict(X_test=task.X_test, Y_test=task.Y_test, T=4.0, steps=4, lr=0.3, kernel_layers=[0])

    def delta_f(r):  # output changes after the first step, training and held-out inputs
        return np.concatenate([(r.f_train - r.f_train[:1])[1:].ravel(), (r.f_test - r.f_test[:1])[1:].ravel()])

    nets = np.array([delta_f(run_finite_network(task.X_train, task.Y_train, n=1024, L=2, backward="true", seed=s,
                                                **kw)) for s in range(8)])
    sol = {c: np.array([delta_f(simulate_nfd(task.X_train, task.Y_train, M=8192, K=2, coupling=c, seed=s,
                                             dtype=torch.float64, **kw)) for s in range(2)])
           for c in ("reused", "decoupled")}
    target = nets.mean(0)
    scale = np.linalg.norm(target)
    se_net = np.linalg.norm(nets.std(0, ddof=1)) / np.sqrt(len(nets))
    errors = {}
    for c, runs in sol.items():
        se = np.sqrt(se_net ** 2 + np.linalg.norm(runs.std(0, ddof=1)) ** 2 / len(runs))
        errors[c] = (np.linalg.norm(runs.mean(0) - target), se)
    err, se = errors["reused"]
    assert err < 3 * se, f"reused solver off by {err / scale:.3f} (3 SE = {3 * se / scale:.3f})"
    err_d, se_d = errors["decoupled"]
    assert err_d > 3 * se_d and err_d > 3 * err, f"decoupled solver too close to true: {err_d / scale:.3f}"
