"""Gradient independence (GIA) at depth: measurements of the reused-weight coupling (notebook 03).

True backpropagation multiplies by ``W_l^T`` the same matrix ``W_l`` that the forward pass multiplied by; the
gradient-independence assumption (GIA) treats it as an independent copy ``B_l``. The finite "decoupled" network
``ResNet(backward="decoupled")`` realises GIA exactly (``B_l(0)`` independent, same updates as ``W_l``). This
module measures, on finite networks, where true and decoupled backpropagation differ:

1. **At initialization** (:func:`init_statistics`, :func:`init_gap`): backward kernels ``G_l`` and the
   function-space kernel (NTK) ``K`` of the true network, of one decoupled draw, and their GIA expectation
   ``E_B[.]`` over the backward weights (computed exactly, given the forward pass); plus the *cross* kernel
   ``K_x = <grad f_true, grad f_dec>`` that drives the first SGD step of a decoupled network.
2. **During training, per layer** (:func:`coupling_trajectory`, :func:`coupling_sweep`): the conditional-Gaussian
   decomposition of the initial weights ``W_l(0)`` given the products they have produced,

       W = W Pi_F + Pi_E W Pi_F^perp + Pi_E^perp W~ Pi_F^perp,

   where ``F`` holds the forward inputs ``phi(h_{l-1}(mu, k'))`` and ``E`` the backward vectors
   ``dloss/dh_l(mu, k')`` of earlier steps. Applied to the new forward input ``phi(h_{l-1}(k))``, the middle term
   is the part of the forward signal explained by earlier backward vectors: the Tensor-Programs "Z-dot"
   (reused-weight) term. In a decoupled network it is pure noise of known size (``W`` never multiplied ``E``).
3. **End to end** (:func:`paired_training`): seed-paired true and decoupled training (same forward weights, same
   batches); gaps of outputs, losses and kernels.
4. **Cached runs** (:func:`run_experiment`): the experiments of notebook 03 and the limit runs of notebook 04
   (:func:`nfdlib.nfd.runs.limit_networks`, :func:`nfdlib.nfd.runs.limit_solver`), stored under ``data/gia_*``,
   and their readers (:func:`series`, :func:`slope`, :func:`delta_outputs`). Their extrapolation in ``1/n`` and
   ``1/L`` is :func:`nfdlib.stats.extrapolate`; the infinite-width first-step ratio is
   :func:`nfdlib.nfd.theory.first_step_ratio_theory`.

Conventions are those of :mod:`nfdlib.models` (``h_l = h_{l-1} + beta m W_l phi(h_{l-1})``, ``f = m_v v phi(h_L)``)
and docs/reconstruction.md (sections 3 to 5); only one-layer pre-activation blocks (or ``skip=False`` MLPs) are
supported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .activations import get_activation_derivative
from .cache import cached, register_kind
from .config import check_seeds
from .data import Dataset, load_dataset, make_teacher_task
from .models import ResNet
from .nfd.runs import limit_networks, limit_solver
from .nfd.theory import first_step_ratio_theory
from .optim import make_sgd
from .records import Records
from .stats import fit_loglog, mean_interval, rms
from .training import LOSSES, loss_fn, train
from .validation import check_batch, check_bool, check_choice, check_float, check_grid, check_int, known_arguments

Tensor = torch.Tensor

__all__ = ["feature_gradients", "kernels", "gia_expected_gradient_kernels", "init_statistics", "init_gap",
           "init_gap_summary", "coupling_trajectory", "coupling_sweep", "coupling_summary", "coupling_profile",
           "coupling_digest", "paired_training", "paired_gap_summary", "paired_sweep", "run_experiment", "series",
           "slope", "delta_outputs", "init_gap_fits", "first_step_ratios", "coupling_width_fits", "paired_gap_fits"]


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------
def _check_model(model: ResNet) -> None:
    if not isinstance(model, ResNet):
        raise ValueError(f"model must be an nfdlib.models.ResNet, got {type(model).__name__}")
    if model.block != "one":
        raise ValueError(f"model.block must be 'one' for the GIA measurements, got {model.block!r}")
    if model.skip and not model.preact:
        raise ValueError("model must use pre-activation blocks (preact=True) or no skips (skip=False)")


def feature_gradients(model: ResNet, X: Tensor, out_weights: Tensor | None = None):
    """One forward and backward pass: ``(f, h, phi(h), D)`` with ``D[l] = d(sum_x w(x).f(x)) / d h_l(x)``.

    ``h`` and ``D`` are lists over ``l = 0..L`` of ``(batch, n)`` tensors. The backward pass is the model's own
    (``W^T`` for a true network, ``B^T`` for a decoupled one). ``out_weights`` (``(batch, d_out)``) weights the
    outputs; by default every output of every input has weight 1 (for ``d_out = 1``: ``D[l] = df/dh_l``).
    """
    _check_model(model)
    f, feats = model(X, return_features=True)
    w = torch.ones_like(f) if out_weights is None else out_weights.to(f)
    D = torch.autograd.grad((f * w).sum(), feats.h)
    h = [t.detach() for t in feats.h]
    return f.detach(), h, [model.phi(t) for t in h], [d.detach() for d in D]


def kernels(model: ResNet, X: Tensor, h: list[Tensor], phis: list[Tensor], Da: list[Tensor],
            Db: list[Tensor] | None = None) -> Tensor:
    """The function-space (tangent) kernel ``Theta(x, x') = sum_theta lr_scale(theta) <df(x)/dtheta, df(x')/dtheta>``.

    Written with feature gradients ``D_l = df/dh_l`` (one-layer pre-activation blocks, scalar output)::

        Theta = lr_U m_U^2 (D_0 D_0^T)(X X^T) + sum_l lr_W beta^2 m_W^2 (D_l D_l^T)(phi_{l-1} phi_{l-1}^T)
                + lr_v m_v^2 phi_L phi_L^T                                (products elementwise over (x, x'))

    With ``Db`` given, ``D_l D_l^T`` becomes ``Da_l Db_l^T`` (the cross kernel of two backward passes). For
    depth-muP this is the NTK ``Theta = G_0 x.x'/d + sum_l (T/L) G_l Phi_{l-1} + Phi_L`` (docs/reconstruction.md,
    section 5; ``Theta_true`` of :func:`nfdlib.nfd.theory.first_step_kernels`).
    """
    Db = Da if Db is None else Db
    s = model.scales
    K = s["input"].lr_scale * s["input"].multiplier ** 2 * (Da[0] @ Db[0].mT) * (X @ X.mT)
    cw = s["hidden"].lr_scale * (model.beta * s["hidden"].multiplier) ** 2
    for l in range(1, model.L + 1):
        K = K + cw * (Da[l] @ Db[l].mT) * (phis[l - 1] @ phis[l - 1].mT)
    K = K + s["readout"].lr_scale * s["readout"].multiplier ** 2 * (phis[-1] @ phis[-1].mT)
    return K


def gia_expected_gradient_kernels(model: ResNet, h: list[Tensor], D_L: Tensor) -> list[Tensor]:
    """``E_B[D_l D_l^T]`` over independent backward weights at initialization, exactly, given the forward pass.

    With ``D_{l-1} = skip * D_l + beta m_W phi'(h_{l-1}) * (B_l^T D_l)`` and ``B_l`` independent with i.i.d.
    ``N(0, sigma^2)`` entries, the cross term has mean zero and ``E[(B^T u)_j (B^T u')_j] = sigma^2 u.u'``, so

        E[D_{l-1} D_{l-1}^T] = E[D_l D_l^T] * (skip + beta^2 m_W^2 sigma^2 phi'_{l-1} phi'_{l-1}^T)

    (elementwise over input pairs). This is the GIA statistic without the noise of one draw of ``B``.
    """
    dphi = get_activation_derivative(model.activation)
    s = model.scales["hidden"]
    c = (model.beta * s.multiplier * s.init_std) ** 2
    skip = 1.0 if model.skip else 0.0
    out = [None] * (model.L + 1)
    out[-1] = D_L @ D_L.mT
    for l in range(model.L, 0, -1):
        dp = dphi(h[l - 1])
        out[l - 1] = out[l] * (skip + c * (dp @ dp.mT))
    return out


# ----------------------------------------------------------------------------------------------------------
# 1. initialization
# ----------------------------------------------------------------------------------------------------------
def init_statistics(model: ResNet, X: Tensor) -> dict[str, Tensor]:
    """True, GIA-expected and one-draw decoupled statistics at initialization, for one decoupled network.

    ``model`` must be built with ``backward="decoupled"``; its forward weights equal those of the true network
    of the same seed, and setting ``B = W`` gives true backpropagation (restored afterwards). Returns ``P x P``
    matrices: ``G_true[l]``, ``G_dec[l]``, ``G_gia[l]`` (``n D_l D_l^T``, stacked over ``l = 0..L``),
    ``K_true``, ``K_dec``, ``K_gia`` (NTK), ``K_cross`` (``<grad_true f(x), grad_dec f(x')>``, the kernel of a
    decoupled SGD step) and ``Phi_L``.
    """
    _check_model(model)
    if model.backward_mode != "decoupled":
        raise ValueError("init_statistics needs a model built with backward='decoupled'")
    if model.d_out != 1:
        raise ValueError(f"init_statistics needs a scalar-output model (d_out=1), got d_out={model.d_out}")
    X = X.to(model.U)
    _, h, phis, D_dec = feature_gradients(model, X)
    offset = model.W_backward_offset.clone()
    try:
        model.set_backward_weights("W", model.W.detach())
        _, _, _, D_true = feature_gradients(model, X)
    finally:
        model.W_backward_offset.copy_(offset)
    n = model.n
    DD_gia = gia_expected_gradient_kernels(model, h, D_true[-1])
    K_gia = _kernel_from_gradient_kernels(model, X, phis, DD_gia)
    return {
        "G_true": torch.stack([n * d @ d.mT for d in D_true]),
        "G_dec": torch.stack([n * d @ d.mT for d in D_dec]),
        "G_gia": n * torch.stack(DD_gia),
        "K_true": kernels(model, X, h, phis, D_true),
        "K_dec": kernels(model, X, h, phis, D_dec),
        "K_gia": K_gia,
        "K_cross": kernels(model, X, h, phis, D_true, D_dec),
        "Phi_L": phis[-1] @ phis[-1].mT / n,
    }


def _kernel_from_gradient_kernels(model: ResNet, X: Tensor, phis: list[Tensor], DD: list[Tensor]) -> Tensor:
    s = model.scales
    K = s["input"].lr_scale * s["input"].multiplier ** 2 * DD[0] * (X @ X.mT)
    cw = s["hidden"].lr_scale * (model.beta * s["hidden"].multiplier) ** 2
    for l in range(1, model.L + 1):
        K = K + cw * DD[l] * (phis[l - 1] @ phis[l - 1].mT)
    return K + s["readout"].lr_scale * s["readout"].multiplier ** 2 * (phis[-1] @ phis[-1].mT)


def _rel_fro(a: Tensor, b: Tensor) -> float:
    return float(torch.linalg.matrix_norm(a - b) / torch.linalg.matrix_norm(b))


def _diag_off(M: Tensor) -> tuple[float, float]:
    P = M.shape[-1]
    diag = float(torch.diagonal(M).mean())
    off = float((M.sum() - torch.diagonal(M).sum()) / max(P * (P - 1), 1))
    return diag, off


@known_arguments
def init_gap(widths: Iterable[int], depths: Iterable[int], *, seeds: Sequence[int] = tuple(range(8)),
             parametrization: str = "depth-mup", T: float = 1.0, activation: str = "relu", skip: bool = True,
             P: int = 4, d: int = 16, data_seed: int = 0, device=None, dtype=torch.float32,
             progress: bool = True) -> Records:
    """True versus GIA statistics at initialization, for each width, depth and seed (claim R4 of
    docs/reconstruction.md, section 7).

    Inputs are ``P`` fixed Gaussian inputs (``data_seed``), the same for every network. Rows (``quantity``,
    ``value``), one per ``(n, L, seed)``:

    ``G0_true, G0_gia, G0_dec``         mean diagonal of ``G_0`` (the backward kernel at the input end)
    ``K_true, K_gia, K_dec, K_cross``   mean diagonal of the NTK (``K_cross``: kernel of a decoupled SGD step)
    ``Kx_true, Kx_gia``                 mean off-diagonal of the NTK
    ``G_fluct``   ``|G_true - G_dec|_F / |G_true|_F`` at layer 0 (one decoupled draw: finite-width noise)
    ``K_fluct``   the same for the NTK
    ``G_rb``      ``|G_true - E_B G_dec|_F / |G_true|_F`` at layer 0 (without the noise of the draw of ``B``)
    ``cross_ratio``  ``mean diag K_cross / mean diag K_true`` (first-step update ratio of a decoupled network)

    The *bias* of GIA (its error in expectation; the paper's ``O(1/n)``) is the seed mean of
    ``G0_true - G0_gia``; :func:`init_gap_summary` computes it with a confidence interval.
    """
    widths = check_grid("widths", widths, integer=True).tolist()
    depths = check_grid("depths", depths, integer=True).tolist()
    seeds = check_seeds(seeds)
    P, d = check_int("P", P), check_int("d", d)
    X = make_teacher_task(d=d, n_train=P, n_test=1, seed=data_seed, dtype=dtype).X_train
    records = Records()
    jobs = [(n, L, s) for n in widths for L in depths for s in seeds]
    for n, L, seed in tqdm(jobs, desc="init gap", disable=not progress, leave=False):
        model = ResNet(d, 1, n, L, parametrization=parametrization, activation=activation, T=T, skip=skip,
                       backward="decoupled", seed=seed, device=device, dtype=dtype)
        st = init_statistics(model, X)
        row = {"parametrization": parametrization, "n": n, "L": L, "T": T, "skip": skip, "seed": seed}
        values = {
            "G0_true": _diag_off(st["G_true"][0])[0], "G0_gia": _diag_off(st["G_gia"][0])[0],
            "G0_dec": _diag_off(st["G_dec"][0])[0],
            "K_true": _diag_off(st["K_true"])[0], "K_gia": _diag_off(st["K_gia"])[0],
            "K_dec": _diag_off(st["K_dec"])[0], "K_cross": _diag_off(st["K_cross"])[0],
            "Kx_true": _diag_off(st["K_true"])[1], "Kx_gia": _diag_off(st["K_gia"])[1],
            "G_fluct": _rel_fro(st["G_dec"][0], st["G_true"][0]),
            "K_fluct": _rel_fro(st["K_dec"], st["K_true"]),
            "G_rb": _rel_fro(st["G_gia"][0], st["G_true"][0]),
        }
        values["cross_ratio"] = values["K_cross"] / values["K_true"]
        for q, v in values.items():
            records.append({**row, "quantity": q, "value": float(v)})
        del model
    return records


def init_gap_summary(records: Records, level: float = 0.95) -> Records:
    """Per ``(n, L)``: the GIA bias ``E[X_true - X_gia] / E[X_true]`` with its interval, and mean fluctuations.

    Rows: ``quantity`` in ``G0_bias``, ``K_bias``, ``Kx_bias`` (relative biases, seed mean with a t interval
    ``lo, hi``), ``G_fluct``, ``K_fluct``, ``G_rb``, ``cross_ratio`` (seed means with intervals).
    """
    out = Records()
    for n in records.unique("n"):
        for L in records.where(n=n).unique("L"):
            sub = records.where(n=n, L=L)
            seeds = sub.unique("seed")

            def col(q, sub=sub, seeds=seeds):
                rows = {r["seed"]: r["value"] for r in sub.where(quantity=q)}
                return np.array([rows[s] for s in seeds])

            base = {"n": n, "L": L, "seeds": len(seeds)}
            for name, (t, g) in {"G0_bias": ("G0_true", "G0_gia"), "K_bias": ("K_true", "K_gia"),
                                 "Kx_bias": ("Kx_true", "Kx_gia")}.items():
                diff = col(t) - col(g)
                scale = abs(col(t).mean())
                m, lo, hi = mean_interval(diff / scale, level)
                out.append({**base, "quantity": name, "value": m, "lo": lo, "hi": hi})
            for q in ("G_fluct", "K_fluct", "G_rb", "cross_ratio"):
                m, lo, hi = mean_interval(col(q), level)
                out.append({**base, "quantity": q, "value": m, "lo": lo, "hi": hi})
    return out


# ----------------------------------------------------------------------------------------------------------
# 2. per-layer coupling during training
# ----------------------------------------------------------------------------------------------------------
def _orth(A: Tensor, rtol: float = 1e-6) -> tuple[Tensor, Tensor, Tensor]:
    """``A = U S V^T`` truncated to singular values above ``rtol * max``: ``(U, S, V)`` in float64."""
    U, S, Vh = torch.linalg.svd(A.double(), full_matrices=False)
    if S.numel() == 0:
        return U, S, Vh.mT
    keep = S > rtol * S.max()
    return U[:, keep], S[keep], Vh[keep].mT


def _split(A: Tensor | None, x: Tensor) -> tuple[Tensor | None, Tensor]:
    """Least squares of the columns of ``x`` on those of ``A``: ``x = A c + x_perp``; returns ``(c, x_perp)``.

    ``A = None`` (nothing to project on) gives ``(None, x)``. Rank-deficient ``A`` (features that barely changed
    between steps) is handled by the truncated SVD of :func:`_orth`.
    """
    x = x.double()
    if A is None or A.shape[1] == 0:
        return None, x
    U, S, V = _orth(A)
    proj = U.mT @ x
    return V @ (proj / S[:, None]), x - U @ proj


def _explained(E: Tensor, Y: Tensor, x: Tensor) -> tuple[Tensor, int]:
    """``Pi_E M x`` where ``M`` is the operator with products ``M^T E = Y`` (columns): ``U_E (Y V S^-1)^T x``.

    Returns the explained part (``(n, cols of x)``) and the rank of ``E``.
    """
    U, S, V = _orth(E)
    coef = (Y.double() @ V) / S  # = M^T U_E
    return U @ (coef.mT @ x.double()), U.shape[1]


class _LayerHistory:
    """What one ``W_l(0)`` has produced: forward inputs ``F`` and products ``m W F``, backward vectors ``E`` and
    products ``m W^T E``, and the reused-weight part carried by each stored column (``Zd``, ``Zdb``)."""

    def __init__(self):
        self.F, self.Z, self.Zd = [], [], []
        self.E, self.Yb, self.Zdb = [], [], []

    @staticmethod
    def cat(lst):
        return torch.cat(lst, dim=1) if lst else None


def coupling_trajectory(model: ResNet, X: Tensor, Y: Tensor, *, lr: float, steps: int, loss: str = "mse",
                        labels: Tensor | None = None, measure_backward: bool = True) -> Records:
    """Train ``model`` by full-batch GD on ``(X, Y)`` and decompose ``W_l(0)`` at every step and layer.

    At step ``k`` and layer ``l`` let ``F`` hold the forward inputs ``phi(h_{l-1}(mu, k'))`` and ``E`` the
    backward vectors ``e_l(mu, k') = dloss/dh_l`` of the steps ``k' < k``: the products ``m W_l(0) F`` and
    ``m W_l(0)^T E`` are what the network has computed with ``W_l(0)`` (in a decoupled network the backward
    products were made by ``B_l``, never by ``W_l``). Conditioning the Gaussian ``W = W_l(0)`` on them,

        m W phi(k) = m W Pi_F phi(k)  +  r_l(k)  +  fresh,      r_l(k) = m Pi_E W Pi_F^perp phi(h_{l-1}(k)),

    ``r_l(k)`` is the part of the new forward signal explained by earlier backward vectors: the Tensor-Programs
    Z-dot (reused-weight) term of step ``k``. The first term carries the Z-dot parts of earlier steps through
    the regression coefficients ``c`` of ``phi(k)`` on ``F``, so the *total* reused-weight part obeys
    ``Zdot(k) = Zdot(F) c + r(k)``, ``Zdot(0) = 0``. If ``W`` is independent of ``E`` (decoupled network),
    ``r`` is noise with mean square ``rank(E) m^2 sigma^2 |Pi_F^perp phi|^2 / n`` per coordinate (the *floor*).

    Rows per ``(step, layer)``; every value is an rms per coordinate over the training inputs, in units of
    ``h_l`` (the branch multiplier ``beta`` included):

    ``coupling`` ``beta r_l(k)`` (new at step k);  ``floor``;  ``excess`` ``sqrt(max(0, coupling^2 - floor^2))``
    ``total``    ``beta Zdot_l(k)`` (all reused-weight contributions in the forward signal at step k)
    ``drift``    ``beta m (W_l(k) - W_l(0)) phi(h_{l-1}(k))`` (what the weight updates add to ``h_l``)
    ``noise``    ``beta m W_l(0) phi(h_{l-1}(k))`` (the initial-weight signal, O(beta))
    With ``measure_backward`` (true networks; also at ``k = 0``), the backward signal
    ``beta phi'(h_{l-1}) * m W_l(0)^T e_l(k)`` decomposed given the forward products of steps ``<= k`` and the
    backward products of steps ``< k``, divided by ``rms e_l(k)``: ``bwd_coupling``, ``bwd_floor``,
    ``bwd_excess``, ``bwd_total``, ``bwd_drift`` (``beta phi' * m (W_l(k) - W_l(0))^T e_l(k)``).
    Rows with ``layer=None``: ``loss`` (train loss) and the sums over layers, ``<q>_sum`` = rms of
    ``sum_l`` of the vectors above (``floor_sum`` = sqrt of the summed mean-square floors, the layers' noises
    being independent; ``excess_sum`` = ``sqrt(max(0, coupling_sum^2 - floor_sum^2))``).
    """
    _check_model(model)
    lr = check_float("lr", lr)
    steps = check_int("steps", steps)
    loss = check_choice("loss", loss, LOSSES)
    X, Y, labels = check_batch(X, Y, model.d_in, model.d_out, labels)
    dev, dt = model.U.device, model.U.dtype
    X, Y = X.to(dev, dt), Y.to(dev, dt)
    labels = None if labels is None else labels.to(dev)
    backward = check_bool("measure_backward", measure_backward) and model.backward_mode == "true"
    W0 = model.W.detach().clone()
    opt = make_sgd(model, lr)
    hist = [_LayerHistory() for _ in range(model.L)]
    rows = Records()

    for k in range(steps + 1):
        f, feats = model(X, return_features=True)
        value = loss_fn(f, Y, labels, loss)
        params = list(model.parameters())
        grads = torch.autograd.grad(value, list(feats.h) + params)
        e_all, pgrads = grads[:model.L + 1], grads[model.L + 1:]
        h = [t.detach() for t in feats.h]
        rows.append({"step": k, "layer": None, "quantity": "loss", "value": float(value.detach())})
        if not torch.isfinite(value):
            break
        _coupling_step(model, hist, W0, h, e_all, k, backward, rows)
        if k == steps:
            break
        for p, g in zip(params, pgrads):
            p.grad = g.detach()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return rows


_FORWARD_QUANTITIES = ("coupling", "total", "drift", "noise")
_BACKWARD_QUANTITIES = ("bwd_coupling", "bwd_total", "bwd_drift")


def _coupling_step(model: ResNet, hist: list[_LayerHistory], W0: Tensor, h: list[Tensor], e_all, k: int,
                   backward: bool, rows: Records) -> None:
    """Step ``k`` of :func:`coupling_trajectory`: every layer's rows, the rows of the sums over layers, and each
    layer's history extended by this step's vectors and products."""
    n, P = model.n, h[0].shape[0]
    sums = {q: torch.zeros(n, P, dtype=torch.float64, device=h[0].device)
            for q in _FORWARD_QUANTITIES + _BACKWARD_QUANTITIES}
    floor_sq = {"coupling": 0.0, "bwd_coupling": 0.0}
    Wk = model.W.detach()
    for l in range(1, model.L + 1):
        layer = _layer_coupling(model, hist[l - 1], W0[l - 1], (Wk[l - 1] - W0[l - 1]).double(), h[l - 1],
                                e_all[l].detach().mT, k, backward)
        for prefix, (vec, fl_sq) in layer.items():
            rows.extend_rows(_layer_rows(vec, fl_sq, prefix), step=k, layer=l)
            for q, v in vec.items():
                sums[q] += v
            floor_sq[prefix + "coupling"] += fl_sq
    for prefix, active in (("", k >= 1), ("bwd_", backward)):
        if not active:
            continue
        c_sum = rms(sums[prefix + "coupling"])
        fl = floor_sq[prefix + "coupling"]
        rows.extend_rows([{"quantity": f"{prefix}{q}_sum", "value": rms(sums[prefix + q])}
                          for q in (("coupling", "total", "drift", "noise") if not prefix
                                    else ("coupling", "total", "drift"))]
                         + [{"quantity": f"{prefix}floor_sum", "value": math.sqrt(fl)},
                            {"quantity": f"{prefix}excess_sum", "value": math.sqrt(max(0.0, c_sum ** 2 - fl))}],
                         step=k, layer=None)


def _layer_rows(vec: dict, floor_sq: float, prefix: str) -> list[dict]:
    """One layer's rows: the rms of each vector of ``vec``, then the noise floor and the excess over it."""
    c = rms(vec[prefix + "coupling"])
    return ([{"quantity": q, "value": rms(v)} for q, v in vec.items()]
            + [{"quantity": f"{prefix}floor", "value": math.sqrt(floor_sq)},
               {"quantity": f"{prefix}excess", "value": math.sqrt(max(0.0, c ** 2 - floor_sq))}])


def _layer_coupling(model: ResNet, H: _LayerHistory, W0l: Tensor, dWl: Tensor, h_in: Tensor, e_k: Tensor, k: int,
                    backward: bool) -> dict[str, tuple[dict, float]]:
    """Layer ``l`` at step ``k``: ``{prefix: (vectors, mean-square floor)}`` for the forward signal (prefix
    ``""``, steps ``k >= 1``) and the backward signal (``"bwd_"``, with ``backward``); the layer's history ``H``
    is extended by this step's forward inputs, backward vectors and products with ``W0l = W_l(0)``. ``dWl`` is
    ``W_l(k) - W_l(0)``, ``h_in`` is ``h_{l-1}(k)`` and ``e_k`` the backward vectors at ``h_l``, ``(n, P)``."""
    n, m = model.n, model.scales["hidden"].multiplier
    sigma, beta = model.scales["hidden"].init_std, model.beta
    phi_k = model.phi(h_in).mT.detach()  # (n, P): new forward inputs of W_l
    Z_k = m * (W0l @ phi_k)
    out = {}
    # forward: the part of m W(0) phi(k) explained by earlier backward vectors
    if k == 0:
        Zd_k = torch.zeros(n, phi_k.shape[1], dtype=torch.float64, device=phi_k.device)
    else:
        c, perp = _split(H.cat(H.F), phi_k)
        r, rank = _explained(H.cat(H.E), H.cat(H.Yb), perp)
        Zd_k = H.cat(H.Zd) @ c + r
        fl_sq = rank * (beta * m * sigma) ** 2 * float(perp.pow(2).sum(0).mean()) / n
        out[""] = ({"coupling": beta * r, "total": beta * Zd_k, "drift": beta * m * (dWl @ phi_k.double()),
                    "noise": beta * Z_k.double()}, fl_sq)
    # backward: the part of m W(0)^T e(k) explained by the forward inputs of steps <= k
    if backward:
        scale = beta * get_activation_derivative(model.activation)(h_in).mT.double()
        vec, bfl_sq, Zdb_k = _backward_coupling(H, phi_k, Z_k, e_k, dWl, scale, m * sigma, m, n)
        out["bwd_"] = (vec, bfl_sq)
        H.Zdb.append(Zdb_k)
    H.F.append(phi_k)
    H.Z.append(Z_k)
    H.Zd.append(Zd_k)
    H.E.append(e_k)
    H.Yb.append(m * (W0l.mT @ e_k))
    return out


def _backward_coupling(H: _LayerHistory, phi_k: Tensor, Z_k: Tensor, e_k: Tensor, dWl: Tensor, scale: Tensor,
                       std: float, m: float, n: int) -> tuple[dict, float, Tensor]:
    """The backward signal ``scale * m W_l(0)^T e_l(k)`` of one layer decomposed given the forward products of
    steps ``<= k`` and the backward products of steps ``< k`` (``std = m sigma``), divided by ``rms e_l(k)``:
    the vectors of the rows, the mean-square noise floor and the reused-weight part ``Zdb_k`` carried forward."""
    F_prev = H.cat(H.F)
    F_all = phi_k if F_prev is None else torch.cat([F_prev, phi_k], dim=1)
    Z_all = Z_k if F_prev is None else torch.cat([H.cat(H.Z), Z_k], dim=1)
    cb, e_perp = _split(H.cat(H.E), e_k)
    rb, rank_b = _explained(F_all, Z_all, e_perp)
    Zdb_k = rb if cb is None else H.cat(H.Zdb) @ cb + rb
    e_rms = rms(e_k)
    bfl_sq = (rank_b * std ** 2 * float(e_perp.pow(2).sum(0).mean()) / n
              * float(scale.pow(2).mean())) / e_rms ** 2
    vec = {"bwd_coupling": scale * rb / e_rms, "bwd_total": scale * Zdb_k / e_rms,
           "bwd_drift": scale * (m * (dWl.mT @ e_k.double())) / e_rms}
    return vec, bfl_sq, Zdb_k


def coupling_sweep(widths: Iterable[int], depths: Iterable[int], *, seeds: Sequence[int] = (0, 1),
                   backwards: Sequence[str] = ("true", "decoupled"), lr: float = 0.5, steps: int = 3,
                   parametrization: str = "depth-mup", T: float = 1.0, activation: str = "relu",
                   skip: bool = True, P: int = 4, d: int = 16, data_seed: int = 0, measure_backward: bool = True,
                   device=None, dtype=torch.float32, progress: bool = True) -> Records:
    """:func:`coupling_trajectory` for every width, depth, seed and backward mode, on a teacher task of ``P``
    inputs (``data_seed``); rows carry ``n, L, T, seed, backward, parametrization``."""
    widths = check_grid("widths", widths, integer=True).tolist()
    depths = check_grid("depths", depths, integer=True).tolist()
    seeds = check_seeds(seeds)
    backwards = [check_choice("backward", b, ("true", "decoupled")) for b in backwards]
    task = make_teacher_task(d=check_int("d", d), n_train=check_int("P", P), n_test=1, seed=data_seed, dtype=dtype)
    records = Records()
    jobs = [(n, L, s, b) for n in widths for L in depths for s in seeds for b in backwards]
    for n, L, seed, b in tqdm(jobs, desc="coupling", disable=not progress, leave=False):
        model = ResNet(d, 1, n, L, parametrization=parametrization, activation=activation, T=T, skip=skip,
                       backward=b, seed=seed, device=device, dtype=dtype)
        rows = coupling_trajectory(model, task.X_train, task.Y_train, lr=lr, steps=steps,
                                   measure_backward=measure_backward)
        records.extend_rows(rows, parametrization=parametrization, n=n, L=L, T=T, seed=seed, backward=b,
                            skip=skip)
        del model
    return records


def coupling_summary(records: Records, step: int = 1, level: float = 0.95) -> Records:
    """Per ``(backward, n, L)`` at one ``step``: per-layer and summed sizes, seed means with intervals.

    ``layer_excess``  ``sqrt(mean over layers and seeds of (coupling^2 - floor^2))`` (the per-layer reused-weight
                      term with the noise floor removed in mean square; interval from the seed spread)
    ``layer_ms``      the same mean square before the square root (its slope in ``L`` is the paper's rate for
                      the squared per-layer coupling)
    ``layer_drift``, ``layer_floor``, ``layer_noise``, ``layer_total``  rms over layers of the per-layer values
    ``sum_excess``, ``sum_drift``, ``sum_floor``, ``sum_coupling``, ``sum_total``  summed over layers
    ``ratio_sum``     ``sum_excess / sum_drift`` per seed, averaged;  ``ratio_total``  ``sum_total / sum_drift``
    ``bwd_layer_ms``, ``bwd_layer_excess``, ``bwd_layer_drift``, ``bwd_layer_total``, ``bwd_sum_excess``,
    ``bwd_sum_drift``, ``bwd_sum_total``, ``bwd_sum_floor``  the backward analogues (true networks)
    """
    out = Records()
    rows = records.where(step=step)
    for b in rows.unique("backward"):
        for n in rows.where(backward=b).unique("n"):
            for L in rows.where(backward=b, n=n).unique("L"):
                sub = rows.where(backward=b, n=n, L=L)
                seeds = sub.unique("seed")
                base = {"backward": b, "n": n, "L": L, "step": step, "seeds": len(seeds)}
                per_seed: dict[str, list[float]] = {}
                for s in seeds:
                    ss = sub.where(seed=s)

                    def vals(q, ss=ss):
                        return np.array([r["value"] for r in ss.where(quantity=q)])

                    def one(q, ss=ss):
                        v = ss.where(quantity=q)
                        return v[0]["value"] if v else float("nan")

                    c, fl = vals("coupling"), vals("floor")
                    if c.size == 0:
                        continue

                    def add(q, v, store=per_seed):
                        store.setdefault(q, []).append(float(v))

                    add("layer_ms", np.mean(c ** 2 - fl ** 2))
                    for q in ("drift", "floor", "noise", "total"):
                        add(f"layer_{q}", np.sqrt(np.mean(vals(q) ** 2)))
                    for q in ("excess", "drift", "floor", "coupling", "total"):
                        add(f"sum_{q}", one(f"{q}_sum"))
                    add("ratio_sum", one("excess_sum") / one("drift_sum"))
                    add("ratio_total", one("total_sum") / one("drift_sum"))
                    bc = vals("bwd_coupling")
                    if bc.size:
                        add("bwd_layer_ms", np.mean(bc ** 2 - vals("bwd_floor") ** 2))
                        for q in ("drift", "total"):
                            add(f"bwd_layer_{q}", np.sqrt(np.mean(vals(f"bwd_{q}") ** 2)))
                        for q in ("excess", "drift", "total", "floor"):
                            add(f"bwd_sum_{q}", one(f"bwd_{q}_sum"))
                for q, v in per_seed.items():
                    m, lo, hi = mean_interval(v, level)
                    out.append({**base, "quantity": q, "value": m, "lo": lo, "hi": hi})
                    if q.endswith("layer_ms"):
                        name = q.replace("_ms", "_excess")
                        out.append({**base, "quantity": name, "value": math.sqrt(max(m, 0.0)),
                                    "lo": math.sqrt(max(lo, 0.0)), "hi": math.sqrt(max(hi, 0.0))})
    return out


def coupling_profile(records: Records, step: int = 1) -> Records:
    """Per ``(backward, n, L, layer)`` at one ``step``: seed means of the per-layer mean squares
    ``coupling_ms``, ``floor_ms``, ``excess_ms`` (= coupling - floor), ``drift_ms``, ``total_ms``, with
    ``tau = layer T / L`` (the profile of the reused-weight term along depth)."""
    out = Records()
    rows = records.where(step=step)
    for b in rows.unique("backward"):
        for n in rows.where(backward=b).unique("n"):
            for L in rows.where(backward=b, n=n).unique("L"):
                sub = rows.where(backward=b, n=n, L=L)
                T = sub[0].get("T", 1.0)
                for layer in sorted({r["layer"] for r in sub if r["layer"] is not None}):
                    lay = sub.where(layer=layer)
                    ms = {q: float(np.mean([r["value"] ** 2 for r in lay.where(quantity=q)]))
                          for q in ("coupling", "floor", "drift", "total")}
                    ms["excess"] = ms["coupling"] - ms["floor"]
                    for q, v in ms.items():
                        out.append({"backward": b, "n": n, "L": L, "T": T, "layer": layer, "tau": layer * T / L,
                                    "step": step, "quantity": f"{q}_ms", "value": v})
    return out


def coupling_digest(records: Records) -> Records:
    """What notebook 03 keeps of a :func:`coupling_sweep`: :func:`coupling_summary` at every step ``>= 1``
    (column ``kind="summary"``) and :func:`coupling_profile` at step 1 (``kind="profile"``)."""
    out = Records()
    for step in records.unique("step"):
        if step >= 1:
            out.extend_rows(coupling_summary(records, step=step), kind="summary")
    out.extend_rows(coupling_profile(records, step=1), kind="profile")
    return out


# ----------------------------------------------------------------------------------------------------------
# 3. end to end
# ----------------------------------------------------------------------------------------------------------
def paired_training(data: Dataset, *, n: int, L: int, seeds: Sequence[int] = (0, 1), lr: float = 0.1,
                    steps: int = 20, parametrization: str = "depth-mup", skip: bool = True, T: float = 1.0,
                    activation: str = "relu", batch_size: int | None = None, loss: str = "mse",
                    eval_every: int = 1, probe: int = 16, device=None, dtype=torch.float32,
                    progress: bool = True) -> Records:
    """Train a true and a decoupled network from the same seed (same forward weights, same batches) and compare.

    Rows carry ``n, L, T, seed, parametrization, skip, step`` and ``quantity``:

    ``train_loss, test_loss, test_acc`` with ``backward`` = ``"true"`` / ``"decoupled"``;
    gaps (``backward=None``), for ``step >= 1``, on the first ``probe`` test inputs:
    ``out_gap``       ``|f_true(k) - f_dec(k)| / |f_true(k) - f_true(0)|`` (Frobenius over inputs and outputs)
    ``update_ratio``  ``<f_dec(k) - f_dec(0), f_true(k) - f_true(0)> / |f_true(k) - f_true(0)|^2``
    ``kernel_gap``    ``|Phi_L,true(k) - Phi_L,dec(k)| / |Phi_L,true(k) - Phi_L,true(0)|`` (feature kernel)
    ``loss_gap``      ``(train_loss_dec - train_loss_true) / train_loss_true``;  ``test_loss_gap`` likewise.
    A diverged run gives NaN gaps from the step it diverged.
    """
    n, L = check_int("n", n), check_int("L", L)
    seeds = check_seeds(seeds)
    probe = check_int("probe", probe)
    records = Records()
    Xp = data.X_test[:probe]
    for seed in tqdm(seeds, desc=f"paired training L={L} n={n}", disable=not progress, leave=False):
        runs = {}
        for mode in ("true", "decoupled"):
            model = ResNet(data.d, data.num_outputs, n, L, parametrization=parametrization, activation=activation,
                           T=T, skip=skip, backward=mode, seed=seed, device=device, dtype=dtype)
            store: dict[int, tuple[Tensor, Tensor]] = {}
            Xd = Xp.to(model.U)

            def callback(step, m, store=store, Xd=Xd):
                with torch.no_grad():
                    f, feats = m(Xd, return_features=True)
                    phi = m.phi(feats.h[-1])
                    store[step] = (f.double().cpu(), (phi @ phi.mT / m.n).double().cpu())

            res = train(model, data, lr, steps, batch_size=batch_size, loss=loss, eval_every=eval_every,
                        seed=seed, callback=callback)
            runs[mode] = (res, store)
            del model
        common = {"parametrization": parametrization, "n": n, "L": L, "T": T, "skip": skip, "seed": seed}
        res_t, st_t = runs["true"]
        res_d, st_d = runs["decoupled"]
        for mode, (res, _) in runs.items():
            for i, k in enumerate(res.steps):
                records.append({**common, "backward": mode, "step": int(k), "quantity": "train_loss",
                                "value": float(res.train_loss[i])})
                records.append({**common, "backward": mode, "step": int(k), "quantity": "test_loss",
                                "value": float(res.test_loss[i])})
                if res.test_acc is not None:
                    records.append({**common, "backward": mode, "step": int(k), "quantity": "test_acc",
                                    "value": float(res.test_acc[i])})
        for i, k in enumerate(res_t.steps):
            k = int(k)
            if k == 0:
                continue
            values = dict.fromkeys(("out_gap", "update_ratio", "kernel_gap"), float("nan"))
            if k in st_t and k in st_d and 0 in st_t:
                (ft, Pt), (fd, Pd), (f0, P0) = st_t[k], st_d[k], st_t[0]
                fd0 = st_d[0][0]
                dt_ = ft - f0
                norm = float(dt_.pow(2).sum())
                values["out_gap"] = float((ft - fd).norm()) / math.sqrt(norm)
                values["update_ratio"] = float(((fd - fd0) * dt_).sum()) / norm
                values["kernel_gap"] = float((Pt - Pd).norm() / (Pt - P0).norm())
            values["loss_gap"] = float((res_d.train_loss[i] - res_t.train_loss[i]) / res_t.train_loss[i])
            values["test_loss_gap"] = float((res_d.test_loss[i] - res_t.test_loss[i]) / res_t.test_loss[i])
            for q, v in values.items():
                records.append({**common, "backward": None, "step": k, "quantity": q, "value": v})
    return records


def _sort_key(values: tuple) -> tuple:
    """Order group keys numbers first, numerically (L = 2, 4, 16, not 16, 2, 4), then anything else as text."""
    return tuple((0, float(v), "") if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                 else (1, 0.0, str(v)) for v in values)


def paired_gap_summary(records: Records, quantity: str, by: Sequence[str] = ("L",), step: int | None = None,
                       level: float = 0.95) -> Records:
    """Seed mean and interval of a gap ``quantity`` of :func:`paired_training` records, per value of ``by``.

    ``step=None`` takes the last step of each group. Groups come out sorted by ``by``, numbers numerically.
    """
    rows = records.where(quantity=quantity)
    if not rows:
        raise ValueError(f"the records hold no rows of quantity {quantity!r}")
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault(tuple(r[b] for b in by), []).append(r)
    out = Records()
    for key, grp in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
        grp = Records(grp)
        k = max(grp.unique("step")) if step is None else step
        vals = [r["value"] for r in grp.where(step=k)]
        m, lo, hi = mean_interval(vals, level)
        out.append({**dict(zip(by, key)), "step": k, "quantity": quantity, "value": m, "lo": lo, "hi": hi,
                    "seeds": len(vals)})
    return out


# ----------------------------------------------------------------------------------------------------------
# 4. sweeps for notebook 03, cached under data/ (names start with gia_)
# ----------------------------------------------------------------------------------------------------------
#: Bumped by hand whenever code that produces a cached result changes.
VERSION = "1"
_LIMIT_ARRAYS = ("f_train", "f_test", "train_loss", "test_loss")
register_kind("gia_", VERSION, "json")
register_kind("gia_limit_networks", VERSION, "npz", _LIMIT_ARRAYS + ("ns", "Ls"))
register_kind("gia_limit_solver", VERSION, "npz", _LIMIT_ARRAYS + ("Ks",))


def paired_sweep(*, dataset: str = "teacher", dataset_kwargs: dict | None = None, runs: Sequence[dict],
                 seeds: Sequence[int] = (0, 1), progress: bool = True, **common) -> Records:
    """:func:`paired_training` for each entry of ``runs`` (dicts of keyword arguments such as ``n``, ``L``,
    ``T``, ``parametrization``, ``skip``), sharing ``common`` keywords and one dataset
    (:func:`nfdlib.data.load_dataset` with ``dataset_kwargs``). Rows also carry ``arch`` when a run names one."""
    data = load_dataset(dataset, **(dataset_kwargs or {}))
    records = Records()
    for run in tqdm(list(runs), desc="paired sweep", disable=not progress, leave=False):
        run = dict(run)
        arch = run.pop("arch", None)
        rows = paired_training(data, seeds=seeds, progress=False, **{**common, **run})
        records.extend_rows(rows, arch=arch)
    return records


def _init_gap_summary_run(progress: bool = True, **config) -> Records:
    return init_gap_summary(init_gap(progress=progress, **config))


def _coupling_digest_run(progress: bool = True, **config) -> Records:
    return coupling_digest(coupling_sweep(progress=progress, **config))


_EXPERIMENTS = {
    "init_gap": (_init_gap_summary_run, "json"),
    "coupling": (_coupling_digest_run, "json"),
    "paired": (paired_sweep, "json"),
    "limit_networks": (limit_networks, "npz"),
    "limit_solver": (limit_solver, "npz"),
}


def run_experiment(kind: str, config: dict, *, cache: bool = True, refresh: bool = False, progress: bool = True):
    """Run one experiment of notebook 03 with keyword arguments ``config`` (plain JSON values).

    ``kind`` is one of ``init_gap`` (:func:`init_gap` then :func:`init_gap_summary`), ``coupling``
    (:func:`coupling_sweep` then :func:`coupling_digest`), ``paired`` (:func:`paired_sweep`), all records, or
    ``limit_networks``, ``limit_solver`` (arrays, :mod:`nfdlib.nfd.runs`). With ``cache`` the result is stored under
    ``data/gia_<kind>-<hash>`` (:func:`nfdlib.cache.cached`) and read back on the next call with the same
    configuration and :data:`VERSION`; quick mode passes ``cache=False`` and computes directly.
    """
    func, fmt = _EXPERIMENTS[check_choice("kind", kind, tuple(_EXPERIMENTS))]
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict of keyword arguments, got {type(config).__name__}")

    def compute():
        result = func(**config, progress=progress)
        return list(result) if fmt == "json" else result

    if not check_bool("cache", cache):
        result = compute()
    else:
        result = cached(f"gia_{kind}", config, compute, version=VERSION, fmt=fmt, refresh=refresh)
    return Records(result) if fmt == "json" else result


# ----------------------------------------------------------------------------------------------------------
# 5. reading summaries (figures and verdicts of notebook 03)
# ----------------------------------------------------------------------------------------------------------
def series(records: Records, x: str, quantity: str, **where) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """``(x values, value, lo, hi)`` of one summary ``quantity`` against column ``x``, rows filtered by
    ``where`` (sorted by ``x``; ``lo``/``hi`` NaN when a row has no interval)."""
    rows = records.where(quantity=quantity, **where)
    if not rows:
        raise ValueError(f"no rows of quantity {quantity!r} with {where}")
    rows = sorted(rows, key=lambda r: r[x])
    xs = np.array([r[x] for r in rows], float)
    val = np.array([r["value"] for r in rows], float)
    lo = np.array([r.get("lo", np.nan) for r in rows], float)
    hi = np.array([r.get("hi", np.nan) for r in rows], float)
    return xs, val, lo, hi


def slope(records: Records, x: str, quantity: str, **where):
    """:func:`nfdlib.stats.fit_loglog` of a summary ``quantity`` against ``x`` (one point per size)."""
    xs, val, _, _ = series(records, x, quantity, **where)
    return fit_loglog(xs, val)


def delta_outputs(arrays: dict, which: str = "f_test", step: int = -1) -> np.ndarray:
    """``f(step) - f(0)`` from :func:`nfdlib.nfd.runs.limit_networks` / :func:`~nfdlib.nfd.runs.limit_solver`
    arrays, flattened over inputs and outputs (leading axes kept): the function learned by ``step``, without the
    initial function."""
    f = np.asarray(arrays[check_choice("which", which, ("f_train", "f_test"))], float)
    d = f[..., step, :, :] - f[..., 0, :, :]
    return d.reshape(d.shape[:-2] + (-1,))


# -- fits drawn by the figures of notebook 03
def init_gap_fits(fluct: Records) -> dict:
    """The log-log fit of one network's gap ``G_rb`` against width, per depth (``{L: SlopeFit}``, depths sorted),
    from :func:`init_gap_summary` records: the slopes drawn by :func:`nfdlib.viz.plot_init_gap`."""
    return {L: slope(fluct, "n", "G_rb", L=L) for L in sorted(fluct.unique("L"))}


def first_step_ratios(cross: dict) -> dict:
    """For each horizon ``T`` of ``cross`` (``cross[T]``: :func:`init_gap_summary` records), ``(measured
    first-step ratio, its infinite-width value at the measured depths, depths)``, the values drawn by
    :func:`nfdlib.viz.plot_first_step_ratio`."""
    rows = {}
    for t in cross:
        xs, val, _, _ = series(cross[t], "L", "cross_ratio")
        rows[t] = (val, np.array([first_step_ratio_theory(t, int(L)) for L in xs]), xs)
    return rows


def coupling_width_fits(by_width: Records) -> dict:
    """The log-log fits against width of the summed reused-weight term, drift and noise floor of the true network
    at step 1 (``{quantity: SlopeFit}``, from :func:`coupling_digest` records), drawn by
    :func:`nfdlib.viz.plot_coupling_width_horizon`."""
    s = by_width.where(kind="summary", step=1)
    return {q: slope(s, "n", q, backward="true") for q in ("sum_excess", "sum_drift", "sum_floor")}


def paired_gap_fits(by: dict, mid: int) -> dict:
    """The log-log fit of the seed-mean output gap at step ``mid`` against each swept size (``by = {"L": records,
    "n": records, "T": records}`` of :func:`paired_training`), ``{size: SlopeFit}``; the gaps are drawn by
    :func:`nfdlib.viz.plot_paired_gaps`."""
    return {x: slope(paired_gap_summary(rec, "out_gap", by=(x,), step=mid), x, "out_gap") for x, rec in by.items()}
