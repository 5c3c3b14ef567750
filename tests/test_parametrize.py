import gc
import math
import re
import weakref
from pathlib import Path

import pytest
import torch
from torch import nn

from nfdlib import parametrize
from nfdlib.models import ResNet
from nfdlib.optim import param_groups
from nfdlib.parametrization import ALL_ROLES, get_parametrization, names
from nfdlib.parametrize import default_roles, glob_to_regex

D, C = 5, 3


class Block(nn.Module):
    """A pre-activation residual branch with one or two bias-free matrices, like nfdlib's ResNet."""

    def __init__(self, n, block):
        super().__init__()
        self.block = block
        if block == "one":
            self.fc = nn.Linear(n, n, bias=False)
        else:
            self.fc1 = nn.Linear(n, n, bias=False)
            self.fc2 = nn.Linear(n, n, bias=False)

    def forward(self, h):
        if self.block == "one":
            return self.fc(torch.relu(h))
        return self.fc2(torch.relu(self.fc1(torch.relu(h))))


class PlainResMLP(nn.Module):
    """The residual MLP of nfdlib.models.ResNet written as a user would, with no scaling anywhere."""

    def __init__(self, n, L, block="one"):
        super().__init__()
        self.embed = nn.Linear(D, n, bias=False)
        self.blocks = nn.ModuleList(Block(n, block) for _ in range(L))
        self.head = nn.Linear(n, C, bias=False)

    def forward(self, x):
        h = self.embed(x)
        for b in self.blocks:
            h = h + b(h)
        return self.head(torch.relu(h))


class NormBlock(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.norm = nn.LayerNorm(n)
        self.fc1 = nn.Linear(n, 2 * n)
        self.fc2 = nn.Linear(2 * n, n)

    def forward(self, h):
        return self.fc2(torch.relu(self.fc1(self.norm(h))))


class PreLNNet(nn.Module):
    """Biases and LayerNorm gains everywhere: every role of the registry but ``hidden``."""

    def __init__(self, n=8, L=2):
        super().__init__()
        self.embed = nn.Linear(D, n)
        self.blocks = nn.ModuleList(NormBlock(n) for _ in range(L))
        self.norm = nn.LayerNorm(n)
        self.head = nn.Linear(n, C)

    def forward(self, x):
        h = self.embed(x)
        for b in self.blocks:
            h = h + b(h)
        return self.head(self.norm(h))


def copy_from_resnet(net, ref):
    with torch.no_grad():
        net.embed.weight.copy_(ref.U)
        net.head.weight.copy_(ref.v)
        for l, b in enumerate(net.blocks):
            if ref.block == "one":
                b.fc.weight.copy_(ref.W[l])
            else:
                b.fc1.weight.copy_(ref.W1[l])
                b.fc2.weight.copy_(ref.W2[l])


def pairs(net, ref):
    out = [(net.embed.weight, ref.U), (net.head.weight, ref.v)]
    for l, b in enumerate(net.blocks):
        if ref.block == "one":
            out.append((b.fc.weight, ref.W[l]))
        else:
            out += [(b.fc1.weight, ref.W1[l]), (b.fc2.weight, ref.W2[l])]
    return out


RULES_WITH_ADAM = ("sp", "mup", "depth-mup", "depth-mup-corrected", "completep")


@pytest.mark.parametrize("block", ["one", "two"])
@pytest.mark.parametrize("rule", RULES_WITH_ADAM)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_forward_and_first_step_match_resnet(rule, block, optimizer):
    n, L, T = 16, 4, 2.0
    ref = ResNet(D, C, n, L, block=block, parametrization=rule, T=T, seed=3, dtype=torch.float64)
    net = PlainResMLP(n, L, block).double()
    p = parametrize(net, rule, branches="blocks.*", n=n, L=L, T=T)
    copy_from_resnet(net, ref)
    x, y = torch.randn(7, D, dtype=torch.float64), torch.randn(7, C, dtype=torch.float64)
    torch.testing.assert_close(net(x), ref(x), rtol=1e-10, atol=1e-12)

    kwargs = {"weight_decay": 0.1} if optimizer == "adamw" else {}
    lr = 0.05 if optimizer == "sgd" else 1e-2
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    opt_net = make(p.param_groups(lr, optimizer=optimizer, **kwargs))
    opt_ref = make(param_groups(ref, lr, optimizer=optimizer, **kwargs))
    before = [w.detach().clone() for w, _ in pairs(net, ref)]
    for model, opt in ((net, opt_net), (ref, opt_ref)):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    moved = 0.0
    for (w, w_ref), w0 in zip(pairs(net, ref), before):
        torch.testing.assert_close(w.detach(), w_ref.detach(), rtol=1e-9, atol=1e-11)
        moved = max(moved, float((w.detach() - w0).abs().max()))
    assert moved > 1e-6, "the step did not move the weights: the comparison would be vacuous"
    torch.testing.assert_close(net(x), ref(x), rtol=1e-9, atol=1e-11)


# Every rule x role x optimizer by hand, at n=64, L=16, T=2, d=9: (SGD rate, Adam rate, Adam eps, AdamW decay).
N, DEP, HOR, DIN = 64, 16, 2.0, 9
mL = DEP / HOR  # CompleteP's depth multiplier m_L, here L/T
sq = math.sqrt
VEC = {"vector": (N, 1, 1, 0), "output_bias": (1, 1, 1, 0)}
HAND = {
    "sp": {**{r: (1, 1, 1, 1) for r in ("input", "hidden", "internal1", "internal2", "readout")},
           "vector": (1, 1, 1, 0), "block_vector": (1, 1, 1, 0), "output_bias": (1, 1, 1, 0)},
    "ntk": {r: (1, None, None, None) for r in ALL_ROLES},
    "mup": {"input": (N, 1 / sq(DIN), 1 / sq(DIN), 1 / sq(DIN)),
            **{r: (N, 1 / sq(N), N ** -1.5, sq(N)) for r in ("hidden", "internal1", "internal2")},
            "readout": (N, 1, 1, 1), "block_vector": (N, 1, 1 / N, 0), **VEC},
    "depth-mup": {"input": (N, 1 / sq(DIN), 1 / sq(DIN), 1 / sq(DIN)),
                  **{r: (N, 1 / sq(N * mL), N ** -1.5 / sq(mL), sq(N)) for r in ("hidden", "internal1", "internal2")},
                  "readout": (N, 1, 1, 1), "block_vector": (N, 1 / sq(mL), 1 / (N * sq(mL)), 0), **VEC},
    "depth-mup-corrected": {"input": (N, 1 / sq(DIN), 1 / sq(DIN), 1 / sq(DIN)),
                            **{r: (N, 1 / sq(N * mL), N ** -1.5 / sq(mL), sq(N)) for r in ("hidden", "internal2")},
                            "internal1": (N * sq(DEP), sq(DEP) / sq(N * mL), N ** -1.5 / sq(mL), sq(N)),
                            "readout": (N, 1, 1, 1), "block_vector": (N, 1 / sq(mL), 1 / (N * sq(mL)), 0), **VEC},
    "completep": {"input": (N, 1 / sq(DIN), 1 / sq(DIN), 1 / sq(DIN)),
                  **{r: (N * mL, 1 / sq(N), N ** -1.5 / mL, sq(N)) for r in ("hidden", "internal1", "internal2")},
                  "readout": (N, 1, 1, 1), "block_vector": (N * mL, 1, 1 / (N * mL), 0), **VEC},
}


def test_hand_table_covers_the_registry():
    assert set(HAND) == set(names())
    for rule in HAND:
        assert set(HAND[rule]) == set(ALL_ROLES)


@pytest.mark.parametrize("rule", sorted(HAND))
@pytest.mark.parametrize("role", ALL_ROLES)
def test_registry_rates_match_hand_table(rule, role):
    s = get_parametrization(rule).scales(role, n=N, L=DEP, T=HOR, d=DIN)
    got = (s.lr_scale, s.adam_lr, s.adam_eps, s.weight_decay)
    for g, want in zip(got, HAND[rule][role]):
        assert g == (None if want is None else pytest.approx(want, rel=1e-12))


def hand_groups(rule, optimizer, model, roles_of):
    """name -> (lr, eps, weight_decay) expected for base lr 0.01, eps 1e-8, weight decay 0.1, from HAND."""
    out = {}
    for name, role in roles_of.items():
        sgd, adam, eps, wd = HAND[rule][role]
        if optimizer == "sgd":
            out[name] = (0.01 * sgd, None, None)
        else:
            out[name] = (0.01 * adam, 1e-8 * eps, 0.1 * wd if optimizer == "adamw" else 0.0)
    return out


@pytest.mark.parametrize("rule", RULES_WITH_ADAM)
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("block", ["one", "two", "preln"])
def test_param_groups_match_hand_table(rule, optimizer, block):
    if block == "preln":
        model = PreLNNet(N, DEP)
        # The input layer's fan-in is D; the hand table is at d=9: give it explicitly through a wider input.
        model.embed = nn.Linear(DIN, N)
    else:
        model = PlainResMLP(N, DEP, block)
        model.embed = nn.Linear(DIN, N, bias=False)
    p = parametrize(model, rule, branches="blocks.*", n=N, L=DEP, T=HOR)
    roles_of = {name: row["role"] for name, row in p.table().items()}
    want = hand_groups(rule, optimizer, model, roles_of)
    kwargs = {"weight_decay": 0.1} if optimizer == "adamw" else {}
    groups = p.param_groups(0.01, optimizer=optimizer, eps=1e-8, **kwargs)
    assert [g["name"] for g in groups] == list(roles_of)
    for g in groups:
        lr, eps, wd = want[g["name"]]
        assert g["lr"] == pytest.approx(lr, rel=1e-12), g["name"]
        if optimizer != "sgd":
            assert g["eps"] == pytest.approx(eps, rel=1e-12), g["name"]
            assert g["weight_decay"] == pytest.approx(wd, rel=1e-12, abs=0), g["name"]


def test_default_roles_of_biases_and_norm_gains():
    net = PreLNNet()
    got = default_roles(net, ["blocks.0", "blocks.1"])
    assert got["embed.weight"] == "input" and got["embed.bias"] == "vector"
    assert got["blocks.0.norm.weight"] == got["blocks.0.norm.bias"] == "block_vector"
    assert got["blocks.1.fc1.weight"] == "internal1" and got["blocks.1.fc2.weight"] == "internal2"
    assert got["blocks.1.fc1.bias"] == got["blocks.1.fc2.bias"] == "block_vector"
    assert got["norm.weight"] == got["norm.bias"] == "vector"
    assert got["head.weight"] == "readout" and got["head.bias"] == "output_bias"


def test_init_multiplier_and_bias():
    net = PreLNNet(n=8, L=2)
    p = parametrize(net, "depth-mup", branches="blocks.*", n=8, L=2)
    assert torch.all(net.blocks[0].norm.weight == 1) and torch.all(net.norm.bias == 0)
    assert torch.all(net.embed.bias == 0) and torch.all(net.head.bias == 0)
    # The multiplier scales the layer's input, not its bias: out = m W x + b.
    with torch.no_grad():
        net.head.bias.fill_(0.5)
    h = torch.randn(4, 8)
    m = p.table()["head.weight"]["multiplier"]
    assert m == pytest.approx(1 / 8)
    torch.testing.assert_close(net.head(h), m * h @ net.head.weight.T + 0.5)
    # The branch output is multiplied by beta = sqrt(T/L), bias included.
    x = torch.randn(4, 8)
    raw = net.blocks[0].fc2(torch.relu(net.blocks[0].fc1(net.blocks[0].norm(x))))
    torch.testing.assert_close(net.blocks[0](x), raw * math.sqrt(1 / 2))
    # Scaling metadata lives in the table, not on the parameters; remove() takes the hooks away.
    assert not any(hasattr(q, "role") or hasattr(q, "lr_scale") for q in net.parameters())
    p.remove()
    torch.testing.assert_close(net.head(h), h @ net.head.weight.T + 0.5)


def test_patterns_override_defaults_and_glob_stays_in_one_component():
    assert glob_to_regex("blocks.*").match("blocks.0")
    assert not glob_to_regex("blocks.*").match("blocks.0.fc1")
    assert glob_to_regex("**.bias").match("blocks.0.fc1.bias")
    net = PreLNNet()
    p = parametrize(net, "completep", roles={"blocks.*.fc1.bias": "vector"}, branches="blocks.*", n=8, L=2)
    t = p.table()
    assert t["blocks.0.fc1.bias"]["role"] == "vector" and t["blocks.0.fc2.bias"]["role"] == "block_vector"


class MiddleNet(nn.Module):
    """A Linear between the blocks and the head: no default role for it."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(D, 8, bias=False)
        self.blocks = nn.ModuleList(Block(8, "one") for _ in range(2))
        self.mid = nn.Linear(8, 8, bias=False)
        self.head = nn.Linear(8, C, bias=False)


BAD = [
    ("rule", dict(rule="mu-p"), r"^rule must be one of"),
    ("unmatched", dict(model=MiddleNet), r"^roles must give every parameter a role; .*'mid.weight'"),
    ("double", dict(roles={"blocks.*.fc.weight": "hidden", "blocks.0.**": "hidden"}),
     r"^roles must match each parameter at most once; .*'blocks.0.fc.weight' by"),
    ("no-match pattern", dict(roles={"blocks.*.fc9.weight": "hidden"}), r"^roles pattern 'blocks.\*.fc9.weight' "
                                                                        r"matches no parameter; .*'embed.weight'"),
    ("unknown role", dict(roles={"head.weight": "head"}), r"^roles\['head.weight'\] must be one of"),
    ("roles not a dict", dict(roles=["head.weight"]), r"^roles must be a dict"),
    ("branches match nothing", dict(branches="layers.*"), r"^branches pattern 'layers.\*' matches no module; "
                                                          r".*'blocks.0'"),
    ("nested branches", dict(branches=["blocks.*", "blocks.*.fc"]), r"^branches must not nest"),
    ("branches type", dict(branches=3), r"^branches must be a glob pattern"),
    ("n", dict(n=16), r"^n must be the model's width.*\(8\); got n=16"),
    ("d", dict(d=7), r"^d must be the fan-in of the input layer 'embed.weight' \(5\); got d=7"),
    ("L", dict(L=3), r"^L must divide the number of branches"),
    ("matrix role on a vector", dict(model=PreLNNet, roles={"norm.weight": "hidden"}), r"^roles\['norm.weight'\] = "
                                                                                       r"'hidden': a matrix role"),
]


@pytest.mark.parametrize("case, change, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_before_any_weight_is_touched(case, change, message):
    make = change.pop("model", lambda: PlainResMLP(8, 2))
    model = make()
    kwargs = {"rule": "depth-mup", "branches": "blocks.*", "n": 8, "L": 2, **change}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        parametrize(model, kwargs.pop("rule"), **kwargs)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "a weight changed before the error"
    assert not model._forward_hooks and not model._forward_pre_hooks
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_bad_optimizer_arguments():
    p = parametrize(PlainResMLP(8, 2), "depth-mup", branches="blocks.*", n=8, L=2)
    with pytest.raises(ValueError, match=r"^optimizer must be one of 'sgd', 'adam', 'adamw'"):
        p.param_groups(0.1, optimizer="lion")
    with pytest.raises(ValueError, match=r"^weight_decay must be 0 for optimizer='sgd'"):
        p.param_groups(0.1, weight_decay=0.1)
    with pytest.raises(ValueError, match=r"^lr must be > 0"):
        p.param_groups(-0.1)
    with pytest.raises(ValueError, match=r"^model is already parametrized"):
        parametrize(p.model, "depth-mup", branches="blocks.*", n=8, L=2)
    q = parametrize(PlainResMLP(8, 2), "ntk", branches="blocks.*", n=8, L=2)
    assert q.param_groups(0.1)[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"^optimizer='adamw' has no rule in parametrization 'ntk'"):
        q.param_groups(0.1, optimizer="adamw")


def test_readme_example_runs():
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text[text.index("### Your own model"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 5, "the README promises five lines"
    net = PreLNNet(n=256, L=16)
    scope = {"net": net}
    exec(code.replace("print(", "str("), scope)
    assert isinstance(scope["opt"], torch.optim.AdamW)
    assert scope["p"].table()["blocks.0.fc1.weight"]["role"] == "internal1"
    assert net(torch.randn(2, D)).shape == (2, C)


def test_a_parametrized_model_can_be_freed():
    net = PlainResMLP(8, 2)
    p = parametrize(net, "completep", branches="blocks.*", n=8, L=2)
    alive = weakref.ref(net)
    del net, p
    gc.collect()
    assert alive() is None, "the bookkeeping of parametrized models keeps them alive"


class ConvNet(nn.Module):
    """A small convolutional ResNet: the input layer is a Conv2d, each branch one Conv2d, the readout a Linear."""

    def __init__(self, n=8, L=2):
        super().__init__()
        self.stem = nn.Conv2d(1, n, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.ReLU(), nn.Conv2d(n, n, 3, padding=1)) for _ in range(L))
        self.head = nn.Linear(n, C)

    def forward(self, x):
        h = self.stem(x)
        for b in self.blocks:
            h = h + b(h)
        return self.head(torch.relu(h).mean((-2, -1)))


def test_convolutional_model_defaults_and_multipliers():
    net = ConvNet()
    p = parametrize(net, "depth-mup", branches="blocks.*", n=8, L=2)
    t = p.table()
    assert p.sizes["d"] == 9  # the stem's fan-in: 1 channel x 3 x 3
    assert t["stem.weight"]["role"] == "input" and t["stem.weight"]["multiplier"] == pytest.approx(1 / 3)
    assert t["blocks.0.1.weight"]["role"] == "hidden" and t["blocks.0.1.bias"]["role"] == "block_vector"
    assert t["head.bias"]["role"] == "output_bias"
    x = torch.randn(2, 8, 5, 5)
    conv = net.blocks[1][1]
    with torch.no_grad():
        conv.bias.fill_(0.25)
    raw = torch.nn.functional.conv2d(x, conv.weight, None, padding=1)
    torch.testing.assert_close(conv(x), raw / math.sqrt(8) + 0.25)
    assert net(torch.randn(2, 1, 6, 6)).shape == (2, C)
