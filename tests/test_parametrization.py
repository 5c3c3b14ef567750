import math
from fractions import Fraction

import pytest

from nfdlib.parametrization import ALL_ROLES, REGISTRY, ROLES, Scaling, get_parametrization, names, registry_table

N, L, T, D = 64, 16, 2.0, 10


def scales(name, role):
    return get_parametrization(name).scales(role, n=N, L=L, T=T, d=D)


def test_required_entries_exist():
    for name in ("sp", "ntk", "mup", "depth-mup", "depth-mup-corrected", "completep"):
        assert name in names()
        assert set(REGISTRY[name].rules) == set(ALL_ROLES)


@pytest.mark.parametrize("name", ["mup", "depth-mup", "depth-mup-corrected", "completep"])
def test_mup_family_init_and_multipliers(name):
    for role in ROLES:
        assert scales(name, role).init_std == 1.0
    assert scales(name, "input").multiplier == pytest.approx(1 / math.sqrt(D))
    for role in ("hidden", "internal1", "internal2"):
        assert scales(name, role).multiplier == pytest.approx(1 / math.sqrt(N))
    assert scales(name, "readout").multiplier == pytest.approx(1 / N)


def test_branch_multipliers():
    p = get_parametrization
    assert p("sp").branch(n=N, L=L, T=T) == 1.0
    assert p("mup").branch(n=N, L=L, T=T) == 1.0
    for name in ("depth-mup", "depth-mup-corrected", "ntk"):
        assert p(name).branch(n=N, L=L, T=T) == pytest.approx(math.sqrt(T / L))
    assert p("completep").branch(n=N, L=L, T=T) == pytest.approx(T / L)


def test_learning_rate_scales():
    for role in ROLES:
        assert scales("sp", role).lr_scale == 1.0
        assert scales("ntk", role).lr_scale == 1.0
        assert scales("mup", role).lr_scale == N
        assert scales("depth-mup", role).lr_scale == N
    assert scales("completep", "input").lr_scale == N
    assert scales("completep", "readout").lr_scale == N
    for role in ("hidden", "internal1", "internal2"):
        assert scales("completep", role).lr_scale == pytest.approx(N * L / T)


def test_correction_changes_only_first_internal_rate_by_sqrt_L():
    for role in ROLES:
        base, corr = scales("depth-mup", role), scales("depth-mup-corrected", role)
        assert (corr.init_std, corr.multiplier) == (base.init_std, base.multiplier)
        ratio = corr.lr_scale / base.lr_scale
        assert ratio == (pytest.approx(math.sqrt(L)) if role == "internal1" else 1.0)


def test_sp_and_ntk_rules():
    assert scales("sp", "input").init_std == pytest.approx(1 / math.sqrt(D))
    for role in ("hidden", "internal1", "internal2", "readout"):
        assert scales("sp", role).init_std == pytest.approx(1 / math.sqrt(N))
        assert scales("sp", role).multiplier == 1.0
        assert scales("ntk", role).multiplier == pytest.approx(1 / math.sqrt(N))
        assert scales("ntk", role).init_std == 1.0


def test_scaling_monomial_and_symbols():
    s = Scaling(n=1, L=0.5)
    assert s(n=4, L=9) == pytest.approx(12)
    assert str(s) == "n√L"
    assert str(Scaling(T=0.5, L=-0.5)) == "√(T/L)"
    assert str(Scaling(n=-1)) == "1/n"
    assert str(Scaling(n=-0.5)) == "1/√n"
    assert str(Scaling()) == "1"


def test_table_lists_every_entry_and_role():
    table = registry_table()
    lines = table.splitlines()
    assert len(lines) == 2 + len(REGISTRY) * len(ALL_ROLES)
    assert "n√L" in table and "√(T/L)" in table and "nL/T" in table


@pytest.mark.parametrize("kwargs, arg", [({"n": 0}, "n"), ({"L": -1}, "L"), ({"T": float("inf")}, "T"),
                                         ({"T": float("nan")}, "T"), ({"n": 2.5}, "n")])
def test_bad_sizes_raise(kwargs, arg):
    sizes = {"n": 8, "L": 4, "T": 1.0, **kwargs}
    with pytest.raises(ValueError, match=rf"^{arg}\b"):
        get_parametrization("depth-mup").scales("hidden", **sizes)


def test_unknown_names_raise():
    with pytest.raises(ValueError, match=r"^parametrization"):
        get_parametrization("nope")
    with pytest.raises(ValueError, match=r"^role"):
        get_parametrization("mup").scales("bias", n=4, L=2)


@pytest.mark.parametrize("sizes, message", [({"n": -4}, r"^n must be > 0, got -4"),
                                            ({"L": 0}, r"^L must be > 0, got 0"),
                                            ({"T": float("nan")}, r"^T must be finite")])
def test_scaling_refuses_non_positive_sizes(sizes, message):
    rule = Scaling(n=Fraction(-1, 2), L=Fraction(1, 2), T=Fraction(1, 2))
    with pytest.raises(ValueError, match=message):
        rule(**sizes)
    assert rule(n=4, L=16, T=1.0) == pytest.approx(2.0)
