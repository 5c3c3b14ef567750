"""The reused-weight coupling of a finite ResNet, layer by layer during training.

True backpropagation multiplies by ``W_l^T`` the same matrix ``W_l`` that the forward pass multiplied by; the
decoupled network (``ResNet(backward="decoupled")``, the gradient-independence assumption of :mod:`nfdlib.gia`)
uses an independent copy. Here the difference is measured per layer and step through the conditional-Gaussian
decomposition of the initial weights ``W_l(0)`` given the products they have produced,

    W = W Pi_F + Pi_E W Pi_F^perp + Pi_E^perp W~ Pi_F^perp,

where ``F`` holds the forward inputs ``phi(h_{l-1}(mu, k'))`` and ``E`` the backward vectors
``dloss/dh_l(mu, k')`` of earlier steps. Applied to the new forward input ``phi(h_{l-1}(k))``, the middle term is
the part of the forward signal explained by earlier backward vectors: the Tensor-Programs "Z-dot" (reused-weight)
term. In a decoupled network it is pure noise of known size (``W`` never multiplied ``E``).

:func:`coupling_trajectory` measures one network, :func:`coupling_sweep` many (over width, depth, seed and
backward mode); :func:`coupling_summary`, :func:`coupling_profile` and :func:`coupling_digest` reduce the rows
(what :func:`nfdlib.gia.run_experiment` caches for notebook 03). Conventions are those of :mod:`nfdlib.models`
(``h_l = h_{l-1} + beta m W_l phi(h_{l-1})``); :func:`check_gia_model` says which networks are supported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .activations import get_activation_derivative
from .config import check_seeds
from .data import make_teacher_task
from .models import ResNet
from .optim import make_sgd
from .records import Records
from .stats import mean_interval, rms
from .training import LOSSES, loss_fn
from .validation import check_batch, check_bool, check_choice, check_float, check_grid, check_int

Tensor = torch.Tensor

__all__ = ["check_gia_model", "coupling_trajectory", "coupling_sweep", "coupling_summary", "coupling_profile",
           "coupling_digest"]


def check_gia_model(model: ResNet) -> None:
    """Refuse a model the GIA measurements do not support: they need an :class:`~nfdlib.models.ResNet` with
    one-layer pre-activation blocks, or one without skips (an MLP)."""
    if not isinstance(model, ResNet):
        raise ValueError(f"model must be an nfdlib.models.ResNet, got {type(model).__name__}")
    if model.block != "one":
        raise ValueError(f"model.block must be 'one' for the GIA measurements, got {model.block!r}")
    if model.skip and not model.preact:
        raise ValueError("model must use pre-activation blocks (preact=True) or no skips (skip=False)")


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
    check_gia_model(model)
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


def _by_size(rows: Records):
    """``(backward, n, L, rows of that size)`` for every size of a coupling digest, in sorted order."""
    for b in rows.unique("backward"):
        for n in rows.where(backward=b).unique("n"):
            for L in rows.where(backward=b, n=n).unique("L"):
                yield b, n, L, rows.where(backward=b, n=n, L=L)


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
    for b, n, L, sub in _by_size(rows):
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
    for b, n, L, sub in _by_size(rows):
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
