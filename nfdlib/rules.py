"""Training rules: what the notebooks compare when they compare "rules".

A training rule is a parametrization of the registry (:mod:`nfdlib.parametrization`: init, multipliers and
learning-rate exponents) together with the architecture it is applied to (one- or two-layer residual blocks,
pre- or post-activation). It is the one type that names a rule everywhere: the learning-rate sweeps of notebook 06
(:mod:`nfdlib.sweeps`), the scaling grids of notebook 07 (:mod:`nfdlib.scaling`) and the explorer. Plans written
as plain data (a notebook's parameters cell) may give a rule as a ``(parametrization, block)`` pair;
:func:`as_rule` turns either form into a :class:`TrainingRule`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import BLOCKS
from .parametrization import get_parametrization
from .validation import check_bool, check_choice


@dataclass(frozen=True)
class TrainingRule:
    """A parametrization, a block type and pre- or post-activation blocks, with a label for figures.

    ``key`` names the rule in cache files and tables; by default ``"<parametrization>/<block>"`` (with
    ``"/postact"`` appended for post-activation blocks).
    """

    parametrization: str
    block: str = "one"
    preact: bool = True
    label: str = ""
    key: str = ""

    def __post_init__(self):
        get_parametrization(self.parametrization)
        check_choice("block", self.block, BLOCKS)
        check_bool("preact", self.preact)
        if not self.key:
            key = f"{self.parametrization}/{self.block}" + ("" if self.preact else "/postact")
            object.__setattr__(self, "key", key)

    @property
    def pair(self) -> tuple[str, str]:
        """``(parametrization, block)``: how a notebook's plan names the rule."""
        return (self.parametrization, self.block)


def as_rule(rule) -> TrainingRule:
    """A :class:`TrainingRule` from itself or from a ``(parametrization, block)`` pair."""
    if isinstance(rule, TrainingRule):
        return rule
    if isinstance(rule, (tuple, list)) and len(rule) == 2 and all(isinstance(x, str) for x in rule):
        return TrainingRule(rule[0], rule[1])
    raise ValueError(f"rule must be a TrainingRule or a (parametrization, block) pair, got {rule!r}")


#: The four rules notebook 06 compares: the one-layer control and three treatments of two-layer blocks.
TRANSFER_RULES = (
    TrainingRule("depth-mup", "one", label="depth-muP, one-layer blocks"),
    TrainingRule("depth-mup", "two", label="depth-muP, two-layer blocks"),
    TrainingRule("depth-mup-corrected", "two", label="two-layer, corrected (eta_1 = eta n sqrt(L))"),
    TrainingRule("completep", "two", label="two-layer, CompleteP"),
)

#: The rules of notebook 07, by key: depth-muP with one-layer blocks (where scaling should work) and the rules
#: where it should fail (standard parametrization; muP without branch scaling; post-activation blocks; two-layer
#: blocks with and without the depth-aware correction of notebook 06). The keys name their cache files.
SCALING_RULES = {rule.key: rule for rule in (
    TrainingRule("depth-mup", "one", True, "depth-muP, one-layer blocks", key="depth-mup"),
    TrainingRule("sp", "one", True, "SP (standard parametrization)", key="sp"),
    TrainingRule("mup", "one", True, "muP, no branch scaling", key="mup"),
    TrainingRule("depth-mup", "one", False, "depth-muP, post-activation blocks", key="postact"),
    TrainingRule("depth-mup", "two", True, "depth-muP, two-layer blocks", key="two"),
    TrainingRule("depth-mup-corrected", "two", True, "two-layer, corrected (eta_1 = eta n sqrt(L))",
                 key="two-corrected"),
)}


def scaling_rule(key: str) -> TrainingRule:
    """The rule of notebook 07 named ``key`` (one of :data:`SCALING_RULES`)."""
    return SCALING_RULES[check_choice("rule", key, tuple(SCALING_RULES))]


__all__ = ["TrainingRule", "as_rule", "TRANSFER_RULES", "SCALING_RULES", "scaling_rule"]
