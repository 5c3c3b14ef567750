"""Finite ResNets measured in the solver's terms: outputs, losses and the kernels ``Phi`` and ``G`` at every step.

A finite ResNet measured in the terms of the NFD solver: outputs, losses and the empirical kernels ``Phi`` and
``G`` at every SGD step, in an :class:`~nfdlib.nfd.solver.NFDResult` (notebooks 01, 02 and 04).

:func:`network_kernels` measures one network's kernels on a set of inputs; :func:`run_finite_network` trains a
network with :func:`nfdlib.training.train` and records what :func:`~nfdlib.nfd.solver.simulate_nfd` records, so
that a width-``n``, depth-``L`` network and an ``M = n``, ``K = L`` solve can be compared entry by entry.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..data import Dataset
from ..models import ResNet
from ..training import LOSSES, train
from ..validation import check_choice, check_float, check_int
from .solver import NFDResult, _as_inputs, _check_layers, loss_and_chi

Tensor = torch.Tensor

__all__ = ["network_kernels", "run_finite_network"]


def network_kernels(model, X: Tensor, P: int, layers) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Output and empirical kernels of a finite :class:`~nfdlib.models.ResNet` on inputs ``X`` (training first).

    ``Phi_l = phi(h_l) phi(h_l)^T / n`` over all inputs and ``G_l = g_l g_l^T / n`` over the first ``P`` inputs
    and every output, with ``g_l(mu, c) = n d f_c(x_mu) / d h_l`` taken through the model's own backward pass
    (so a ``backward="decoupled"`` model gives the decoupled gradients). Shapes ``(J, N, N)`` and
    ``(J, P C, P C)`` (pairs ``mu * C + c``), in the notation of :class:`NFDResult`.
    """
    n = model.n
    with torch.enable_grad():
        f, feats = model(X, return_features=True)
        hs = [feats.h[j] for j in layers]
        C = f.shape[1]
        grads = []
        for c in range(C):
            gc = torch.autograd.grad(f[:P, c].sum(), hs, retain_graph=c < C - 1)
            grads.append(torch.stack([n * g[:P] for g in gc]))  # (J, P, n)
    g = torch.stack(grads, 2).reshape(len(layers), P * C, n).double()  # (J, P C, n), pairs mu * C + c
    phis = torch.stack([model.phi(h.detach()) for h in hs]).double()
    Phi = (phis @ phis.mT / n).cpu().numpy()
    G = (g @ g.mT / n).cpu().numpy()
    return f.detach().double().cpu(), Phi, G


def run_finite_network(X_train, Y_train, *, X_test=None, Y_test=None, n: int = 256, L: int = 16, T: float = 1.0,
                       steps: int = 10, lr: float = 0.5, activation: str = "relu", loss: str = "mse",
                       backward: str = "decoupled", parametrization: str = "depth-mup", seed: int = 0,
                       kernel_layers=None, device=None, dtype: torch.dtype = torch.float32) -> NFDResult:
    """Train a finite ResNet with :func:`nfdlib.training.train` (full batch, base rate ``lr``, the registry's
    group rates) and record the same trajectories as :func:`simulate_nfd`, in an :class:`NFDResult`.

    ``n`` and ``L`` play the roles of ``M`` and ``K``. At every step (before its update) the output, the losses
    and the equal-time kernels at ``kernel_layers`` (indices ``l`` of ``h_l``, ``tau = l T / L``; default all)
    are measured by :func:`network_kernels`. ``backward`` is ``"true"`` or ``"decoupled"``.
    """
    X_train, Y_train, X_test, Y_test = _as_inputs(X_train, Y_train, X_test, Y_test)
    loss = check_choice("loss", loss, LOSSES)
    steps = check_int("steps", steps, minimum=0)
    lr = check_float("lr", lr, allow_zero=True)
    L = check_int("L", L)
    layers = _check_layers(kernel_layers, L)
    P, d = X_train.shape
    C = Y_train.shape[1]
    Q = 0 if X_test is None else X_test.shape[0]
    model = ResNet(d, C, n, L, parametrization=parametrization, activation=activation, T=T, backward=backward,
                   seed=seed, device=device, dtype=dtype)
    dev = model.U.device
    X_all = (X_train if X_test is None else torch.cat([X_train, X_test])).to(dev, dtype)
    labels = Y_train.argmax(-1) if loss == "xent" else None
    data = Dataset("nfd", X_train.to(dtype), Y_train.to(dtype), (X_test if Q else X_train).to(dtype),
                   (Y_test if Y_test is not None else (Y_train if not Q else torch.zeros(Q, C))).to(dtype),
                   labels, labels if not Q else None)
    S1 = steps + 1
    f_train = np.full((S1, P, C), np.nan)
    f_test = np.full((S1, Q, C), np.nan) if Q else None
    Phi = np.full((len(layers), S1, P + Q, P + Q), np.nan)
    G = np.full((len(layers), S1, P * C, P * C), np.nan)
    train_loss, test_loss = np.full(S1, np.nan), np.full(S1, np.nan)

    def measure(step, m):
        f, Phi[:, step], G[:, step] = network_kernels(m, X_all, P, layers)
        f_train[step] = f[:P].numpy()
        train_loss[step] = loss_and_chi(f[:P], Y_train, loss)[0]
        if Q:
            f_test[step] = f[P:].numpy()
            if Y_test is not None:
                test_loss[step] = loss_and_chi(f[P:], Y_test, loss)[0]

    start = time.perf_counter()
    lr_train = lr if lr > 0 else 1e-300  # train() needs a positive rate; 1e-300 leaves the weights unchanged
    train(model, data, lr_train, steps, loss=loss, eval_every=1, seed=seed, callback=measure)
    seconds = time.perf_counter() - start
    config = {"n": n, "L": L, "T": T, "steps": steps, "lr": lr, "activation": activation, "loss": loss,
              "backward": backward, "parametrization": parametrization, "seed": seed, "P": P, "Q": Q, "C": C,
              "d": d, "device": str(dev), "dtype": str(dtype).replace("torch.", "")}
    return NFDResult(steps=np.arange(S1), f_train=f_train, f_test=f_test, train_loss=train_loss,
                     test_loss=test_loss, tau=np.linspace(0.0, T, L + 1), kernel_layers=layers, Phi=Phi, G=G,
                     config=config, seconds=seconds)
