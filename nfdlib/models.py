"""Finite residual networks whose scaling follows the registry in :mod:`nfdlib.parametrization`.

One-layer blocks, pre-activation (notebook 00; docs/reconstruction.md section 3)::

    h_0 = m_U U x
    h_l = h_{l-1} + beta * m_W W_l phi(h_{l-1})                          l = 1..L
    f   = m_v v phi(h_L)

Two-layer blocks (notebook 05)::

    z_l = m_1 W1_l phi(h_{l-1}),      h_l = h_{l-1} + beta * m_2 W2_l phi(z_l)

Post-activation puts ``phi`` after the block's last matrix instead, ``h_l = h_{l-1} + beta * phi(m_W W_l h_{l-1})``
(the form without mean subtraction: its ReLU branch has a positive mean that grows with the stream, so the stream
grows like ``exp(c sqrt(L))``; notebook 00 section 5, :func:`nfdlib.nfd.theory.postact_moments`). With
``skip=False`` the network is a plain MLP, ``h_l = m_W W_l phi(h_{l-1})`` whatever ``preact`` says, and the branch
multiplier is not used.

All weights are stored as ``init_std * N(0, 1)`` and used through explicit multipliers ``m``; the values come
from the registry for the given width ``n``, depth ``L``, horizon ``T`` and input dimension.

``backward="decoupled"`` builds the network of the gradient-independence assumption (GIA): in backpropagation
each ``W_l^T`` is replaced by ``B_l^T``, where ``B_l(0)`` is an independent draw from the law of ``W_l(0)`` and
``B_l`` receives the same SGD updates as ``W_l``. It is stored as ``B_l = W_l + (B_l(0) - W_l(0))``, a fixed
offset buffer, so every optimizer updates both at once; an offset of zero is true backpropagation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .activations import ACTIVATIONS, get_activation
from .config import check_seed, get_device, make_generator
from .parametrization import get_parametrization
from .validation import check_bool, check_choice, check_float, check_int, known_arguments

Tensor = torch.Tensor

BLOCKS = ("one", "two")
BACKWARDS = ("true", "decoupled")


class _DecoupledMatmul(torch.autograd.Function):
    """``x @ W.T`` whose input gradient uses ``W + offset`` in place of ``W`` (the GIA backward pass).

    The weight gradient is the usual ``grad^T x``: the forward and backward weights receive the same update.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, W: Tensor, offset: Tensor) -> Tensor:
        return x @ W.mT

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, W, offset = inputs
        ctx.save_for_backward(x, W, offset)

    @staticmethod
    def backward(ctx, grad):
        x, W, offset = ctx.saved_tensors
        grad_x = grad @ (W + offset) if ctx.needs_input_grad[0] else None
        grad_W = None
        if ctx.needs_input_grad[1]:
            grad_W = grad.reshape(-1, grad.shape[-1]).mT @ x.reshape(-1, x.shape[-1])
        return grad_x, grad_W, None


def decoupled_matmul(x: Tensor, W: Tensor, offset: Tensor) -> Tensor:
    """``x @ W.T`` with the backward weights ``W + offset`` (see :class:`ResNet`, ``backward='decoupled'``)."""
    return _DecoupledMatmul.apply(x, W, offset)


@dataclass
class Features:
    """Per-layer features of one forward pass: ``h[l]`` for ``l = 0..L`` and, in two-layer blocks, ``z[l-1]``
    for ``l = 1..L`` (the first internal layer's pre-activation)."""

    h: list[Tensor]
    z: list[Tensor] | None = None


class ResNet(nn.Module):
    """A residual MLP of width ``n`` and depth ``L`` (number of residual blocks).

    Parameters
    ----------
    d_in, d_out : input and output dimensions.
    n, L : width and depth.
    block : ``"one"`` (one matrix per block) or ``"two"`` (two-layer blocks).
    parametrization : a name from :data:`nfdlib.parametrization.REGISTRY`.
    activation : ``"relu"``, ``"tanh"``, ``"gelu"`` or ``"identity"``.
    T : depth horizon (layer-time runs over ``[0, T]``), finite and > 0.
    preact : pre-activation (default) or post-activation blocks.
    skip : residual connections; ``False`` gives a plain MLP (no branch multiplier).
    backward : ``"true"`` backpropagation or ``"decoupled"`` (independent backward weights, GIA).
    seed : weights are drawn on the CPU from this seed, so one seed gives the same network on every device;
        the forward weights do not depend on ``backward``.
    """

    @known_arguments
    def __init__(self, d_in: int, d_out: int, n: int, L: int, *, block: str = "one",
                 parametrization: str = "depth-mup", activation: str = "relu", T: float = 1.0,
                 preact: bool = True, skip: bool = True, backward: str = "true", seed: int = 0,
                 device: str | torch.device | None = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.d_in = check_int("d_in", d_in)
        self.d_out = check_int("d_out", d_out)
        self.n = check_int("n", n)
        self.L = check_int("L", L)
        self.T = check_float("T", T)
        self.block = check_choice("block", block, BLOCKS)
        self.activation = check_choice("activation", activation, ACTIVATIONS)
        self.backward_mode = check_choice("backward", backward, BACKWARDS)
        self.parametrization = get_parametrization(parametrization).name
        self.preact = check_bool("preact", preact)
        self.skip = check_bool("skip", skip)
        self.seed = check_seed(seed)
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise ValueError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
        self.phi = get_activation(activation)

        p = get_parametrization(self.parametrization)
        self.scales = p.resolve(n=self.n, L=self.L, T=self.T, d=self.d_in)
        self.beta = p.branch(n=self.n, L=self.L, T=self.T, d=self.d_in) if self.skip else 1.0

        gen = make_generator(self.seed)
        device = get_device(device)

        def draw(role, *shape):
            w = torch.randn(*shape, generator=gen, dtype=dtype) * self.scales[role].init_std
            return nn.Parameter(w.to(device))

        self.U = draw("input", self.n, self.d_in)
        if self.block == "one":
            self.W = draw("hidden", self.L, self.n, self.n)
        else:
            self.W1 = draw("internal1", self.L, self.n, self.n)
            self.W2 = draw("internal2", self.L, self.n, self.n)
        self.v = draw("readout", self.d_out, self.n)

        # Backward offsets B(0) - W(0) come from a second stream, so the forward weights match a true network.
        gen_b = make_generator(self.seed + 1_000_003)
        for name in self.hidden_names():
            W = getattr(self, name)
            role = self.param_roles()[name]
            if self.backward_mode == "decoupled":
                B0 = torch.randn(W.shape, generator=gen_b, dtype=dtype) * self.scales[role].init_std
                offset = B0.to(device) - W.detach()
            else:
                offset = torch.zeros(0, dtype=dtype, device=device)
            self.register_buffer(f"{name}_backward_offset", offset)

    # -- scaling metadata -------------------------------------------------------------------------------
    def hidden_names(self) -> tuple[str, ...]:
        """Names of the matrices used inside residual blocks (those whose transpose backprop reuses)."""
        return ("W",) if self.block == "one" else ("W1", "W2")

    def param_roles(self) -> dict[str, str]:
        """Parameter name -> registry role: the table that :func:`nfdlib.optim.param_groups` reads."""
        roles = {"U": "input"}
        if self.block == "one":
            roles["W"] = "hidden"
        else:
            roles.update(W1="internal1", W2="internal2")
        roles["v"] = "readout"
        return roles

    def sizes(self) -> dict:
        """The sizes the registry is evaluated at."""
        return {"n": self.n, "L": self.L, "T": self.T, "d": self.d_in}

    # -- decoupled backward weights ---------------------------------------------------------------------
    def backward_weights(self, name: str) -> Tensor:
        """The matrices that backpropagation multiplies by, ``B = W + offset`` (``W`` itself when true)."""
        check_choice("name", name, self.hidden_names())
        W = getattr(self, name).detach()
        offset = getattr(self, f"{name}_backward_offset")
        return W + offset if offset.numel() else W.clone()

    def set_backward_weights(self, name: str, B: Tensor) -> None:
        """Set the backward matrices of a decoupled network (``B = W`` gives true backpropagation)."""
        if self.backward_mode != "decoupled":
            raise ValueError("set_backward_weights needs a network built with backward='decoupled'")
        check_choice("name", name, self.hidden_names())
        W = getattr(self, name).detach()
        if B.shape != W.shape:
            raise ValueError(f"B must have shape {tuple(W.shape)}, got {tuple(B.shape)}")
        getattr(self, f"{name}_backward_offset").copy_(B.to(W) - W)

    @staticmethod
    def _matmul(x: Tensor, W_l: Tensor, offset_l: Tensor | None) -> Tensor:
        if offset_l is None:
            return x @ W_l.mT
        return decoupled_matmul(x, W_l, offset_l)

    # -- forward ----------------------------------------------------------------------------------------
    def forward(self, x: Tensor, return_features: bool = False):
        """The output ``f(x)`` of shape ``(batch, d_out)``; with ``return_features`` also a :class:`Features`."""
        layers = {name: getattr(self, name).unbind(0) for name in self.hidden_names()}
        offsets = None
        if self.backward_mode == "decoupled":
            offsets = {name: getattr(self, f"{name}_backward_offset").unbind(0) for name in self.hidden_names()}
        return self.forward_with(x, self.U, layers, self.v, offsets=offsets, return_features=return_features)

    def forward_with(self, x: Tensor, U: Tensor, layers: dict, v: Tensor, *, offsets: dict | None = None,
                     return_features: bool = False):
        """The forward pass of this architecture with the given weights instead of the module's own.

        ``layers`` maps each name of :meth:`hidden_names` to a sequence of ``L`` per-block matrices. Every weight
        may carry the same leading batch dimensions (one network per leading index, e.g. ``U`` of shape
        ``(C, n, d_in)`` and each block matrix ``(C, n, n)``); ``x`` then has shape ``(C, batch, d_in)``. This is
        how :mod:`nfdlib.sweeps` trains many configurations in one autograd pass. ``offsets`` (same layout as
        ``layers``) switches on the decoupled backward pass for unbatched weights; ``None`` is true backprop.
        """
        if not isinstance(x, Tensor):
            raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"x must have shape (batch, d_in={self.d_in}) (or leading configuration axes before it), "
                             f"got shape {tuple(x.shape)}; use x[None] for a single input")
        if x.shape[-1] != self.d_in:
            raise ValueError(f"x must have last dimension d_in={self.d_in}, got shape {tuple(x.shape)}")
        phi, s = self.phi, self.scales
        h = s["input"].multiplier * (x @ U.mT)
        hs, zs = [h], ([] if self.block == "two" else None)
        off = offsets if offsets is not None else {name: (None,) * self.L for name in self.hidden_names()}
        # A plain MLP (skip=False) is always h_l = m W_l phi(h_{l-1}); preact only matters with skips.
        preact = self.preact or not self.skip
        for l in range(self.L):
            inp = phi(h) if preact else h
            if self.block == "one":
                u = s["hidden"].multiplier * self._matmul(inp, layers["W"][l], off["W"][l])
            else:
                z = s["internal1"].multiplier * self._matmul(inp, layers["W1"][l], off["W1"][l])
                zs.append(z)
                u = s["internal2"].multiplier * self._matmul(phi(z), layers["W2"][l], off["W2"][l])
            branch = u if preact else phi(u)
            h = h + self.beta * branch if self.skip else branch
            hs.append(h)
        f = s["readout"].multiplier * (phi(h) @ v.mT)
        if return_features:
            return f, Features(h=hs, z=zs)
        return f

    def extra_repr(self) -> str:
        return (f"d_in={self.d_in}, d_out={self.d_out}, n={self.n}, L={self.L}, block={self.block!r}, "
                f"parametrization={self.parametrization!r}, activation={self.activation!r}, T={self.T}, "
                f"preact={self.preact}, skip={self.skip}, backward={self.backward_mode!r}")
