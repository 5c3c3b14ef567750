"""Jobs and their executors, including faults on a real Dask LocalCluster (2 worker processes, 1 thread each)."""

import os

import numpy as np
import pytest

from nfdlib.jobs import Job, MissingJobs, job_status, jobs_dir, load_job, merge_jobs, run_job
from nfdlib.run import RunSummary, run_jobs

distributed = pytest.importorskip("distributed")


def demo_jobs(count=4, fail_marker=None, fail_seed=1):
    return [Job(f"demo_{s}", "nfdlib.jobs:demo_job",
                {"seed": s, "size": 32, "repeats": 20,
                 **({"fail_marker": str(fail_marker)} if fail_marker and s == fail_seed else {})}, cost=float(s))
            for s in range(count)]


def job_files(directory):
    return sorted(os.listdir(jobs_dir(directory)))


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            distributed.Client(lc) as c:
        yield c


def test_job_runs_once_and_reports_itself(tmp_path):
    job = demo_jobs(1)[0]
    assert job_status(job, tmp_path) == "missing"
    first = run_job(job, tmp_path)
    assert first["status"] == "computed" and first["cpu_seconds"] >= 0
    assert job_status(job, tmp_path) == "done"
    assert run_job(job, tmp_path)["status"] == "existing"
    assert job_files(tmp_path) == [job.path(tmp_path).name]


def test_the_file_name_holds_all_of_the_configuration(tmp_path):
    a, b = demo_jobs(2)
    assert a.path(tmp_path) != b.path(tmp_path)
    newer = Job(a.label, a.compute, a.config, version="2")
    assert newer.path(tmp_path) != a.path(tmp_path)
    run_job(a, tmp_path)
    assert job_status(newer, tmp_path) == "stale"  # only an older version's file is there


def test_bad_jobs_are_refused():
    with pytest.raises(ValueError, match="label"):
        Job("a b", "nfdlib.jobs:demo_job", {})
    with pytest.raises(ValueError, match="compute"):
        Job("a", "demo_job", {})
    with pytest.raises(ValueError, match="executor"):
        run_jobs(demo_jobs(1), executor="threads")


def test_cluster_results_are_bit_identical_to_serial(tmp_path, client):
    jobs = demo_jobs()
    serial = run_jobs(jobs, executor="serial", directory=tmp_path / "serial", progress=False)
    cluster = run_jobs(jobs, executor=client.get_executor(pure=False), directory=tmp_path / "dask",
                       progress=False)
    assert len(serial.computed) == len(cluster.computed) == len(jobs) and not cluster.failed
    for a, b in zip(merge_jobs(jobs, tmp_path / "serial"), merge_jobs(jobs, tmp_path / "dask")):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_a_killed_worker_is_retried_and_leaves_no_partial_file(tmp_path, client):
    marker = tmp_path / "killed-once"
    jobs = demo_jobs(fail_marker=marker)
    summary = run_jobs(jobs, executor=client.get_executor(pure=False), directory=tmp_path, progress=False)
    assert marker.exists(), "the fault was not injected"
    assert not summary.failed
    assert all(job_status(job, tmp_path) == "done" for job in jobs)
    assert job_files(tmp_path) == sorted(job.path(tmp_path).name for job in jobs)  # no temporary files
    client.wait_for_workers(2, timeout=60)


def test_a_killed_process_pool_worker_is_replaced(tmp_path):
    marker = tmp_path / "killed-once"
    jobs = demo_jobs(fail_marker=marker)
    summary = run_jobs(jobs, executor="processes", workers=2, directory=tmp_path, progress=False)
    assert marker.exists() and not summary.failed
    assert job_files(tmp_path) == sorted(job.path(tmp_path).name for job in jobs)


def test_the_same_job_twice_at_once_gives_one_valid_file(tmp_path, client):
    job = demo_jobs(1)[0]
    futures = [client.submit(run_job, job, tmp_path, pure=False) for _ in range(2)]
    results = client.gather(futures)
    assert {r["status"] for r in results} <= {"computed", "existing"}
    assert job_files(tmp_path) == [job.path(tmp_path).name]
    assert job_status(job, tmp_path) == "done"


def test_a_corrupt_file_is_reported_recomputed_and_never_merged(tmp_path):
    jobs = demo_jobs(2)
    run_jobs(jobs, directory=tmp_path, progress=False)
    good = load_job(jobs[0], tmp_path)
    path = jobs[0].path(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated, as by a full disk
    assert job_status(jobs[0], tmp_path) == "corrupt"
    with pytest.raises(MissingJobs, match="demo_0 \\(corrupt\\)"):
        merge_jobs(jobs, tmp_path)
    summary = run_jobs(jobs, directory=tmp_path, progress=False)
    assert summary.computed == ["demo_0"] and summary.existing == ["demo_1"]
    np.testing.assert_array_equal(load_job(jobs[0], tmp_path)["x"], good["x"])


def test_merge_with_a_missing_job_names_it_and_computes_nothing(tmp_path):
    jobs = demo_jobs(3)
    run_job(jobs[0], tmp_path)
    before = job_files(tmp_path)
    with pytest.raises(MissingJobs) as err:
        merge_jobs(jobs, tmp_path, command="python -m nfdlib.run NB --jobs 'demo_*'")
    assert "demo_1 (missing)" in str(err.value) and "demo_2 (missing)" in str(err.value)
    assert "python -m nfdlib.run" in str(err.value)
    assert [job.label for job in err.value.jobs] == ["demo_1", "demo_2"]
    assert job_files(tmp_path) == before


def test_a_job_that_keeps_failing_is_reported_after_its_retries(tmp_path):
    bad = Job("bad", "nfdlib.jobs:demo_job", {"seed": -1})  # numpy refuses a negative seed
    summary = run_jobs([bad], directory=tmp_path, retries=2, progress=False)
    assert list(summary.failed) == ["bad"] and summary.attempts["bad"] == 3
    assert isinstance(summary, RunSummary) and "failed: bad" in str(summary)


def test_most_expensive_jobs_start_first(tmp_path):
    jobs = demo_jobs(4)
    run_jobs(jobs, directory=tmp_path, progress=False)
    times = {job.label: os.path.getmtime(job.path(tmp_path)) for job in jobs}
    assert times["demo_3"] <= times["demo_2"] <= times["demo_1"] <= times["demo_0"]


def _run_cli(*args, data_dir):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NFD_QUICK": "1", "NFD_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "nfdlib.run", "notebooks/06_lr_correction.py", *args], cwd=root,
                          env=env, capture_output=True, text=True, timeout=600)


def test_command_line_lists_runs_and_merges_a_notebook_plan(tmp_path):
    listed = _run_cli("--dry-run", data_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    labels = [line.split()[0] for line in listed.stdout.splitlines()[1:-1]]
    pilot = [label for label in labels if label.startswith("pilot_05_teacher_")]
    sweeps_of_pilot = {label.rsplit("_L", 1)[0] for label in pilot}
    assert f"{len(labels)} job(s): 0 in cached results, 0 done; {len(labels)} to run" in listed.stdout and pilot
    ran = _run_cli("--plan", "PILOT_", "--task", "teacher", "--executor", "processes", "--workers", "2",
                   data_dir=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert f"{len(pilot)} computed, 0 already done, 0 failed" in ran.stdout
    assert f"sweeps written to the cache: {len(sweeps_of_pilot)}" in ran.stdout
    assert len(list(tmp_path.glob("pilot_05_teacher_*.npz"))) == len(sweeps_of_pilot)
    assert not list((tmp_path / "jobs").iterdir())  # a whole sweep is one file; its job files go
    again = _run_cli("--dry-run", data_dir=tmp_path)
    left = len(labels) - len(pilot)
    assert f"{len(labels)} job(s): {len(pilot)} in cached results, 0 done; {left} to run" in again.stdout
