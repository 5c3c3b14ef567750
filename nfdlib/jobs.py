"""Jobs: the unit of work of a long computation, one configuration at one size, stored in a file named by its content.

A plan (a notebook's sweep, a scaling grid) expands into :class:`Job` objects. Each job names the function that
computes it (``"module:function"``, imported where the job runs, so any worker process can run it), the keyword
arguments it gets (its ``config``: plain JSON) and a code ``version``. Its output is one ``.npz`` cache file
under ``<data>/jobs/`` whose name is a hash of all three (:func:`nfdlib.cache.cache_path`): a job that changes in
any way is a different file, and a file that exists is a finished job.

- :func:`run_job` computes a job unless a valid file exists (so running it twice is harmless), writes to a
  temporary name and renames it into place (a killed worker leaves no partial job file), and reports the CPU
  time of the thread that ran it.
- :func:`job_status` says ``done``, ``missing``, ``stale`` (only files of an older version or configuration of
  the same job are there) or ``corrupt`` (the file is unreadable or incomplete).
- :func:`merge_jobs` loads finished jobs and never computes: a missing one raises :class:`MissingJobs`, which
  lists them and the command that computes them.
- :class:`CachedResult` is one file of the result cache (what a notebook reads, :func:`nfdlib.cache.cached`)
  assembled from its jobs: a depth sweep from its depths, a scaling grid's width from its sizes, a solve from its
  grid sizes. Once it is written, its job files are deleted.

:mod:`nfdlib.run` runs the missing jobs of a plan on an executor (serial, processes, Dask).
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import cache_path, cached, check_file, data_dir, load_file, register_kind, save_file

JOB_STATES = ("done", "missing", "stale", "corrupt")
#: Cache kind of every job file (``tests/test_cache.py`` checks each stored file against it).
JOB_PREFIX = "job_"
JOB_VERSION = "1"
register_kind(JOB_PREFIX, JOB_VERSION, "npz")


@dataclass(frozen=True)
class Job:
    """One unit of work: ``compute(**config)`` returns a dict of arrays.

    ``label`` is a readable stem for the file (letters, digits, ``_``, ``-``, ``.``), ``cost`` an estimate of its
    CPU-seconds (the runner starts the most expensive first; ``None``: no estimate), ``version`` the version of the
    code that computes it (part of the file's hash, so a new version never reads an old result).
    """

    label: str
    compute: str
    config: dict = field(hash=False)
    version: str = "1"
    cost: float | None = 1.0

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.label):
            raise ValueError(f"label must use only letters, digits, '_', '-' and '.', got {self.label!r}")
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", self.compute):
            raise ValueError(f"compute must be 'module:function', got {self.compute!r}")
        if not isinstance(self.config, dict):
            raise ValueError(f"config must be a dict of keyword arguments, got {type(self.config).__name__}")

    @property
    def name(self) -> str:
        return JOB_PREFIX + self.label

    def key_config(self) -> dict:
        """Everything the file name hashes: the function, its arguments and the version of its code (the file
        format's version, :data:`JOB_VERSION`, is the cache version of every job file)."""
        return {"compute": self.compute, "config": self.config, "version": self.version}

    def path(self, directory: str | Path | None = None) -> Path:
        return cache_path(self.name, self.key_config(), JOB_VERSION, "npz", jobs_dir(directory))


def jobs_dir(directory: str | Path | None = None) -> Path:
    """Where job files live: ``<directory>/jobs``, by default under the data folder (``$NFD_DATA_DIR`` if set)."""
    return (Path(directory) if directory is not None else data_dir()) / "jobs"


def _function(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def job_status(job: Job, directory: str | Path | None = None) -> str:
    """``done``, ``missing``, ``stale`` or ``corrupt`` (see the module docstring)."""
    path = job.path(directory)
    if path.exists():
        return "corrupt" if check_file(path) or _identity_problem(job, path) else "done"
    others = list(path.parent.glob(f"{job.name}-*.npz")) if path.parent.is_dir() else []
    return "stale" if others else "missing"


def _identity_problem(job: Job, path: Path) -> bool:
    try:
        meta, _ = load_file(path)
    except Exception:  # noqa: BLE001 - unreadable is corrupt
        return True
    return meta.get("config") != job.key_config()


def _maybe_fail(fail_marker: str | None) -> None:
    """Fault injection for the tests: the first process to get here kills itself (hard, as an OOM kill would)."""
    if fail_marker and not os.path.exists(fail_marker):
        Path(fail_marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)


def run_job(job: Job, directory: str | Path | None = None, *, recompute: bool = False, **runtime) -> dict:
    """Compute ``job`` unless its file is already valid (``recompute=True``: always); returns ``label``,
    ``status`` (``"computed"`` or ``"existing"``), ``cpu_seconds`` (CPU time of this thread: exact with one thread
    per worker and ``OMP_NUM_THREADS=1``), ``wall_seconds`` and ``pid``. ``runtime`` keywords (a progress bar, a
    device) go to the function without being part of the job's identity."""
    if not recompute and job_status(job, directory) == "done":
        return {"label": job.label, "status": "existing", "cpu_seconds": 0.0, "wall_seconds": 0.0,
                "pid": os.getpid()}
    wall, cpu = time.perf_counter(), time.thread_time()
    result = _function(job.compute)(**job.config, **runtime)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    if not isinstance(result, dict) or not result:
        raise ValueError(f"{job.compute} returned {type(result).__name__}, not a dict of arrays")
    meta = {"name": job.name, "config": job.key_config(), "version": JOB_VERSION, "label": job.label,
            "cpu_seconds": cpu, "wall_seconds": wall}
    save_file(job.path(directory), "npz", meta, result)  # a unique temporary name, then an atomic rename
    return {"label": job.label, "status": "computed", "cpu_seconds": cpu, "wall_seconds": wall, "pid": os.getpid()}


class MissingJobs(LookupError):
    """Jobs a merge needs that are not done, with the command that computes them."""

    def __init__(self, missing: Sequence[tuple[Job, str]], command: str | None = None):
        self.jobs = [job for job, _ in missing]
        lines = [f"{len(missing)} job(s) not done:"] + [f"  {job.label} ({state})" for job, state in missing]
        if command:
            lines.append(f"compute them with: {command}")
        super().__init__("\n".join(lines))


def load_job(job: Job, directory: str | Path | None = None) -> dict[str, np.ndarray]:
    """The arrays of one finished job (:class:`MissingJobs` when it is not done)."""
    state = job_status(job, directory)
    if state != "done":
        raise MissingJobs([(job, state)])
    return load_file(job.path(directory))[1]


def merge_jobs(jobs: Sequence[Job], directory: str | Path | None = None, *,
               command: str | None = None) -> list[dict[str, np.ndarray]]:
    """The arrays of every job, in order, computing nothing: any job not done raises :class:`MissingJobs`
    naming all of them (and ``command``)."""
    states = [(job, job_status(job, directory)) for job in jobs]
    missing = [(job, state) for job, state in states if state != "done"]
    if missing:
        raise MissingJobs(missing, command)
    return [load_file(job.path(directory))[1] for job in jobs]


@dataclass
class CachedResult:
    """A result of the cache (``cached(name, config, ..., version=version, fmt=fmt)``) assembled from ``jobs``:
    ``combine`` turns their arrays (in order) into the result, as one computation in one process would return it.

    - :meth:`load` returns the cached file, else merges the jobs, computing the missing ones in this process with
      a printed line that names them (``compute=False``: raises :class:`MissingJobs` instead, computing nothing);
    - :meth:`todo` lists the jobs still to run (none once the file is written);
    - :meth:`ready` says whether every job is done, so :meth:`load` would only merge.
    """

    name: str
    config: dict
    version: str
    jobs: list[Job]
    combine: Callable[[list[dict]], object]
    fmt: str = "npz"

    def path(self, directory: str | Path | None = None) -> Path:
        return cache_path(self.name, self.config, self.version, self.fmt, directory)

    def is_cached(self, directory: str | Path | None = None) -> bool:
        return self.path(directory).exists()

    def todo(self, directory: str | Path | None = None) -> list[Job]:
        if self.is_cached(directory):
            return []
        return [job for job in self.jobs if job_status(job, directory) != "done"]

    def ready(self, directory: str | Path | None = None) -> bool:
        return not self.todo(directory)

    def load(self, directory: str | Path | None = None, *, compute: bool = True, refresh: bool = False,
             command: str | None = None, **runtime):
        """The result: from its cache file, else merged from its jobs (see the class docstring). ``refresh``
        recomputes every job; ``runtime`` keywords (``progress``) go to the jobs' function."""

        def assemble():
            todo = [job for job in self.jobs if refresh or job_status(job, directory) != "done"]
            if todo and not compute:
                raise MissingJobs([(job, job_status(job, directory)) for job in todo], command)
            if todo:
                print(f"{self.name}: computing {len(todo)} of {len(self.jobs)} job(s) in this process "
                      f"({estimated_hours(todo)}; python -m nfdlib.run runs them on many workers)")
            for job in todo:
                run_job(job, directory, recompute=refresh, **runtime)
            return self.combine(merge_jobs(self.jobs, directory, command=command))

        out = cached(self.name, self.config, assemble, version=self.version, fmt=self.fmt, directory=directory,
                     refresh=refresh)
        for job in self.jobs:  # the result is one file now: its jobs' files have served their purpose
            job.path(directory).unlink(missing_ok=True)
        return out


def estimated_hours(jobs: Sequence[Job]) -> str:
    """What ``jobs`` cost, in words: ``about X CPU-hours``, naming the jobs that have no estimate."""
    known = [job.cost for job in jobs if job.cost is not None]
    text = f"about {sum(known) / 3600:.2g} CPU-hours"
    unknown = len(jobs) - len(known)
    return text + (f" and {unknown} job(s) without an estimate" if unknown else "")


def stack_parts(parts: Sequence[dict], keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Jobs' arrays concatenated along their first axis (a scalar counts as one row; ``keys``: only these, default
    every key of the first), how a result split along a leading axis (grid sizes, rows of runs) is put back
    together."""
    if not parts:
        raise ValueError("parts must hold at least one job's arrays")
    keys = list(parts[0]) if keys is None else list(keys)
    return {key: np.concatenate([np.atleast_1d(part[key]) for part in parts]) for key in keys}


def demo_job(seed: int, size: int = 64, repeats: int = 10, fail_marker: str | None = None,
             where: bool = False) -> dict[str, np.ndarray]:
    """A small deterministic job for the tests and ``benchmarks/scale_out.py``: ``repeats`` products of seeded
    random ``size x size`` matrices. ``fail_marker``: the first process to run it is killed (fault tests).
    ``where=True`` adds where it ran: ``device`` (the device its worker was given, ``NFD_DEVICE``) and ``pid``."""
    _maybe_fail(fail_marker)
    rng = np.random.default_rng(seed)
    x = np.eye(size)
    for _ in range(repeats):
        x = np.tanh(x @ rng.standard_normal((size, size)) / np.sqrt(size))
    out = {"x": x, "seed": np.asarray(seed)}
    if where:
        out.update(device=np.asarray(os.environ.get("NFD_DEVICE", "")), pid=np.asarray(os.getpid()))
    return out


__all__ = ["Job", "JOB_STATES", "jobs_dir", "job_status", "run_job", "load_job", "merge_jobs", "MissingJobs",
           "CachedResult", "estimated_hours", "stack_parts", "demo_job"]
