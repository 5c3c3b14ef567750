"""Two-layer residual blocks: each internal layer's own update, the backward signal into the first, kernel shares.

Diagnostics of two-layer residual blocks: the first internal layer's own feature update, the backward signal
that reaches it, and its share of the tangent kernel (notebooks 05 and 06; docs/reconstruction.md section 6).

The block (pre-activation, :class:`nfdlib.models.ResNet` with ``block="two"``)::

    z_l = m1 W1_l phi(h_{l-1}),     u_l = m2 W2_l phi(z_l),     h_l = h_{l-1} + beta u_l

with ``m1 = m2 = 1/sqrt(n)`` and ``beta`` the branch multiplier. One SGD step changes ``W1_l`` by ``dW1_l``; the
first internal layer's **own** feature update is the part of the change of ``z_l`` that this alone causes,

    dz_own_l = m1 dW1_l phi(h_{l-1})        (input held at its value before the step),

while the total change ``z_l(t+1) - z_l(t)`` also carries ``m1 W1_l [phi(h_{l-1}(t+1)) - phi(h_{l-1}(t))]``, the
change inherited from the stream. With ``s = f . e`` (``e = (1, ..., 1)/sqrt(C)``) and the backward signals
``g^h_l = n ds/dh_l``, ``g^z_l = n ds/dz_l = beta phi'(z_l) * m2 W2_l^T g^h_l`` (so ``g^z = O(beta) = O(L^-1/2)``
under depth-muP), full-batch gradient descent with rate ``eta_1`` on ``W1`` gives

    dz_own_l(x) = -(eta_1 / n) sum_mu chi_mu Phi_{l-1}(x, x_mu) g^z_l(x_mu),     Phi = phi(h).phi(h') / n,

i.e. ``O(eta_1 / n * L^-1/2)``: with depth-muP's ``eta_1 = eta n`` the layer's own update shrinks like
``L^-1/2`` (collapse), with the correction ``eta_1 = eta n sqrt(L)`` it is ``O(1)``, and under CompleteP
(``beta = T/L``, ``eta_1 = eta n L/T``) it is ``O(1)`` too.

Tangent kernel. The learning-rate-weighted tangent kernel of ``s`` is
``Theta(x, x') = sum_theta lr_scale(theta) ds(x)/dtheta . ds(x')/dtheta``, so one full-batch step changes the
output by ``ds = -eta Theta chi`` to first order. A matrix used as ``a -> m W a`` with pre-activation ``p`` adds
``lr_scale * m^2 (dp_s(x) . dp_s(x')) (a(x) . a(x'))``: the kernel of each role is a sum over layers of
Hadamard products of Gram matrices of backward signals and inputs (:func:`tangent_kernel`, checked against
per-sample autograd gradients in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from . import cache
from .config import check_seeds
from .data import make_teacher_task
from .models import ResNet
from .optim import make_sgd, scaling_table
from .records import Records
from .stats import SlopeFit, fit_loglog, rms
from .training import LOSSES, loss_fn
from .validation import check_batch, check_bool, check_choice, check_float, check_int, check_sizes, known_arguments

Tensor = torch.Tensor

# Per-layer quantities recorded by block_updates (rms over inputs and coordinates).
BLOCK_QUANTITIES = {
    "dz_own": "first internal layer's own update  m1 dW1 phi(h_{l-1})",
    "dz": "total per-step change of z_l",
    "du_own": "second internal layer's own update  m2 dW2 phi(z_l)",
    "dbranch": "per-step change of the block output  beta u_l",
    "dh": "per-step change of h_l",
    "dz_own_cum": "first internal layer's own update since init  m1 (W1(t) - W1(0)) phi(h_{l-1}(t))",
    "du_own_cum": "second internal layer's own update since init  m2 (W2(t) - W2(0)) phi(z_l(t))",
    "dbranch_cum": "change of the block output since init",
    "gz": "backward signal at z_l  (n ds/dz_l)",
    "gh": "backward signal at h_l  (n ds/dh_l)",
    "z_rms": "rms of z_l",
}
# For one-layer blocks the block's matrix W plays the part of W2 (its output goes straight to the stream) and
# the only nonlinearity input in the block is h_{l-1}: 'dz_*' and 'gz' are not recorded.
OUTPUT_QUANTITIES = {"df": "per-step change of the output f", "f_rms": "rms of the output f"}


def _check_model(model: ResNet) -> ResNet:
    if not isinstance(model, ResNet):
        raise ValueError(f"model must be an nfdlib ResNet, got {type(model).__name__}")
    if not (model.preact and model.skip):
        raise ValueError("model must be a pre-activation ResNet with skips (preact=True, skip=True)")
    if model.backward_mode != "true":
        raise ValueError("model must use backward='true' (the diagnostics follow true backpropagation)")
    return model


def _readout_direction(model: ResNet, device, dtype) -> Tensor:
    return torch.full((model.d_out,), 1.0 / math.sqrt(model.d_out), device=device, dtype=dtype)


def backward_signals(model: ResNet, X: Tensor) -> dict[str, list[Tensor]]:
    """Features and backward signals of one forward pass (no parameter gradients are kept).

    Returns ``h`` (``h_0..h_L``), ``z`` (``z_1..z_L``, two-layer blocks), ``gh`` (``n ds/dh_l``), ``gz``
    (``n ds/dz_l``) and ``f``, all detached; ``s = f . e`` with ``e = (1, ..., 1)/sqrt(C)``.
    """
    model = _check_model(model)
    X = X.to(model.U.device, model.U.dtype)
    with torch.enable_grad():
        f, feats = model(X, return_features=True)
        s = (f * _readout_direction(model, f.device, f.dtype)).sum()
        targets = list(feats.h) + (list(feats.z) if feats.z is not None else [])
        grads = torch.autograd.grad(s, targets, allow_unused=True)
    n = model.n
    L = model.L
    gh = [(g if g is not None else torch.zeros_like(t)).detach() * n for g, t in zip(grads[:L + 1], feats.h)]
    out = {"f": f.detach(), "h": [h.detach() for h in feats.h], "gh": gh}
    if feats.z is not None:
        out["z"] = [z.detach() for z in feats.z]
        out["gz"] = [g.detach() * n for g in grads[L + 1:]]
    return out


def tangent_kernel(model: ResNet, X: Tensor, parametrization: str | None = None,
                   per_layer: bool = False) -> dict[str, Tensor]:
    """The learning-rate-weighted tangent kernel of ``s = f . e`` on the inputs ``X``, split by role.

    Returns ``{role: (P, P) tensor}`` (with ``per_layer=True`` the internal/hidden roles are ``(L, P, P)``
    stacks, one kernel per block). The rates are the registry's ``lr_scale`` of ``parametrization`` (the
    model's own by default), per unit base rate ``eta``. See the module docstring for the formula.
    """
    model = _check_model(model)
    per_layer = check_bool("per_layer", per_layer)
    sig = backward_signals(model, X)
    table = scaling_table(model, parametrization)
    phi = model.phi
    n = model.n
    X = X.to(model.U.device, model.U.dtype)

    def gram(a: Tensor) -> Tensor:
        a = a.double()
        return a @ a.T

    def role_kernel(name: str, grads_pre: Tensor, inputs: Tensor) -> Tensor:
        row = table[name]
        return row["lr_scale"] * row["multiplier"] ** 2 * gram(grads_pre) * gram(inputs)

    out: dict[str, Tensor] = {}
    # d s / d(pre-activation) = g / n for every signal stored as g = n ds/d(.)
    out["input"] = role_kernel("U", sig["gh"][0] / n, X)
    beta = model.beta
    if model.block == "one":
        ks = [role_kernel("W", beta * sig["gh"][l] / n, phi(sig["h"][l - 1])) for l in range(1, model.L + 1)]
        out["hidden"] = torch.stack(ks) if per_layer else torch.stack(ks).sum(0)
    else:
        k1 = [role_kernel("W1", sig["gz"][l - 1] / n, phi(sig["h"][l - 1])) for l in range(1, model.L + 1)]
        k2 = [role_kernel("W2", beta * sig["gh"][l] / n, phi(sig["z"][l - 1])) for l in range(1, model.L + 1)]
        out["internal1"] = torch.stack(k1) if per_layer else torch.stack(k1).sum(0)
        out["internal2"] = torch.stack(k2) if per_layer else torch.stack(k2).sum(0)
    row = table["v"]
    out["readout"] = row["lr_scale"] * row["multiplier"] ** 2 * gram(phi(sig["h"][-1]))
    return out


def kernel_summary(model: ResNet, X: Tensor, parametrization: str | None = None) -> dict[str, float]:
    """Size and composition of the tangent kernel on ``X``: ``trace`` (``tr K / P``), ``lambda_max``
    (largest eigenvalue of ``K / P``, which sets the full-batch MSE stability bound ``eta < 2/lambda_max``)
    and ``share_<role>`` (``tr K_role / tr K``)."""
    parts = tangent_kernel(model, X, parametrization)
    K = sum(parts.values())
    P = K.shape[0]
    out = {"trace": float(torch.trace(K)) / P, "lambda_max": float(torch.linalg.eigvalsh(K / P)[-1])}
    total = float(torch.trace(K))
    for role, k in parts.items():
        out[f"share_{role}"] = float(torch.trace(k)) / total
    return out


def block_updates(model: ResNet, X: Tensor, Y: Tensor, lr: float, steps: int = 1, *,
                  parametrization: str | None = None, loss: str = "mse", labels: Tensor | None = None,
                  kernel: bool = True, record_steps: Iterable[int] | None = None) -> list[dict]:
    """Per-step and cumulative feature updates of every block during ``steps`` full-batch SGD steps on
    ``(X, Y)`` with base rate ``lr`` (the registry's group rates for ``parametrization``, the model's by
    default). Rows ``{step, layer, quantity, value}`` (see :data:`BLOCK_QUANTITIES`); per-step quantities at
    ``step = t`` describe the step from ``t-1`` to ``t``. With ``kernel`` the rows also hold the tangent
    kernel's ``trace``, ``lambda_max`` and role shares (``layer=None``). ``record_steps`` limits the
    measurements to some steps (all by default); the training itself is unchanged.

    A step whose loss is not finite stops the run; the rows then carry ``diverged=True``.
    """
    model = _check_model(model)
    lr = check_float("lr", lr)
    steps = check_int("steps", steps, minimum=0)
    kernel = check_bool("kernel", kernel)
    loss = check_choice("loss", loss, LOSSES)
    X, Y, labels = check_batch(X, Y, model.d_in, model.d_out, labels)
    record = set(range(steps + 1)) if record_steps is None else {check_int("record_steps", t, minimum=0)
                                                                  for t in record_steps}
    device, dtype = model.U.device, model.U.dtype
    X, Y = X.to(device, dtype), Y.to(device, dtype)
    labels = None if labels is None else labels.to(device)
    opt = make_sgd(model, lr, parametrization)
    phi, L = model.phi, model.L
    two = model.block == "two"
    mult = {k: v["multiplier"] for k, v in scaling_table(model, parametrization).items()}
    names = model.hidden_names()
    W0 = {k: getattr(model, k).detach().clone() for k in names}
    rows: list[dict] = []
    diverged = False

    def add(step, layer, quantity, value):
        rows.append({"step": step, "layer": layer, "tau": None if layer is None else layer * model.T / L,
                     "quantity": quantity, "value": value, "diverged": diverged})

    def branch_outputs(sig):
        return [sig["h"][l] - sig["h"][l - 1] for l in range(1, L + 1)]

    def own(name, l, inputs, dW):
        return rms(mult[name] * inputs @ dW[l - 1].T)

    def needed(t):
        # the state at t is needed to report step t, or the per-step change from t to t + 1
        return t in record or (t + 1) in record

    b0 = branch_outputs(backward_signals(model, X))
    sig = backward_signals(model, X) if needed(0) else None
    for step in range(steps + 1):
        if step in record:
            # State at step `step`: rms sizes, backward signals, cumulative own updates, kernel.
            add(step, None, "f_rms", rms(sig["f"]))
            bt = branch_outputs(sig)
            with torch.no_grad():
                dW = {k: getattr(model, k).detach() - W0[k] for k in names}
                for l in range(1, L + 1):
                    add(step, l, "gh", rms(sig["gh"][l]))
                    add(step, l, "dbranch_cum", rms(bt[l - 1] - b0[l - 1]))
                    if two:
                        add(step, l, "gz", rms(sig["gz"][l - 1]))
                        add(step, l, "z_rms", rms(sig["z"][l - 1]))
                        add(step, l, "dz_own_cum", own("W1", l, phi(sig["h"][l - 1]), dW["W1"]))
                        add(step, l, "du_own_cum", own("W2", l, phi(sig["z"][l - 1]), dW["W2"]))
                    else:
                        add(step, l, "du_own_cum", own("W", l, phi(sig["h"][l - 1]), dW["W"]))
            if kernel:
                for key, value in kernel_summary(model, X, parametrization).items():
                    add(step, None, f"kernel_{key}", value)
        if step == steps or diverged:
            break
        # One SGD step.
        before = {k: getattr(model, k).detach().clone() for k in names}
        opt.zero_grad(set_to_none=True)
        value = loss_fn(model(X), Y, labels, loss)
        if not torch.isfinite(value):
            diverged = True
            break
        value.backward()
        opt.step()
        new = backward_signals(model, X) if needed(step + 1) else None
        if new is not None and not torch.isfinite(new["f"]).all():
            diverged = True
        if step + 1 in record:
            with torch.no_grad():
                dW = {k: getattr(model, k).detach() - before[k] for k in names}
                add(step + 1, None, "df", rms(new["f"] - sig["f"]))
                bt, bn = branch_outputs(sig), branch_outputs(new)
                for l in range(1, L + 1):
                    add(step + 1, l, "dh", rms(new["h"][l] - sig["h"][l]))
                    add(step + 1, l, "dbranch", rms(bn[l - 1] - bt[l - 1]))
                    if two:
                        add(step + 1, l, "dz_own", own("W1", l, phi(sig["h"][l - 1]), dW["W1"]))
                        add(step + 1, l, "dz", rms(new["z"][l - 1] - sig["z"][l - 1]))
                        add(step + 1, l, "du_own", own("W2", l, phi(sig["z"][l - 1]), dW["W2"]))
                    else:
                        add(step + 1, l, "du_own", own("W", l, phi(sig["h"][l - 1]), dW["W"]))
        sig = new
    return rows


def summarize_layers(rows: Iterable[dict]) -> list[dict]:
    """Replace the per-layer rows of each ``(step, quantity)`` by one row with ``layer="rms"`` holding the
    rms over blocks ``sqrt(mean_l value_l^2)``; output rows are kept. (How cached scans stay small.)"""
    groups: dict[tuple, list[dict]] = {}
    out = []
    for row in rows:
        if row["layer"] is None:
            out.append(row)
        else:
            groups.setdefault((row["step"], row["quantity"]), []).append(row)
    for (step, quantity), group in groups.items():
        values = np.array([r["value"] for r in group], float)
        out.append({"step": step, "layer": "rms", "tau": None, "quantity": quantity,
                    "value": float(np.sqrt(np.mean(values**2))), "diverged": any(r["diverged"] for r in group)})
    return out


@known_arguments
def collapse_scan(rules: Iterable[tuple[str, str]], sizes: Iterable[tuple[int, int]], *, lr: float = 0.05,
                  steps: int = 1, seeds: Sequence[int] = (0, 1, 2), d: int = 16, batch: int = 32, T: float = 1.0,
                  activation: str = "relu", loss: str = "mse", kernel: bool = True,
                  record_steps: Iterable[int] | None = None, summarize: bool = False, device=None,
                  dtype=torch.float32, progress: bool = True) -> Records:
    """:func:`block_updates` for every ``(parametrization, block)`` rule, ``(n, L)`` size and seed, on a
    synthetic regression batch (Gaussian inputs, random teacher; :func:`nfdlib.data.make_teacher_task`) drawn
    from the seed. Returns tidy :class:`~nfdlib.records.Records` with columns ``parametrization, block, n, L,
    seed, step, layer, tau, quantity, value``; ``summarize`` keeps only the rms over blocks
    (:func:`summarize_layers`)."""
    if isinstance(rules, (str, bytes)) or any(not isinstance(r, (tuple, list)) or len(r) != 2 for r in rules):
        raise ValueError(f"rules must be a list of (parametrization, block) pairs such as [('depth-mup', 'two')], "
                         f"got {rules!r}")
    rules = [(p, check_choice("block", b, ("one", "two"))) for p, b in rules]
    kernel, summarize = check_bool("kernel", kernel), check_bool("summarize", summarize)
    sizes = check_sizes("sizes", sizes)
    if not rules:
        raise ValueError("rules and sizes must each list at least one entry")
    seeds = check_seeds(seeds)
    records = Records()
    jobs = [(p, b, n, L, s) for p, b in rules for n, L in sizes for s in seeds]
    for p, b, n, L, seed in tqdm(jobs, desc="collapse scan", disable=not progress, leave=False):
        model = ResNet(d, 1, n, L, block=b, parametrization=p, activation=activation, T=T, seed=seed,
                       device=device, dtype=dtype)
        task = make_teacher_task(d=d, n_train=batch, n_test=1, seed=seed, dtype=dtype)
        rows = block_updates(model, task.X_train, task.Y_train, lr, steps, loss=loss, kernel=kernel,
                             record_steps=record_steps)
        if summarize:
            rows = summarize_layers(rows)
        records.extend_rows(rows, parametrization=p, block=b, n=n, L=L, seed=seed)
    return records


# Bump when the code of block_updates / collapse_scan changes its numbers: cached scans then recompute.
COLLAPSE_VERSION = "1"
cache.register_kind("collapse_", COLLAPSE_VERSION, "json")


def cached_collapse_scan(name: str, rule: tuple[str, str], sizes: Iterable[tuple[int, int]], *, directory=None,
                         refresh: bool = False, progress: bool = True, use_cache: bool = True,
                         **kwargs) -> Records:
    """:func:`collapse_scan` of one rule with ``summarize=True``, cached as JSON under ``data/`` (keyed by the
    whole configuration and :data:`COLLAPSE_VERSION`); ``use_cache=False`` computes without reading or
    writing a file (quick mode)."""
    sizes = [[check_int("n", n), check_int("L", L)] for n, L in sizes]
    p, b = rule
    if not check_bool("use_cache", use_cache):
        return collapse_scan([(p, b)], [tuple(s) for s in sizes], summarize=True, progress=progress, **kwargs)
    config = {"rule": [p, b], "sizes": sizes, **{k: (list(v) if isinstance(v, (tuple, range)) else v)
                                                 for k, v in kwargs.items() if k not in ("device",)}}
    rows = cache.cached(name, config,
                        lambda: collapse_scan([(p, b)], [tuple(s) for s in sizes], summarize=True,
                                              progress=progress, **kwargs),
                        version=COLLAPSE_VERSION, fmt="json", directory=directory, refresh=refresh)
    return Records(rows)


def depth_and_width_scans(rules: Iterable[tuple[str, str]], *, depths: Sequence[int], n: int,
                          widths: Sequence[int], L: int, lr: float, steps: int, seeds: Sequence[int],
                          use_cache: bool = True, progress: bool = True) -> tuple[Records, Records]:
    """The two collapse scans of notebooks 05 and 06 for each rule: over ``depths`` at width ``n`` and over
    ``widths`` at depth ``L``, ``steps`` full-batch steps at base rate ``lr``, measured at steps ``0, 1`` and
    ``steps``. Cached per rule as ``data/collapse_depth_*`` / ``data/collapse_width_*`` (both notebooks ask
    for the same files)."""
    record = sorted({0, 1, check_int("steps", steps)})
    common = dict(lr=check_float("lr", lr), steps=steps, seeds=check_seeds(seeds), record_steps=record,
                  use_cache=use_cache, progress=progress)
    by_depth, by_width = Records(), Records()
    for p, b in rules:
        by_depth.extend(cached_collapse_scan(f"collapse_depth_{p}_{b}", (p, b), [(n, d) for d in depths], **common))
        by_width.extend(cached_collapse_scan(f"collapse_width_{p}_{b}", (p, b), [(w, L) for w in widths], **common))
    return by_depth, by_width


def layer_average(records: Records, quantity: str, *, step: int, x: str = "L") -> tuple[list, list[list[float]]]:
    """Per ``x`` value (``"L"`` or ``"n"``) and seed, the rms over all blocks of a per-layer quantity at
    ``step`` (``sqrt(mean_l value_l^2)``), or the value of an output quantity. Returns ``(xs, per-x lists of
    per-seed values)``; non-finite values are kept (and so show as missing points)."""
    check_choice("x", x, ("L", "n"))
    rows = records.where(quantity=quantity, step=step)
    if not rows:
        raise ValueError(f"the records hold no rows of quantity {quantity!r} at step {step}")
    other = "n" if x == "L" else "L"
    for column in (other, "parametrization", "block"):
        if len(rows.unique(column)) > 1:
            raise ValueError(f"records mix several values of {column!r}; select one with records.where() first")
    xs, ys = [], []
    for xv in rows.unique(x):
        sub = rows.where(**{x: xv})
        vals = []
        for seed in sub.unique("seed"):
            v = np.array([r["value"] for r in sub.where(seed=seed)], float)
            vals.append(float(np.sqrt(np.mean(v**2))) if v.size > 1 else float(v[0]))
        xs.append(xv)
        ys.append(vals)
    return xs, ys


def pooled_series(records: Records, quantity: str, *, step: int, x: str = "L") -> tuple[np.ndarray, np.ndarray]:
    """:func:`layer_average` flattened to ``(x, value)`` pairs, one per seed: what log-log fits and scatter plots
    take."""
    xs, ys = layer_average(records, quantity, step=step, x=x)
    return np.repeat(xs, [len(v) for v in ys]), np.concatenate(ys)


def fit_against(records: Records, quantity: str, *, step: int, x: str = "L") -> SlopeFit:
    """Log-log slope (95% t-interval, seeds pooled) of the block-averaged ``quantity`` against ``x``."""
    xs, ys = layer_average(records, quantity, step=step, x=x)
    px = [xv for xv, vals in zip(xs, ys) for _ in vals]
    py = [v for vals in ys for v in vals]
    return fit_loglog(px, py)


def kernel_by_depth(records: Records, rules: Iterable[tuple[str, str]], *,
                    df_steps: dict[str, int] | None = None) -> tuple[dict, dict]:
    """The tangent kernel at initialization against depth, from the depth scans of :func:`collapse_scan` (notebook
    06, section 3). Returns ``(series, fits)`` keyed ``(rule, what)``: ``series`` holds ``(L, values)`` pairs (one
    per seed, :func:`pooled_series`) of ``"lambda"``, the largest eigenvalue of ``Theta/P`` (every rule), and, for
    two-layer blocks, ``"share"``, ``tr Theta_1 / tr Theta`` of the first internal layers, and ``"odds"``,
    ``share / (1 - share) = Theta_1 / Theta_rest``; ``fits`` the log-log fits of ``"lambda"`` and ``"odds"``, and
    of the per-step output change ``df`` at the step ``df_steps[name]`` for each ``name`` (default ``{"df": 1}``).
    """
    df_steps = {"df": 1} if df_steps is None else df_steps
    series, fits = {}, {}
    for rule in rules:
        rule = tuple(rule)
        rec = records.where(parametrization=rule[0], block=rule[1])
        series[(rule, "lambda")] = pooled_series(rec, "kernel_lambda_max", step=0)
        for name, step in df_steps.items():
            fits[(rule, name)] = fit_loglog(*pooled_series(rec, "df", step=step))
        if rule[1] == "two":
            xs, share = pooled_series(rec, "kernel_share_internal1", step=0)
            series[(rule, "odds")], series[(rule, "share")] = (xs, share / (1 - share)), (xs, share)
    for key in [k for k in series if k[1] != "share"]:
        fits[key] = fit_loglog(*series[key])
    return series, fits


def quantities_by_rule(records: Records, quantities: Iterable[str], rules: Iterable[tuple[str, str]], *, step: int,
                       x: str = "L") -> tuple[dict, dict]:
    """Each block-averaged quantity of ``quantities`` at ``step`` against ``x`` for each rule (``(parametrization,
    block)``, the rows of ``records`` of that rule), from the depth scans of :func:`collapse_scan` (notebook 06,
    section 2). Returns ``(series, fits)`` keyed ``(rule, quantity)``: ``series`` the ``(x, value)`` pairs (one per
    seed, :func:`pooled_series`), ``fits`` their log-log fits (:func:`fit_against`). A rule without rows of a
    quantity at ``step`` (one-layer blocks have no first internal layer) has no entry for it."""
    series, fits = {}, {}
    for quantity in quantities:
        recs = {tuple(r): records.where(parametrization=r[0], block=r[1]) for r in rules}
        for r, rec in recs.items():
            if rec.where(quantity=quantity, step=step):
                series[(r, quantity)] = pooled_series(rec, quantity, step=step, x=x)
                fits[(r, quantity)] = fit_against(rec, quantity, step=step, x=x)
    return series, fits


__all__ = ["BLOCK_QUANTITIES", "OUTPUT_QUANTITIES", "backward_signals", "tangent_kernel", "kernel_summary",
           "block_updates", "summarize_layers", "collapse_scan", "COLLAPSE_VERSION", "cached_collapse_scan",
           "depth_and_width_scans",
           "layer_average", "pooled_series", "fit_against", "kernel_by_depth", "quantities_by_rule"]
