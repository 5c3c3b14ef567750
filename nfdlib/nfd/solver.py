"""The NFD particle solver: the forward-backward McKean-Vlasov SDE in layer-time, trained by full-batch SGD.

A particle solver for Neural Feature Dynamics (NFD): the forward-backward McKean-Vlasov SDE of a depth-muP
ResNet trained by full-batch SGD, in the joint infinite-width and infinite-depth limit (notebooks 01 and 02).

The system (docs/reconstruction.md section 5; a reconstruction, not the paper's text). Each particle is one neuron
``(u, v, h_tau(x, k), g_tau(x, c, k))``: input weights ``u ~ N(0, I_d)``, readout ``v(0) ~ N(0, I_C)``, features
``h`` for every input ``x`` and SGD step ``k``, and one backward process ``g`` per training input and output
``c``. Layer-time ``tau = j T / K`` on ``K`` Euler-Maruyama steps (``dtau = T / K``), ``M`` particles, base
rate ``eta`` (the finite network's ``lr``; every matrix trains at ``eta * n``), ``chi_{mu c}(k)`` the loss
derivative divided by ``P``:

    h_0(x, k)     = u . x / sqrt(d) - eta sum_{k'<k} sum_{mu c} chi_{mu c}(k') (x . x_mu / d) g_0(mu, c, k')
    h_{j+1}(x, k) = h_j(x, k) + sqrt(dtau) Z_{j+1}(x, k)
                    - dtau eta sum_{k'<k} sum_{mu c} chi_{mu c}(k') Phi_j(x, k; mu, k') g_{j+1}(mu, c, k')
    v_c(k)        = v_c(0) - eta sum_{k'<k} sum_mu chi_{mu c}(k') phi(h_K(mu, k'))
    f_c(x, k)     = E[v_c(k) phi(h_K(x, k))]
    g_K(mu, c, k) = v_c(k) phi'(h_K(mu, k))
    g_{j-1}       = g_j + phi'(h_{j-1}(mu, k)) [ sqrt(dtau) Zb_j(mu, c, k)
                    - dtau eta sum_{k'<k} sum_{mu' c'} chi_{mu' c'}(k') G_j(mu c, k; mu' c', k') phi(h_{j-1}(mu', k')) ]

with the McKean-Vlasov kernels (particle averages) ``Phi_j(x, k; x', k') = E[phi(h_j(x, k)) phi(h_j(x', k'))]``
and ``G_j(mu c, k; mu' c', k') = E[g_j(mu, c, k) g_j(mu', c', k')]``. The forward noise ``Z_{j+1}`` is a centred
Gaussian over all (input, step) pairs with covariance ``Phi_j``, the backward noise ``Zb_j`` one over all
(training input, output, step) triples with covariance ``G_j``, independent of ``Z`` (``coupling='decoupled'``:
the gradient-independence assumption, notebook 03). Both are the *same* Gaussian process at every step (the
initial weights never change), so the step-``k`` block is drawn conditionally on the particle's own earlier
blocks (:class:`ConditionalGaussian`). With ``K = L`` and ``M = n`` this is the depth-``L`` decoupled network
``ResNet(..., backward="decoupled", parametrization="depth-mup")`` trained by :func:`nfdlib.training.train`
with ``loss="mse"`` (``0.5 |f - y|^2`` averaged over the batch), in distribution. It is *not* the limit of true
backpropagation: already the first step differs (:func:`nfdlib.nfd.theory.first_step_kernels`, notebook 02).

Costs, with ``N`` inputs (train + test), ``P`` training inputs, ``C`` outputs and ``S`` steps:
memory ``4 M (S + 1) ((2 K + 1) (N + P C))`` bytes in float32 for the particle histories (the conditional
sampling needs every earlier step) plus ``8 K (S + 1)^2 (N^2 + (P C)^2)`` bytes for the Cholesky factors;
time ``O(M K S^2 (N^2 + (P C)^2))`` for the particle updates and ``O(K S^3 (N^3 + (P C)^3))`` for the small
factorizations, which run on the CPU in float64 on every device; with ``noise_grid`` a multiple of ``K``, each
Euler step also draws ``noise_grid / K`` standard normals per particle and coordinate.

Extending the system: :class:`NFDSolver` computes each term in its own method (``forward_noise``,
``forward_drift``, ``forward_extra``, ``backward_noise``, ``backward_drift``, ``backward_extra``). A module
that adds terms (the reused-weight response terms of true backpropagation) subclasses it, overrides the
``*_extra`` hooks and calls :func:`register_coupling`; ``simulate_nfd(..., coupling=name)`` then runs it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..activations import ACTIVATIONS, get_activation, get_activation_derivative
from ..config import check_seed, get_device, make_generator
from ..training import LOSSES
from ..validation import check_bool, check_choice, check_float, check_int, known_arguments

Tensor = torch.Tensor



# ---------------------------------------------------------------------------------------------------------
# Conditional Gaussian sampling across SGD steps
# ---------------------------------------------------------------------------------------------------------
class ConditionalGaussian:
    """Draws a Gaussian process block by block, each block conditionally on the particle's earlier blocks.

    Block ``k`` (one SGD step) has ``b`` coordinates (inputs, or input-output pairs). Given the covariance of
    the new block with the ``k`` earlier ones, ``C_ow`` (shape ``(k b, b)``), and with itself, ``C_ww``::

        A = C_wo (C_oo + eps I)^{-1},   S = C_ww - A C_ow,   Z_new = A Z_old + S^{1/2} xi,   xi ~ N(0, I)

    ``C_oo`` never changes once written, so its Cholesky factor is extended by one block row per call
    (``O((k b)^2 b)`` work instead of refactorizing). ``S`` is symmetrized and its negative eigenvalues (from
    rounding, or from a rank-deficient kernel) are set to zero before ``eps`` is added; ``eps = jitter *`` the
    mean diagonal of ``C_ww``. ``A`` and ``S`` are shared by all particles; ``Z_old`` is each particle's own
    history. The factors live on the CPU in float64; the particle history on ``device`` in ``dtype``.
    """

    def __init__(self, particles: int, block: int, max_blocks: int, *, jitter: float = 1e-6,
                 device=None, dtype=torch.float32, history: Tensor | None = None):
        self.M = check_int("particles", particles, minimum=1)
        self.b = check_int("block", block)
        self.max_blocks = check_int("max_blocks", max_blocks)
        self.jitter = check_float("jitter", jitter, allow_zero=True)
        self.chol = torch.zeros(self.max_blocks * self.b, self.max_blocks * self.b, dtype=torch.float64)
        if history is None:
            history = torch.zeros(self.M, self.max_blocks * self.b, device=device, dtype=dtype)
        if tuple(history.shape) != (self.M, self.max_blocks * self.b):
            raise ValueError(f"history must have shape {(self.M, self.max_blocks * self.b)}, "
                             f"got {tuple(history.shape)}")
        self.history = history
        self.k = 0

    @property
    def blocks(self) -> int:
        """How many blocks have been drawn."""
        return self.k

    def past(self) -> Tensor:
        """The particles' earlier blocks, shape ``(M, k b)`` (a view)."""
        return self.history[:, : self.k * self.b]

    def sample(self, C_ow: Tensor, C_ww: Tensor, xi: Tensor) -> Tensor:
        """Draw block ``k`` from ``xi`` (standard normal, shape ``(M, b)``), store it and return it."""
        if self.k >= self.max_blocks:
            raise ValueError(f"all max_blocks={self.max_blocks} blocks have been drawn")
        b, kb = self.b, self.k * self.b
        C_ow = C_ow.to("cpu", torch.float64).reshape(kb, b)
        C_ww = C_ww.to("cpu", torch.float64).reshape(b, b)
        C_ww = 0.5 * (C_ww + C_ww.T)
        eps = self.jitter * max(float(torch.diagonal(C_ww).mean()), 1e-300)
        if kb:
            L_oo = self.chol[:kb, :kb]
            W = torch.linalg.solve_triangular(L_oo, C_ow, upper=False)  # L_oo^{-1} C_ow, shape (kb, b)
            S = C_ww - W.T @ W
            A_T = torch.linalg.solve_triangular(L_oo.T, W, upper=True)  # (C_oo + eps)^{-1} C_ow = A^T
        else:
            W = C_ow
            S = C_ww
            A_T = None
        S = 0.5 * (S + S.T)
        if not bool(torch.isfinite(S).all()):
            raise FloatingPointError("the conditional covariance went non-finite: the solve has blown up (a rate "
                                     "too large, or float32 round-off over many SGD steps; try dtype=torch.float64)")
        lam, Q = torch.linalg.eigh(S)
        S = (Q * lam.clamp(min=0.0)) @ Q.T + eps * torch.eye(b, dtype=torch.float64)
        R = torch.linalg.cholesky(S)
        self.chol[kb:kb + b, :kb] = W.T
        self.chol[kb:kb + b, kb:kb + b] = R
        xi = xi.to(self.history)
        Z = xi @ R.T.to(xi)
        if A_T is not None:
            Z = Z + self.past() @ A_T.to(xi)
        self.history[:, kb:kb + b] = Z
        self.k += 1
        return Z

    def covariance(self) -> Tensor:
        """The covariance the drawn blocks follow, ``F F^T`` with ``F`` the stored factor (CPU, float64)."""
        kb = self.k * self.b
        F = self.chol[:kb, :kb]
        return F @ F.T


# ---------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------
@dataclass
class NFDResult:
    """Trajectories of one NFD solve (or of one finite network, :func:`~nfdlib.nfd.finite.run_finite_network`),
    step by step.

    Shapes: ``S`` SGD steps, ``P`` training and ``Q`` test inputs, ``C`` outputs, ``J`` stored layers.

    ``steps``       ``(S+1,)``  0..S; entry ``k`` is measured before the ``k``-th update
    ``f_train``     ``(S+1, P, C)`` outputs on the training inputs; ``f_test`` ``(S+1, Q, C)`` or ``None``
    ``train_loss``  ``(S+1,)`` mean loss on the training inputs; ``test_loss`` ``(S+1,)`` (NaN without test set)
    ``tau``         ``(K+1,)`` the layer-time grid; ``kernel_layers`` ``(J,)`` indices into it, ``kernel_tau``
    ``Phi``         ``(J, S+1, N, N)`` equal-time feature kernel ``E[phi(h_tau(x,k)) phi(h_tau(x',k))]`` over the
                    ``N = P + Q`` inputs (training first)
    ``G``           ``(J, S+1, P C, P C)`` equal-time backward kernel ``E[g_tau(mu,c,k) g_tau(mu',c',k)]``, pairs
                    flattened as ``mu * C + c``; :meth:`G_output` gives one output's ``(J, S+1, P, P)`` block
    ``two_time``    ``{layer: {"Phi": ((S+1) N, (S+1) N), "G": ((S+1) P C, (S+1) P C)}}`` for the layers asked
                    for, step-major (``k * N + x``)
    ``particles``   ``None``, or (``return_particles=True``) ``u (M, d)``, ``v (S+1, M, C)``,
                    ``h_T (S+1, M, N)``, ``g_0 (S+1, M, P C)``
    ``config``      the settings; ``seconds`` the wall time
    """

    steps: np.ndarray
    f_train: np.ndarray
    f_test: np.ndarray | None
    train_loss: np.ndarray
    test_loss: np.ndarray
    tau: np.ndarray
    kernel_layers: np.ndarray
    Phi: np.ndarray
    G: np.ndarray
    two_time: dict = field(default_factory=dict)
    particles: dict | None = None
    config: dict = field(default_factory=dict)
    seconds: float = float("nan")

    @property
    def kernel_tau(self) -> np.ndarray:
        """Layer-times of the stored kernels."""
        return self.tau[self.kernel_layers]

    @property
    def num_outputs(self) -> int:
        return self.f_train.shape[-1]

    def G_output(self, c: int = 0) -> np.ndarray:
        """The backward kernel of output ``c``, shape ``(J, S+1, P, P)``."""
        C = self.num_outputs
        return self.G[:, :, c::C, c::C]

    def kernel_index(self, tau: float) -> int:
        """Index into ``kernel_layers`` of the stored layer nearest to layer-time ``tau``."""
        return int(np.argmin(np.abs(self.kernel_tau - tau)))

    def f(self, which: str = "train") -> np.ndarray:
        check_choice("which", which, ("train", "test"))
        return self.f_train if which == "train" else self.f_test

    def summary(self) -> dict:
        """Flat arrays for caching (``nfdlib.cache.cached(..., fmt="npz")``); particles and two-time kernels are
        left out."""
        out = {"steps": self.steps, "f_train": self.f_train, "train_loss": self.train_loss,
               "test_loss": self.test_loss, "tau": self.tau, "kernel_layers": self.kernel_layers,
               "Phi": self.Phi, "G": self.G, "seconds": np.array(self.seconds)}
        if self.f_test is not None:
            out["f_test"] = self.f_test
        return out


# ---------------------------------------------------------------------------------------------------------
# Input checks shared by the solver and the finite-network runner
# ---------------------------------------------------------------------------------------------------------
def _as_inputs(X_train, Y_train, X_test, Y_test):
    X_train = torch.as_tensor(X_train, dtype=torch.float64)
    if X_train.ndim != 2 or X_train.shape[0] < 1:
        raise ValueError(f"X_train must have shape (P, d) with P >= 1, got {tuple(X_train.shape)}")
    Y_train = torch.as_tensor(Y_train, dtype=torch.float64)
    if Y_train.ndim == 1:
        Y_train = Y_train[:, None]
    if Y_train.ndim != 2 or Y_train.shape[0] != X_train.shape[0]:
        raise ValueError(f"Y_train must have shape (P,) or (P, C) with P = {X_train.shape[0]}, "
                         f"got {tuple(Y_train.shape)}")
    if X_test is not None:
        X_test = torch.as_tensor(X_test, dtype=torch.float64)
        if X_test.ndim != 2 or X_test.shape[1] != X_train.shape[1]:
            raise ValueError(f"X_test must have shape (Q, {X_train.shape[1]}), got {tuple(X_test.shape)}")
        if Y_test is not None:
            Y_test = torch.as_tensor(Y_test, dtype=torch.float64)
            if Y_test.ndim == 1:
                Y_test = Y_test[:, None]
            if Y_test.shape != (X_test.shape[0], Y_train.shape[1]):
                raise ValueError(f"Y_test must have shape ({X_test.shape[0]}, {Y_train.shape[1]}), "
                                 f"got {tuple(Y_test.shape)}")
    elif Y_test is not None:
        raise ValueError("Y_test was given without X_test")
    for name, t in (("X_train", X_train), ("Y_train", Y_train), ("X_test", X_test), ("Y_test", Y_test)):
        if t is not None and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite")
    return X_train, Y_train, X_test, Y_test


def loss_and_chi(f: Tensor, Y: Tensor, loss: str) -> tuple[float, Tensor]:
    """Mean loss over the batch and ``chi = d loss / d f`` (shape ``(P, C)``, already divided by ``P``).

    ``mse``: ``0.5 |f - y|^2`` per input (as :func:`nfdlib.training.loss_fn`); ``xent``: cross-entropy with the
    labels ``argmax y``.
    """
    P = f.shape[0]
    if loss == "mse":
        diff = f - Y
        return float(0.5 * (diff**2).sum(-1).mean()), diff / P
    labels = Y.argmax(-1)
    logp = torch.log_softmax(f, -1)
    value = float(-logp[torch.arange(P), labels].mean())
    onehot = torch.zeros_like(f)
    onehot[torch.arange(P), labels] = 1.0
    return value, (logp.exp() - onehot) / P


def _check_layers(layers, K: int, name: str = "kernel_layers") -> np.ndarray:
    if layers is None:
        return np.arange(K + 1)
    arr = np.asarray(sorted(set(int(j) for j in layers)), dtype=int)
    if arr.size == 0 or arr.min() < 0 or arr.max() > K:
        raise ValueError(f"{name} must be layer indices in 0..{K}, got {list(layers)}")
    return arr


def layers_at(K: int, fractions=(0.0, 0.25, 0.5, 0.75, 1.0)) -> list[int]:
    """Grid indices nearest to the layer-times ``fraction * T`` on a ``K``-step grid."""
    K = check_int("K", K)
    fractions = [float(f) for f in fractions]
    if not fractions or not all(0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"fractions must be layer-time fractions in [0, 1], got {fractions}")
    return sorted({int(round(f * K)) for f in fractions})


# ---------------------------------------------------------------------------------------------------------
# The solver
# ---------------------------------------------------------------------------------------------------------
COUPLINGS: dict[str, type] = {}


def register_coupling(name: str, solver_class: type) -> None:
    """Make ``simulate_nfd(..., coupling=name)`` run ``solver_class`` (a subclass of :class:`NFDSolver`)."""
    if not (isinstance(solver_class, type) and issubclass(solver_class, NFDSolver)):
        raise ValueError("solver_class must be a subclass of NFDSolver")
    COUPLINGS[name] = solver_class


def coupling_solver(coupling: str) -> type:
    """The solver class registered under ``coupling`` (``"decoupled"``; ``"reused"``, registered by
    :mod:`nfdlib.nfd.reused`, which the package imports; or a name added by :func:`register_coupling`)."""
    if coupling not in COUPLINGS:
        raise ValueError(f"coupling must be one of {', '.join(repr(c) for c in COUPLINGS)}; got {coupling!r}")
    return COUPLINGS[coupling]


class NFDSolver:
    """The NFD particle system of the module docstring, one SGD step at a time.

    ``run()`` does, for ``k = 0..S``: :meth:`forward_sweep` (``tau: 0 -> T``, all inputs), the readout and loss,
    :meth:`backward_sweep` (``tau: T -> 0``, training inputs) and, for ``k < S``, :meth:`apply_updates` (the
    input-layer and readout drifts). Inside the sweeps each Euler step adds three terms, each from its
    own method so that a subclass can change one of them:

        h_{j+1} = h_j + sqrt(dtau) * forward_noise(j, k, ...) + dtau * forward_drift(j, k, ...)
                  + forward_extra(j, k, ...)
        g_{j-1} = g_j + phi'(h_{j-1}) * (sqrt(dtau) * backward_noise(j, k, ...) + dtau * backward_drift(j, k, ...))
                  + backward_extra(j, k, ...)

    State (all on ``device``): ``h_now (K+1, M, N)`` the current step's features; histories over steps, step-
    major in the last dimension: ``phi_hist (K+1, M, (S+1) N)`` = phi(h_j), ``Z_hist (K, M, (S+1) N)`` the forward
    noise of block ``j -> j+1``, ``g_hist (K+1, M, (S+1) P C)`` = g_j, ``Zb_hist (K, M, (S+1) P C)`` the backward
    noise of block ``j -> j-1`` (index ``j - 1``); ``chi (S+1, P, C)``; ``u (M, d)``, ``v (M, C)``.
    """

    coupling = "decoupled"

    @known_arguments
    def __init__(self, X_train, Y_train, *, X_test=None, Y_test=None, M: int = 1024, K: int = 32, T: float = 1.0,
                 steps: int = 10, lr: float = 0.5, activation: str = "relu", loss: str = "mse", seed: int = 0,
                 kernel_layers=None, two_time_layers=(), return_particles: bool = False,
                 jitter: float | None = None, noise_grid: int | None = None, device=None,
                 dtype: torch.dtype = torch.float32, progress: bool = False):
        self.M = check_int("M", M, minimum=2)
        self.K = check_int("K", K)
        self.noise_grid = self.K if noise_grid is None else check_int("noise_grid", noise_grid)
        if self.noise_grid % self.K:
            raise ValueError(f"noise_grid must be a multiple of K={self.K}, got {noise_grid}")
        self.T = check_float("T", T)
        self.S = check_int("steps", steps, minimum=0)
        self.lr = check_float("lr", lr, allow_zero=True)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.loss = check_choice("loss", loss, LOSSES)
        self.seed = check_seed(seed)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.dtype = dtype
        self.device = get_device(device)
        if self.device.type == "mps" and dtype == torch.float64:
            raise ValueError("dtype must be torch.float32 on MPS (no float64 there)")
        self.jitter = check_float("jitter", jitter if jitter is not None else
                                  (1e-6 if dtype == torch.float32 else 1e-10), allow_zero=True)
        X_train, Y_train, X_test, Y_test = _as_inputs(X_train, Y_train, X_test, Y_test)
        if self.loss == "xent" and Y_train.shape[1] < 2:
            raise ValueError("loss='xent' needs Y_train with C >= 2 columns (one-hot targets)")
        self.P, self.d = X_train.shape
        self.Q = 0 if X_test is None else X_test.shape[0]
        self.N = self.P + self.Q
        self.C = Y_train.shape[1]
        self.PC = self.P * self.C
        self.X = X_train if X_test is None else torch.cat([X_train, X_test])
        self.Y_train, self.Y_test = Y_train, Y_test
        self.kernel_layers = _check_layers(kernel_layers, self.K)
        self.two_time_layers = _check_layers(two_time_layers, self.K, "two_time_layers") if len(two_time_layers) \
            else np.zeros(0, dtype=int)
        self.return_particles = check_bool("return_particles", return_particles)
        self.progress = check_bool("progress", progress)
        self.dtau = self.T / self.K
        self.sqrt_dtau = math.sqrt(self.dtau)
        self.phi = get_activation(self.activation)
        self.dphi = get_activation_derivative(self.activation)
        self._allocate()

    # -- set-up -------------------------------------------------------------------------------------------
    def _allocate(self):
        M, K, S1, N, PC = self.M, self.K, self.S + 1, self.N, self.PC
        dev, dt = self.device, self.dtype
        self.gen = make_generator(self.seed)
        # Initial weights of each neuron: input row u and readout v(0), drawn on the CPU (same numbers everywhere).
        self.u = torch.randn(M, self.d, generator=self.gen, dtype=torch.float64)
        self.v = torch.randn(M, self.C, generator=self.gen, dtype=torch.float64).to(dev, dt)
        self.q0 = self.X @ self.X.T / self.d  # (N, N) float64, CPU
        self.h0_init = (self.u @ self.X.T / math.sqrt(self.d)).to(dev, dt)  # u . x / sqrt(d)
        self.h0_drift = torch.zeros(M, N, device=dev, dtype=dt)  # accumulated input-layer updates
        self.h_now = torch.zeros(K + 1, M, N, device=dev, dtype=dt)
        self.phi_hist = torch.zeros(K + 1, M, S1 * N, device=dev, dtype=dt)
        self.Z_hist = torch.zeros(K, M, S1 * N, device=dev, dtype=dt)
        self.g_hist = torch.zeros(K + 1, M, S1 * PC, device=dev, dtype=dt)
        self.Zb_hist = torch.zeros(K, M, S1 * PC, device=dev, dtype=dt)
        self.fwd = [ConditionalGaussian(M, N, S1, jitter=self.jitter, history=self.Z_hist[j]) for j in range(K)]
        self.bwd = [ConditionalGaussian(M, PC, S1, jitter=self.jitter, history=self.Zb_hist[j]) for j in range(K)]
        self.chi = torch.zeros(S1, self.P, self.C, dtype=torch.float64)
        J = len(self.kernel_layers)
        self._kernel_slot = {int(j): i for i, j in enumerate(self.kernel_layers)}
        self.Phi_store = np.full((J, S1, N, N), np.nan)
        self.G_store = np.full((J, S1, PC, PC), np.nan)
        self.two_time = {int(j): {"Phi": np.full((S1 * N, S1 * N), np.nan), "G": np.full((S1 * PC, S1 * PC), np.nan)}
                         for j in self.two_time_layers}
        self.f_train = np.full((S1, self.P, self.C), np.nan)
        self.f_test = np.full((S1, self.Q, self.C), np.nan) if self.Q else None
        self.train_loss = np.full(S1, np.nan)
        self.test_loss = np.full(S1, np.nan)
        if self.return_particles:
            self.particles = {"u": self.u.numpy().copy(), "v": np.zeros((S1, M, self.C)),
                              "h_T": np.zeros((S1, M, N)), "g_0": np.zeros((S1, M, PC))}
        else:
            self.particles = None

    def _draw(self, *shape) -> Tensor:
        """Standard normal draws on the CPU from the solver's generator, moved to the device."""
        return torch.randn(*shape, generator=self.gen, dtype=torch.float64).to(self.device, self.dtype)

    def _draw_layer(self, b: int) -> Tensor:
        """The standard normal driving one Euler step, ``(M, b)``: the normalized sum of the ``noise_grid / K``
        draws of the fine grid it covers. Solves with different ``K`` and the same ``noise_grid`` and seed are
        thereby driven by the same Brownian paths (coupled), which removes most of the Monte Carlo noise from
        their differences (the depth-discretization study of notebook 02)."""
        m = self.noise_grid // self.K
        xi = torch.randn(self.M, b, generator=self.gen, dtype=torch.float64)
        for _ in range(m - 1):
            xi += torch.randn(self.M, b, generator=self.gen, dtype=torch.float64)
        if m > 1:
            xi /= math.sqrt(m)
        return xi.to(self.device, self.dtype)

    def _kernel_row(self, hist: Tensor, now: Tensor, k: int, b: int) -> Tensor:
        """``E[a(past and now) a(now)]`` as a ``((k+1) b, b)`` float64 CPU tensor, given the history ``hist``
        (``(M, (S+1) b)``, blocks ``0..k-1`` filled) and the current block ``now`` (``(M, b)``)."""
        hist[:, k * b:(k + 1) * b] = now
        row = hist[:, : (k + 1) * b].mT @ now / self.M
        return row.to("cpu", torch.float64)

    def _store_kernel(self, kind: str, j: int, k: int, row: Tensor, b: int):
        if j in self._kernel_slot:
            store = self.Phi_store if kind == "Phi" else self.G_store
            store[self._kernel_slot[j], k] = row[k * b:].numpy()
        if j in self.two_time:
            full = self.two_time[j][kind]
            block = row.numpy()
            full[: (k + 1) * b, k * b:(k + 1) * b] = block
            full[k * b:(k + 1) * b, : (k + 1) * b] = block.T

    # -- forward sweep ------------------------------------------------------------------------------------
    def forward_noise(self, j: int, k: int, row: Tensor, xi: Tensor) -> Tensor:
        """``Z_{j+1}(., k)``: Gaussian with covariance ``Phi_j`` over (input, step), conditional on this
        particle's ``Z_{j+1}(., k')``, ``k' < k``. ``row`` is ``Phi_j(past and now; now)``."""
        N = self.N
        return self.fwd[j].sample(row[: k * N], row[k * N:], xi)

    def forward_drift(self, j: int, k: int, row: Tensor) -> Tensor | None:
        """``-eta sum_{k'<k} sum_{mu c} chi_{mu c}(k') Phi_j(x, k; mu, k') g_{j+1}(mu, c, k')``, shape ``(M, N)``:
        the accumulated hidden-weight updates acting on the current features."""
        if k == 0 or self.lr == 0:
            return None
        N, P, C = self.N, self.P, self.C
        cross = row[: k * N].reshape(k, N, N)[:, :P, :]  # Phi_j(mu, k'; x, k): (k, P, N)
        coef = -self.lr * self.chi[:k, :, :, None] * cross[:, :, None, :]  # (k, P, C, N)
        coef = coef.reshape(k * P * C, N).to(self.device, self.dtype)
        return self.g_hist[j + 1][:, : k * self.PC] @ coef

    def forward_extra(self, j: int, k: int, h: Tensor, Z: Tensor, row: Tensor) -> Tensor | None:
        """Additional terms of ``h_{j+1} - h_j`` (none for the decoupled system). Override in a subclass."""
        return None

    def forward_sweep(self, k: int) -> Tensor:
        """Features ``h_j(., k)`` for ``j = 0..K`` (stored in ``h_now``) and the output ``f(., k)``."""
        N = self.N
        h = self.h0_init + self.h0_drift
        for j in range(self.K):
            self.h_now[j] = h
            phi = self.phi(h)
            row = self._kernel_row(self.phi_hist[j], phi, k, N)
            self._store_kernel("Phi", j, k, row, N)
            Z = self.forward_noise(j, k, row, self._draw_layer(N))
            step = self.sqrt_dtau * Z
            drift = self.forward_drift(j, k, row)
            if drift is not None:
                step = step + self.dtau * drift
            extra = self.forward_extra(j, k, h, Z, row)
            if extra is not None:
                step = step + extra
            h = h + step
        self.h_now[self.K] = h
        phi_T = self.phi(h)
        row = self._kernel_row(self.phi_hist[self.K], phi_T, k, N)
        self._store_kernel("Phi", self.K, k, row, N)
        return (phi_T.mT @ self.v / self.M).to("cpu", torch.float64)  # f(x, k): (N, C)

    # -- backward sweep -----------------------------------------------------------------------------------
    def backward_noise(self, j: int, k: int, row: Tensor, xi: Tensor) -> Tensor:
        """``Zb_j(., k)``: Gaussian with covariance ``G_j`` over (training input, output, step), conditional on
        this particle's earlier steps, independent of the forward noise (GIA)."""
        PC = self.PC
        return self.bwd[j - 1].sample(row[: k * PC], row[k * PC:], xi)

    def backward_drift(self, j: int, k: int, row: Tensor) -> Tensor | None:
        """``-eta sum_{k'<k} sum_{mu' c'} chi_{mu' c'}(k') G_j(mu c, k; mu' c', k') phi(h_{j-1}(mu', k'))``,
        shape ``(M, P C)``: the accumulated updates acting through ``W^T`` on the current gradients."""
        if k == 0 or self.lr == 0:
            return None
        N, P, C, PC = self.N, self.P, self.C, self.PC
        cross = row[: k * PC].reshape(k, P, C, PC)  # G_j(mu' c', k'; mu c, k)
        coef = -self.lr * (self.chi[:k, :, :, None] * cross).sum(2)  # (k, P, PC)
        full = torch.zeros(k, N, PC, dtype=torch.float64)
        full[:, :P] = coef
        full = full.reshape(k * N, PC).to(self.device, self.dtype)
        return self.phi_hist[j - 1][:, : k * N] @ full

    def backward_extra(self, j: int, k: int, g: Tensor, Zb: Tensor, row: Tensor) -> Tensor | None:
        """Additional terms of ``g_{j-1} - g_j`` (none for the decoupled system). Override in a subclass."""
        return None

    def _expand(self, t: Tensor) -> Tensor:
        """``(M, P)`` -> ``(M, P C)``: one copy per output, matching the ``mu * C + c`` order."""
        return t.repeat_interleave(self.C, dim=1)

    def backward_sweep(self, k: int) -> Tensor:
        """Gradients ``g_j(mu, c, k)`` for ``j = K..0`` (stored in ``g_hist``); returns ``g_0`` ``(M, P C)``."""
        P, PC = self.P, self.PC
        g = (self.v[:, None, :] * self.dphi(self.h_now[self.K][:, :P])[:, :, None]).reshape(self.M, PC)
        for j in range(self.K, 0, -1):
            row = self._kernel_row(self.g_hist[j], g, k, PC)
            self._store_kernel("G", j, k, row, PC)
            Zb = self.backward_noise(j, k, row, self._draw_layer(PC))
            inner = self.sqrt_dtau * Zb
            drift = self.backward_drift(j, k, row)
            if drift is not None:
                inner = inner + self.dtau * drift
            step = self._expand(self.dphi(self.h_now[j - 1][:, :P])) * inner
            extra = self.backward_extra(j, k, g, Zb, row)
            if extra is not None:
                step = step + extra
            g = g + step
        row = self._kernel_row(self.g_hist[0], g, k, PC)
        self._store_kernel("G", 0, k, row, PC)
        return g

    # -- readout, loss and the input/readout updates --------------------------------------------------------
    def apply_updates(self, k: int, g0: Tensor):
        """The drifts of the input layer and of the readout after step ``k`` (docs/reconstruction.md section 5):
        ``h_0 -= eta sum_{mu c} chi_{mu c} (x . x_mu / d) g_0(mu, c)`` and
        ``v_c -= eta sum_mu chi_{mu c} phi(h_K(mu))``."""
        if self.lr == 0:
            return
        P, C, N = self.P, self.C, self.N
        chi = self.chi[k]  # (P, C)
        coef = -self.lr * chi[:, :, None] * self.q0[:P, None, :]  # (P, C, N)
        self.h0_drift += g0 @ coef.reshape(P * C, N).to(self.device, self.dtype)
        phi_T = self.phi(self.h_now[self.K][:, :P])
        self.v += phi_T @ (-self.lr * chi).to(self.device, self.dtype)

    def _record(self, k: int, f: Tensor):
        P = self.P
        f_train = f[:P]
        self.f_train[k] = f_train.numpy()
        value, chi = loss_and_chi(f_train, self.Y_train, self.loss)
        self.train_loss[k] = value
        self.chi[k] = chi
        if self.Q:
            self.f_test[k] = f[P:].numpy()
            if self.Y_test is not None:
                self.test_loss[k] = loss_and_chi(f[P:], self.Y_test, self.loss)[0]
        if not np.isfinite(value):
            raise FloatingPointError(f"the NFD solve went non-finite at step {k} (lr={self.lr} too large?)")

    def run(self) -> NFDResult:
        start = time.perf_counter()
        for k in tqdm(range(self.S + 1), desc=f"NFD M={self.M} K={self.K}", disable=not self.progress, leave=False):
            f = self.forward_sweep(k)
            self._record(k, f)
            if self.particles is not None:
                self.particles["v"][k] = self.v.double().cpu().numpy()
                self.particles["h_T"][k] = self.h_now[self.K].double().cpu().numpy()
            # The last step's backward sweep only measures G(S); its update is never applied.
            g0 = self.backward_sweep(k)
            if self.particles is not None:
                self.particles["g_0"][k] = g0.double().cpu().numpy()
            if k < self.S:
                self.apply_updates(k, g0)
        seconds = time.perf_counter() - start
        config = {"M": self.M, "K": self.K, "T": self.T, "steps": self.S, "lr": self.lr,
                  "activation": self.activation, "loss": self.loss, "seed": self.seed, "coupling": self.coupling,
                  "P": self.P, "Q": self.Q, "C": self.C, "d": self.d, "device": str(self.device),
                  "dtype": str(self.dtype).replace("torch.", ""), "jitter": self.jitter,
                  "noise_grid": self.noise_grid}
        return NFDResult(steps=np.arange(self.S + 1), f_train=self.f_train, f_test=self.f_test,
                         train_loss=self.train_loss, test_loss=self.test_loss,
                         tau=np.linspace(0.0, self.T, self.K + 1), kernel_layers=self.kernel_layers.copy(),
                         Phi=self.Phi_store, G=self.G_store, two_time=self.two_time, particles=self.particles,
                         config=config, seconds=seconds)


register_coupling("decoupled", NFDSolver)


@known_arguments
def simulate_nfd(X_train, Y_train, *, X_test=None, Y_test=None, M: int = 1024, K: int = 32, T: float = 1.0,
                 steps: int = 10, lr: float = 0.5, activation: str = "relu", loss: str = "mse", seed: int = 0,
                 coupling: str = "decoupled", kernel_layers=None, two_time_layers=(),
                 return_particles: bool = False, jitter: float | None = None, noise_grid: int | None = None,
                 device=None, dtype: torch.dtype = torch.float32, progress: bool = False) -> NFDResult:
    """Solve the NFD system of the module docstring with ``M`` particles on ``K`` Euler steps over ``[0, T]``
    for ``steps`` full-batch SGD steps with base rate ``lr`` (notebook 02).

    Parameters
    ----------
    X_train, Y_train : training inputs ``(P, d)`` and targets ``(P,)`` or ``(P, C)``.
    X_test, Y_test : optional held-out inputs ``(Q, d)`` (never trained on) and targets.
    M : particles (>= 2); the finite network's width ``n`` plays this role.
    K : Euler-Maruyama steps in layer-time (>= 1); the finite network's depth ``L`` plays this role.
    T : depth horizon; lr : base SGD rate ``eta`` (the paper's ``eta_c``; finite, >= 0), as in
        ``train(model, data, lr=...)``.
    activation : ``relu``, ``tanh``, ``gelu`` or ``identity``; loss : ``mse`` or ``xent``.
    coupling : ``"decoupled"`` (the GIA system of the paper's NFD), ``"reused"`` (with the reused-weight terms of
        true backpropagation, :mod:`nfdlib.nfd.reused`, notebook 04) or a name added by :func:`register_coupling`.
    kernel_layers : grid indices ``j`` (``tau = j T / K``) whose equal-time kernels are stored (default: all).
    two_time_layers : grid indices whose full two-time kernels over (input, step) are also returned.
    return_particles : also return the particles' ``u``, ``v``, ``h_T`` and ``g_0`` at every step.
    jitter : relative diagonal jitter of the conditional sampling (default 1e-6 in float32, 1e-10 in float64).
    noise_grid : the fine grid (a multiple of ``K``, default ``K``) on which the Gaussian innovations are drawn;
        solves with the same ``seed`` and ``noise_grid`` but different ``K`` share their Brownian paths.
    device, dtype : where the particles live (small factorizations always run on the CPU in float64). Use
        ``torch.float64`` beyond about ten SGD steps: as training converges, consecutive steps' features become
        nearly collinear, the conditional sampling amplifies round-off, and float32 solves blow up (measured on
        a teacher task, M=256, K=8, lr=0.5: loss 1e12 at step 14, non-finite by step 20; float64 is fine at 30).
    seed : every random draw comes from a CPU generator with this seed, so results repeat on every device.

    Returns an :class:`NFDResult`. Cost: see the module docstring.
    """
    solver_class = coupling_solver(coupling)
    solver = solver_class(X_train, Y_train, X_test=X_test, Y_test=Y_test, M=M, K=K, T=T, steps=steps, lr=lr,
                          activation=activation, loss=loss, seed=seed, kernel_layers=kernel_layers,
                          two_time_layers=two_time_layers, return_particles=return_particles, jitter=jitter,
                          noise_grid=noise_grid, device=device, dtype=dtype, progress=progress)
    return solver.run()


__all__ = ["ConditionalGaussian", "NFDResult", "NFDSolver", "COUPLINGS", "register_coupling", "coupling_solver",
           "simulate_nfd", "loss_and_chi", "layers_at"]
