"""Bad input gets a clear error, never a silent wrong answer: table-driven cases per public module, each asserting
the exception type and that the message names the argument and what it allows; the command lines run as
subprocesses with bad arguments, asserting a nonzero exit and a one-line message."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from nfdlib import (
    cache,
    coupling,
    data,
    diagnostics,
    engine,
    explore,
    gia,
    models,
    nfd,
    optim,
    optima,
    records,
    scaling,
    stats,
    sweeps,
    training,
    two_layer,
    widgets,
)
from nfdlib.config import check_seeds
from nfdlib.nfd import runs as nfd_runs
from nfdlib.validation import check_bool, check_grid

ROOT = Path(__file__).resolve().parent.parent


# -- booleans: a string or a number is never read as a flag ----------------------------------------------------
@pytest.mark.parametrize("value", ["no", "False", "", 0, 1, None, 1.0, [True]])
def test_check_bool_refuses_everything_but_booleans(value):
    with pytest.raises(ValueError, match=r"^flag must be True or False, got "):
        check_bool("flag", value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_check_bool_keeps_booleans(value):
    assert check_bool("flag", value) is bool(value)


def _teacher_batch():
    X, Y = torch.randn(4, 3), torch.randn(4, 2)
    return X, Y


BOOLEAN_CASES = {
    "ResNet preact": ("preact", lambda v: models.ResNet(3, 2, 8, 2, preact=v)),
    "ResNet skip": ("skip", lambda v: models.ResNet(3, 2, 8, 2, skip=v)),
    "NFD solver return_particles": ("return_particles",
                                    lambda v: nfd.NFDSolver(*_teacher_batch(), M=8, K=2, return_particles=v)),
    "NFD solver progress": ("progress", lambda v: nfd.NFDSolver(*_teacher_batch(), M=8, K=2, progress=v)),
    "load_mnist1d cache": ("cache", lambda v: data.load_mnist1d(40, 10, cache=v)),
    "load_cifar10 download": ("download", lambda v: data.load_cifar10(10, 10, root="/nonexistent", download=v)),
    "cache.cached refresh": ("refresh", lambda v: cache.cached("x", {}, dict, version="1", refresh=v)),
    "network_runs cache": ("cache", lambda v: nfd_runs.network_runs(n=4, L=2, seeds=[0], steps=0, cache=v)),
    "tangent_kernel per_layer": ("per_layer", lambda v: two_layer.tangent_kernel(
        models.ResNet(3, 2, 8, 2, block="two"), torch.randn(4, 3), per_layer=v)),
    "collapse_scan summarize": ("summarize", lambda v: two_layer.collapse_scan(
        [("depth-mup", "two")], [(4, 2)], seeds=[0], summarize=v, progress=False)),
    "coupling_trajectory measure_backward": ("measure_backward", lambda v: coupling.coupling_trajectory(
        models.ResNet(3, 2, 8, 2), *_teacher_batch(), lr=0.1, steps=1, measure_backward=v)),
}


@pytest.mark.parametrize("case", sorted(BOOLEAN_CASES))
@pytest.mark.parametrize("value", ["no", 1])
def test_boolean_arguments_refuse_strings_and_numbers(case, value):
    name, call = BOOLEAN_CASES[case]
    with pytest.raises(ValueError, match=rf"^{name} must be True or False, got {value!r}"):
        call(value)


# -- grids: sorted and without repeats wherever a grid enters -----------------------------------------------------
@pytest.mark.parametrize(("values", "message"), [
    ([0.1, 0.4, 0.2], "increasing order"), ([0.1, 0.1, 0.2], "increasing order"), ([], "non-empty"),
    (0.1, "non-empty sequence"), ("abc", "non-empty sequence"), ([0.1, -1.0], "finite positive"),
    ([0.1, float("nan")], "finite positive"), (["a", "b"], "non-empty sequence"), ([[0.1, 0.2]], "non-empty"),
])
def test_check_grid_refuses_unsorted_repeated_and_malformed_grids(values, message):
    with pytest.raises(ValueError, match=rf"^lrs must .*{message}"):
        check_grid("lrs", values)


def test_check_grid_of_integers_refuses_fractions_and_repeats():
    assert check_grid("depths", [2, 4, 8], integer=True).tolist() == [2, 4, 8]
    for bad in ([2, 2.5], [4, 2], [2, 2], [0, 2], [True, 2]):
        with pytest.raises(ValueError, match="^depths must"):
            check_grid("depths", bad, integer=True)


@pytest.mark.parametrize("seeds", [[0, 0, 1], [3, 1, 3], [], 3, "012", [-1], [0.5]])
def test_check_seeds_refuses_repeats_and_non_lists(seeds):
    with pytest.raises(ValueError, match="^seeds must"):
        check_seeds(seeds)


def _tiny_task():
    return {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}


GRID_CASES = {
    "best_lr unsorted rates": ("lrs", lambda: optima.best_lr([0.1, 0.4, 0.2], [1.0, 0.5, 0.7])),
    "lr_sweep repeated rate": ("lrs", lambda: sweeps.lr_sweep(_tiny_task(), "depth-mup", "one", 4, 2, [0.1, 0.1],
                                                               [0], 1, progress=False)),
    "lr_sweep repeated seed": ("seeds", lambda: sweeps.lr_sweep(_tiny_task(), "depth-mup", "one", 4, 2, [0.1],
                                                                 [0, 0], 1, progress=False)),
    "depth_sweep unsorted depths": ("depths", lambda: sweeps.depth_sweep(_tiny_task(), "depth-mup", "one", 4, [4, 2],
                                                                         [0.1], [0], 1, progress=False)),
    "train_stacked repeated configuration": ("lrs and seeds", lambda: engine.train_stacked(
        lambda s: models.ResNet(3, 1, 4, 2, seed=s), [0.1, 0.1], [0, 0], data.make_teacher_task(d=3, n_train=8), 1)),
    "network_runs repeated seed": ("seeds", lambda: nfd_runs.network_runs(n=4, L=2, seeds=[1, 1], steps=0,
                                                                            cache=False)),
    "collapse_scan repeated seed": ("seeds", lambda: two_layer.collapse_scan([("depth-mup", "two")], [(4, 2)],
                                                                             seeds=[0, 0], progress=False)),
    "coord_check repeated seed": ("seeds", lambda: diagnostics.coord_check("depth-mup", [(4, 2)], seeds=[2, 2],
                                                                           progress=False)),
    "init_gap repeated seed": ("seeds", lambda: gia.init_gap([4], [2], seeds=[0, 0])),
}


@pytest.mark.parametrize("case", sorted(GRID_CASES))
def test_grids_and_seeds_are_checked_where_they_enter(case):
    name, call = GRID_CASES[case]
    with pytest.raises(ValueError, match=rf"^{name} (must|repeat)"):
        call()


# -- messages that name the argument and what it expects ---------------------------------------------------------
def _net(**kw):
    return models.ResNet(3, 2, 8, 2, **kw)


def _task():
    return data.make_teacher_task(d=3, n_train=8, n_test=4, outputs=2)


MESSAGE_CASES = {
    "ResNet T as a string": ("T must be a finite number", lambda: _net(T="1.0")),
    "ResNet dtype as a string": ("dtype must be a floating torch.dtype", lambda: _net(dtype="float32")),
    "ResNet dtype integer": ("dtype must be a floating torch.dtype", lambda: _net(dtype=torch.int64)),
    "forward on a list": ("x must be a torch.Tensor", lambda: _net()([[1.0, 2.0, 3.0]])),
    "param_groups rate as a string": ("lr must be a finite number", lambda: optim.param_groups(_net(), "0.1")),
    "param_groups without a model": ("model must be a torch.nn.Module", lambda: optim.param_groups(None, 0.1)),
    "make_sgd on a string": ("model must be a torch.nn.Module", lambda: optim.make_sgd("model", 0.1)),
    "param_groups roles as a list": ("roles must be a dict", lambda: optim.param_groups(
        torch.nn.Linear(2, 2), 0.1, "mup", roles=["input"], n=2, L=1)),
    "param_groups unknown role": ("roles['weight'] must be one of", lambda: optim.param_groups(
        torch.nn.Linear(2, 2), 0.1, "mup", roles={"weight": "x", "bias": "readout"})),
    "train rate as a string": ("lr must be a finite number", lambda: training.train(_net(), _task(), "0.1", 2)),
    "train without data": ("data must be an nfdlib.data.Dataset", lambda: training.train(_net(), None, 0.1, 2)),
    "train on a dict": ("data must be an nfdlib.data.Dataset", lambda: training.train(_net(), {"X": 1}, 0.1, 2)),
    "train without a model": ("model must be a torch.nn.Module", lambda: training.train(None, _task(), 0.1, 2)),
    "load_dataset unknown argument": ("digits takes no argument bogus; its arguments are n_train",
                                      lambda: data.load_dataset("digits", bogus=1)),
    "teacher negative noise": ("noise must be >= 0", lambda: data.make_teacher_task(noise=-1.0)),
    "mean_interval of a string": ("values must be numbers", lambda: stats.mean_interval("abc")),
    "fit_loglog of a string": ("x must be numbers", lambda: stats.fit_loglog("abc", [1, 2, 3])),
    "fit_loglog at a size 0": ("x must be > 0 (a log-log fit), got [0.0]", lambda: stats.fit_loglog([0, 2, 4],
                                                                                                   [1, 2, 3])),
    "train on data of another dimension": ("data must have inputs of the model's dimension d_in=5",
                                           lambda: training.train(models.ResNet(5, 2, 8, 2), _task(), 0.1, 2)),
    "interval_verdict of a string": ("lo must be numbers", lambda: stats.interval_verdict("a", 1, allowed=(0, 1))),
    "interval_verdict of a pair": ("lo must be one number", lambda: stats.interval_verdict([0, 1], 1, allowed=(0, 1))),
    "init_gap depths as an int": ("depths must be a non-empty sequence", lambda: gia.init_gap([4], 2)),
    "coord_check sizes as an int": ("sizes must be a non-empty list of (n, L) pairs",
                                    lambda: diagnostics.coord_check("mup", 4)),
    "coord_check sizes flat": ("sizes must be a non-empty list of (n, L) pairs",
                               lambda: diagnostics.coord_check("mup", [4, 2])),
    "coord_check_width widths as an int": ("widths must be a non-empty sequence",
                                           lambda: diagnostics.coord_check_width("mup", 4, 2)),
    "collapse_scan rules as a string": ("rules must be a list of (parametrization, block) pairs",
                                        lambda: two_layer.collapse_scan("depth-mup", [(4, 2)], progress=False)),
    "collapse_scan sizes as an int": ("sizes must be a non-empty list of (n, L) pairs",
                                      lambda: two_layer.collapse_scan([("depth-mup", "two")], 4, progress=False)),
    "Records.where misspelt column": ("column b is in no row; the columns are a",
                                      lambda: records.Records([{"a": 1}]).where(b=1)),
    "cache config with a set": ("config must hold only numbers, strings, lists and dicts",
                                lambda: cache.cached("x", {"a": {1, 2}}, dict, version="1")),
}


@pytest.mark.parametrize("case", sorted(MESSAGE_CASES))
def test_bad_input_message_names_the_argument_and_what_it_expects(case):
    message, call = MESSAGE_CASES[case]
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value).startswith(message) or message in str(err.value), str(err.value)


def test_records_where_on_no_rows_selects_nothing_without_error():
    assert records.Records().where(anything=1) == []


UNKNOWN_ARGUMENT_CASES = {
    "ResNet": (lambda: models.ResNet(3, 2, 8, 2, bogus=1), "ResNet: got an unexpected keyword argument 'bogus'; "
                                                             "it takes d_in, d_out, n, L, block"),
    "ResNet positional": (lambda: models.ResNet(3, 2, 8, 2, "one"), "ResNet: too many positional arguments"),
    "simulate_nfd": (lambda: nfd.simulate_nfd(*_teacher_batch(), M=8, K=2, steps_=1), "simulate_nfd: got an "
                     "unexpected keyword argument 'steps_'; it takes X_train, Y_train, X_test, Y_test, M, K, T, steps"),
    "NFDSolver": (lambda: nfd.NFDSolver(*_teacher_batch(), m=8), "NFDSolver: got an unexpected keyword argument 'm'"),
    "train": (lambda: training.train(_net(), _task(), 0.1, 2, batchsize=4), "train: got an unexpected keyword "
                                                                             "argument 'batchsize'; it takes model"),
    "coord_check": (lambda: diagnostics.coord_check("mup", [(4, 2)], seed=[0]), "coord_check: got an unexpected "
                                                                                "keyword argument 'seed'"),
    "collapse_scan": (lambda: two_layer.collapse_scan([("depth-mup", "two")], [(4, 2)], eta=0.1),
                      "collapse_scan: got an unexpected keyword argument 'eta'; it takes rules, sizes, lr"),
    "init_gap": (lambda: gia.init_gap([4], [2], width=4), "init_gap: got an unexpected keyword argument 'width'"),
    "fit_law": (lambda: scaling.fit_law(None, floor=0.1), "fit_law: got an unexpected keyword argument 'floor'; it "
                                                          "takes table, form, boot"),
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_ARGUMENT_CASES))
def test_an_unknown_argument_lists_the_ones_the_function_takes(case):
    call, message = UNKNOWN_ARGUMENT_CASES[case]
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}"):
        call()


# -- fits that would return nonsense without a word ----------------------------------------------------------------
def _law_table(loss_of, seeds=3):
    rng = np.random.default_rng(0)
    rows = [(n, L, s, loss_of(n, L) * (1 + 0.02 * rng.standard_normal()))
            for n in (16, 32, 64, 128) for L in (2, 4, 8, 16) for s in range(seeds)]
    return scaling.size_table(*zip(*rows))


@pytest.fixture(scope="module")
def law_fit():
    return scaling.fit_law(_law_table(lambda n, L: 0.5 + 2 * n**-0.8 + L**-0.7), boot=5)


def _compute():
    return scaling.compute_model(40, 10, batch_size=64, steps=10)


FIT_CASES = {
    "floor held above the data": ("E must lie below the losses", lambda f: scaling.fit_law(f.table, boot=2, E=10.0)),
    "floor held at the largest loss": ("E must lie below the losses",
                                       lambda f: scaling.fit_law(f.table, boot=2, E=float(np.max(f.table.mean)))),
    "predict at width 0": ("n must be finite and > 0", lambda f: f.predict(n=0, L=2)),
    "predict at a negative depth": ("L must be finite and > 0", lambda f: f.predict(n=8, L=[2, -1])),
    "FLOPs of a negative width": ("n must be > 0 and L >= 0", lambda f: _compute()(-16, 2)),
    "compute_optimal inverted width range": ("n_range must be (low, high) with low < high",
                                             lambda f: scaling.compute_optimal(f, 1e12, _compute(), n_range=(100, 10))),
    "compute_optimal inverted depth range": ("L_range must be (low, high) with low < high",
                                             lambda f: scaling.compute_optimal(f, 1e12, _compute(), L_range=(8, 8))),
    "compute_optimal range of three": ("n_range must be a pair (low, high)",
                                       lambda f: scaling.compute_optimal(f, 1e12, _compute(), n_range=(1, 10, 100))),
}


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fits_refuse_what_would_be_nonsense(case, law_fit):
    message, call = FIT_CASES[case]
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}"):
        call(law_fit)


def test_a_fit_far_worse_than_the_seed_noise_warns_and_a_good_one_does_not(law_fit):
    rising = _law_table(lambda n, L: 0.5 + 0.01 * n)  # grows with width: no decaying law describes it
    with pytest.warns(UserWarning, match=r"law misses the seed means by .* in log \(median\)"):
        scaling.fit_law(rising, boot=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaling.fit_law(law_fit.table, boot=0)
        scaling.fit_law(_law_table(lambda n, L: 0.5 + 0.01 * n, seeds=1), boot=0)  # one seed: no noise to judge by


# -- command lines: a selector that matches nothing, a missing notebook, a broken cell: exit 2, one line ----------
def _cli(module: str, *args: str):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture(scope="module")
def broken_notebook(tmp_path_factory):
    path = tmp_path_factory.mktemp("nb") / "99_broken.py"
    path.write_text('# %% [markdown]\n# a title\n\n# %% tags=["parameters"]\nRULES = []\nX = undefined_name\n')
    return str(path)


SWEEP_CLI_CASES = [
    (["notebooks/06_lr_correction.py", "--rule", "bogus/x"], "--rule bogus/x matches nothing; this plan has "
                                                             "depth-mup/one"),
    (["notebooks/06_lr_correction.py", "--rule", "depth-mup"], "--rule depth-mup matches nothing"),
    (["notebooks/06_lr_correction.py", "--task", "imagenet"], "--task imagenet matches nothing; this plan has mnist1d"),
    (["notebooks/06_lr_correction.py", "--width", "999"], "--width 999 matches nothing; this plan has 64"),
    (["notebooks/06_lr_correction.py", "--plan", "PLATEAU_", "--task", "teacher", "--width", "128"],
     "--width 128 matches nothing; this plan has 64"),
    (["notebooks/06_lr_correction.py", "--plan", "NOPE_"], "does not define NOPE_TASKS"),
    (["notebooks/nope.py"], "notebook 'notebooks/nope.py' cannot be read"),
    (["README.md"], "has no cell tagged parameters"),
]


@pytest.mark.parametrize(("args", "message"), SWEEP_CLI_CASES, ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_sweeps_command_line_refuses_what_matches_nothing(args, message):
    out = _cli("nfdlib.plans", *args)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert message in lines[-1] and "Traceback" not in out.stderr
    assert lines[-1].startswith("python -m nfdlib.plans: error:")


def test_sweeps_command_line_names_the_failing_line(broken_notebook):
    out = _cli("nfdlib.plans", broken_notebook)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "fails at line 6: NameError" in out.stderr.strip().splitlines()[-1]


def test_colab_command_line_refuses_a_folder_without_notebooks(tmp_path):
    out = _cli("nfdlib.colab", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "holds no notebook source named NN_name.py" in out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(("args", "message"), [
    (["notebooks/06_lr_correction.py", "--parts", "limit"], "this notebook's parameters cell defines no PLAN"),
    (["notebooks/07_scaling_laws.py", "--rule", "sp/one"], "--rule select notebook 06's sweeps"),
])
def test_scaling_command_line_refuses_the_options_of_the_other_plan(args, message):
    """Notebook 07's plan (PLAN, --parts) and notebook 06's sweeps (--plan, --task, --width, --rule) share one
    command line; an option of the other kind is an error, never silently ignored."""
    out = _cli("nfdlib.plans", *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert message in out.stderr.strip().splitlines()[-1]


# -- the explorer (issue 22, point 6): its config, explore() and the widgets refuse bad input before computing ----
def _explorer_cases():
    ex = explore
    config = ex.ExploreConfig(n=16, L=2, steps=1, seeds=1)
    rules = "sp, ntk, mup, depth-mup, depth-mup-corrected, completep"
    return {
        "ExploreConfig unknown field": ("ExploreConfig has no field foo; its fields are n, L, T, eta, steps,",
                                        lambda: ex.ExploreConfig(foo=1)),
        "ExploreConfig too many values": ("ExploreConfig takes at most 13 values (n, L, T,",
                                          lambda: ex.ExploreConfig(*range(14))),
        "ExploreConfig width as a string": ("n must be an integer >= 2, got '128'", lambda: ex.ExploreConfig(n="128")),
        "ExploreConfig width None": ("n must be an integer >= 2, got None", lambda: ex.ExploreConfig(n=None)),
        "ExploreConfig NaN horizon": ("T must be finite", lambda: ex.ExploreConfig(T=float("nan"))),
        "ExploreConfig rate as a string": ("eta must be a finite number", lambda: ex.ExploreConfig(eta="0.5")),
        "ExploreConfig negative inputs": ("P must be an integer >= 1", lambda: ex.ExploreConfig(P=-3)),
        "ExploreConfig preact as a string": ("preact must be True or False", lambda: ex.ExploreConfig(preact="no")),
        "Caps zero width": ("caps.n must be an integer >= 2", lambda: ex.Caps(n=0, L=8, steps=3, seeds=2, M=8, K=4)),
        "Caps negative particles": ("caps.M must be an integer >= 1",
                                    lambda: ex.Caps(n=64, L=8, steps=3, seeds=2, M=-5, K=4)),
        "explore on a dict": ("config must be an ExploreConfig", lambda: ex.explore({"n": 16})),
        "explore parts as a string": ("parts must be a non-empty list or tuple of names from networks, limit, "
                                      "collapse; got 'networks'", lambda: ex.explore(config, parts="networks")),
        "explore no parts": ("parts must be a non-empty list or tuple of names", lambda: ex.explore(config, parts=())),
        "explore collapse_rules as a string": (f"collapse_rules must be a non-empty list or tuple of names from "
                                               f"{rules}", lambda: ex.explore(config, collapse_rules="depth-mup")),
        "explore unknown collapse rule": ("collapse_rules must be one of 'sp'",
                                          lambda: ex.explore(config, collapse_rules=["bogus"])),
        "explore zero solves": ("solves must be an integer >= 1", lambda: ex.explore(config, solves=0)),
        "explore caps as a string": ("caps must be a Caps", lambda: ex.explore(config, caps="cpu")),
        "explore memo as a dict": ("memo must be an explore.Memo or None", lambda: ex.explore(config, memo={})),
        "apply_caps on a dict": ("config must be an ExploreConfig", lambda: ex.apply_caps({}, ex.CAPS["cpu"])),
        "explorer unknown argument": ("explorer takes no argument foo; it takes device, memo and the fields of "
                                      "ExploreConfig: n, L, T,", lambda: widgets.explorer(foo=1)),
        "explorer memo as a number": ("memo must be an explore.Memo or None", lambda: widgets.explorer(memo=5)),
        "explorer unknown device": ("device must be one of", lambda: widgets.explorer(device="tpu")),
        "limit_widget misspelt field": ("limit_widget takes no argument step; it takes device, memo",
                                        lambda: widgets.limit_widget(step=3)),
        "collapse_widget another rule": ("parametrization must be one of 'depth-mup', 'depth-mup-corrected'",
                                         lambda: widgets.collapse_widget(parametrization="sp")),
        "collapse_widget one-layer blocks": ("block must be one of 'two'",
                                             lambda: widgets.collapse_widget(block="one")),
        "draw_panels no panels": ("panels must be a non-empty string of letters from 'aubcd'",
                                  lambda: widgets.draw_panels({}, panels="")),
        "on_demand_answer of text": ("compute must be a function", lambda: widgets.on_demand_answer("text")),
        "on_demand_answer eager as a string": ("eager must be True, False or None",
                                               lambda: widgets.on_demand_answer(lambda: "x", eager="no")),
        "on_demand_answer hidden as a string": ("hidden must be True or False",
                                                lambda: widgets.on_demand_answer(lambda: "x", hidden="no")),
        "LiveFigure zero columns": ("columns must be an integer >= 1",
                                    lambda: widgets.LiveFigure({}, dict, dict, columns=0)),
        "transfer_widget of a list": ("sweeps_by_label must hold at least one sweep (a mapping of labels to sweeps), "
                                      "got list", lambda: widgets.transfer_widget([1, 2])),
        "transfer_widget unknown metric": ("key must be one of 'train_loss'",
                                           lambda: widgets.transfer_widget({"a": {}}, key="loss")),
    }


EXPLORER_CASE_NAMES = sorted(_explorer_cases())


@pytest.mark.parametrize("case", EXPLORER_CASE_NAMES)
def test_explorer_bad_input_names_the_argument_and_what_it_allows(case):
    message, call = _explorer_cases()[case]
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value).startswith(message), str(err.value)
