"""Bad input gets a clear error, never a silent wrong answer: table-driven cases per public module, each asserting
the exception type and that the message names the argument and what it allows; the command lines run as
subprocesses with bad arguments, asserting a nonzero exit and a one-line message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nfdlib import cache, data, diagnostics, gia, models, nfd, nfd_sweeps, sweeps, two_layer
from nfdlib.config import check_seeds
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
    "network_runs cache": ("cache", lambda v: nfd_sweeps.network_runs(n=4, L=2, seeds=[0], steps=0, cache=v)),
    "tangent_kernel per_layer": ("per_layer", lambda v: two_layer.tangent_kernel(
        models.ResNet(3, 2, 8, 2, block="two"), torch.randn(4, 3), per_layer=v)),
    "collapse_scan summarize": ("summarize", lambda v: two_layer.collapse_scan(
        [("depth-mup", "two")], [(4, 2)], seeds=[0], summarize=v, progress=False)),
    "coupling_trajectory measure_backward": ("measure_backward", lambda v: gia.coupling_trajectory(
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
    "best_lr unsorted rates": ("lrs", lambda: sweeps.best_lr([0.1, 0.4, 0.2], [1.0, 0.5, 0.7])),
    "lr_sweep repeated rate": ("lrs", lambda: sweeps.lr_sweep(_tiny_task(), "depth-mup", "one", 4, 2, [0.1, 0.1],
                                                               [0], 1, progress=False)),
    "lr_sweep repeated seed": ("seeds", lambda: sweeps.lr_sweep(_tiny_task(), "depth-mup", "one", 4, 2, [0.1],
                                                                 [0, 0], 1, progress=False)),
    "depth_sweep unsorted depths": ("depths", lambda: sweeps.depth_sweep(_tiny_task(), "depth-mup", "one", 4, [4, 2],
                                                                         [0.1], [0], 1, progress=False)),
    "train_stacked repeated configuration": ("lrs and seeds", lambda: sweeps.train_stacked(
        lambda s: models.ResNet(3, 1, 4, 2, seed=s), [0.1, 0.1], [0, 0], data.make_teacher_task(d=3, n_train=8), 1)),
    "network_runs repeated seed": ("seeds", lambda: nfd_sweeps.network_runs(n=4, L=2, seeds=[1, 1], steps=0,
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
    out = _cli("nfdlib.sweeps", *args)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert message in lines[-1] and "Traceback" not in out.stderr
    assert lines[-1].startswith("python -m nfdlib.sweeps: error:")


def test_sweeps_command_line_names_the_failing_line(broken_notebook):
    out = _cli("nfdlib.sweeps", broken_notebook)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "fails at line 6: NameError" in out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(("args", "message"), [
    (["notebooks/06_lr_correction.py"], "does not define PLAN; it defines "),
    (["notebooks/nope.py"], "cannot be read"),
])
def test_scaling_command_line_refuses_a_notebook_without_a_plan(args, message):
    out = _cli("nfdlib.scaling", *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert message in out.stderr.strip().splitlines()[-1]
