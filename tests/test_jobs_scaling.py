"""Notebook 07's plan as jobs: listed, run on worker processes in two rounds, merged, and read back by the notebook's
functions bit for bit as a direct computation gives them; and the CachedResult that assembles a cache file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import nfdlib.jobs as jobs
from nfdlib.jobs import CachedResult, Job, MissingJobs, run_job, stack_parts
from nfdlib.plans import parameters_cell, run_scaling_plan, scaling_results
from nfdlib.run import run_jobs
from nfdlib.scaling import solver_runs

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/07_scaling_laws.py"


def _cli(*args, data_dir):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NFD_QUICK": "1", "NFD_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "nfdlib.run", NOTEBOOK, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def assert_same(a, b, path="result"):
    """Nested results equal bit for bit (NaN included), wall times (``seconds``) aside."""
    if isinstance(a, dict):
        assert {str(k) for k in a} == {str(k) for k in b}, path
        b = {str(k): v for k, v in b.items()}
        for key, value in a.items():
            if key != "seconds":
                assert_same(value, b[str(key)], f"{path}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), path


def test_notebook_07_plan_runs_as_jobs_and_reads_back_as_computed(tmp_path, monkeypatch):
    listed = _cli("--dry-run", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = [line.split() for line in listed.stdout.splitlines()[1:-1]]
    waiting = [r[0] for r in rows if r[1] == "waiting"]
    assert waiting and all(label.startswith("scaling_real_") for label in waiting)  # they need the tuned rates
    assert {r[1] for r in rows} == {"missing", "waiting"} and len({r[0] for r in rows}) == len(rows)

    ran = _cli("--executor", "processes", "--workers", "2", data_dir=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.count("0 failed") == 2  # two rounds: the tunings, then the grids that use their rates
    assert f"{len(rows) - len(waiting)} computed" in ran.stdout and f"{len(waiting)} computed" in ran.stdout
    assert not list((tmp_path / "jobs").iterdir())  # every result is one cache file; its job files are gone

    again = _cli("--dry-run", data_dir=tmp_path)
    assert f"{len(rows)} job(s): {len(rows)} in cached results, 0 done; 0 to run" in again.stdout

    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))

    def no_job(job, *args, **kwargs):
        raise AssertionError(f"reading the plan computed {job.label}")

    monkeypatch.setattr(jobs, "run_job", no_job)
    plan = parameters_cell(str(ROOT / NOTEBOOK), quick=True)["PLAN"]
    assert all(r.is_cached() for r in scaling_results(plan)[0])
    read = run_scaling_plan(plan, cache=True, progress=False)
    assert_same(read, run_scaling_plan(plan, cache=False, progress=False))
    # the merge against one solve per value, computed apart from the code that stacks the jobs of both paths
    base, rates = plan["solver_sweeps"]["base"], plan["solver_sweeps"]["vary"]["lr"]
    for i, lr in enumerate(rates):
        alone = solver_runs(**dict(base, lr=float(lr)))
        np.testing.assert_array_equal(read["solver_sweeps"]["lr"]["train_loss"][i], alone["train_loss"])


def _parts(count):
    return [Job(f"part_{i}", "nfdlib.jobs:demo_job", {"seed": i, "size": 4, "repeats": 2}) for i in range(count)]


def test_a_cached_result_merges_only_when_every_job_is_done(tmp_path):
    parts = _parts(3)
    result = CachedResult("demo_result", {"seeds": [0, 1, 2]}, "1", parts, stack_parts)
    run_job(parts[0], tmp_path)
    assert [job.label for job in result.todo(tmp_path)] == ["part_1", "part_2"] and not result.ready(tmp_path)
    with pytest.raises(MissingJobs, match="part_1"):
        result.load(tmp_path, compute=False)
    assert not result.is_cached(tmp_path)  # a failed merge writes nothing
    for job in parts[1:]:
        run_job(job, tmp_path)
    assert result.ready(tmp_path)
    merged = result.load(tmp_path, compute=False)
    assert merged["x"].shape == (12, 4) and merged["seed"].tolist() == [0, 1, 2]  # in the order of the jobs
    np.testing.assert_array_equal(merged["x"][4:8], jobs.demo_job(1, size=4, repeats=2)["x"])
    assert result.is_cached(tmp_path) and not list((tmp_path / "jobs").iterdir())
    assert result.todo(tmp_path) == [] and result.load(tmp_path, compute=False)["x"].shape == (12, 4)


def test_a_cached_result_computes_its_missing_jobs_when_allowed(tmp_path, capsys):
    result = CachedResult("demo_result", {"seeds": [0, 1]}, "1", _parts(2), stack_parts)
    merged = result.load(tmp_path)
    assert "computing 2 of 2 job(s) in this process" in capsys.readouterr().out
    assert merged["seed"].tolist() == [0, 1] and result.is_cached(tmp_path)


def test_two_jobs_with_one_label_are_refused(tmp_path):
    a = Job("same", "nfdlib.jobs:demo_job", {"seed": 0})
    b = Job("same", "nfdlib.jobs:demo_job", {"seed": 1})
    with pytest.raises(ValueError, match="distinct labels"):
        run_jobs([a, b], directory=tmp_path, progress=False)


def test_the_process_pool_gives_each_worker_one_device(tmp_path):
    """One process per device (on a GPU machine, one per CUDA device): each worker keeps the device it took first.
    Here two CPU device names stand in for two GPUs."""
    devices = ["cpu", "cpu:0"]
    parts = [Job(f"where_{i}", "nfdlib.jobs:demo_job", {"seed": i, "size": 200, "repeats": 20, "where": True})
             for i in range(8)]
    summary = run_jobs(parts, executor="processes", devices=devices, directory=tmp_path, progress=False)
    assert not summary.failed and summary.workers == 2
    ran = [(int(p["pid"]), str(p["device"])) for p in jobs.merge_jobs(parts, tmp_path)]
    by_pid = {}
    for pid, device in ran:
        assert device in devices
        assert by_pid.setdefault(pid, device) == device  # a worker never changes device
    assert len(set(by_pid.values())) == len(by_pid) <= 2  # no two workers share one


def test_devices_are_checked_before_any_worker_starts(tmp_path):
    with pytest.raises(ValueError, match="device"):
        run_jobs(_parts(1), executor="processes", devices=["tpu"], directory=tmp_path, progress=False)
    with pytest.raises(ValueError, match="executor='processes'"):
        run_jobs(_parts(1), executor="serial", devices=["cpu"], directory=tmp_path, progress=False)


def test_the_command_line_checks_its_devices(capsys, tmp_path, monkeypatch):
    from nfdlib.run import main

    monkeypatch.setenv("NFD_QUICK", "1")
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))  # not --data-dir, which would set it for the other tests too
    monkeypatch.chdir(ROOT)
    base = [NOTEBOOK, "--dry-run"]
    for devices, message in ((["tpu"], "--devices"), (["cpu"], "needs --executor processes")):
        with pytest.raises(SystemExit):
            main([*base, "--devices", *devices])
        assert message in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main([*base, "--executor", "processes", "--devices", "cuda"])
        assert "no CUDA device" in capsys.readouterr().err
    main([*base, "--executor", "processes", "--devices", "cpu", "cpu:0"])
    assert "one worker process per device: cpu, cpu:0" in capsys.readouterr().out
    main([*base, "--executor", "processes", "--devices", "none"])
    assert "one worker process per device" not in capsys.readouterr().out


def test_notebook_04_experiments_run_as_jobs_and_read_back_as_computed(tmp_path, monkeypatch):
    """Notebooks 03 and 04 name their cached experiments (EXPERIMENTS); each is assembled from jobs (one per width
    of a network grid, per grid size of a solve, per run of a paired sweep), bit for bit as computed at once."""
    from nfdlib import gia

    env = {**os.environ, "OMP_NUM_THREADS": "1", "NFD_QUICK": "1", "NFD_DATA_DIR": str(tmp_path)}
    notebook = "notebooks/04_true_backprop_limit.py"
    ran = subprocess.run([sys.executable, "-m", "nfdlib.run", notebook, "--executor", "processes"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    experiments = parameters_cell(str(ROOT / notebook), quick=True)["EXPERIMENTS"]
    assert f"results written to the cache: {len(experiments)}" in ran.stdout
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))

    def no_job(job, *args, **kwargs):
        raise AssertionError(f"reading the experiments computed {job.label}")

    monkeypatch.setattr(jobs, "run_job", no_job)
    for kind, config in experiments.values():
        read = gia.run_experiment(kind, config, progress=False)
        direct = gia.run_experiment(kind, config, cache=False, progress=False)
        if isinstance(read, list):  # rows of records: equal as text (NaN included)
            assert json.dumps(read, sort_keys=True) == json.dumps(direct, sort_keys=True, default=float)
        else:
            assert_same(read, direct)


def test_a_paired_sweep_merged_from_its_runs_keeps_their_order(tmp_path):
    from nfdlib import gia

    config = dict(dataset="teacher", dataset_kwargs=dict(d=4, n_train=4, n_test=4, seed=0), seeds=[0], steps=2,
                  lr=0.5, probe=4, runs=[dict(n=16, L=2, T=1.0), dict(n=8, L=4, T=1.0)])
    result = gia.experiment_result("paired", config)
    assert [job.label.rsplit("_", 1)[1] for job in result.jobs] == ["run0", "run1"]
    run_jobs(result.jobs[::-1], directory=tmp_path, progress=False)  # finished in the other order
    merged = result.load(tmp_path, compute=False)
    direct = gia.paired_sweep(**config, progress=False)
    assert [(r["n"], r["L"], r["quantity"], r["value"]) for r in merged] == \
        [(r["n"], r["L"], r["quantity"], r["value"]) for r in direct]


def test_cells_tagged_plan_run_after_the_parameters_cell(tmp_path):
    source = tmp_path / "nb.py"
    source.write_text('# %% tags=["parameters"]\nimport os\nN = 2 if os.environ["NFD_QUICK"] == "1" else 8\n\n'
                      "# %%\nimport nfdlib  # not run\n\n"
                      '# %% tags=["plan"]\nEXPERIMENTS = {"a": ("paired", dict(n=N))}\n')
    assert parameters_cell(str(source), quick=True)["EXPERIMENTS"] == {"a": ("paired", {"n": 2})}
    assert parameters_cell(str(source))["EXPERIMENTS"] == {"a": ("paired", {"n": 8})}
    source.write_text(source.read_text() + '\n# %% tags=["plan"]\nMORE = UNDEFINED\n')
    with pytest.raises(ValueError, match="plan cell .* line 12: NameError"):
        parameters_cell(str(source))


def test_a_notebook_experiment_is_run_by_its_name():
    from nfdlib import gia

    experiments = parameters_cell(str(ROOT / "notebooks" / "04_true_backprop_limit.py"), quick=True)["EXPERIMENTS"]
    kind, config = experiments["solver_reused"]
    small = dict(config, Ks=[2], M=64, steps=1)
    np.testing.assert_array_equal(gia.run_named({"s": (kind, small)}, "s", cache=False, progress=False)["train_loss"],
                                  gia.run_experiment(kind, small, cache=False, progress=False)["train_loss"])
    with pytest.raises(ValueError, match="solver_reused"):
        gia.run_named(experiments, "solver", cache=False)
