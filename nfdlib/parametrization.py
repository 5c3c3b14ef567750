"""One registry of parametrizations: every scaling rule of the collection lives here.

Convention (the paper's as we reconstruct it, docs/reconstruction.md section 3). A weight tensor is stored as
``init_std * N(0, 1)`` entries and is used in the forward pass through an explicit ``multiplier``; a network with
one-layer blocks under muP reads

    h_0 = (1/sqrt(d)) U x,    h_l = h_{l-1} + beta * (1/sqrt(n)) W_l phi(h_{l-1}),    f = (1/n) v . phi(h_L)

with the residual branch multiplier ``beta`` (``sqrt(T/L)`` for the depth-muP family). SGD trains the tensor of
role ``r`` with learning rate ``eta * lr_scale(r)``, where ``eta`` is the base rate the user sweeps (the paper's
``eta_c``; docs/reconstruction.md section 2). Every rule is a monomial ``c * n^a * d^b * L^p * T^q``
(:class:`Scaling`), so the same object gives the number used by the model and optimizer and the symbol printed
in the table.

Roles
-----
``input``      U, shape (n, d): the first layer, fan-in ``d``.
``hidden``     W_l, shape (n, n): the matrix of a one-layer residual block.
``internal1``  W1_l, shape (n, n): first internal layer of a two-layer block, ``z_l = m1 W1_l phi(h_{l-1})``.
``internal2``  W2_l, shape (n, n): second internal layer, ``h_l = h_{l-1} + beta m2 W2_l phi(z_l)``.
``readout``    v, shape (C, n): the output layer.

Width-sized vectors (biases, norm gains) and the readout bias have roles of their own:

``vector``        a bias or norm gain of width ``n`` outside the residual blocks (input bias, final norm).
``block_vector``  a bias or norm gain inside a residual branch (pre-norm gains, hidden biases).
``output_bias``   the readout's bias, of the output size (finite in the limit).

Vectors start at zero (biases) or one (norm gains), whatever the rule (the ``init std`` column reads 0), and
have no multiplier: as in mup's ``MuReadout`` and CompleteP's code, a weight's multiplier scales the layer's
input, not its bias.

The branch multiplier ``beta`` multiplies the output of a block (after ``hidden`` or ``internal2``) only.

Optimizers
----------
Each role carries its SGD rate and, where a source gives one, its Adam rate, Adam epsilon and AdamW (decoupled)
weight decay, as monomials relative to the base values the user sweeps (``eta``, ``eps``, ``lambda``). They are
written in this module's convention (``N(0,1)`` weights with explicit multipliers): a source that stores weights
with variance ``1/fan_in`` and no multiplier gives the same network when our Adam rate is its rate divided by the
multiplier ratio ``r`` (``1/sqrt(n)`` for hidden matrices, ``1/sqrt(d)`` for the input layer) and our epsilon and
weight decay are its values times ``r``. Sources and the exponents inferred rather than read: docs/reconstruction.md
section 10.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from .validation import check_choice, check_float, check_int

ROLES = ("input", "hidden", "internal1", "internal2", "readout")
VECTOR_ROLES = ("vector", "block_vector", "output_bias")
ALL_ROLES = ROLES + VECTOR_ROLES
OPTIMIZERS = ("sgd", "adam", "adamw")
_VARIABLES = ("n", "d", "L", "T")
_SUPERSCRIPTS = str.maketrans("0123456789-/", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻ᐟ")


@dataclass(frozen=True)
class Scaling:
    """The monomial ``coeff * n^n * d^d * L^L * T^T`` (exponents are fractions).

    Call it with sizes to get a number; ``str()`` gives the symbol shown in tables.
    """

    n: Fraction = Fraction(0)
    d: Fraction = Fraction(0)
    L: Fraction = Fraction(0)
    T: Fraction = Fraction(0)
    coeff: float = 1.0

    def __post_init__(self):
        for var in _VARIABLES:
            object.__setattr__(self, var, Fraction(getattr(self, var)).limit_denominator(64))

    def __call__(self, *, n: float = 1, d: float = 1, L: float = 1, T: float = 1.0) -> float:
        sizes = {"n": n, "d": d, "L": L, "T": T}
        out = self.coeff
        for var in _VARIABLES:
            power = getattr(self, var)
            if power:
                # Sizes are positive: a negative size with a fractional power would give a complex number.
                value = check_float(var, sizes[var])
                out *= value ** float(power)
        return out

    def __mul__(self, other: Scaling) -> Scaling:
        return Scaling(**{v: getattr(self, v) + getattr(other, v) for v in _VARIABLES},
                       coeff=self.coeff * other.coeff)

    def exponents(self) -> dict[str, Fraction]:
        return {v: getattr(self, v) for v in _VARIABLES if getattr(self, v)}

    def __str__(self) -> str:
        exps = self.exponents()
        coeff = "" if self.coeff == 1 else f"{self.coeff:g}"
        if not exps:
            return coeff or "1"
        if all(abs(p) == Fraction(1, 2) for p in exps.values()):
            # All square roots: one radical reads better, e.g. sqrt(T/L).
            num = "".join(v for v, p in exps.items() if p > 0)
            den = "".join(v for v, p in exps.items() if p < 0)
            if not num:
                return f"{coeff or 1}/" + (f"√{den}" if len(den) == 1 else f"√({den})")
            inner = num if not den else f"{num}/{den}"
            return coeff + (f"√{inner}" if len(inner) == 1 else f"√({inner})")
        num = "".join(_power(v, p) for v, p in exps.items() if p > 0)
        den = "".join(_power(v, -p) for v, p in exps.items() if p < 0)
        if not num:
            num = coeff or "1"
        else:
            num = coeff + num
        return num if not den else f"{num}/{den}"


def _power(var: str, p: Fraction) -> str:
    if p == 1:
        return var
    if p == Fraction(1, 2):
        return f"√{var}"
    if p.denominator == 2:
        return f"{var}{str(p.numerator // 2).translate(_SUPERSCRIPTS) if p.numerator // 2 > 1 else ''}√{var}"
    return f"{var}{str(p).translate(_SUPERSCRIPTS)}"


ONE = Scaling()
ZERO = Scaling(coeff=0.0)
HALF = Fraction(1, 2)


@dataclass(frozen=True)
class RoleRule:
    """How one role is initialized, multiplied in the forward pass and trained.

    ``lr_scale`` is the SGD rate; ``adam_lr``, ``adam_eps`` and ``weight_decay`` (AdamW's decoupled decay, as
    ``torch.optim.AdamW`` applies it: multiplied by the group's rate) are ``None`` where no source gives an Adam
    rule for this parametrization.
    """

    init_std: Scaling
    multiplier: Scaling
    lr_scale: Scaling
    adam_lr: Scaling | None = None
    adam_eps: Scaling | None = None
    weight_decay: Scaling | None = None


@dataclass(frozen=True)
class RoleScales:
    """A :class:`RoleRule` evaluated at given sizes (the Adam fields are ``None`` where the rule has none)."""

    init_std: float
    multiplier: float
    lr_scale: float
    adam_lr: float | None = None
    adam_eps: float | None = None
    weight_decay: float | None = None


@dataclass(frozen=True)
class Parametrization:
    """A named set of scaling rules: one :class:`RoleRule` per role plus the residual branch multiplier."""

    name: str
    summary: str
    rules: Mapping[str, RoleRule]
    branch_multiplier: Scaling
    derivation: str = field(default="", repr=False)

    def rule(self, role: str) -> RoleRule:
        check_choice("role", role, ALL_ROLES)
        return self.rules[role]

    def has_adam(self) -> bool:
        """True when every role has an Adam rate, epsilon and weight decay."""
        return all(r.adam_lr is not None and r.adam_eps is not None and r.weight_decay is not None
                   for r in self.rules.values())

    def scales(self, role: str, *, n: int, L: int, T: float = 1.0, d: int = 1) -> RoleScales:
        """The init std, forward multiplier and rate scales of ``role`` for width ``n``, depth ``L``."""
        sizes = _check_sizes(n=n, L=L, T=T, d=d)
        rule = self.rule(role)
        adam = [None if s is None else s(**sizes) for s in (rule.adam_lr, rule.adam_eps, rule.weight_decay)]
        return RoleScales(rule.init_std(**sizes), rule.multiplier(**sizes), rule.lr_scale(**sizes), *adam)

    def init_std(self, role: str, **sizes) -> float:
        return self.scales(role, **sizes).init_std

    def multiplier(self, role: str, **sizes) -> float:
        return self.scales(role, **sizes).multiplier

    def lr_scale(self, role: str, **sizes) -> float:
        return self.scales(role, **sizes).lr_scale

    def branch(self, *, n: int, L: int, T: float = 1.0, d: int = 1) -> float:
        """The residual branch multiplier ``beta``."""
        return self.branch_multiplier(**_check_sizes(n=n, L=L, T=T, d=d))

    def resolve(self, *, n: int, L: int, T: float = 1.0, d: int = 1) -> dict[str, RoleScales]:
        """Every matrix role's scales at these sizes (:data:`ROLES`; vectors are :meth:`scales` of
        :data:`VECTOR_ROLES`)."""
        return {role: self.scales(role, n=n, L=L, T=T, d=d) for role in ROLES}


def _check_sizes(*, n, L, T, d) -> dict:
    return {"n": check_int("n", n), "L": check_int("L", L), "T": check_float("T", T), "d": check_int("d", d)}


def _rules(init: Mapping[str, Scaling], mult: Mapping[str, Scaling], lr: Mapping[str, Scaling],
           adam: Mapping[str, tuple] | None = None) -> dict:
    """One :class:`RoleRule` per role of :data:`ALL_ROLES`; vectors start at zero/one with no multiplier."""
    adam = adam or {}
    return {role: RoleRule(init.get(role, ZERO), mult.get(role, ONE), lr[role], *adam.get(role, ()))
            for role in ALL_ROLES}


def _mup_adam(depth_lr: Fraction, depth_eps: Fraction) -> dict[str, tuple]:
    """(Adam rate, epsilon, AdamW decay) per role for the muP family, with the depth exponents of the hidden
    rate and epsilon in ``m_L = L/T`` (CompleteP Table 1: ``m_L^(alpha-1)`` and ``m_L^-alpha``).

    Hidden matrices: the table's ``eta/n``, ``eps/n`` and ``lambda n`` become ``eta/sqrt(n)``, ``eps/n^(3/2)``
    and ``lambda sqrt(n)`` in our convention (multiplier ratio ``1/sqrt(n)``). The input layer's ``d`` exponents
    follow from its ratio ``1/sqrt(d)`` (inferred: the sources treat the input size as fixed).
    """
    depth = Scaling(L=depth_lr, T=-depth_lr)
    eps_depth = Scaling(L=depth_eps, T=-depth_eps)
    hidden = (Scaling(n=-HALF) * depth, Scaling(n=-3 * HALF) * eps_depth, Scaling(n=HALF))
    inv_sqrt_d = Scaling(d=-HALF)
    return {"input": (inv_sqrt_d, inv_sqrt_d, inv_sqrt_d), **_same(hidden, ROLES[1:4]), "readout": (ONE, ONE, ONE),
            "vector": (ONE, ONE, ZERO), "block_vector": (depth, Scaling(n=-1) * eps_depth, ZERO),
            "output_bias": (ONE, ONE, ZERO)}


def _same(value: Scaling, roles: Iterable[str] = ROLES) -> dict[str, Scaling]:
    return {role: value for role in roles}


_INV_SQRT_FAN_IN = {"input": Scaling(d=-HALF), **_same(Scaling(n=-HALF), ROLES[1:])}
_MUP_MULT = {"input": Scaling(d=-HALF), **_same(Scaling(n=-HALF), ROLES[1:4]), "readout": Scaling(n=-1)}
# Vectors under SGD: width-sized ones train at eta*n like mup's vector-like parameters (MuSGD), a block's at the
# block matrices' rate; the readout bias (output-sized, finite) at eta.
_WIDTH_LR = {**_same(Scaling(n=1), ROLES + ("vector", "block_vector")), "output_bias": ONE}
_SP_ADAM = {role: (ONE, ONE, ONE if role in ROLES else ZERO) for role in ALL_ROLES}

REGISTRY: dict[str, Parametrization] = {}


def register(p: Parametrization) -> Parametrization:
    """Add a parametrization to the registry (names are unique)."""
    if p.name in REGISTRY:
        raise ValueError(f"parametrization {p.name!r} is already registered")
    if set(p.rules) != set(ALL_ROLES):
        raise ValueError(f"parametrization {p.name!r} must give a rule for each role in {ALL_ROLES}")
    REGISTRY[p.name] = p
    return p


register(Parametrization(
    name="sp",
    summary="standard: N(0, 1/fan_in) weights, no multipliers, one learning rate, no branch scaling",
    rules=_rules(_INV_SQRT_FAN_IN, {}, _same(ONE, ALL_ROLES), _SP_ADAM),
    branch_multiplier=ONE,
    derivation="""PyTorch's default-like scaling (He/LeCun variance, here without the ReLU gain). The forward
    pass is O(1) at any width, but the per-step change of the output grows with width at a fixed learning rate,
    and without branch scaling the residual stream of a pre-activation ReLU network grows like (3/2)^(L/2).""",
))

register(Parametrization(
    name="ntk",
    summary="NTK: N(0,1) weights, 1/sqrt(fan_in) multipliers, one learning rate, sqrt(T/L) branch (lazy control)",
    rules=_rules(_same(ONE), _INV_SQRT_FAN_IN, _same(ONE, ALL_ROLES)),
    branch_multiplier=Scaling(T=HALF, L=-HALF),
    derivation="""The neural-tangent parametrization, given the same sqrt(T/L) branch as depth-muP so that it is
    stable in depth and differs from depth-muP only in its width scaling: the readout multiplier is 1/sqrt(n)
    instead of 1/n and every learning rate is O(1). The kernel limit follows: each feature moves by O(1/sqrt(n))
    per step, so as n grows the features and the kernels Phi, G freeze (the control for 'NFD is not a kernel
    limit').""",
))

register(Parametrization(
    name="mup",
    summary="muP (width only): N(0,1) weights, 1/sqrt(fan_in) multipliers, 1/n readout, SGD rate eta*n, branch 1",
    rules=_rules(_same(ONE), _MUP_MULT, _WIDTH_LR, _mup_adam(Fraction(0), Fraction(0))),
    branch_multiplier=ONE,
    derivation="""Maximal-update parametrization in the 'explicit multipliers, N(0,1) weights' convention (Tensor
    Programs IV/V; Bordelon et al. 2023 with gamma_0 = 1). With f = v.phi(h_L)/n the backward vector
    g_l = n df/dh_l is O(1); an SGD step with rate eta*n on W_l changes (1/sqrt(n)) W_l phi(h) by
    eta * chi * g * (phi.phi/n) = O(1): every layer learns features at every width. Without a depth factor the
    L residual blocks add up: at initialization the stream's variance multiplies by (1 + E[phi^2]/q) per block.""",
))

register(Parametrization(
    name="depth-mup",
    summary="depth-muP: muP plus the sqrt(T/L) residual branch multiplier (Bordelon et al. 2023; TP VI)",
    rules=_rules(_same(ONE), _MUP_MULT, _WIDTH_LR, _mup_adam(-HALF, -HALF)),
    branch_multiplier=Scaling(T=HALF, L=-HALF),
    derivation="""muP with each residual block scaled by sqrt(T/L) = sqrt(d tau). At initialization the L
    blocks are independent O(sqrt(T/L)) Gaussian increments, so h_l is an Euler-Maruyama path of an SDE in
    layer-time tau = l T / L. The SGD rate stays eta*n: the gradient of a block already carries sqrt(T/L), so a
    step changes the block by sqrt(T/L) * sqrt(T/L) = T/L (the drift term), and the L blocks sum to O(1). Every
    matrix trains at eta * n, eta the base rate (the paper's eta_c; docs/reconstruction.md section 3).""",
))

register(Parametrization(
    name="depth-mup-corrected",
    summary="depth-muP with the first internal layer of a two-layer block trained at sqrt(L) times the rate",
    rules={**REGISTRY["depth-mup"].rules,
           "internal1": RoleRule(ONE, Scaling(n=-HALF), Scaling(n=1, L=HALF),
                                 REGISTRY["depth-mup"].rules["internal1"].adam_lr * Scaling(L=HALF),
                                 REGISTRY["depth-mup"].rules["internal1"].adam_eps, Scaling(n=HALF))},
    branch_multiplier=Scaling(T=HALF, L=-HALF),
    derivation="""The paper's depth-aware correction eta_1 = eta * n * sqrt(L) (docs/reconstruction.md
    section 6). In a two-layer block z_l = (1/sqrt(n)) W1_l phi(h_{l-1}) receives the backward signal
    g^z_l = sqrt(T/L) phi'(z_l) (1/sqrt(n)) W2_l^T g_l = O(L^-1/2), so under depth-muP its own update
    (1/sqrt(n)) dW1_l phi = (eta_1/n) chi Phi g^z shrinks like L^-1/2 (collapse). Multiplying only this layer's rate
    by sqrt(L) restores an O(1) update. Every other rule is depth-muP's; for one-layer blocks the two coincide.
    Under Adam the same factor sqrt(L) multiplies depth-muP's Adam rate of this layer, which makes the layer's
    own Adam update O(1) by power counting (inferred, not from the paper). Under Adam depth-muP's first internal
    layer collapses too, through its rate rather than its gradient: measured in notebook 09 (docs/reconstruction.md
    section 10).""",
))

register(Parametrization(
    name="completep",
    summary="CompleteP: muP plus a T/L branch multiplier, hidden and internal SGD rates eta*n*L/T",
    rules=_rules(_same(ONE), _MUP_MULT,
                 {**_WIDTH_LR, **_same(Scaling(n=1, L=1, T=-1), ROLES[1:4] + ("block_vector",))},
                 _mup_adam(Fraction(0), Fraction(-1))),
    branch_multiplier=Scaling(T=1, L=-1),
    derivation="""The alpha = 1 member of the depth family (Dey et al. 2025, 'CompleteP'; Chizat 2025). The block
    multiplier is T/L = d tau, so at initialization the blocks add O(1/L) each and the residual stream follows an
    ODE (no Brownian term). For SGD a block's gradient carries T/L, and a rate eta*n*L/T makes a step change the
    block's output by (T/L)^2 (L/T) = T/L again: the same drift as depth-muP. Inside a two-layer block the signal
    reaching z_l is O(T/L), and the rate n*L/T makes the first internal layer's own update O(1): every internal
    layer keeps O(1) feature learning, and each layer's kernel contribution is O(1/L), so the kernel stays O(1).
    The input and readout rates are muP's (eta*n).""",
))


def names() -> tuple[str, ...]:
    """The registered parametrization names."""
    return tuple(REGISTRY)


def get_parametrization(name: str | Parametrization) -> Parametrization:
    """Look a parametrization up by name; ``ValueError`` lists the known names."""
    if isinstance(name, Parametrization):
        return name
    return REGISTRY[check_choice("parametrization", name, tuple(REGISTRY))]


def registry_table(parametrizations: Iterable[str] | None = None, roles: Iterable[str] = ALL_ROLES) -> str:
    """The registry as a markdown table: one row per parametrization and role.

    Columns: init std of the N(0,1)-scaled entries (0 for vectors: biases start at zero, norm gains at one),
    forward multiplier, SGD rate relative to the base rate ``eta``, Adam rate relative to ``eta``, Adam epsilon
    relative to the base ``eps``, AdamW weight decay relative to the base ``lambda`` (``—`` where no source gives
    an Adam rule), and the residual branch multiplier. ``n`` is the width, ``d`` the input dimension, ``L`` the
    depth and ``T`` the depth horizon.
    """
    chosen = [get_parametrization(p) for p in (parametrizations or names())]
    roles = [check_choice("role", r, ALL_ROLES) for r in roles]
    lines = ["| parametrization | role | init std | multiplier | SGD rate / η | Adam rate / η | Adam ε / ε "
             "| AdamW decay / λ | branch β |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in chosen:
        for i, role in enumerate(roles):
            rule = p.rules[role]
            branch = str(p.branch_multiplier) if role in ("hidden", "internal2") else ""
            label = f"`{p.name}`" if i == 0 else ""
            adam = " | ".join("—" if v is None else str(v) for v in (rule.adam_lr, rule.adam_eps, rule.weight_decay))
            lines.append(f"| {label} | {role} | {rule.init_std} | {rule.multiplier} | {rule.lr_scale} | {adam} "
                         f"| {branch} |")
    return "\n".join(lines)


def describe(name: str) -> str:
    """A parametrization's one-line summary and its derivation, as plain text."""
    p = get_parametrization(name)
    body = " ".join(p.derivation.split())
    return f"{p.name}: {p.summary}\n\n{body}"


def is_depth_scaled(name: str) -> bool:
    """True when the branch multiplier shrinks with depth (the depth-muP family and CompleteP)."""
    return get_parametrization(name).branch_multiplier.L < 0


__all__ = ["ROLES", "VECTOR_ROLES", "ALL_ROLES", "OPTIMIZERS", "REGISTRY", "Scaling", "RoleRule", "RoleScales",
           "Parametrization", "register", "names", "get_parametrization", "registry_table", "describe",
           "is_depth_scaled"]
