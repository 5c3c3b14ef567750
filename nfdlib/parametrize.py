"""Apply a rule of the registry to any ``nn.Module``, without editing the module's code.

::

    p = parametrize(net, "completep", branches="blocks.*", n=256, L=16)
    opt = torch.optim.AdamW(p.param_groups(lr=1e-3, optimizer="adamw", weight_decay=0.1))
    print(p.format_table())   # what was done to each parameter

What :func:`parametrize` does, in this order, and only after every argument has been checked:

1. gives each parameter a role (:data:`nfdlib.parametrization.ALL_ROLES`): from ``roles`` (glob patterns over
   ``named_parameters()`` names) where a pattern matches, from the defaults below otherwise;
2. re-initializes it: matrices as ``init_std * N(0, 1)``, biases to zero, norm gains to one;
3. registers forward hooks: a weight's multiplier scales the input of its ``Linear``/``Conv`` (so its bias is not
   multiplied, as in mup's ``MuReadout``), or the output of an ``Embedding``; each module matched by ``branches``
   has its output multiplied by the rule's branch multiplier ``beta``.

Patterns: ``*`` matches within one dotted component of a name, ``**`` across dots, ``?`` one character; so
``"blocks.*"`` names ``blocks.0`` but not ``blocks.0.fc``, and ``"blocks.*.fc1.weight"`` each block's ``fc1`` weight.

Default roles (any of them overridden by a pattern of ``roles``): among the ``Linear``, ``Conv`` and ``Embedding``
modules in registration order, the first one's weight is ``input`` and the last one's ``readout`` (its bias
``output_bias``); inside a branch, a single weight module is ``hidden`` and two are ``internal1`` then
``internal2``; the biases of other weight modules and the parameters of norm layers (LayerNorm, RMSNorm, GroupNorm,
BatchNorm, InstanceNorm) are ``block_vector`` inside a branch and ``vector`` outside. A parameter none of this
covers (a third matrix in a branch, a matrix between blocks) needs a pattern.

The scaling metadata is a plain table keyed by parameter name (:meth:`Parametrized.table`); nothing is stored on
the parameters.

The package re-exports the function under this module's name, so ``nfdlib.parametrize`` (and even
``import nfdlib.parametrize as m``) is the function; reach the module's other names with
``from nfdlib.parametrize import Parametrized, default_roles``.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from .optim import groups_from_table
from .parametrization import ALL_ROLES, ROLES, get_parametrization, names
from .validation import check_choice, check_float, check_int, check_module

WEIGHT_MODULES = (nn.Linear, nn.modules.conv._ConvNd, nn.Embedding)
NORM_MODULES = tuple(t for t in (nn.LayerNorm, getattr(nn, "RMSNorm", None), nn.GroupNorm,
                                 nn.modules.batchnorm._NormBase) if t is not None)

# A model parametrized twice would get its multipliers applied twice: refused until .remove() is called.
_APPLIED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def glob_to_regex(pattern: str) -> re.Pattern:
    """The regular expression of a dotted-name glob: ``*`` within a component, ``**`` across components."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^.]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^.]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _listing(items, limit: int = 12) -> str:
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _scale_input(module, args, *, m: float):
    return (args[0] * m, *args[1:])


def _scale_output(module, args, output, *, m: float):
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"a branch or embedding hook can only scale a tensor output, got {type(output).__name__}")
    return output * m


@dataclass
class Parametrized:
    """What :func:`parametrize` did to a model: the rule, the sizes, the branches and one row per parameter."""

    model: nn.Module = field(repr=False)
    rule: str
    sizes: dict
    branches: tuple[str, ...]
    beta: float
    rows: dict[str, dict] = field(repr=False)
    handles: list = field(default_factory=list, repr=False)

    def table(self) -> dict[str, dict]:
        """Parameter name -> ``{"role", "init", "init_std", "multiplier", "lr_scale", "adam_lr", "adam_eps",
        "weight_decay"}`` (rates relative to the base rate; ``None`` where the rule has no Adam entry)."""
        return {name: dict(row) for name, row in self.rows.items()}

    def format_table(self) -> str:
        """The table as markdown, one line per parameter, for a user to audit."""
        lines = ["| parameter | role | init | multiplier | SGD rate / η | Adam rate / η | Adam ε / ε "
                 "| AdamW decay / λ |", "|---|---|---|---|---|---|---|---|"]

        def fmt(v):
            return "—" if v is None else f"{v:.4g}"

        for name, r in self.rows.items():
            init = f"N(0, {r['init_std']:.4g}²)" if r["init"] == "normal" else r["init"]
            lines.append(f"| {name} | {r['role']} | {init} | {fmt(r['multiplier'])} | {fmt(r['lr_scale'])} | "
                         f"{fmt(r['adam_lr'])} | {fmt(r['adam_eps'])} | {fmt(r['weight_decay'])} |")
        lines.append(f"\nbranches {list(self.branches)} multiplied by beta = {self.beta:.4g} "
                     f"({self.rule}, n={self.sizes['n']}, L={self.sizes['L']}, T={self.sizes['T']}, "
                     f"d={self.sizes['d']})")
        return "\n".join(lines)

    def param_groups(self, lr: float, optimizer: str = "sgd", weight_decay: float = 0.0,
                     eps: float = 1e-8) -> list[dict]:
        """Groups for ``torch.optim.SGD``, ``Adam`` or ``AdamW`` (``optimizer="sgd" | "adam" | "adamw"``):
        rate ``lr`` times each role's factor, Adam's ``eps`` and AdamW's ``weight_decay`` likewise."""
        return groups_from_table(self.model, self.rows, lr, optimizer=optimizer, weight_decay=weight_decay,
                                 eps=eps, parametrization=self.rule)

    def remove(self) -> None:
        """Remove the hooks (the weights keep their values), so the model can be parametrized again."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        _APPLIED.pop(self.model, None)


def _owner(name: str) -> str:
    return name.rpartition(".")[0]


def _branch_of(module_name: str, branches: Sequence[str]) -> str | None:
    for b in branches:
        if module_name == b or module_name.startswith(b + "."):
            return b
    return None


def default_roles(model: nn.Module, branches: Sequence[str]) -> dict[str, str | None]:
    """The default role of every parameter (``None`` where no default applies); see the module docstring."""
    modules = dict(model.named_modules())
    weight_modules = [m for m, mod in modules.items() if isinstance(mod, WEIGHT_MODULES)]
    first = weight_modules[0] if len(weight_modules) >= 2 else None
    last = weight_modules[-1] if len(weight_modules) >= 2 else None
    in_branch = {b: [m for m in weight_modules if _branch_of(m, [b])] for b in branches}
    roles = {}
    for name, _ in model.named_parameters():
        owner, leaf = _owner(name), name.rpartition(".")[2]
        module, branch = modules.get(owner), _branch_of(owner, branches)
        role = None
        if isinstance(module, WEIGHT_MODULES) and leaf == "weight":
            if owner == first:
                role = "input"
            elif owner == last:
                role = "readout"
            elif branch is not None and len(in_branch[branch]) in (1, 2):
                inside = in_branch[branch]
                role = "hidden" if len(inside) == 1 else ("internal1", "internal2")[inside.index(owner)]
        elif isinstance(module, WEIGHT_MODULES) and leaf == "bias":
            role = "output_bias" if owner == last else ("block_vector" if branch else "vector")
        elif isinstance(module, NORM_MODULES):
            role = "block_vector" if branch else "vector"
        roles[name] = role
    return roles


def _match_branches(model: nn.Module, branches) -> tuple[str, ...]:
    patterns = [branches] if isinstance(branches, str) else branches
    if not isinstance(patterns, (list, tuple)) or not patterns or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"branches must be a glob pattern or a list of them naming the residual-branch submodules "
                         f"(e.g. 'blocks.*'), got {branches!r}")
    module_names = [m for m, _ in model.named_modules() if m]
    matched = []
    for pattern in patterns:
        rx = glob_to_regex(pattern)
        hits = [m for m in module_names if rx.match(m)]
        if not hits:
            raise ValueError(f"branches pattern {pattern!r} matches no module; the model's modules are "
                             f"{_listing(module_names)}")
        matched += [m for m in hits if m not in matched]
    nested = [m for m in matched if _branch_of(m, [b for b in matched if b != m])]
    if nested:
        raise ValueError(f"branches must not nest (a branch inside a branch would be scaled twice): {nested}")
    return tuple(matched)


def _assign_roles(model: nn.Module, roles, branches: Sequence[str]) -> dict[str, str]:
    if roles is None:
        roles = {}
    if not isinstance(roles, Mapping):
        raise ValueError(f"roles must be a dict mapping glob patterns over parameter names to one of {ALL_ROLES}, "
                         f"got {type(roles).__name__}")
    names_ = [name for name, _ in model.named_parameters()]
    hits: dict[str, list[str]] = {name: [] for name in names_}
    for pattern, role in roles.items():
        if not isinstance(pattern, str):
            raise ValueError(f"roles keys must be glob patterns (strings), got {pattern!r}")
        check_choice(f"roles[{pattern!r}]", role, ALL_ROLES)
        rx = glob_to_regex(pattern)
        matched = [name for name in names_ if rx.match(name)]
        if not matched:
            raise ValueError(f"roles pattern {pattern!r} matches no parameter; the model's parameters are "
                             f"{_listing(names_)}")
        for name in matched:
            hits[name].append(pattern)
    double = {name: pats for name, pats in hits.items() if len(pats) > 1}
    if double:
        raise ValueError("roles must match each parameter at most once; matched by several patterns: "
                         + "; ".join(f"{name!r} by {pats}" for name, pats in double.items()))
    defaults = default_roles(model, branches)
    out = {name: roles[hits[name][0]] if hits[name] else defaults[name] for name in names_}
    unmatched = [name for name, role in out.items() if role is None]
    if unmatched:
        raise ValueError(f"roles must give every parameter a role; no pattern and no default covers {unmatched} "
                         f"(add patterns such as {{'{unmatched[0]}': 'hidden'}}; roles are {ALL_ROLES})")
    return out


def _check_shapes(model: nn.Module, assigned: Mapping[str, str], *, n: int, d: int | None) -> int:
    """Every matrix role sits on a Linear/Conv/Embedding weight; n and d agree with the shapes. Returns d."""
    modules, params = dict(model.named_modules()), dict(model.named_parameters())
    for name, role in assigned.items():
        if role in ROLES and not (isinstance(modules.get(_owner(name)), WEIGHT_MODULES)
                                  and name.rpartition(".")[2] == "weight"):
            raise ValueError(f"roles[{name!r}] = {role!r}: a matrix role needs the weight of an nn.Linear, nn.Conv "
                             "or nn.Embedding (its multiplier is applied by a hook on that module)")
    for name, role in assigned.items():
        W, module = params[name], modules[_owner(name)] if role in ROLES else None
        if role == "input":
            width = W.shape[1] if isinstance(module, nn.Embedding) else W.shape[0]
            fan_in = 1 if isinstance(module, nn.Embedding) else W[0].numel()
            if width != n:
                raise ValueError(f"n must be the model's width, the output size of the input layer {name!r} "
                                 f"({width}); got n={n}")
            if d is None:
                d = fan_in
            elif d != fan_in:
                raise ValueError(f"d must be the fan-in of the input layer {name!r} ({fan_in}); got d={d}")
        elif role == "readout" and not isinstance(module, nn.Embedding) and W.shape[1] != n:
            raise ValueError(f"n must be the fan-in of the readout {name!r} ({W.shape[1]}); got n={n}")
    return 1 if d is None else d


def parametrize(model: nn.Module, rule: str, *, roles: Mapping[str, str] | None = None, branches, n: int, L: int,
                T: float = 1.0, d: int | None = None) -> Parametrized:
    """Apply the registry rule ``rule`` to ``model`` in place and return what was done (:class:`Parametrized`).

    ``roles`` maps glob patterns over ``named_parameters()`` names to roles and overrides the defaults;
    ``branches`` is a pattern (or a list) naming the residual-branch submodules, ``L`` blocks of them (a multiple
    of ``L`` branches: a transformer layer has two); ``n`` is the width of the residual stream, ``d`` the input
    layer's fan-in (read from the model when ``None``; 1 for an ``Embedding``). Every argument is checked before
    any weight is touched.
    """
    check_module("model", model)
    rule = check_choice("rule", rule, names())
    n, L = check_int("n", n), check_int("L", L)
    T = check_float("T", T)
    if d is not None:
        d = check_int("d", d)
    if model in _APPLIED:
        raise ValueError("model is already parametrized: call .remove() on the earlier result first")
    branch_names = _match_branches(model, branches)
    if len(branch_names) % L:
        raise ValueError(f"L must divide the number of branches (each of the L blocks has the same number): "
                         f"branches {branches!r} match {len(branch_names)} modules, got L={L}")
    assigned = _assign_roles(model, roles, branch_names)
    d = _check_shapes(model, assigned, n=n, d=d)

    p = get_parametrization(rule)
    sizes = {"n": n, "L": L, "T": T, "d": d}
    modules, params = dict(model.named_modules()), dict(model.named_parameters())
    rows = {}
    for name, role in assigned.items():
        s = p.scales(role, **sizes)
        if role in ROLES:
            init = "normal"
        else:
            init = "ones" if isinstance(modules[_owner(name)], NORM_MODULES) and name.endswith("weight") else "zeros"
        rows[name] = {"role": role, "init": init, "init_std": s.init_std, "multiplier": s.multiplier,
                      "lr_scale": s.lr_scale, "adam_lr": s.adam_lr, "adam_eps": s.adam_eps,
                      "weight_decay": s.weight_decay}

    with torch.no_grad():
        for name, row in rows.items():
            W = params[name]
            if row["init"] == "normal":
                W.normal_(0.0, row["init_std"])
            else:
                W.fill_(1.0 if row["init"] == "ones" else 0.0)
    beta = p.branch(**sizes)
    result = Parametrized(model=model, rule=rule, sizes=sizes, branches=branch_names, beta=beta, rows=rows)
    for name, row in rows.items():
        if row["role"] in ROLES and row["multiplier"] != 1.0:
            module = modules[_owner(name)]
            if isinstance(module, nn.Embedding):
                result.handles.append(module.register_forward_hook(partial(_scale_output, m=row["multiplier"])))
            else:
                result.handles.append(module.register_forward_pre_hook(partial(_scale_input, m=row["multiplier"])))
    if beta != 1.0:
        for b in branch_names:
            result.handles.append(modules[b].register_forward_hook(partial(_scale_output, m=beta)))
    _APPLIED[model] = True  # not the result: it refers to the model, which would then never be freed
    return result


__all__ = ["parametrize", "Parametrized", "default_roles", "glob_to_regex"]
