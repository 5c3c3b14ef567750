"""Run the missing jobs of a plan on an executor: in this process, on a pool of processes, or on a Dask cluster.

``python -m nfdlib.run NOTEBOOK [--plan NAME | --parts PART ...] [--jobs PATTERN] --executor
serial|processes|dask [--scheduler ADDRESS] [--workers N] [--data-dir DIR] [--dry-run]`` expands the plans of a
notebook's parameters cell into jobs (:mod:`nfdlib.jobs`): the depths of its sweep plans (notebooks 05, 06), the
parts of its ``EXPERIMENTS`` (notebooks 03, 04), or the solves, learning-rate tunings and grid sizes of its ``PLAN``
(notebook 07, in two rounds: a grid waits for its rule's tuned rate). It skips the finished ones, runs the rest
most expensive first with a progress bar over jobs, retries a failed job up to ``--retries`` times, and prints a
summary (jobs done, failed, CPU time summed over workers, wall time, efficiency). ``--dry-run`` lists every job
with its status and estimated cost.

Any :class:`concurrent.futures.Executor` works underneath (:func:`run_jobs` takes one); Dask distributed is the
supported cluster engine (``pip install "nfdlib[cluster]"``): ``--scheduler tcp://host:8786`` joins a running
cluster (for example one started on Slurm by ``dask-jobqueue``; untested here), otherwise a local cluster of
``--workers`` processes with one thread each is started. Workers read and write the same data folder: point them
all at shared storage with ``NFD_DATA_DIR`` (or ``--data-dir``, which sets it for local workers).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import fnmatch
import importlib
import multiprocessing
import os
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .config import get_device
from .jobs import Job, estimated_hours, job_status, run_job
from .plans import (
    SCALING_PARTS,
    add_sweep_options,
    experiment_results,
    merge_plan,
    notebook_plan,
    scaling_results,
    selected_sweep_plan,
    sweep_jobs,
)
from .validation import check_choice, check_int

EXECUTORS = ("serial", "processes", "dask")


@dataclass
class RunSummary:
    """What a run did: finished jobs (computed or already there), failures after all retries, CPU and wall time."""

    computed: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 1

    @property
    def efficiency(self) -> float:
        """Summed job CPU time over ``workers x wall time``: 1 when every worker computed all the time."""
        return self.cpu_seconds / (self.workers * self.wall_seconds) if self.wall_seconds > 0 else float("nan")

    def __str__(self) -> str:
        text = (f"{len(self.computed)} computed, {len(self.existing)} already done, {len(self.failed)} failed; "
                f"CPU {self.cpu_seconds:.1f} s over {self.workers} worker(s), wall {self.wall_seconds:.1f} s, "
                f"efficiency {self.efficiency:.2f}")
        for label, error in self.failed.items():
            text += f"\n  failed: {label}: {error}"
        return text


class _SerialExecutor(cf.Executor):
    """Runs each job when it is submitted, in this process (the reference every executor must match)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - handed to the caller through the future, as any executor does
            future.set_exception(err)
        return future


def cuda_devices() -> list[str]:
    """Every CUDA device of this machine (``cuda:0``, ``cuda:1``, ...); empty without CUDA."""
    return [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def _claim_device(devices: Sequence[str], counter) -> None:
    """A pool worker's initializer: the next device of ``devices`` becomes this process's (``NFD_DEVICE``, which
    :func:`nfdlib.config.get_device` reads), so the pool holds one process per device."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    os.environ["NFD_DEVICE"] = devices[index % len(devices)]


def _pool(workers: int, devices: Sequence[str] | None = None) -> cf.Executor:
    # spawn, not fork: a forked child of a process that has started torch's threads can deadlock
    context = multiprocessing.get_context("spawn")
    if not devices:
        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=context)
    return cf.ProcessPoolExecutor(max_workers=len(devices), mp_context=context, initializer=_claim_device,
                                  initargs=(list(devices), context.Value("i", 0)))


def run_jobs(jobs: Sequence[Job], *, executor: str | cf.Executor = "serial", workers: int = 2,
             scheduler: str | None = None, retries: int = 2, directory: str | Path | None = None,
             devices: Sequence[str] | None = None, progress: bool = True) -> RunSummary:
    """Run every job of ``jobs`` that is not done, most expensive first; a job that raises (or whose worker dies)
    is submitted again, at most ``retries`` more times. ``executor``: ``"serial"``, ``"processes"`` (a pool of
    ``workers``; with ``devices``, one process per device, e.g. :func:`cuda_devices`), ``"dask"``
    (``scheduler``'s cluster, or a local one of ``workers`` processes) or any :class:`concurrent.futures.Executor`."""
    retries = check_int("retries", retries, minimum=0)
    devices = list(devices or [])
    for device in devices:
        get_device(device)  # a device this machine lacks fails here, not in every worker
    if devices and executor != "processes":
        raise ValueError(f"devices need executor='processes' (one process per device), got executor={executor!r}")
    paths: dict[str, Path] = {}
    for job in jobs:  # a label names a job in the summary and the retries: two different jobs must not share one
        if paths.setdefault(job.label, job.path(directory)) != job.path(directory):
            raise ValueError(f"jobs must have distinct labels; {job.label!r} names two different jobs")
    summary = RunSummary()
    todo = [job for job in jobs if job_status(job, directory) != "done"]
    summary.existing = [job.label for job in jobs if job not in todo]
    todo.sort(key=lambda job: -(job.cost or 0.0))  # a job without an estimate last
    if not todo:
        return summary
    if isinstance(executor, cf.Executor):
        summary.workers = check_int("workers", workers)
        _drive(executor, todo, retries, directory, summary, progress, rebuild=None)
        return summary
    kind = check_choice("executor", executor, EXECUTORS)
    summary.workers = 1 if kind == "serial" else len(devices) or check_int("workers", workers)
    if kind == "serial":
        _drive(_SerialExecutor(), todo, retries, directory, summary, progress, rebuild=None)
    elif kind == "processes":
        pool = _pool(summary.workers, devices)
        try:
            _drive(pool, todo, retries, directory, summary, progress,
                   rebuild=lambda: _pool(summary.workers, devices))
        finally:
            pool.shutdown(cancel_futures=True)
    else:
        _run_on_dask(todo, retries, directory, summary, progress, scheduler, summary.workers)
    return summary


def _run_on_dask(todo, retries, directory, summary, progress, scheduler, workers) -> None:
    try:
        from distributed import Client, LocalCluster  # optional: the "cluster" extra
    except ImportError as err:
        raise ImportError('executor="dask" needs Dask distributed: pip install "nfdlib[cluster]"') from err
    if scheduler:  # someone else's cluster: its configuration is theirs; only warm its workers
        with Client(scheduler) as client:
            summary.workers = max(1, len(client.scheduler_info()["workers"]))
            _warm_dask_workers(client, todo)
            _drive(client.get_executor(pure=False), todo, retries, directory, summary, progress, rebuild=None)
        return
    import dask

    with dask.config.set(_LOCAL_DASK_CONFIG):  # each nanny copies the config it is created with to its worker
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        _warm_dask_workers(client, todo)
        _drive(client.get_executor(pure=False), todo, retries, directory, summary, progress, rebuild=None)


#: Dask settings of a local cluster, whose workers run long CPU-bound jobs one at a time: no statistical profiler
#: (it samples every thread's stack every 10 ms, taking the GIL from the job's thread), the event-loop tick every
#: second instead of every 20 ms, the system monitor every 5 s instead of 0.5 s. Measured with 2 workers on 2
#: shared cores (jobs of ~7 CPU-s): the CPU the cluster spends besides the jobs (workers, scheduler, nannies) fell
#: from about 0.10 to 0.03 of a core, 0.03 of it the profiler's; benchmarks/scale_out.py has the effect on runs.
_LOCAL_DASK_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
                      "distributed.admin.tick.limit": "10s", "distributed.admin.system-monitor.interval": "5s"}


def _warm_dask_workers(client, todo: Sequence[Job]) -> None:
    """Import the modules of the jobs' functions on every worker once, before any job is submitted, so that no
    job's time includes them; best effort (a worker that cannot import them fails its jobs, which are retried)."""
    client.run(_import_modules, sorted({job.compute.split(":")[0] for job in todo}), on_error="ignore")


def _import_modules(modules: Sequence[str]) -> None:
    for module in modules:
        importlib.import_module(module)


def _drive(executor: cf.Executor, todo: list[Job], retries: int, directory, summary: RunSummary, progress: bool,
           rebuild) -> None:
    """Submit every job, collect results as they finish, resubmit failures; ``rebuild`` replaces a broken process
    pool (a killed worker breaks a ProcessPoolExecutor for every job it holds)."""
    start = time.perf_counter()
    current = [executor]
    pending: dict[cf.Future, tuple[Job, cf.Executor]] = {}
    bar = tqdm(total=len(todo), desc="jobs", unit="job", disable=not progress)

    def submit(job: Job) -> None:
        summary.attempts[job.label] = summary.attempts.get(job.label, 0) + 1
        pending[current[0].submit(run_job, job, directory)] = (job, current[0])

    for job in todo:
        submit(job)
    while pending:
        done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
        for future in done:
            job, owner = pending.pop(future)
            try:
                result = future.result()
            except Exception as err:  # noqa: BLE001 - recorded and retried, not fatal to the other jobs
                if isinstance(err, BrokenProcessPool) and rebuild is not None and owner is current[0]:
                    current[0].shutdown(wait=False, cancel_futures=True)
                    current[0] = rebuild()
                if summary.attempts[job.label] <= retries:
                    submit(job)
                else:
                    summary.failed[job.label] = f"{type(err).__name__}: {err}"
                    bar.update(1)
                continue
            (summary.computed if result["status"] == "computed" else summary.existing).append(job.label)
            summary.cpu_seconds += result["cpu_seconds"]
            bar.update(1)
    if current[0] is not executor:
        current[0].shutdown(wait=True)
    bar.close()
    summary.wall_seconds += time.perf_counter() - start


def sweep_plan_names(params: Mapping) -> list[str]:
    """The sweep plans a parameters cell defines: the prefix of each ``<PLAN>SWEEP_PREFIX`` (``""`` for the plain
    one)."""
    return sorted(k[: -len("SWEEP_PREFIX")] for k in params if k.endswith("SWEEP_PREFIX"))


def plan_jobs(ap: argparse.ArgumentParser, args, params: Mapping) -> tuple[list[Job], list[Job], list[tuple]]:
    """The jobs of the sweep plans the command line picks (``--plan``, or every sweep plan of the notebook;
    matching ``--jobs``): those of unfinished sweeps, those of sweeps already in the cache, and the plans."""
    names = sweep_plan_names(params) if args.plan is None else [args.plan]
    if not names:
        ap.error(f"the parameters cell of {args.notebook} defines no sweep plan (no <PLAN>SWEEP_PREFIX)")
    jobs, cached, plans = [], [], []
    for name in names:
        rules, tasks, sweep, prefix, only = selected_sweep_plan(ap, argparse.Namespace(**{**vars(args), "plan": name}),
                                                                 params)
        todo = sweep_jobs(rules, tasks, sweep, prefix=prefix, only=only)
        jobs += [job for js in todo.values() for job in js]
        cached += [job for key, js in sweep_jobs(rules, tasks, sweep, prefix=prefix, only=only, cached=True).items()
                   if key not in todo for job in js]
        plans.append((rules, tasks, sweep, prefix))
    return _matching(jobs, args.jobs), _matching(cached, args.jobs), plans


def _matching(jobs: Sequence[Job], pattern: str | None) -> list[Job]:
    return list(jobs) if not pattern else [job for job in jobs if fnmatch.fnmatch(job.label, pattern)]


def _status_table(jobs: Sequence[Job], cached: Sequence[Job] = (), waiting: Sequence[Job] = ()) -> str:
    """Every job with its status (``cached`` for a job whose whole result is already in the cache, ``waiting`` for
    one whose configuration needs another job's result first) and estimated CPU-hours, most expensive first, and a
    total of what is left to run."""
    lines = [f"{'job':<64} {'status':<8} {'CPU-h (est.)':>12}"]
    status = ({job.label: job_status(job) for job in jobs} | {job.label: "cached" for job in cached}
              | {job.label: "waiting" for job in waiting})
    for job in sorted([*jobs, *cached, *waiting], key=lambda j: -(j.cost or 0.0)):
        cost = "?" if job.cost is None else f"{job.cost / 3600:.2f}"
        lines.append(f"{job.label:<64} {status[job.label]:<8} {cost:>12}")
    todo = [job for job in [*jobs, *waiting] if status[job.label] != "done"]
    lines.append(f"{len(jobs) + len(cached) + len(waiting)} job(s): {len(cached)} in cached results, "
                 f"{len(jobs) - len(todo) + len(waiting)} done; {len(todo)} to run"
                 + (f" ({len(waiting)} waiting for others)" if waiting else "")
                 + f", {estimated_hours(todo)}")
    return "\n".join(lines)


def _run_results(ap: argparse.ArgumentParser, args, listing, command: str) -> None:
    """Results of the cache made of jobs (``listing()`` returns them and the jobs waiting for others): the jobs run
    in up to two rounds, since a grid of notebook 07 on the real task needs its rule's tuned rate
    (:func:`nfdlib.plans.scaling_results`); after each, every result whose jobs are all done is written to the
    cache (merging computes nothing)."""
    sweep_options = [f"--{k}" for k in ("plan", "task", "width", "rule") if getattr(args, k)]
    if sweep_options:
        ap.error(f"{', '.join(sweep_options)} select a sweep plan's sweeps; this notebook has none")
    summaries = []
    for _ in range(2):
        results, waiting = listing()
        jobs = _matching([job for r in results for job in r.todo()], args.jobs)
        if args.dry_run:
            cached = _matching([job for r in results if r.is_cached() for job in r.jobs], args.jobs)
            print(_status_table(jobs, cached, _matching(waiting, args.jobs)))
            return
        summaries.append(run_jobs(jobs, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                                  retries=args.retries, devices=args.devices))
        print(summaries[-1])
        written = [r for r in results if not r.is_cached() and r.ready()]
        for r in written:  # before the next round, which reads the tunings
            r.load(compute=False, progress=False)
        print(f"results written to the cache: {len(written)}" + "".join(f"\n  {r.path().name}" for r in written))
        if not waiting or summaries[-1].failed:
            break
    results, waiting = listing()
    left = [job for r in results for job in r.todo()] + list(waiting)
    if left:
        print(f"{len(left)} job(s) still to run: python -m nfdlib.run {command}")
    if any(s.failed for s in summaries):
        raise SystemExit(1)


def _chosen_devices(ap: argparse.ArgumentParser, args) -> list[str]:
    """The devices of ``--devices`` (``cuda``: every CUDA device; ``none``: no device per worker); by default every
    CUDA device for the process executor on a machine that has one, else none (CPU workers)."""
    if args.devices is None:
        devices = cuda_devices() if args.executor == "processes" else []
    elif args.devices == ["none"]:
        devices = []
    elif args.devices == ["cuda"]:
        devices = cuda_devices() or ap.error("--devices cuda: this machine has no CUDA device")
    else:
        devices = list(args.devices)
    if devices and args.executor != "processes":
        ap.error("--devices needs --executor processes (one process per device)")
    for device in devices:
        try:
            get_device(device)
        except ValueError as err:
            ap.error(f"--devices: {err}")
    if devices:
        print(f"one worker process per device: {', '.join(devices)}")
    return devices


def main(argv: Sequence[str] | None = None) -> None:
    """Run the missing jobs of a notebook's plans on an executor (the depths of its sweep plans, the parts of its
    named EXPERIMENTS, or every solve, tuning and grid size of notebook 07's PLAN), then write every result whose
    jobs are all done to the cache the notebook reads (merging computes nothing)."""
    ap = argparse.ArgumentParser(prog="python -m nfdlib.run", description=main.__doc__)
    ap.add_argument("notebook", help="percent-format notebook source whose parameters cell defines the plan")
    add_sweep_options(ap, default_plan=None, default_help="; default: every sweep plan of the notebook")
    ap.add_argument("--parts", nargs="+", choices=SCALING_PARTS,
                    help="notebook 07 (a parameters cell that defines PLAN): which parts of its plan (default: all)")
    ap.add_argument("--jobs", help="only the jobs whose label matches this shell pattern, e.g. '*_L64'")
    ap.add_argument("--executor", choices=EXECUTORS, default="serial")
    ap.add_argument("--workers", type=int, default=2, help="processes (processes, a local Dask cluster)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler (executor dask)")
    ap.add_argument("--retries", type=int, default=2, help="times a failed job is submitted again")
    ap.add_argument("--devices", nargs="+", help="executor processes: one worker process per device, e.g. cuda:0 "
                                                 "cuda:1, or 'cuda' for every CUDA device of this machine, or 'none' "
                                                 "for --workers processes on the default device (default: every CUDA "
                                                 "device when there is one, else --workers CPU processes)")
    ap.add_argument("--data-dir", help="the data folder every worker reads and writes (sets NFD_DATA_DIR)")
    ap.add_argument("--dry-run", action="store_true", help="list the jobs with status and cost; run nothing")
    args = ap.parse_args(argv)
    if args.data_dir:
        os.environ["NFD_DATA_DIR"] = str(Path(args.data_dir).resolve())  # inherited by local workers
    command = " ".join(sys.argv[1:] if argv is None else argv)
    args.devices = _chosen_devices(ap, args)
    params = notebook_plan(ap, args.notebook, [], quick=os.environ.get("NFD_QUICK") == "1")
    if args.parts and "PLAN" not in params:
        ap.error("--parts selects parts of notebook 07's PLAN; this notebook's parameters cell defines no PLAN")
    if "PLAN" in params:
        return _run_results(ap, args, lambda: scaling_results(params["PLAN"], args.parts or SCALING_PARTS), command)
    if "EXPERIMENTS" in params:
        return _run_results(ap, args, lambda: (experiment_results(params["EXPERIMENTS"]), []), command)
    jobs, cached, plans = plan_jobs(ap, args, params)
    if args.dry_run or not jobs:
        print(_status_table(jobs, cached))
        return
    summary = run_jobs(jobs, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                       retries=args.retries, devices=args.devices)
    print(summary)
    left = [job for job in jobs if job_status(job) != "done"]  # before merging, which removes finished jobs' files
    written = [w for rules, tasks, sweep, prefix in plans for w in merge_plan(rules, tasks, sweep, prefix=prefix)]
    print(f"sweeps written to the cache: {len(written)}" + "".join(f"\n  {w}" for w in written))
    if left:
        print(f"{len(left)} job(s) still to run: python -m nfdlib.run {command}")
    if summary.failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
