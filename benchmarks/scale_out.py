"""Jobs per hour and CPU efficiency of the job runner (``nfdlib.run``) on one small sweep plan, three ways: serial,
a pool of processes, and a Dask LocalCluster (processes with one thread each).

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale_out.py [--workers 2] [--jobs 12] [--steps 300]

The plan is a learning-rate x seed sweep over depths on a small teacher task (``nfdlib.sweeps.depth_jobs``): one
job per depth, repeated over widths until ``--jobs`` jobs, each a few CPU-seconds here. Every executor starts
from an empty data folder of its own and computes every job. What is printed, per executor:

* wall time, jobs per hour, and the speed-up over serial;
* **efficiency**: the jobs' CPU time (each measured on the thread that ran it) summed over all jobs, divided by
  ``workers x wall time``: 1 when every worker computed all the time;
* **overhead per job**: ``(workers x wall - summed job CPU) / jobs``, the seconds each job costs beyond its own
  computation (process start-up, imports, scheduling, reading and writing files), spread over the jobs.

The results of every executor are compared bit for bit with the serial run's (a disagreement is printed and the
script exits with status 1). Targets on this 2-core machine: 2 workers at least 1.8x serial, overhead under 1 s per
job; the machine is shared, so quote the ratios of one run, with the load printed at the start.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from nfdlib.jobs import merge_jobs
from nfdlib.run import run_jobs
from nfdlib.sweeps import depth_jobs


def plan(count: int, steps: int) -> list:
    """``count`` depth jobs of small sweeps (widths 24, 32, ..., depths 2 to 8)."""
    task = {"name": "teacher", "d": 8, "n_train": 64, "n_test": 32}
    jobs, n = [], 24
    while len(jobs) < count:
        jobs += depth_jobs(f"bench_n{n}", task, "depth-mup", "two", n, [2, 4, 6, 8], [0.1, 0.2, 0.4], [0, 1], steps)
        n += 8
    return jobs[:count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    jobs = plan(args.jobs, args.steps)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {len(jobs)} jobs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    results, rows = {}, []
    for executor in ("serial", "processes", "dask"):
        workers = 1 if executor == "serial" else args.workers
        with tempfile.TemporaryDirectory() as directory:
            t0 = time.perf_counter()
            summary = run_jobs(jobs, executor=executor, workers=workers, directory=directory, progress=False)
            wall = time.perf_counter() - t0  # start-up of the pool or cluster included
            if summary.failed:
                print(f"{executor}: {summary}")
                sys.exit(1)
            results[executor] = merge_jobs(jobs, directory)
        rows.append((executor, workers, wall, summary.cpu_seconds))
    serial_wall = rows[0][2]
    print("| executor | workers | wall (s) | jobs/hour | speed-up | efficiency | overhead per job (s) |")
    print("|---|---|---|---|---|---|---|")
    for executor, workers, wall, cpu in rows:
        print(f"| {executor} | {workers} | {wall:.1f} | {len(jobs) * 3600 / wall:.0f} | {serial_wall / wall:.2f} | "
              f"{cpu / (workers * wall):.2f} | {(workers * wall - cpu) / len(jobs):.2f} |")
    keys = ("train_loss", "test_loss", "diverged_at")
    same = all(np.array_equal(a[k], b[k], equal_nan=True) for ex in ("processes", "dask")
               for a, b in zip(results["serial"], results[ex]) for k in keys)
    print("results identical to the serial run:", "yes" if same else "NO")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
