import math

import pytest
import torch
from torch import nn

from nfdlib import parametrize
from nfdlib.coord_any import STATISTICS, coord_check, module_series

C0, LR, STEPS = 0.3, 0.01, 2


class Constant(nn.Module):
    """f = W x with every entry of W equal to C0: on x = ones(4) every output coordinate is 4 C0."""

    def __init__(self, n):
        super().__init__()
        self.a = nn.Linear(4, n, bias=False)
        with torch.no_grad():
            self.a.weight.fill_(C0)

    def forward(self, x):
        return self.a(x)


def test_known_output_scales_and_one_row_per_module_step_size_seed():
    # Y = 0 broadcasts against every width's output.
    records = coord_check({n: (lambda n=n: Constant(n)) for n in (3, 8)}, (torch.ones(5, 4), torch.zeros(5, 1)),
                          steps=STEPS, lr=LR, seeds=(0, 1))
    assert {key for row in records for key in row} == {"n", "seed", "module", "step", "statistic", "value",
                                                        "diverged"}
    modules = ("(model)", "a")
    # rms at steps 0..STEPS, delta_rms at steps 1..STEPS: per size, seed and module.
    assert len(records) == 2 * 2 * len(modules) * ((STEPS + 1) + STEPS)
    keys = [(r["n"], r["seed"], r["module"], r["step"], r["statistic"]) for r in records]
    assert len(set(keys)) == len(keys)
    # Closed form: MSE against 0 gives dW = f x^T, so each step multiplies W by (1 - 4 lr) and the output,
    # 4 W, moves by 16 lr W.
    for n in (3, 8):
        rows = records.where(n=n, module="a", seed=1)
        w = [C0 * (1 - 4 * LR) ** t for t in range(STEPS + 1)]
        for t in range(STEPS + 1):
            assert rows.where(step=t, statistic="rms").column("value")[0] == pytest.approx(4 * w[t], rel=1e-6)
        for t in range(1, STEPS + 1):
            got = rows.where(step=t, statistic="delta_rms").column("value")[0]
            assert got == pytest.approx(16 * LR * w[t - 1], rel=1e-5)
    assert not any(r["diverged"] for r in records)


class ResMLP(nn.Module):
    def __init__(self, n, L):
        super().__init__()
        self.embed = nn.Linear(4, n, bias=False)
        self.blocks = nn.ModuleList(nn.Sequential(nn.ReLU(), nn.Linear(n, n, bias=False)) for _ in range(L))
        self.head = nn.Linear(n, 1, bias=False)

    def forward(self, x):
        h = self.embed(x)
        for b in self.blocks:
            h = h + b(h)
        return self.head(torch.relu(h))


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_parametrized_models_over_width_and_depth(optimizer):
    sizes = [(8, 2), (16, 4)]
    models = {(n, L): (lambda n=n, L=L: parametrize(ResMLP(n, L), "depth-mup", branches="blocks.*", n=n, L=L))
              for n, L in sizes}
    X, Y = torch.randn(6, 4), torch.randn(6, 1)
    records = coord_check(models, (X, Y), steps=1, optimizer=optimizer, lr=0.01, size_name=("n", "L"))
    for n, L in sizes:
        rows = records.where(n=n, L=L)
        n_modules = len(rows.unique("module"))
        # model, embed, head, the ModuleList is never called, each block's Sequential, ReLU and Linear
        assert n_modules == 3 + 3 * L
        assert len(rows) == n_modules * (2 + 1)
        assert set(rows.unique("statistic")) == set(STATISTICS)
    # The branch hook's beta is inside what the hooks see: a block's output is beta times its Linear's.
    r = records.where(n=16, L=4, step=0, statistic="rms")
    block, linear = (r.where(module=m).column("value")[0] for m in ("blocks.0", "blocks.0.1"))
    assert block == pytest.approx(linear * math.sqrt(1 / 4), rel=1e-6)


def test_divergence_fills_nan_rows():
    X, Y = torch.ones(5, 4) * 1e10, torch.zeros(5, 3)
    records = coord_check({3: lambda: Constant(3)}, (X, Y), steps=3, lr=1e30)
    assert len(records) == 2 * ((3 + 1) + 3)
    assert any(r["diverged"] for r in records)
    assert all(math.isnan(r["value"]) for r in records if r["diverged"])


@pytest.mark.parametrize("kwargs, message", [
    ({"models": [Constant]}, r"^models must be a non-empty dict"),
    ({"models": {3: Constant(3)}}, r"^models\[3\] must be a function"),
    ({"data": torch.ones(5, 4)}, r"^data must be a pair"),
    ({"models": {(3, 2): lambda: Constant(3)}}, r"^size_name must name each entry"),
    ({"models": {3: lambda: "net"}}, r"^a model builder must return an nn.Module"),
    ({"optimizer": "lion"}, r"^optimizer must be one of"),
    ({"lr": 0.0}, r"^lr must be > 0"),
])
def test_bad_input(kwargs, message):
    args = {"models": {3: lambda: Constant(3)}, "data": (torch.ones(5, 4), torch.zeros(5, 3)), "lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=message):
        coord_check(args.pop("models"), args.pop("data"), **args)


class InplaceNet(nn.Module):
    """A Linear followed by an in-place ReLU, which overwrites the Linear's output tensor."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 16, bias=False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.a(x))


def test_recorded_outputs_are_copies_and_seeds_set_the_init():
    X, Y = torch.randn(8, 4), torch.zeros(8, 16)
    records = coord_check({16: InplaceNet}, (X, Y), steps=0, lr=0.1, seeds=(0, 1))
    again = coord_check({16: InplaceNet}, (X, Y), steps=0, lr=0.1, seeds=(0,))
    torch.manual_seed(0)
    net = InplaceNet()
    pre = X @ net.a.weight.detach().T
    rows = records.where(module="a", statistic="rms")
    # The Linear's rms is that of its output before the in-place ReLU zeroed the negative half.
    assert rows.column("value")[0] == pytest.approx(float(pre.pow(2).mean().sqrt()), rel=1e-6)
    # Seed 0 twice gives the same numbers, seed 1 others.
    v = rows.column("value")
    assert again.where(module="a", statistic="rms").column("value")[0] == v[0] and v[0] != v[1]


def test_module_series_is_the_rms_over_the_selected_modules_per_size_and_seed():
    from nfdlib.records import Records

    rows = Records()
    for L, seed, head, fc1 in [(2, 0, 1.0, (3.0, 4.0)), (4, 0, 2.0, (6.0, 8.0)), (2, 1, 1.5, (0.0, 0.0))]:
        rows.append({"L": L, "seed": seed, "module": "head", "step": 1, "statistic": "delta_rms", "value": head})
        for i, v in enumerate(fc1):
            rows.append({"L": L, "seed": seed, "module": f"blocks.{i}.fc1", "step": 1, "statistic": "delta_rms",
                         "value": v})
    xs, ys = module_series(rows, "*.fc1", step=1)
    assert xs.tolist() == [2, 2, 4]  # per size, then per seed
    assert ys.tolist() == pytest.approx([math.sqrt(12.5), 0.0, math.sqrt(50.0)])
    assert module_series(rows, lambda m: m == "head", step=1)[1].tolist() == [1.0, 1.5, 2.0]
    with pytest.raises(ValueError, match="selects no module"):
        module_series(rows, "*.fc2", step=1)


def test_plot_coord_data_draws_one_line_per_step():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nfdlib import viz

    net_builders = {L: (lambda L=L: nn.Sequential(*[nn.Linear(4, 4) for _ in range(L)])) for L in (1, 2)}
    records = coord_check(net_builders, (torch.randn(8, 4), torch.randn(8, 4)), steps=2, lr=0.1, size_name="L")
    fig, ax = plt.subplots()
    viz.plot_coord_data(ax, records, "0", size="L")
    assert [line.get_label() for line in ax.lines] == ["step 1", "step 2"]
    assert ax.lines[0].get_xdata().tolist() == [1, 2]
    plt.close(fig)
