"""SGD parameter groups whose learning rates follow the registry.

The scaling metadata is a plain table keyed by parameter name (:func:`scaling_table`), never attributes hung on
``Parameter`` objects, so it survives ``torch.save``, DDP and FSDP wrappers, and works for any ``nn.Module``::

    groups = param_groups(model, lr=0.05)                    # a ResNet from nfdlib.models
    opt = torch.optim.SGD(groups)

    # your own module: say which role each parameter plays, and the sizes to evaluate the rules at
    groups = param_groups(my_net, lr=0.05, parametrization="depth-mup-corrected",
                          roles={"embed.weight": "input", "blocks.0.fc1.weight": "internal1", ...},
                          n=512, L=24)

``param_groups`` only sets learning rates. The init std and forward multipliers of the registry are the
model's job (a ResNet from this library applies them; your own module must too).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import torch
from torch import nn

from .parametrization import ROLES, get_parametrization
from .validation import check_choice, check_float, check_int, check_module


def scaling_table(model: nn.Module, parametrization: str | None = None, *, roles: Mapping[str, str] | None = None,
                  n: int | None = None, L: int | None = None, T: float | None = None,
                  d: int | None = None) -> dict[str, dict]:
    """Parameter name -> ``{"role", "init_std", "multiplier", "lr_scale"}`` at the model's sizes.

    For a :class:`nfdlib.models.ResNet` the roles, sizes and parametrization come from the model; any of them
    can be overridden. For another module ``roles``, ``n`` and ``L`` are required.
    """
    check_module("model", model)
    if roles is not None and not isinstance(roles, Mapping):
        raise ValueError(f"roles must be a dict mapping each parameter name to one of {ROLES}, got "
                         f"{type(roles).__name__}")
    own_roles = model.param_roles() if hasattr(model, "param_roles") else None
    own_sizes = model.sizes() if hasattr(model, "sizes") else {}
    roles = dict(roles) if roles is not None else own_roles
    if roles is None:
        raise ValueError("roles must map each parameter name to one of "
                         f"{ROLES} for a module that is not an nfdlib ResNet")
    for name, role in roles.items():
        check_choice(f"roles[{name!r}]", role, ROLES)
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
        table[name] = {"role": role, "init_std": s.init_std, "multiplier": s.multiplier, "lr_scale": s.lr_scale}
    return table


def param_groups(model: nn.Module, lr: float, parametrization: str | None = None, *,
                 roles: Mapping[str, str] | None = None, n: int | None = None, L: int | None = None,
                 T: float | None = None, d: int | None = None) -> list[dict]:
    """One SGD parameter group per parameter, with learning rate ``lr * lr_scale(role)``.

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
    params = dict(model.named_parameters())
    return [{"params": [params[name]], "lr": lr * row["lr_scale"], "name": name, "role": row["role"],
             "lr_scale": row["lr_scale"]} for name, row in table.items()]


def make_sgd(model: nn.Module, lr: float, parametrization: str | None = None, **kwargs) -> torch.optim.SGD:
    """``torch.optim.SGD`` over :func:`param_groups` (plain SGD: no momentum, no weight decay)."""
    return torch.optim.SGD(param_groups(model, lr, parametrization, **kwargs))
