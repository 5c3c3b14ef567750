"""Gradient independence (GIA) at depth: measurements of the reused-weight coupling.

True backpropagation multiplies by ``W_l^T`` the same matrix ``W_l`` that the forward pass multiplied by; the
gradient-independence assumption (GIA) treats it as an independent copy ``B_l``. The finite "decoupled" network
``ResNet(backward="decoupled")`` realises GIA exactly (``B_l(0)`` independent, same updates as ``W_l``). This
module measures, on finite networks, where true and decoupled backpropagation differ:

1. **At initialization** (:func:`init_statistics`, :func:`init_gap`): backward kernels ``G_l`` and the
   function-space kernel (NTK) ``K`` of the true network, of one decoupled draw, and their GIA expectation
   ``E_B[.]`` over the backward weights (computed exactly, given the forward pass); plus the *cross* kernel
   ``K_x = <grad f_true, grad f_dec>`` that drives the first SGD step of a decoupled network.
2. **During training, per layer** (:mod:`nfdlib.coupling`): the conditional-Gaussian decomposition of the
   initial weights ``W_l(0)`` given the products they have produced, whose middle term is the Tensor-Programs
   "Z-dot" (reused-weight) term; :func:`run_experiment` caches its sweeps (``kind="coupling"``).
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

import json
import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .activations import get_activation_derivative
from .cache import config_key, register_kind
from .config import check_seeds
from .coupling import check_gia_model, coupling_digest, coupling_sweep
from .data import Dataset, load_dataset, make_teacher_task
from .jobs import CachedResult, Job, stack_parts
from .models import ResNet
from .nfd.runs import limit_networks, limit_solver, solve_cost
from .nfd.theory import first_step_ratio_theory
from .records import Records
from .stats import fit_loglog, mean_interval
from .training import train
from .validation import check_bool, check_choice, check_grid, check_int, known_arguments

Tensor = torch.Tensor

__all__ = ["feature_gradients", "kernels", "gia_expected_gradient_kernels", "init_statistics", "init_gap",
           "init_gap_summary", "paired_training", "paired_gap_summary", "paired_sweep", "experiment_part",
           "experiment_result", "run_experiment", "run_named", "series", "slope", "delta_outputs", "init_gap_fits",
           "first_step_ratios", "coupling_width_fits", "paired_gap_fits"]


# ----------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------
def feature_gradients(model: ResNet, X: Tensor, out_weights: Tensor | None = None):
    """One forward and backward pass: ``(f, h, phi(h), D)`` with ``D[l] = d(sum_x w(x).f(x)) / d h_l(x)``.

    ``h`` and ``D`` are lists over ``l = 0..L`` of ``(batch, n)`` tensors. The backward pass is the model's own
    (``W^T`` for a true network, ``B^T`` for a decoupled one). ``out_weights`` (``(batch, d_out)``) weights the
    outputs; by default every output of every input has weight 1 (for ``d_out = 1``: ``D[l] = df/dh_l``).
    """
    check_gia_model(model)
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
    check_gia_model(model)
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
# 2. end to end
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
# 3. sweeps for notebook 03, cached under data/ (names start with gia_)
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


def experiment_part(kind: str, config: dict, progress: bool = False) -> dict[str, np.ndarray]:
    """One job of an experiment (:func:`experiment_result`): its arrays, or its rows as JSON text in a 0-d array
    (job files hold arrays only)."""
    func, fmt = _EXPERIMENTS[check_choice("kind", kind, tuple(_EXPERIMENTS))]
    result = func(**config, progress=progress)
    if fmt == "npz":
        return result
    return {"records": np.asarray(json.dumps(list(result), default=_plain))}


def _plain(value):
    """JSON for the NumPy scalars and arrays of a row."""
    return value.item() if isinstance(value, np.generic) else np.asarray(value).tolist()


def _join_records(parts) -> list:
    return [row for part in parts for row in json.loads(str(part["records"]))]


def _join_networks(parts) -> dict[str, np.ndarray]:
    """:func:`nfdlib.nfd.runs.limit_networks` from its widths' jobs (its first axis is the width)."""
    out = stack_parts(parts, ("f_train", "f_test", "train_loss", "test_loss", "ns"))
    out["Ls"] = np.asarray(parts[0]["Ls"])
    return out


def _first(parts):
    return parts[0]


def experiment_result(kind: str, config: dict) -> CachedResult:
    """The cached experiment ``gia_<kind>`` with keyword arguments ``config`` (:func:`run_experiment`) as a
    :class:`nfdlib.jobs.CachedResult` of its jobs, labelled ``gia_<kind>_<hash of config>...``: one job per width
    of ``limit_networks``, per grid size of ``limit_solver``, per entry of ``runs`` of ``paired``, one job
    otherwise. Split or not, the merged result is what one computation returns (every part is computed
    independently)."""
    check_choice("kind", kind, tuple(_EXPERIMENTS))
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict of keyword arguments, got {type(config).__name__}")
    config = dict(config)
    stem = f"gia_{kind}_{config_key(f'gia_{kind}', config, VERSION)[:8]}"
    fmt = _EXPERIMENTS[kind][1]

    def job(suffix, part_config, cost=None):
        return Job(stem + suffix, "nfdlib.gia:experiment_part", {"kind": kind, "config": part_config},
                   version=VERSION, cost=cost)

    if kind == "limit_solver":
        cost = solve_cost(config["M"], config.get("steps", 10), len(config["seeds"]), config.get("task"))
        jobs = [job(f"_K{int(K)}", dict(config, Ks=[int(K)]), cost) for K in config["Ks"]]
        combine = stack_parts
    elif kind == "limit_networks":
        jobs = [job(f"_n{int(n)}", dict(config, ns=[int(n)])) for n in config["ns"]]
        combine = _join_networks
    elif kind == "paired":
        jobs = [job(f"_run{i}", dict(config, runs=[run])) for i, run in enumerate(config["runs"])]
        combine = _join_records
    else:
        jobs = [job("", config)]
        combine = _join_records if fmt == "json" else _first
    return CachedResult(f"gia_{kind}", config, VERSION, jobs, combine, fmt=fmt)


def run_experiment(kind: str, config: dict, *, cache: bool = True, refresh: bool = False, progress: bool = True):
    """Run one experiment of notebooks 03 and 04 with keyword arguments ``config`` (plain JSON values).

    ``kind`` is one of ``init_gap`` (:func:`init_gap` then :func:`init_gap_summary`), ``coupling``
    (:func:`coupling_sweep` then :func:`coupling_digest`), ``paired`` (:func:`paired_sweep`), all records, or
    ``limit_networks``, ``limit_solver`` (arrays, :mod:`nfdlib.nfd.runs`). With ``cache`` the result is stored under
    ``data/gia_<kind>-<hash>`` and read back on the next call with the same configuration and :data:`VERSION`,
    assembled from its jobs (:func:`experiment_result`); quick mode passes ``cache=False`` and computes directly.
    """
    func, fmt = _EXPERIMENTS[check_choice("kind", kind, tuple(_EXPERIMENTS))]
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict of keyword arguments, got {type(config).__name__}")
    if check_bool("cache", cache):
        result = experiment_result(kind, config).load(refresh=refresh, progress=progress)
    else:
        result = func(**config, progress=progress)
        result = list(result) if fmt == "json" else result
    return Records(result) if fmt == "json" else result


def run_named(experiments: dict, name: str, *, cache: bool = True, progress: bool = True):
    """The experiment ``name`` of a notebook's ``EXPERIMENTS`` (name -> ``(kind, config)``), by
    :func:`run_experiment`; an unknown name raises ``ValueError`` listing the names."""
    if name not in experiments:
        raise ValueError(f"name must be one of the notebook's experiments {sorted(experiments)}, got {name!r}")
    kind, config = experiments[name]
    return run_experiment(kind, config, cache=cache, progress=progress)


# ----------------------------------------------------------------------------------------------------------
# 4. reading summaries (figures and verdicts of notebook 03)
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
