"""SGD, Adam and AdamW parameter groups whose rates follow the registry.

The scaling metadata is a plain table keyed by parameter name (:func:`scaling_table`), never attributes hung on
``Parameter`` objects, so it survives ``torch.save``, DDP and FSDP wrappers, and works for any ``nn.Module``::

    groups = param_groups(model, lr=0.05)                    # a ResNet from nfdlib.models
    opt = torch.optim.SGD(groups)

    # your own module: say which role each parameter plays, and the sizes to evaluate the rules at
    groups = param_groups(my_net, lr=0.05, parametrization="depth-mup-corrected",
                          roles={"embed.weight": "input", "blocks.0.fc1.weight": "internal1", ...},
                          n=512, L=24)

``param_groups`` only sets rates (and Adam's epsilon and AdamW's decay). The init std and forward multipliers of
the registry are the model's job: a ResNet from this library applies them, and :func:`nfdlib.parametrize` applies
them to your own module (its ``.param_groups`` calls :func:`groups_from_table` below).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import torch
from torch import nn

from .parametrization import ALL_ROLES, OPTIMIZERS, get_parametrization
from .validation import check_choice, check_float, check_int, check_module


def scaling_table(model: nn.Module, parametrization: str | None = None, *, roles: Mapping[str, str] | None = None,
                  n: int | None = None, L: int | None = None, T: float | None = None,
                  d: int | None = None) -> dict[str, dict]:
    """Parameter name -> ``{"role", "init_std", "multiplier", "lr_scale", "adam_lr", "adam_eps", "weight_decay"}``
    at the model's sizes (the Adam entries are ``None`` for a parametrization without an Adam rule).

    For a :class:`nfdlib.models.ResNet` the roles, sizes and parametrization come from the model; any of them
    can be overridden. For another module ``roles``, ``n`` and ``L`` are required.
    """
    check_module("model", model)
    if roles is not None and not isinstance(roles, Mapping):
        raise ValueError(f"roles must be a dict mapping each parameter name to one of {ALL_ROLES}, got "
                         f"{type(roles).__name__}")
    own_roles = model.param_roles() if hasattr(model, "param_roles") else None
    own_sizes = model.sizes() if hasattr(model, "sizes") else {}
    roles = dict(roles) if roles is not None else own_roles
    if roles is None:
        raise ValueError("roles must map each parameter name to one of "
                         f"{ALL_ROLES} for a module that is not an nfdlib ResNet")
    for name, role in roles.items():
        check_choice(f"roles[{name!r}]", role, ALL_ROLES)
    if parametrization is None:
        parametrization = getattr(model, "parametrization", None)
    if parametrization is None:
        raise ValueError("parametrization must be given for a module that is not an nfdlib ResNet")
    p = get_parametrization(parametrization)
    sizes = {
        "n": own_sizes.get("n") if n is None else n,
        "L": own_sizes.get("L") if L is None else L,
        "T": own_sizes.get("T", 1.0) if T is None else T,
        "d": own_sizes.get("d", 1) if d is None else d,
    }
    for key in ("n", "L"):
        if sizes[key] is None:
            raise ValueError(f"{key} must be given for a module that is not an nfdlib ResNet")
    sizes = {"n": check_int("n", sizes["n"]), "L": check_int("L", sizes["L"]),
             "T": check_float("T", sizes["T"]), "d": check_int("d", sizes["d"])}

    names = dict(model.named_parameters())
    unknown = sorted(set(roles) - set(names))
    if unknown:
        raise ValueError(f"roles names parameters the model does not have: {unknown}")
    missing = sorted(set(names) - set(roles))
    if missing:
        raise ValueError(f"roles must give a role for every parameter; missing: {missing}")
    table = {}
    for name, role in roles.items():
        s = p.scales(role, **sizes)
        table[name] = {"role": role, "init_std": s.init_std, "multiplier": s.multiplier, "lr_scale": s.lr_scale,
                       "adam_lr": s.adam_lr, "adam_eps": s.adam_eps, "weight_decay": s.weight_decay}
    return table


def groups_from_table(model: nn.Module, table: Mapping[str, Mapping], lr: float, *, optimizer: str = "sgd",
                      weight_decay: float = 0.0, eps: float = 1e-8, parametrization: str = "") -> list[dict]:
    """One parameter group per row of a scaling table, for ``torch.optim.SGD``, ``Adam`` or ``AdamW``.

    SGD groups get ``lr * lr_scale``; Adam and AdamW groups get ``lr * adam_lr`` and ``eps * adam_eps``, and AdamW
    groups ``weight_decay * weight_decay_scale`` (decoupled, as ``torch.optim.AdamW`` applies it). The registry
    specifies decoupled decay only, so ``weight_decay`` must be 0 for ``sgd`` and ``adam``.
    """
    lr = check_float("lr", lr)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    weight_decay = check_float("weight_decay", weight_decay, allow_zero=True)
    eps = check_float("eps", eps)
    if weight_decay and optimizer != "adamw":
        raise ValueError(f"weight_decay must be 0 for optimizer={optimizer!r}: the registry gives decoupled (AdamW) "
                         f"weight decay only; use optimizer='adamw', got weight_decay={weight_decay!r}")
    if optimizer != "sgd":
        missing = sorted(name for name, row in table.items() if row["adam_lr"] is None)
        if missing:
            raise ValueError(f"optimizer={optimizer!r} has no rule in parametrization {parametrization!r} (no source "
                             f"gives its Adam rates; parameters {missing}); use optimizer='sgd' or another rule")
    params = dict(model.named_parameters())
    groups = []
    for name, row in table.items():
        group = {"params": [params[name]], "name": name, "role": row["role"]}
        if optimizer == "sgd":
            group.update(lr=lr * row["lr_scale"], lr_scale=row["lr_scale"])
        else:
            group.update(lr=lr * row["adam_lr"], lr_scale=row["adam_lr"], eps=eps * row["adam_eps"])
            group["weight_decay"] = weight_decay * row["weight_decay"] if optimizer == "adamw" else 0.0
        groups.append(group)
    return groups


def param_groups(model: nn.Module, lr: float, parametrization: str | None = None, *,
                 roles: Mapping[str, str] | None = None, n: int | None = None, L: int | None = None,
                 T: float | None = None, d: int | None = None, optimizer: str = "sgd", weight_decay: float = 0.0,
                 eps: float = 1e-8) -> list[dict]:
    """One parameter group per parameter, with rate ``lr * lr_scale(role)`` for SGD (the default) or the
    registry's Adam rate, epsilon and decay for ``optimizer="adam"`` / ``"adamw"`` (:func:`groups_from_table`).

    ``lr`` is the base rate (the paper's ``eta_c``). Passing a ``parametrization`` other than the model's is how
    the depth-aware correction is applied to a depth-muP network: ``depth-mup-corrected`` shares every init
    and multiplier with ``depth-mup`` and differs only in the first internal layer's rate. A parametrization
    whose init or multipliers differ from the model's triggers a warning, since only the rates would follow it.
    """
    lr = check_float("lr", lr)
    table = scaling_table(model, parametrization, roles=roles, n=n, L=L, T=T, d=d)
    own = getattr(model, "parametrization", None)
    if own is not None and parametrization is not None and hasattr(model, "sizes"):
        own_table = scaling_table(model, own, roles=roles, n=n, L=L, T=T, d=d)
        differs = [k for k in table if (table[k]["init_std"], table[k]["multiplier"])
                   != (own_table[k]["init_std"], own_table[k]["multiplier"])]
        if differs:
            warnings.warn(f"parametrization {parametrization!r} has other init or multipliers than the model's "
                          f"{own!r} for {differs}; only the learning rates follow it", stacklevel=2)
    return groups_from_table(model, table, lr, optimizer=optimizer, weight_decay=weight_decay, eps=eps,
                             parametrization=parametrization or own or "")


def make_sgd(model: nn.Module, lr: float, parametrization: str | None = None, **kwargs) -> torch.optim.SGD:
    """``torch.optim.SGD`` over :func:`param_groups` (plain SGD: no momentum, no weight decay)."""
    return torch.optim.SGD(param_groups(model, lr, parametrization, **kwargs))
