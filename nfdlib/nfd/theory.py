"""Deterministic NFD kernels at initialization: the variance ODEs along layer-time and their closed forms.

At SGD step 0 the forward SDE of the NFD system has no drift and a deterministic diffusion coefficient,

    dh_tau(x) = dZ_tau(x),        d<Z(x), Z(x')>_tau = Phi_tau(x, x') dtau,

(``Z`` and ``Zb`` are the Gaussian martingales of docs/reconstruction.md, section 2), so ``h_tau`` is a centred
Gaussian process over inputs with covariance ``q_tau(x, x') = E[h_tau(x) h_tau(x')]`` and (notebook 01, step e)

    dq_tau / dtau = Phi_tau = E[phi(h_tau(x)) phi(h_tau(x'))],      q_0(x, x') = x . x' / d.

The backward SDE ``-dg_tau = phi'(h_tau) dZb_tau`` with ``d<Zb> = G dtau`` and ``Zb`` independent of everything else
(the gradient-independence assumption, GIA) gives, entry by entry,

    dG_tau / dtau = -Psi_tau G_tau,    Psi_tau = E[phi'(h_tau(x)) phi'(h_tau(x'))],    G_T = Psi_T,

so ``G_tau = Psi_T * exp(int_tau^T Psi_s ds)``. Closed forms on the diagonal (``sigma = 1``):

* ReLU: ``E[phi(h)^2] = q/2``, ``E[phi'(h)^2] = 1/2``: ``q_T = q_0 e^{T/2}``, ``G_T = 1/2``, ``G_0 = G_T e^{T/2}``.
* identity: ``q_tau = q_0 e^{tau}`` for every pair of inputs, ``G_tau = e^{T - tau}``.

A depth-``K`` network at infinite width follows the Euler recursion of the same equations (``d tau = T/K``),

    q_{j+1} = q_j + dtau Phi(q_j),        G_K = Psi(q_K),       G_{j-1} = G_j * (1 + dtau Psi(q_{j-1})),

which is what :func:`init_kernels` returns when ``K`` is given; with ``K=None`` it integrates the continuum ODE.
The difference between the two is the O(1/K) depth-discretization error at initialization.

The first SGD step follows from the same kernels: :func:`first_step_kernels` and :func:`first_step_ratio` give the
true and the decoupled (GIA) tangent kernels for any inputs (notebook 02), :func:`first_step_ratio_theory` their
diagonal ratio in closed form (notebook 03); :func:`postact_moments` the post-activation stream of notebook 00.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..activations import ACTIVATIONS, get_activation, get_activation_derivative
from ..validation import check_choice, check_float, check_int

# Gauss-Hermite nodes (probabilists' weight exp(-z^2/2)) for activations without closed-form expectations.
_GH_POINTS = 48


def _relu_pair(a, b, c):
    """E[relu(u) relu(w)] and E[relu'(u) relu'(w)] for (u, w) ~ N(0, [[a, c], [c, b]]) (arc-cosine kernels)."""
    norm = np.sqrt(np.maximum(a * b, 0.0))
    safe = np.where(norm > 0, norm, 1.0)
    cos = np.clip(np.where(norm > 0, c / safe, 1.0), -1.0, 1.0)
    theta = np.arccos(cos)
    phi_phi = norm / (2 * math.pi) * (np.sin(theta) + (math.pi - theta) * cos)
    dphi_dphi = (math.pi - theta) / (2 * math.pi)
    return phi_phi, dphi_dphi


def _quadrature_pair(activation, a, b, c):
    """The same two expectations by a 2-D Gauss-Hermite rule (tanh, gelu)."""
    z, w = np.polynomial.hermite_e.hermegauss(_GH_POINTS)
    w = w / w.sum()
    sa = np.sqrt(np.maximum(a, 0.0))
    sb = np.sqrt(np.maximum(b, 0.0))
    rho = np.where(sa * sb > 0, c / np.where(sa * sb > 0, sa * sb, 1.0), 0.0)
    rho = np.clip(rho, -1.0, 1.0)
    # u = sa z1, w = sb (rho z1 + sqrt(1 - rho^2) z2)
    z1, z2 = z[:, None], z[None, :]
    ww = w[:, None] * w[None, :]
    u = sa[..., None, None] * z1
    v = sb[..., None, None] * (rho[..., None, None] * z1 + np.sqrt(1 - rho**2)[..., None, None] * z2)
    phi = get_activation(activation)
    dphi = get_activation_derivative(activation)

    def ev(f):
        fu = f(torch.as_tensor(u, dtype=torch.float64)).numpy()
        fv = f(torch.as_tensor(v, dtype=torch.float64)).numpy()
        return (fu * fv * ww).sum(axis=(-2, -1))

    return ev(phi), ev(dphi)


def gaussian_expectations(activation: str, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Phi, Psi)`` with ``Phi[x, x'] = E[phi(h_x) phi(h_x')]`` and ``Psi[x, x'] = E[phi'(h_x) phi'(h_x')]``
    for a centred Gaussian vector ``h`` with covariance matrix ``q`` (shape ``(N, N)``)."""
    check_choice("activation", activation, ACTIVATIONS)
    q = np.asarray(q, dtype=float)
    diag = np.diag(q)
    a, b = diag[:, None] * np.ones_like(q), diag[None, :] * np.ones_like(q)
    if activation == "identity":
        return q.copy(), np.ones_like(q)
    if activation == "relu":
        return _relu_pair(a, b, q)
    return _quadrature_pair(activation, a, b, q)


@dataclass
class InitKernels:
    """The NFD kernels at initialization on a layer-time grid (see the module docstring).

    ``tau`` has shape ``(J,)``; ``q``, ``Phi``, ``Psi``, ``G`` have shape ``(J, N, N)`` over the inputs.
    ``G`` is the kernel of one output's backward process (outputs are independent at initialization).
    ``K`` is the number of Euler steps (``None`` for the continuum ODE, solved on a fine grid).
    """

    tau: np.ndarray
    q: np.ndarray
    Phi: np.ndarray
    Psi: np.ndarray
    G: np.ndarray
    K: int | None
    activation: str
    T: float

    def at(self, tau: float) -> dict[str, np.ndarray]:
        """The kernels at the grid point nearest to ``tau``."""
        j = int(np.argmin(np.abs(self.tau - tau)))
        return {"tau": float(self.tau[j]), "q": self.q[j], "Phi": self.Phi[j], "Psi": self.Psi[j], "G": self.G[j]}


def input_kernel(X) -> np.ndarray:
    """``q_0(x, x') = x . x' / d``: the covariance of ``h_0 = U x / sqrt(d)`` with ``N(0, 1)`` entries of ``U``."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (inputs, d), got {X.shape}")
    return X @ X.T / X.shape[1]


def init_kernels(X, T: float = 1.0, activation: str = "relu", K: int | None = None,
                 fine_steps: int = 2048) -> InitKernels:
    """The initialization kernels ``q_tau, Phi_tau, Psi_tau, G_tau`` for inputs ``X`` (shape ``(N, d)``).

    ``K=None`` integrates the continuum ODEs ``dq/dtau = Phi(q)`` (classical RK4 on ``fine_steps`` steps, an
    O(fine_steps^-4) error) and ``G_tau = Psi_T exp(int_tau^T Psi)`` (Simpson's rule on the same grid); the
    returned grid has ``fine_steps + 1`` points. ``K`` an integer gives the Euler recursion of a depth-``K``
    network at infinite width, on ``K + 1`` points. Notebook 01, step (e).
    """
    T = check_float("T", T)
    check_choice("activation", activation, ACTIVATIONS)
    q0 = input_kernel(X)

    def rhs(q):
        return gaussian_expectations(activation, q)[0]

    if K is not None:
        K = check_int("K", K)
        dtau = T / K
        qs = [q0]
        for _ in range(K):
            qs.append(qs[-1] + dtau * rhs(qs[-1]))
        q = np.stack(qs)
        Phi, Psi = map(np.stack, zip(*(gaussian_expectations(activation, qj) for qj in q)))
        G = np.empty_like(q)
        G[K] = Psi[K]
        for j in range(K, 0, -1):
            G[j - 1] = G[j] * (1 + dtau * Psi[j - 1])
        tau = np.linspace(0.0, T, K + 1)
        return InitKernels(tau, q, Phi, Psi, G, K, activation, T)

    fine_steps = check_int("fine_steps", fine_steps, minimum=2)
    fine_steps += fine_steps % 2  # Simpson's rule needs an even number of intervals
    h = T / fine_steps
    qs = [q0]
    for _ in range(fine_steps):
        q = qs[-1]
        k1 = rhs(q)
        k2 = rhs(q + 0.5 * h * k1)
        k3 = rhs(q + 0.5 * h * k2)
        k4 = rhs(q + h * k3)
        qs.append(q + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4))
    q = np.stack(qs)
    Phi, Psi = map(np.stack, zip(*(gaussian_expectations(activation, qj) for qj in q)))
    # int_tau^T Psi by Simpson's rule between even grid points, trapezoid for the odd ones (both accurate to
    # far below the Monte Carlo errors this is compared with).
    integral = np.zeros_like(Psi)
    for j in range(fine_steps - 2, -1, -2):
        integral[j] = integral[j + 2] + h / 3 * (Psi[j] + 4 * Psi[j + 1] + Psi[j + 2])
    for j in range(fine_steps - 1, 0, -2):
        integral[j] = integral[j + 1] + h / 2 * (Psi[j] + Psi[j + 1])
    G = Psi[-1][None] * np.exp(integral)
    tau = np.linspace(0.0, T, fine_steps + 1)
    return InitKernels(tau, q, Phi, Psi, G, None, activation, T)


def first_step_kernels(X, T: float = 1.0, activation: str = "relu", K: int | None = None,
                       fine_steps: int = 2048) -> dict[str, np.ndarray]:
    """The kernels that set the first SGD step of the output, ``f(x, 1) - f(x, 0) = -eta sum_mu Theta(x, x_mu)
    chi_mu`` to first order in ``eta``, at infinite width (notebook 02, section 2).

    True backpropagation moves ``f`` with the neural tangent kernel; each term is a forward kernel times the
    backward kernel of the same layer (readout, hidden blocks, input layer)::

        Theta_true = Phi_T + int_0^T Phi_tau G_tau dtau + q_0 G_0

    The NFD system (and a decoupled network) updates the weights along its own backward vectors ``g_hat``, while
    the output responds along the true ones; what enters is the cross-covariance ``E[g_tau g_hat_tau]``. The two
    share the terminal value ``v phi'(h_T)`` and have independent noises below it, so the cross-covariance stays at
    ``Psi_T`` along the whole depth::

        Theta_nfd = Phi_T + int_0^T Phi_tau Psi_T dtau + q_0 Psi_T

    The difference is the variance that the backward noise adds to ``G_tau`` on its way down, which grows with
    ``T`` and does not depend on the number of layers. ``K`` gives the depth-``K`` sums instead of integrals.
    Returns ``Theta_true``, ``Theta_nfd`` and their three parts each (``readout``, ``hidden_*``, ``input_*``).
    """
    ik = init_kernels(X, T=T, activation=activation, K=K, fine_steps=fine_steps)
    J = len(ik.tau) - 1
    dtau = T / J
    if K is None:
        w = np.full(J + 1, dtau)
        w[0] = w[-1] = dtau / 2  # trapezoid rule on the fine grid
        hidden_true = np.einsum("j,jab,jab->ab", w, ik.Phi, ik.G)
        hidden_nfd = np.einsum("j,jab->ab", w, ik.Phi) * ik.Psi[-1]
    else:
        # block l uses Phi_{l-1} (its input) and G_l (the gradient at its output), l = 1..K
        hidden_true = dtau * np.einsum("jab,jab->ab", ik.Phi[:-1], ik.G[1:])
        hidden_nfd = dtau * ik.Phi[:-1].sum(0) * ik.Psi[-1]
    readout = ik.Phi[-1]
    input_true, input_nfd = ik.q[0] * ik.G[0], ik.q[0] * ik.Psi[-1]
    return {"Theta_true": readout + hidden_true + input_true, "Theta_nfd": readout + hidden_nfd + input_nfd,
            "readout": readout, "hidden_true": hidden_true, "hidden_nfd": hidden_nfd, "input_true": input_true,
            "input_nfd": input_nfd}


def first_step_ratio(X, chi0, T: float = 1.0, *, P: int | None = None, K: int | None = None,
                     fine_steps: int = 2048) -> float:
    """How much of a true first SGD step a decoupled (GIA) step makes, at infinite width: the projection
    ``<step_nfd, step_true> / |step_true|^2`` of ``step = -Theta[:, :P] chi0`` over all inputs ``X`` (the first
    ``P`` are the training inputs, ``chi0`` their loss derivatives at step 0). ReLU; ``K`` as in
    :func:`first_step_kernels`. About ``1 / (1 + T/4)``: set by the horizon ``T``, not by the depth (notebook 02,
    section 2)."""
    chi0 = np.asarray(chi0, float).ravel()
    P = len(chi0) if P is None else check_int("P", P)
    if len(chi0) != P:
        raise ValueError(f"chi0 must hold one value per training input (P = {P}), got {len(chi0)}")
    kernels = first_step_kernels(X, T=T, K=K, fine_steps=fine_steps)
    step_nfd, step_true = -kernels["Theta_nfd"][:, :P] @ chi0, -kernels["Theta_true"][:, :P] @ chi0
    return float(step_nfd @ step_true / (step_true @ step_true))


# (E[phi(h)^2] / q, E[phi'(h)^2]) at initialization, for the activations with closed forms
_MOMENTS = {"relu": (0.5, 0.5), "identity": (1.0, 1.0)}


def first_step_ratio_theory(T: float, L: int | None = None, *, activation: str = "relu",
                            trained: Sequence[str] = ("input", "hidden", "readout")) -> float:
    """Infinite-width ratio ``K_cross / K_true`` (diagonal, depth-muP, ``|x|^2/d = 1``) of the first SGD step.

    At initialization ``E[phi(h)^2] = kappa q`` and ``E[phi'(h)^2] = kappa'`` (ReLU: 1/2, 1/2; identity: 1, 1),
    so the forward kernel grows along depth, ``q_l = (1 + kappa T/L)^l``, and the true backward kernel grows
    backwards, ``G_l = kappa' (1 + kappa' T/L)^(L - l)`` (docs/reconstruction.md section 5). The decoupled
    gradient ``g^`` shares only the readout end with the true one, and the two backward noises are independent, so
    ``E[g_l g^_l] = G_L`` at every layer. A decoupled SGD step changes ``f`` through
    ``K_cross = sum_theta <grad_true f, grad_dec f>``, a true step through the NTK ``K_true``::

        K_true  = G_0 q_0 + sum_l (T/L) kappa q_{l-1} G_l + kappa q_L
        K_cross = G_L q_0 + sum_l (T/L) kappa q_{l-1} G_L + kappa q_L

    (terms kept according to ``trained``). ``L=None`` gives the continuum ``L -> infinity``: with all three
    roles trained and ReLU, ``1 / (1 + T/4)`` (0.8 at ``T = 1``); hidden layers only, ``(2/T)(1 - e^{-T/2})``.
    """
    T = check_float("T", T)
    kap, kap_d = _MOMENTS[check_choice("activation", activation, tuple(_MOMENTS))]
    trained = {check_choice("trained", t, ("input", "hidden", "readout")) for t in trained}
    if not trained:
        raise ValueError("trained must name at least one of 'input', 'hidden', 'readout'")
    if L is None:
        qT, GT, G0 = math.exp(kap * T), kap_d, kap_d * math.exp(kap_d * T)
        # int_0^T kappa e^{kappa t} kappa' e^{kappa' (T - t)} dt, and the same with G_L in place of G_t
        if abs(kap - kap_d) < 1e-12:
            hid_true = kap * kap_d * T * math.exp(kap * T)
        else:
            hid_true = kap * kap_d * (math.exp(kap * T) - math.exp(kap_d * T)) / (kap - kap_d)
        hid_cross = kap_d * (math.exp(kap * T) - 1.0)
    else:
        L = check_int("L", L)
        q = [(1 + kap * T / L) ** l for l in range(L + 1)]
        G = [kap_d * (1 + kap_d * T / L) ** (L - l) for l in range(L + 1)]
        qT, GT, G0 = q[L], G[L], G[0]
        hid_true = sum(T / L * kap * q[l - 1] * G[l] for l in range(1, L + 1))
        hid_cross = sum(T / L * kap * q[l - 1] * GT for l in range(1, L + 1))
    true = cross = 0.0
    if "input" in trained:
        true, cross = true + G0, cross + GT
    if "hidden" in trained:
        true, cross = true + hid_true, cross + hid_cross
    if "readout" in trained:
        true, cross = true + kap * qT, cross + kap * qT
    return cross / true


def closed_form_variances(activation: str, T: float = 1.0, q0: float = 1.0) -> dict[str, float]:
    """Closed forms on the diagonal at initialization: ``q_T`` (forward variance at ``tau = T``), ``G_T`` and
    ``G_0`` (backward variance at the output and at the input layer). ReLU and identity only."""
    check_choice("activation", activation, ("relu", "identity"))
    T = check_float("T", T)
    q0 = check_float("q0", q0)
    rate = 0.5 if activation == "relu" else 1.0
    G_T = 0.5 if activation == "relu" else 1.0
    return {"q_T": q0 * math.exp(rate * T), "G_T": G_T, "G_0": G_T * math.exp(rate * T), "rate": rate}


def closed_form_discrete(activation: str, T: float, K: int, q0: float = 1.0) -> dict[str, float]:
    """The same diagonal quantities for a depth-``K`` network at infinite width: ``(1 + rate T/K)^K`` in place
    of ``e^{rate T}``. Its distance to :func:`closed_form_variances` is the O(1/K) depth error at init."""
    check_choice("activation", activation, ("relu", "identity"))
    K = check_int("K", K)
    base = closed_form_variances(activation, T, q0)
    growth = (1 + base["rate"] * T / K) ** K
    return {"q_T": q0 * growth, "G_T": base["G_T"], "G_0": base["G_T"] * growth, "rate": base["rate"]}


def _gaussian_moments(activation: str, q: float) -> tuple[float, float]:
    """``(E[phi(Z)], E[phi(Z)^2])`` for ``Z ~ N(0, q)``: closed forms for ReLU and the identity, a Gauss-Hermite
    rule otherwise."""
    if activation == "relu":
        return math.sqrt(q / (2 * math.pi)), q / 2
    if activation == "identity":
        return 0.0, q
    z, w = np.polynomial.hermite_e.hermegauss(_GH_POINTS)
    w = w / w.sum()
    values = get_activation(activation)(torch.as_tensor(math.sqrt(q) * z, dtype=torch.float64)).numpy()
    return float((w * values).sum()), float((w * values**2).sum())


def postact_moments(T: float, L: int, q0: float = 1.0, activation: str = "relu") -> dict[str, np.ndarray]:
    """Mean-field moments of the post-activation residual stream at initialization (notebook 00, section 5).

    The block is ``h_l = h_{l-1} + a phi(W_l h_{l-1} / sqrt(n))`` with ``a = sqrt(T/L)`` and ``N(0, 1)`` weights
    (``ResNet(..., preact=False)``). At infinite width a coordinate of ``W_l h_{l-1} / sqrt(n)`` is ``N(0, q_{l-1})``
    with ``q = E[h^2]`` the stream's second moment, independent of the same coordinate of ``h_{l-1}``. With
    ``mu(q) = E[phi(Z)]`` and ``s(q) = E[phi(Z)^2]`` for ``Z ~ N(0, q)``, the mean ``m = E[h]`` and ``q`` obey

        m_l = m_{l-1} + a mu(q_{l-1}),        q_l = q_{l-1} + 2 a m_{l-1} mu(q_{l-1}) + a^2 s(q_{l-1}),

    from ``m_0 = 0`` and ``q_0``. For ReLU ``mu(q) = sqrt(q / 2 pi)``: each increment's mean is proportional to
    the current rms, so the growth compounds, and once the mean dominates the rms is multiplied by about
    ``1 + a / sqrt(2 pi)`` per block, ``rms(h_L) ~ exp(sqrt(T L / (2 pi)))`` up to a constant (no depth limit).
    Returns ``m`` and ``q`` as arrays over ``l = 0..L`` and ``rms = sqrt(q)``.
    """
    T = check_float("T", T)
    L = check_int("L", L)
    q0 = check_float("q0", q0)
    check_choice("activation", activation, ACTIVATIONS)
    a = math.sqrt(T / L)
    m, q = np.zeros(L + 1), np.zeros(L + 1)
    q[0] = q0
    for ell in range(1, L + 1):
        mu, s = _gaussian_moments(activation, q[ell - 1])
        m[ell] = m[ell - 1] + a * mu
        q[ell] = q[ell - 1] + 2 * a * m[ell - 1] * mu + a * a * s
    return {"m": m, "q": q, "rms": np.sqrt(q)}


__all__ = ["InitKernels", "gaussian_expectations", "input_kernel", "init_kernels", "first_step_kernels",
           "first_step_ratio", "first_step_ratio_theory", "closed_form_variances", "closed_form_discrete",
           "postact_moments"]
