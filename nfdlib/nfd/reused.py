"""The NFD particle system with reused weights: the infinite-width limit of *true* backpropagation.

:mod:`nfdlib.nfd.solver` solves the decoupled system (``coupling="decoupled"``): the forward noise ``Z_j`` (the limit of
``m W_j(0) phi(h_{j-1})``) and the backward noise ``Zb_j`` (the limit of ``m W_j(0)^T g_j``) are independent
Gaussians, as if backpropagation used an independent copy of ``W_j(0)`` (the gradient-independence assumption).
In a true network both come from the same matrix, and the Tensor-Programs master theorem adds to each product a
"Z-dot" term along the vectors the matrix multiplied in the other direction::

    Z_j(x, k)     = Zhat_j(x, k)   + sum_{k' <  k} sum_{mu c} g_j(mu, c, k')       Df_j(x, k; mu c, k')
    Zb_j(mu c, k) = Zhatb_j(mu c, k) + sum_{k' <= k} sum_{mu'}  phi(h_{j-1}(mu', k')) Db_j(mu c, k; mu', k')

    Df_j(x, k; mu c, k') = E[ d phi(h_{j-1}(x, k)) / d Zhatb_j(mu c, k') ]
    Db_j(mu c, k; mu', k') = E[ d g_j(mu c, k) / d Zhat_j(mu', k') ]

(``Zhat``, ``Zhatb``: the Gaussian parts, sampled exactly as in the decoupled solver; ``j`` indexes the matrix
``W_j`` between ``h_{j-1}`` and ``h_j``; ``mu`` training inputs, ``c`` outputs; forward products at step
``k`` are made before the backward products of step ``k``, hence ``k' < k`` and ``k' <= k``.)

**How the response functions are computed.** The derivatives are expectations over the particle law with the
mean-field kernels held fixed. Rather than differentiate pathwise (which misses the delta functions of
``phi'`` for ReLU), we use Stein's lemma: for a centred Gaussian vector ``Zhat`` with covariance ``C``,
independent of everything else a particle depends on, ``E[Zhat psi] = C E[d psi / d Zhat]``. So each response
is a least-squares regression over particles of the particle's own ``psi = phi(h_{j-1}(x, k))`` (or
``g_j(mu c, k)``) on its own Gaussian history ``Zhatb_j`` (or ``Zhat_j``)::

    D = (Zhat^T Zhat)^{-1} Zhat^T (psi - mean psi)       (M particles; noise O(1/sqrt(M)) per coefficient)

which is the particle-system counterpart of the conditional-Gaussian decomposition measured on finite networks in
:func:`nfdlib.coupling.coupling_trajectory`. Test inputs never influence training, so the backward response uses the
training inputs' forward noise only.

With ``K = L`` this system is, in distribution, the ``n -> infinity`` limit of the depth-``L`` *true* network
``ResNet(..., backward="true", parametrization="depth-mup")`` trained by full-batch SGD (validated in
``tests/test_nfd_reused.py`` and notebook 04 against wide networks). Use it as
``simulate_nfd(..., coupling="reused")`` (importing :mod:`nfdlib.nfd` imports this module, which registers the
coupling) or :func:`simulate_reused`.
"""

from __future__ import annotations

import torch

from ..validation import check_float
from .solver import COUPLINGS, NFDResult, NFDSolver, register_coupling, simulate_nfd

Tensor = torch.Tensor

__all__ = ["ReusedNFDSolver", "stein_response", "simulate_reused"]


def stein_response(Zhat: Tensor, psi: Tensor, rcond: float = 1e-8) -> Tensor:
    """``E[d psi / d Zhat]`` estimated by least squares over particles: ``(Zhat^T Zhat)^+ Zhat^T (psi - mean)``.

    ``Zhat`` is ``(M, a)`` (a centred Gaussian per particle, any covariance), ``psi`` is ``(M, b)``; returns
    ``(a, b)`` in float64 on ``Zhat``'s device. Directions of ``Zhat`` with an eigenvalue of ``Zhat^T Zhat``
    below ``rcond`` times the largest (a degenerate history, e.g. two nearly equal SGD steps) are dropped, which
    leaves the product ``Zhat D`` well defined.
    """
    rcond = check_float("rcond", rcond)
    if Zhat.ndim != 2 or psi.ndim != 2 or Zhat.shape[0] != psi.shape[0]:
        raise ValueError(f"Zhat and psi must be (M, a) and (M, b) with the same M, got {tuple(Zhat.shape)} "
                         f"and {tuple(psi.shape)}")
    Z = Zhat.double()
    y = psi.double()
    y = y - y.mean(0, keepdim=True)
    gram = Z.mT @ Z
    lam, V = torch.linalg.eigh(gram)
    keep = lam > rcond * lam.max().clamp(min=1e-300)
    V, lam = V[:, keep], lam[keep]
    return V @ ((V.mT @ (Z.mT @ y)) / lam[:, None])


class ReusedNFDSolver(NFDSolver):
    """:class:`nfdlib.nfd.NFDSolver` plus the reused-weight (Z-dot) terms of true backpropagation.

    ``forward_extra`` adds ``sqrt(dtau) sum g_{j+1}(mu c, k') Df`` to ``h_{j+1} - h_j`` and ``backward_extra``
    adds ``phi'(h_{j-1}) sqrt(dtau) sum phi(h_{j-1}(mu', k')) Db`` to ``g_{j-1} - g_j`` (module docstring).
    Everything else (noise, drifts, readout, input layer) is the decoupled solver's.
    """

    coupling = "reused"

    def forward_extra(self, j: int, k: int, h: Tensor, Z: Tensor, row: Tensor) -> Tensor | None:
        if k == 0:
            return None
        kb = k * self.PC
        # Matrix W_{j+1}: forward noise Z_hist[j], backward noise Zb_hist[j], backward vectors g_hist[j+1].
        D = stein_response(self.Zb_hist[j][:, :kb], self.phi(h))
        return self.sqrt_dtau * (self.g_hist[j + 1][:, :kb] @ D.to(self.g_hist.dtype))

    def backward_extra(self, j: int, k: int, g: Tensor, Zb: Tensor, row: Tensor) -> Tensor | None:
        M, N, P = self.M, self.N, self.P
        # Matrix W_j: forward noise Z_hist[j-1] (training columns, steps 0..k), its inputs phi(h_{j-1}).
        Zf = self.Z_hist[j - 1][:, :(k + 1) * N].reshape(M, k + 1, N)[:, :, :P].reshape(M, (k + 1) * P)
        phis = self.phi_hist[j - 1][:, :(k + 1) * N].reshape(M, k + 1, N)[:, :, :P].reshape(M, (k + 1) * P)
        D = stein_response(Zf, g)
        inner = self.sqrt_dtau * (phis @ D.to(phis.dtype))
        return self._expand(self.dphi(self.h_now[j - 1][:, :P])) * inner


register_coupling("reused", ReusedNFDSolver)


def simulate_reused(X_train, Y_train, **kwargs) -> NFDResult:
    """:func:`nfdlib.nfd.solver.simulate_nfd` with ``coupling="reused"`` (same arguments)."""
    kwargs.pop("coupling", None)
    if COUPLINGS.get("reused") is not ReusedNFDSolver:
        register_coupling("reused", ReusedNFDSolver)
    return simulate_nfd(X_train, Y_train, coupling="reused", **kwargs)
