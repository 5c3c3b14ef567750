"""Batched learning-rate x seed sweeps (nfdlib.sweeps): agreement with the plain loop, divergence, cache, input
checks, and the reading of a sweep (optimum, drift with depth, stability boundary)."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from nfdlib import optima, plans, sweeps
from nfdlib.data import load_digits, make_teacher_task
from nfdlib.engine import ENGINES, train_loop, train_stacked
from nfdlib.models import ResNet
from nfdlib.optim import make_sgd
from nfdlib.parametrization import get_parametrization
from nfdlib.training import loss_fn


def _digits(dtype=torch.float64):
    return load_digits(n_train=48, n_test=24, dtype=dtype)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("block, loss, batch_size", [("two", "xent", 16), ("one", "mse", None)])
def test_batched_sweep_matches_plain_loop(block, loss, batch_size, engine):
    data = _digits()

    def make(seed):
        return ResNet(data.d, 10, 16, 3, block=block, seed=seed, dtype=torch.float64)

    lrs = [0.05, 0.5, 2.0, 0.05, 0.5, 2.0]
    seeds = [0, 0, 0, 1, 1, 1]
    kw = dict(batch_size=batch_size, loss=loss, eval_every=3)
    a = train_stacked(make, lrs, seeds, data, 7, engine=engine, **kw)
    b = train_loop(make, lrs, seeds, data, 7, **kw)
    np.testing.assert_array_equal(a["steps"], b["steps"])
    np.testing.assert_array_equal(a["diverged"], b["diverged"])
    for key in ("train_loss", "test_loss", "test_acc") if loss == "xent" else ("train_loss", "test_loss"):
        # train() averages accuracy in float32, hence the looser absolute tolerance there
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-6 if key == "test_acc" else 1e-12,
                                   err_msg=key)
    # the runs really differ from each other (the comparison is not vacuous)
    assert np.ptp(a["train_loss"][:, -1]) > 1e-3


def test_chunks_give_the_same_numbers():
    data = make_teacher_task(d=6, n_train=20, n_test=10, dtype=torch.float64)

    def make(seed):
        return ResNet(6, 1, 8, 2, block="two", seed=seed, dtype=torch.float64)

    lrs, seeds = [0.1, 0.2, 0.4, 0.8, 1.6], [0, 1, 2, 3, 4]
    whole = train_stacked(make, lrs, seeds, data, 4, batch_size=8)
    parts = train_stacked(make, lrs, seeds, data, 4, batch_size=8, chunk_size=2)
    np.testing.assert_allclose(whole["train_loss"], parts["train_loss"], rtol=1e-12)
    other = train_stacked(make, lrs, seeds, data, 4, batch_size=8, engine="vmap")
    np.testing.assert_allclose(whole["train_loss"], other["train_loss"], rtol=1e-10)


@pytest.mark.parametrize("engine", ENGINES)
def test_diverging_configuration_is_recorded_not_raised(engine):
    data = make_teacher_task(d=6, n_train=16, n_test=8)

    def make(seed):
        return ResNet(6, 1, 16, 4, block="two", seed=seed)

    out = train_stacked(make, [0.05, 1e6, 0.05], [0, 0, 1], data, 6, eval_every=2, loss_bound=1e3,
                        engine=engine)
    assert out["diverged"].tolist() == [False, True, False]
    assert 0 <= out["diverged_at"][1] <= 6 and out["diverged_at"][0] == -1
    assert np.isnan(out["train_loss"][1, -1]) and np.all(np.isfinite(out["train_loss"][[0, 2]]))
    # read back as a missing point, never as a number
    sweep = {"lr": np.array([0.05, 1e6]), "seed": np.array([0]), "train_loss": out["train_loss"][:2, None],
             "diverged": out["diverged"][:2, None]}
    assert np.isnan(optima.final_metric(sweep)[1, 0])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("steps, expected_at", [(6, 5), (5, 5)])
def test_finite_loss_above_the_bound_diverges_where_the_plain_loop_does(engine, steps, expected_at):
    """A run whose loss stays finite but passes loss_bound: between evaluations the minibatch check must catch it
    (steps=6: evaluated only at 0 and 6, caught at step 5), at an evaluation the evaluation check must (steps=5:
    the bound is passed only after the last update). The plain loop of train() is the reference."""
    data = make_teacher_task(d=6, n_train=16, n_test=8, dtype=torch.float64)

    def make(seed):
        return ResNet(6, 1, 16, 4, seed=seed, dtype=torch.float64)

    kw = dict(eval_every=steps, batch_size=8)
    free = train_stacked(make, [4.0, 0.05], [0, 0], data, steps, loss_bound=1e300, engine=engine, **kw)
    assert not free["diverged"].any() and np.all(np.isfinite(free["train_loss"]))  # finite throughout ...
    assert free["train_loss"][0, -1] > 10.0 > free["train_loss"][0, 0]  # ... and above the bound at the end
    a = train_stacked(make, [4.0, 0.05], [0, 0], data, steps, loss_bound=10.0, engine=engine, **kw)
    b = train_loop(make, [4.0, 0.05], [0, 0], data, steps, loss_bound=10.0, **kw)
    assert a["diverged"].tolist() == b["diverged"].tolist() == [True, False]
    assert a["diverged_at"].tolist() == b["diverged_at"].tolist() == [expected_at, -1]
    assert np.isnan(a["train_loss"][0, -1]) and np.isfinite(a["train_loss"][1, -1])


def test_correction_scales_only_the_first_internal_step_by_sqrt_L():
    """One SGD step from the same weights: depth-muP and corrected steps differ by exactly sqrt(L), in W1 only."""
    L = 9
    data = make_teacher_task(d=5, n_train=12, n_test=4, dtype=torch.float64)
    before = ResNet(5, 1, 12, L, block="two", seed=0, dtype=torch.float64)
    steps = {}
    for p in ("depth-mup", "depth-mup-corrected"):
        model = ResNet(5, 1, 12, L, block="two", seed=0, dtype=torch.float64)
        opt = make_sgd(model, 0.01, p)
        loss_fn(model(data.X_train), data.Y_train, None, "mse").backward()
        opt.step()
        steps[p] = {k: (getattr(model, k) - getattr(before, k)).detach() for k in ("U", "W1", "W2", "v")}
    for k in ("U", "W2", "v"):
        torch.testing.assert_close(steps["depth-mup-corrected"][k], steps["depth-mup"][k], rtol=0, atol=0)
    torch.testing.assert_close(steps["depth-mup-corrected"]["W1"], math.sqrt(L) * steps["depth-mup"]["W1"])
    assert steps["depth-mup"]["W1"].abs().max() > 0


def test_stacked_rates_follow_the_registry():
    """The batched update uses lr * lr_scale(role): compare one step against the formula by hand."""
    n, L, T = 8, 4, 2.0
    data = make_teacher_task(d=3, n_train=6, n_test=2, dtype=torch.float64)
    for p in ("depth-mup-corrected", "completep"):
        def make(seed, p=p):
            return ResNet(3, 1, n, L, block="two", parametrization=p, T=T, seed=seed, dtype=torch.float64)

        model = make(0)
        loss_fn(model(data.X_train), data.Y_train, None, "mse").backward()
        res = train_stacked(make, [0.003], [0], data, 1, eval_every=1)
        # the train loss after the step equals that of a hand-made SGD step with the registry's rates
        scales = get_parametrization(p).resolve(n=n, L=L, T=T, d=3)
        roles = model.param_roles()
        with torch.no_grad():
            for name, prm in model.named_parameters():
                prm -= 0.003 * scales[roles[name]].lr_scale * prm.grad
            expected = float(loss_fn(model(data.X_train), data.Y_train, None, "mse"))
        assert res["train_loss"][0, -1] == pytest.approx(expected, rel=1e-10)


def test_completep_multipliers_match_formulas():
    for n, L, T in [(16, 4, 1.0), (64, 32, 2.0)]:
        p = get_parametrization("completep")
        assert p.branch(n=n, L=L, T=T) == pytest.approx(T / L)
        for role in ("hidden", "internal1", "internal2"):
            assert p.lr_scale(role, n=n, L=L, T=T) == pytest.approx(n * L / T)
            assert p.multiplier(role, n=n, L=L, T=T) == pytest.approx(1 / math.sqrt(n))
        assert p.lr_scale("input", n=n, L=L, T=T) == pytest.approx(n)
        assert p.lr_scale("readout", n=n, L=L, T=T) == pytest.approx(n)
        model = ResNet(5, 1, n, L, block="two", parametrization="completep", T=T)
        assert model.beta == pytest.approx(T / L)


# -- cache --------------------------------------------------------------------------------------------------
def _tiny_plan_args():
    task = {"name": "teacher", "d": 4, "n_train": 8, "n_test": 4}
    return task, "depth-mup", "two", 8, [2, 3], [0.1, 0.4], [0, 1], 3


def test_cache_returns_same_result_and_recomputes_on_change(tmp_path, monkeypatch):
    calls = []  # one per depth trained
    real = sweeps.lr_sweep

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweeps, "lr_sweep", counting)
    args = _tiny_plan_args()
    first = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    second = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    assert len(calls) == 2
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert first["train_loss"].shape == (2, 2, 2, 2)  # depths, lrs, seeds, evaluations
    # a different configuration (another step count) is computed afresh
    changed = args[:-1] + (4,)
    sweeps.cached_depth_sweep("sweep_test", *changed, directory=tmp_path, progress=False)
    assert len(calls) == 4
    # a corrupt file is recomputed with a warning, and the result is the same
    files = sorted(tmp_path.glob("sweep_test-*.npz"))
    assert len(files) == 2
    target = [f for f in files if np.load(f)["train_loss"].shape[-1] == 2][0]
    target.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="unreadable"):
        again = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    assert len(calls) == 6
    np.testing.assert_allclose(again["train_loss"], first["train_loss"])


def test_an_interrupted_sweep_resumes_from_its_finished_depths(tmp_path, monkeypatch):
    args = _tiny_plan_args()  # two depths
    reference = sweeps.depth_sweep(*args, progress=False)
    real, trained = sweeps.lr_sweep, []

    def second_depth_fails(data, p, b, n, L, *rest, **kw):
        if trained:
            raise KeyboardInterrupt  # the session ends while the second depth trains
        trained.append(L)
        return real(data, p, b, n, L, *rest, **kw)

    monkeypatch.setattr(sweeps, "lr_sweep", second_depth_fails)
    with pytest.raises(KeyboardInterrupt):
        sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    assert not list(tmp_path.glob("*.npz")) and len(list((tmp_path / "jobs").glob("*_L*.npz"))) == 1

    def counting(data, p, b, n, L, *rest, **kw):
        trained.append(L)
        return real(data, p, b, n, L, *rest, **kw)

    monkeypatch.setattr(sweeps, "lr_sweep", counting)
    out = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    assert trained == list(args[4])  # the first depth was read back, only the second trained again
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(out[key], reference[key])
    assert not any((tmp_path / "jobs").iterdir())  # the sweep is one file now


def test_computation_only_options_do_not_change_the_key(tmp_path):
    args = _tiny_plan_args()
    sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False, chunk_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False, chunk_size=1)
    assert len(list(tmp_path.glob("*.npz"))) == 1


# -- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, arg", [
    ({"lrs": [0.1, -1.0]}, "lrs"),
    ({"lrs": []}, "lrs"),
    ({"seeds": []}, "seeds"),
    ({"seeds": [-1]}, "seeds"),
    ({"steps": -1}, "steps"),
    ({"block": "three"}, "block"),
    ({"parametrization": "nope"}, "parametrization"),
    ({"n": 0}, "n"),
    ({"task": {"name": "cifar"}}, "task"),
    ({"task": "mnist1d"}, "task"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"loss": "hinge"}, "loss"),
])
def test_bad_input_raises_value_error_naming_the_argument(kwargs, arg):
    base = dict(task={"name": "teacher", "d": 3, "n_train": 4, "n_test": 2}, parametrization="depth-mup",
                block="two", n=4, L=2, lrs=[0.1], seeds=[0], steps=1)
    base.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{arg}\b"):
        sweeps.lr_sweep(**base)


def test_mismatched_configurations_raise():
    data = make_teacher_task(d=3, n_train=4, n_test=2)
    with pytest.raises(ValueError, match=r"^lrs and seeds"):
        train_stacked(lambda s: ResNet(3, 1, 4, 2, seed=s), [0.1, 0.2], [0], data, 1)
    with pytest.raises(ValueError, match=r"^loss='xent' needs a dataset with integer labels"):
        train_stacked(lambda s: ResNet(3, 1, 4, 2, seed=s), [0.1], [0], data, 1, loss="xent")
    with pytest.raises(ValueError, match=r"^hi"):
        sweeps.log2_grid(1.0, 0.5)
    with pytest.raises(ValueError, match=r"^engine"):
        train_stacked(lambda s: ResNet(3, 1, 4, 2, seed=s), [0.1], [0], data, 1, engine="jit")
    with pytest.raises(ValueError, match=r"^make_model must build networks with backward='true'"):
        train_stacked(lambda s: ResNet(3, 1, 4, 2, seed=s, backward="decoupled"), [0.1], [0], data, 1)
    with pytest.raises(ValueError, match=r"^sweep must give"):
        plans.run_plan([("depth-mup", "two")], {}, {"depths": [2]})


# -- reading a sweep ---------------------------------------------------------------------------------------
def test_best_lr_finds_a_parabola_vertex_between_grid_points():
    lrs = 2.0 ** np.arange(-4, 4.01, 0.5)
    true = 0.3  # log2 of the optimum, between grid points
    loss = np.exp((np.log2(lrs) - true) ** 2 / 4)
    opt = optima.best_lr(lrs, loss)
    assert math.log2(opt.lr) == pytest.approx(true, abs=1e-6)
    assert not opt.at_edge and opt.grid_lr == pytest.approx(2**0.5)
    # an optimum beyond the grid is flagged; diverged (NaN) points are skipped, not chosen
    assert optima.best_lr(lrs, np.exp(-np.log2(lrs))).at_edge
    loss_nan = loss.copy()
    loss_nan[-5:] = np.nan
    assert math.isfinite(optima.best_lr(lrs, loss_nan).lr)
    assert optima.best_lr(lrs, np.full(lrs.shape, np.nan)).at_edge


def _synthetic_depth_sweep(slope, seeds=3, noise=0.0, rng=None):
    depths = np.array([2, 4, 8, 16, 32])
    lrs = 2.0 ** np.arange(-5, 5.01, 0.5)
    rng = rng or np.random.default_rng(0)
    loss = np.empty((len(depths), len(lrs), seeds, 2))
    for d, L in enumerate(depths):
        for s in range(seeds):
            centre = slope * math.log2(L) + noise * rng.standard_normal()
            loss[d, :, s, -1] = np.exp((np.log2(lrs) - centre) ** 2 / 8)
    loss[..., 0] = 1.0
    div = np.zeros(loss.shape[:3], bool)
    div[:, -1, :] = True  # the largest rate diverges everywhere
    return {"L": depths, "lr": lrs, "seed": np.arange(seeds), "train_loss": loss, "diverged": div}


@pytest.mark.parametrize("slope", [0.0, -0.5])
def test_optimum_drift_recovers_a_known_slope(slope):
    drift = optima.optimum_drift(_synthetic_depth_sweep(slope, noise=0.1), boot=200)
    assert drift.fit.contains(slope) or abs(drift.slope - slope) < 0.05
    assert drift.fit.hi - drift.fit.lo < 0.3
    assert drift.boot_lo <= drift.slope <= drift.boot_hi
    # a drift of half an octave per doubling of depth is told apart from no drift
    if slope == -0.5:
        assert drift.fit.hi < 0


def test_max_stable_lr_and_summary():
    sweep = _synthetic_depth_sweep(0.0)
    sweep["diverged"][2, 12:, 1] = True
    eta = optima.max_stable_lr(sweep)
    assert eta.shape == (5, 3)
    assert eta[0, 0] == sweep["lr"][-2] and eta[2, 1] == sweep["lr"][11]
    rows = optima.best_by_depth(sweep, report=("train_loss",))
    assert [row["L"] for row in rows] == [2, 4, 8, 16, 32]
    assert all(abs(math.log2(row["lr"])) < 0.01 for row in rows)
    assert all(row["train_loss"] == pytest.approx(1.0) and row["train_loss_sem"] == 0 for row in rows)


def test_parameters_cell_is_read_in_full_mode(tmp_path):
    src = tmp_path / "99_x.py"
    src.write_text('# %% [markdown]\n# hi\n\n# %% tags=["parameters"]\nimport os\n'
                   'QUICK = os.environ.get("NFD_QUICK", "0") == "1"\nSIZE = 2 if QUICK else 64\n\n# %%\nSIZE = 0\n')
    assert plans.parameters_cell(str(src))["SIZE"] == 64
    (tmp_path / "98_y.py").write_text("# %%\nx = 1\n")
    with pytest.raises(ValueError, match=r"^notebook '.*98_y.py' has no cell tagged parameters"):
        plans.parameters_cell(str(tmp_path / "98_y.py"))


@pytest.mark.parametrize("block", ["one", "two"])
def test_forward_with_batched_weights_matches_each_network(block):
    """ResNet.forward_with (foundation): weights with a leading config axis give each config's own forward."""
    nets = [ResNet(5, 3, 8, 3, block=block, seed=s, dtype=torch.float64) for s in range(3)]
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    U = torch.stack([m.U for m in nets])
    v = torch.stack([m.v for m in nets])
    layers = {k: list(torch.stack([getattr(m, k) for m in nets]).unbind(1)) for k in nets[0].hidden_names()}
    f, feats = nets[0].forward_with(x, U, layers, v, return_features=True)
    for c, m in enumerate(nets):
        fc, fe = m(x[c], return_features=True)
        torch.testing.assert_close(f[c], fc)
        torch.testing.assert_close(feats.h[-1][c], fe.h[-1])
    with pytest.raises(ValueError, match=r"^x must have last dimension d_in=5"):
        nets[0].forward_with(torch.randn(3, 4, 2), U, layers, v)


def test_notebooks_05_and_06_share_one_sweep_plan():
    """Notebook 05 reads the learning-rate sweeps that notebook 06's plan precomputes: same tasks, grid and cache."""
    root = Path(__file__).resolve().parent.parent / "notebooks"
    p05 = plans.parameters_cell(str(root / "05_two_layer_collapse.py"))
    p06 = plans.parameters_cell(str(root / "06_lr_correction.py"))
    for key in ("TASKS", "SWEEP", "SWEEP_PREFIX"):
        assert p05[key] == p06[key], f"{key} differs between notebooks 05 and 06"


def test_drift_transfers_and_verdict():
    from nfdlib.stats import SlopeFit

    flat = optima.Drift(SlopeFit(0.05, -0.05, 0.12, 0.0, 0.5, 18), 0, 0, 0, 18)
    down = optima.Drift(SlopeFit(-0.35, -0.5, -0.2, 0.0, 0.5, 18), 0, 0, 0, 18)
    wide = optima.Drift(SlopeFit(0.0, -1.0, 1.0, 0.0, 0.1, 4), 0, 0, 0, 4)  # contains 0: used to "transfer"
    assert flat.transfers().agrees and flat.verdict().startswith("flat (transfers)")
    assert "+0 +- 0.15" in flat.verdict()  # the tolerance is printed with the verdict
    assert down.transfers().disagrees and down.verdict().startswith("drifts down")
    assert wide.transfers().outcome == "not resolved" and wide.verdict().startswith("not resolved")
    assert optima.Drift(None, 0, 0, 5, 0).transfers().outcome == "not resolved"
    # an interval inside the tolerance, but optima at the grid edge: they count against transfer
    edge = optima.Drift(SlopeFit(0.05, -0.05, 0.12, 0.0, 0.5, 16), 0, 0, 2, 16)
    assert edge.transfers().outcome == "not resolved" and "2 optima at the grid edge" in edge.verdict()
    assert optima.Drift(down.fit, 0, 0, 2, 16).transfers().disagrees  # edges never turn a drift into "flat"


def test_drift_reading_names_the_direction_and_reads_an_excess_as_like_the_control():
    """Notebook 06 prints these words instead of agree/disagree, which read backwards for 'moves' and excesses."""
    from nfdlib.stats import SlopeFit

    up = optima.Drift(SlopeFit(0.3, 0.2, 0.4, 0.0, 0.5, 18), 0, 0, 0, 18)
    down = optima.Drift(SlopeFit(-0.3, -0.4, -0.2, 0.0, 0.5, 18), 0, 0, 0, 18)
    flat = optima.Drift(SlopeFit(0.02, -0.05, 0.09, 0.0, 0.5, 18), 0, 0, 0, 18)
    assert [d.reading() for d in (up, down, flat)] == ["drifts up", "drifts down", "flat"]
    assert optima.Drift(SlopeFit(0.1, -0.1, 0.3, 0.0, 0.5, 18), 0, 0, 0, 18).reading() == "not resolved"
    assert up.reading(tol=0.5) == "flat"  # the tolerance is the caller's
    assert up.moves().agrees and up.reading() == "drifts up"  # the same interval, read both ways
    assert up.minus(up).reading() == "flat"  # an excess of zero: it moves like the control
    assert up.minus(flat).reading() == "drifts up"
    assert flat.transfers(tol=0.01).outcome == "not resolved"
    with pytest.raises(ValueError, match=r"^tol must be > 0"):
        flat.transfers(tol=-1)


def test_a_real_drift_is_not_called_transfer():
    """The reviewer's simulation: a true drift of -0.3 octave per doubling, three seeds, noisy optima. The old
    rule ("the interval contains 0") said "transfers" in about a third of the runs; the equivalence rule must
    (almost) never, and must still say "transfers" for a truly flat optimum measured precisely."""
    rng = np.random.default_rng(11)
    said_flat = old_rule = 0
    for _ in range(40):
        d = optima.optimum_drift(_synthetic_depth_sweep(-0.3, noise=0.8, rng=rng), boot=50)
        said_flat += d.transfers().agrees
        old_rule += d.fit.contains(0.0) or abs(d.slope) < 0.15
    assert old_rule >= 8  # the case is hard: the interval often reaches 0
    assert said_flat <= 1
    precise = [optima.optimum_drift(_synthetic_depth_sweep(0.0, seeds=6, noise=0.05, rng=rng), boot=50)
               for _ in range(10)]
    assert sum(d.transfers().agrees for d in precise) >= 9


def test_optima_at_the_grid_edge_are_censored_and_counted():
    sweep = _synthetic_depth_sweep(0.0)
    # at the deepest depth the optimum of every seed lies beyond the top of the grid
    lrs = np.log2(sweep["lr"])
    sweep["train_loss"][-1, :, :, -1] = np.exp((lrs[:, None] - 9.0) ** 2 / 8)
    sweep["diverged"][-1] = False
    d = optima.optimum_drift(sweep, boot=50)
    assert d.censored == 3 and d.points == 12
    assert d.fit.hi - d.fit.lo < 0.05  # the remaining optima lie on a flat line ...
    assert d.transfers().outcome == "not resolved"  # ... but the censored ones forbid "transfers"


def test_drift_needs_a_depth_sweep():
    sweep = _synthetic_depth_sweep(0.0)
    one = {k: v[0] for k, v in sweep.items() if k not in ("L", "lr", "seed")} | {"lr": sweep["lr"],
                                                                                 "seed": sweep["seed"]}
    with pytest.raises(ValueError, match=r"^sweep must be a depth_sweep result with an 'L' array"):
        optima.optimum_drift(one)
    with pytest.raises(ValueError, match=r"^sweep must be a depth_sweep result with an 'L' array"):
        optima.stability_drift(one)


def test_cache_key_holds_every_argument_that_changes_the_numbers(tmp_path):
    args = _tiny_plan_args()
    pre = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    post = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False, preact=False)
    assert len(list(tmp_path.glob("*.npz"))) == 2  # preact=False is not served the preact=True file
    assert not np.allclose(pre["train_loss"][..., -1], post["train_loss"][..., -1])
    # the default of a later argument leaves the key as it was (existing files keep their names)
    same = sweeps.depth_sweep_config(*args, preact=True, progress=True, engine="vmap", chunk_size=3, device="cpu")
    assert same == sweeps.depth_sweep_config(*args)
    assert sweeps.depth_sweep_config(*args, loss_bound=10.0)["loss_bound"] == 10.0
    assert sweeps.depth_sweep_config(*args, preact=False)["preact"] is False


def test_an_incomplete_cache_file_is_recomputed(tmp_path):
    args = _tiny_plan_args()
    first = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    path = next(tmp_path.glob("*.npz"))
    with np.load(path) as z:
        kept = {k: z[k] for k in z.files if k != "diverged_at"}
    np.savez(path, **kept)  # the same metadata, one array fewer
    with pytest.warns(UserWarning, match=r"incomplete \(missing \['diverged_at'\]\)"):
        again = sweeps.cached_depth_sweep("sweep_test", *args, directory=tmp_path, progress=False)
    np.testing.assert_array_equal(again["diverged_at"], first["diverged_at"])


def test_lr_sweep_post_activation_and_best_rate():
    from nfdlib.data import make_teacher_task

    task = make_teacher_task(d=6, n_train=16, n_test=8, seed=0)
    lrs, seeds = [0.05, 0.5, 1e4], [0, 1]
    pre = sweeps.lr_sweep(task, "depth-mup", "one", 16, 8, lrs, seeds, 5)
    post = sweeps.lr_sweep(task, "depth-mup", "one", 16, 8, lrs, seeds, 5, preact=False)
    assert not np.allclose(pre["train_loss"][0], post["train_loss"][0])  # post-activation is another network
    assert pre["diverged"][2].all()
    best = optima.best_rate(pre, "test_loss")
    assert best["grid_lr"] in lrs[:2] and best["max_stable_lr"] == 0.5
    i = lrs.index(best["grid_lr"])
    np.testing.assert_allclose(best["test_loss_seeds"], pre["test_loss"][i, :, -1])


# -- the tables of notebook 06 ------------------------------------------------------------------------------
def test_drift_of_reads_the_optimum_or_the_stability_edge():
    sweep = _synthetic_depth_sweep(-0.5, noise=0.1)
    sweep["diverged"][3:, -4:, :] = True  # the deeper networks diverge earlier: the edge falls with depth
    opt = optima.drift_of(sweep, "train_loss", boot=50)
    assert opt.slope == optima.optimum_drift(sweep, "train_loss", boot=50).slope
    assert opt.slope == pytest.approx(-0.5, abs=0.1)
    edge = optima.drift_of(sweep, "stable", step=1, average=2, boot=50)  # step and average do not apply to it
    assert edge.slope == optima.stability_drift(sweep, boot=50).slope and edge.slope < 0
    # step and average reach the optimum: the first evaluation has its optimum at eta = 1 at every depth, so the
    # mean of the last two evaluations drifts less than the last one alone
    sweep["train_loss"][..., 0] = 10 * np.exp(np.log2(sweep["lr"])[None, :, None] ** 2 / 8)
    sweep["steps"] = np.array([5, 10])
    both = optima.drift_of(sweep, "train_loss", step=10, average=2, boot=50)
    assert both.slope == optima.optimum_drift(sweep, "train_loss", step=10, average=2, boot=50).slope
    assert -0.45 < both.slope < -0.02
    assert optima.drift_of(sweep, "train_loss", step=5, boot=50).slope == pytest.approx(0.0)  # optimum at eta = 1
    with pytest.raises(ValueError, match="kind"):
        optima.drift_of(sweep, "train_accuracy")


def _drift(slope, half, censored=0):
    from nfdlib.stats import SlopeFit

    return optima.Drift(SlopeFit(slope, slope - half, slope + half, 0.0, 1.0, 10), slope - half, slope + half,
                        censored, 10)


def test_transfer_outcomes_group_the_cases_of_each_rule_in_order():
    one, two = ("depth-mup", "one"), ("depth-mup", "two")
    drifts = {("a", 8, *one): _drift(0.0, 0.05), ("a", 8, *two): _drift(0.5, 0.1),
              ("b", 8, *one): _drift(0.1, 0.1), ("b", 8, *two): _drift(0.0, 0.05, censored=2)}
    out = optima.transfer_outcomes(drifts, [two, one])
    assert list(out) == [two, one]
    assert out[one] == ["agree", "not resolved"]  # +0.1 +- 0.1 reaches beyond 0.15
    assert out[two] == ["disagree", "not resolved"]  # optima at the grid edge withdraw an agreement
    assert optima.transfer_outcomes(drifts, [one], tol=0.3)[one] == ["agree", "agree"]


def test_depth_trend_pools_the_seeds_of_every_depth():
    rows = [{"L": L, "train_loss_seeds": [3.0 * L**-0.3, 3.0 * L**-0.3 * 1.01, np.nan]} for L in (2, 4, 8, 16)]
    fit = optima.depth_trend(rows)
    assert fit.slope == pytest.approx(-0.3, abs=1e-3) and fit.points == 8  # the missing seed is left out
    rows[-1]["train_loss_seeds"] = [3.0 * 16**-0.1] * 2  # the deepest stops improving: a shallower slope
    assert -0.3 < optima.depth_trend(rows).slope < 0
    with pytest.raises(ValueError, match="metric"):
        optima.depth_trend(rows, "test_acc")


def test_ahead_by_and_leading_rule_rank_by_the_loss_and_judge_the_gap():
    rows = {"a": {"train_loss": 0.50, "train_loss_sem": 0.01}, "b": {"train_loss": 0.40, "train_loss_sem": 0.01},
            "c": {"train_loss": float("nan"), "train_loss_sem": float("nan")},
            "d": {"train_loss": 0.45, "train_loss_sem": 0.01}}
    best, runner, gap, err, v = optima.leading_rule(rows)
    assert (best, runner) == ("b", "d")  # NaN ranks last, not first
    assert gap == pytest.approx(0.05) and err == pytest.approx(math.hypot(0.01, 0.01))
    assert v.outcome == "agree" and v.lo == pytest.approx(0.05 - 1.96 * err)  # 0.05 > 1.96 * 0.014
    gap, err, v = optima.ahead_by(rows["d"], rows["a"])
    assert gap == pytest.approx(0.05) and v.outcome == "agree"
    gap, err, v = optima.ahead_by(rows["d"], {"train_loss": 0.46, "train_loss_sem": 0.02})
    assert gap == pytest.approx(0.01) and v.outcome == "not resolved"
    assert optima.ahead_by(rows["a"], rows["b"])[2].outcome == "disagree"  # a is behind b by more than the noise
    assert optima.leading_rule({"c": rows["c"], **rows})[:2] == ("b", "d")  # nor when it comes first
    tie = {"x": {"train_loss": 0.3, "train_loss_sem": 0.0}, "y": {"train_loss": 0.3, "train_loss_sem": 0.0}}
    assert optima.leading_rule(tie)[:2] == ("x", "y")  # ties keep the order given
    with pytest.raises(ValueError, match="rows"):
        optima.leading_rule({"a": rows["a"]})


def test_best_depth_row_takes_the_highest_accuracy_or_the_lowest_loss():
    rows = [{"L": 2, "test_acc": 0.7, "test_loss": 0.9}, {"L": 4, "test_acc": float("nan"), "test_loss": 0.5},
            {"L": 8, "test_acc": 0.8, "test_loss": 0.7}, {"L": 16, "test_acc": 0.8, "test_loss": 0.6}]
    assert optima.best_depth_row(rows, "test_acc")["L"] == 8  # the first of two equal rows; NaN never wins
    assert optima.best_depth_row(rows, "test_loss")["L"] == 4
    rows[1]["test_loss"] = float("nan")
    assert optima.best_depth_row(rows, "test_loss")["L"] == 16
    assert optima.best_depth_row(rows[1:2] + rows[:1], "test_acc")["L"] == 2  # a missing value first does not stick
    with pytest.raises(ValueError, match="metric"):
        optima.best_depth_row(rows, "accuracy")


def test_drift_through_two_depths_says_its_interval_is_undefined():
    # Two depths, one seed: no residual and no bootstrap spread. The text must say so, not print "[+nan, +nan]".
    d = optima._drift_from(np.array([2, 4]), np.array([[1.0], [0.5]]), boot=20, seed=0)
    text = str(d)
    assert d.fit is not None and "nan" not in text
    assert "interval undefined: 2 points" in text and "bootstrap over seeds" in text
    assert d.transfers(0.15).outcome == "not resolved"


def test_moves_is_the_opposite_claim_and_edge_optima_withdraw_its_agreement():
    from nfdlib.stats import SlopeFit

    up = optima.Drift(SlopeFit(0.27, 0.22, 0.33, 0.0, 0.5, 18), 0, 0, 0, 18)
    flat = optima.Drift(SlopeFit(0.05, -0.05, 0.12, 0.0, 0.5, 18), 0, 0, 0, 18)
    wide = optima.Drift(SlopeFit(0.1, -0.3, 0.5, 0.0, 0.1, 6), 0, 0, 0, 6)
    assert up.moves().outcome == "agree" and up.transfers().outcome == "disagree"
    assert flat.moves().outcome == "disagree" and wide.moves().outcome == "not resolved"
    assert up.moves(0.4).outcome == "disagree"  # the tolerance is the argument's, and printed
    assert "0.4" in up.moves(0.4).claim
    edge = optima.Drift(SlopeFit(0.27, 0.22, 0.33, 0.0, 0.5, 16), 0, 0, 2, 16)
    assert edge.moves().outcome == "not resolved" and "grid edge" in edge.moves().note
    assert optima.Drift(None, 0, 0, 5, 0).moves().outcome == "not resolved"


def test_excess_drift_over_a_control_is_judged_like_a_drift():
    from nfdlib.stats import SlopeFit

    two = optima.Drift(SlopeFit(0.27, 0.22, 0.33, 0.0, 0.5, 18), 0.2, 0.3, 0, 18)
    one = optima.Drift(SlopeFit(-0.01, -0.06, 0.04, 0.0, 0.5, 18), -0.05, 0.03, 0, 18)
    excess = two.minus(one)
    assert excess.slope == pytest.approx(0.28)
    assert excess.fit.lo < 0.28 - 0.05 and excess.fit.hi > 0.28 + 0.05  # wider than either side alone
    assert excess.moves().outcome == "agree" and one.minus(one).slope == 0.0
    assert math.isnan(excess.boot_lo) and "undefined" in str(excess)  # no bootstrap of a difference
    edge = optima.Drift(SlopeFit(-0.01, -0.06, 0.04, 0.0, 0.5, 16), 0, 0, 2, 16)
    assert two.minus(edge).censored == 2 and two.minus(edge).moves().outcome == "not resolved"
    assert two.minus(optima.Drift(None, 0, 0, 18, 0)).fit is None



def test_excess_drifts_pair_each_rule_with_the_control_of_its_task_width_and_kind():
    from nfdlib.stats import SlopeFit

    def drift(slope):
        return optima.Drift(SlopeFit(slope, slope - 0.05, slope + 0.05, 0.0, 0.5, 18), 0, 0, 0, 18)

    one, two = ("depth-mup", "one"), ("depth-mup", "two")
    drifts = {("a", 64) + one + ("val",): drift(0.1), ("a", 64) + two + ("val",): drift(0.4),
              ("a", 64) + one + ("train",): drift(-0.2), ("a", 64) + two + ("train",): drift(0.1),
              ("b", 64) + one + ("val",): drift(0.0), ("b", 128) + two + ("val",): drift(0.3)}  # no control at 128
    got = optima.excess_drifts(drifts, control=one)
    assert set(got) == {("a", 64) + two + ("val",), ("a", 64) + two + ("train",)}
    assert got[("a", 64) + two + ("val",)].slope == pytest.approx(0.3)
    assert got[("a", 64) + two + ("train",)].slope == pytest.approx(0.3)  # paired by kind, not 0.1 - 0.1
    assert optima.Drift(None, 0, 0, 3, 0).fit_text() == "no fit" and drift(0.1).fit_text() == "+0.10 [+0.05, +0.15]"


def test_a_depth_sweep_stacks_each_depth_where_it_belongs():
    task, p, b, n, depths, lrs, seeds, steps = _tiny_plan_args()
    whole = sweeps.depth_sweep(task, p, b, n, depths, lrs, seeds, steps, progress=False)
    data = sweeps.load_task(task)
    for i, L in enumerate(depths):  # the depth axis follows `depths`: slice i is a sweep at depths[i] alone
        alone = sweeps.lr_sweep(data, p, b, n, L, lrs, seeds, steps)
        np.testing.assert_array_equal(whole["train_loss"][i], alone["train_loss"])
    assert list(whole["L"]) == depths
