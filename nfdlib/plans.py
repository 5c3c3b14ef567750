"""The plans of long computations and their one command line.

A notebook states the sizes of its long computations as plain data in its cell tagged ``parameters``
(:func:`parameters_cell` executes that cell in full mode). This module turns such a plan into the computations
it names and precomputes them in the background with exactly the notebook's configuration:

    python -m nfdlib.plans notebooks/06_lr_correction.py [--plan P] [--task T] [--width N] [--rule p/b]
    python -m nfdlib.plans notebooks/07_scaling_laws.py [--parts limit solver real families]

* notebooks' parameters cells: :func:`parameters_cell`, :func:`notebook_plan`;
* notebook 06's (and 05's) learning-rate sweeps: one :func:`nfdlib.sweeps.cached_depth_sweep` per task, width
  and rule (:func:`run_plan`), what is missing from the cache (:func:`missing_from_cache`), the depths already
  finished of unfinished sweeps as jobs (:func:`sweep_jobs`, :func:`finished_depths`, :func:`merge_plan`,
  :func:`check_job_files`);
* notebook 07's scaling grids, learning-rate tunings and solves of the limit (its ``PLAN``):
  :func:`run_scaling_plan`, with :func:`tuned_rates` and the "cross" design of :func:`family_sizes`;
* the command line, :func:`main`.
"""

from __future__ import annotations

import argparse
import os
import re
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import cache
from .gia import experiment_result
from .jobs import JOB_VERSION, CachedResult, Job, job_status, jobs_dir, load_job, merge_jobs
from .optima import best_rate
from .rules import TrainingRule, as_rule
from .scaling import (
    grid_sizes,
    limit_reference,
    limit_results,
    particle_seeds,
    size_grid,
    size_grid_results,
    solver_sweep_results,
    solver_sweeps,
    tune_lr,
    tune_result,
)
from .sweeps import SWEEP_VERSION, cached_depth_sweep, depth_jobs, depth_sweep, depth_sweep_config, sweep_name
from .validation import check_choice


# -- notebooks' parameters cells ------------------------------------------------------------------------------
def parameters_cell(path: str, *, quick: bool = False) -> dict:
    """Execute the cell tagged ``parameters`` of a percent-format notebook source in full mode
    (``NFD_QUICK=0``; ``quick=True``: in quick mode), then the cells tagged ``plan`` (the cached computations a
    notebook names, built from its sizes), and return their variables: how the long computations of a notebook
    are precomputed in the background with exactly the notebook's configuration (``python -m nfdlib.run
    notebooks/06_lr_correction.py``).

    A missing file, a source without a parameters cell, or a cell that fails raises ``ValueError`` with the file
    and the line of the notebook source where it failed."""
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as err:
        raise ValueError(f"notebook {path!r} cannot be read ({err.strerror or err})") from err
    starts = [m.start() for m in re.finditer(r"^# %%", text, flags=re.M)]
    cells = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]

    def tagged(tag):
        return [(a, c) for a, c in zip(starts, cells) if re.match(rf"[^\n]*tags=\[[^\]]*\"{tag}\"", c)]

    params = tagged("parameters")
    if not params:
        raise ValueError(f"notebook {path!r} has no cell tagged parameters")
    old = os.environ.get("NFD_QUICK")
    os.environ["NFD_QUICK"] = "1" if quick else "0"
    scope: dict = {}
    try:
        for start, cell in [params[0], *tagged("plan")]:
            # Pad with the lines above the cell's body, so that an error names the line of the notebook source.
            body = "\n" * (text.count("\n", 0, start) + 1) + cell.split("\n", 1)[1]
            try:
                exec(compile(body, path, "exec"), scope)  # noqa: S102 - our own notebook source
            except Exception as err:  # noqa: BLE001 - any failure of the cell is reported with its line
                line = err.lineno if isinstance(err, SyntaxError) else next(
                    (f.lineno for f in reversed(traceback.extract_tb(err.__traceback__)) if f.filename == path), "?")
                kind = "parameters" if start == params[0][0] else "plan"
                raise ValueError(f"the {kind} cell of {path} fails at line {line}: {type(err).__name__}: {err}") \
                    from err
    finally:
        if old is None:
            os.environ.pop("NFD_QUICK", None)
        else:
            os.environ["NFD_QUICK"] = old
    return {k: v for k, v in scope.items() if not k.startswith("__")}


def notebook_plan(parser, notebook: str, names: Sequence[str], *, quick: bool = False) -> dict:
    """The variables ``names`` of a notebook's parameters cell, for a command line: every failure (no such file,
    no parameters cell, a cell that fails, a variable it does not define) ends the program through
    ``parser.error`` with one line that says what is wrong and, for a missing variable, which plans exist."""
    try:
        params = parameters_cell(notebook, quick=quick)
    except ValueError as err:
        parser.error(str(err))
    missing = [k for k in names if k not in params]
    if missing:
        plans = sorted({k[: -len("SWEEP_PREFIX")] or "(default)" for k in params if k.endswith("SWEEP_PREFIX")})
        sweep_plan = any(k.endswith("TASKS") for k in missing)
        defined = (f"its sweep plans (--plan): {', '.join(plans) or 'none'}" if sweep_plan
                   else f"it defines {', '.join(k for k in params if k.isupper()) or 'nothing in capitals'}")
        parser.error(f"the parameters cell of {notebook} does not define {', '.join(missing)}; {defined}")
    return params


# -- notebook 06: sweep plans (learning rate x seed x depth, per task, width and rule) ----------------------
def _pairs(rules) -> list[tuple[str, str]]:
    """The ``(parametrization, block)`` of each rule (a :class:`nfdlib.rules.TrainingRule` or such a pair, read
    by :func:`nfdlib.rules.as_rule`): how a plan keys its sweeps and names their cache files. A plan's sweeps
    train pre-activation blocks, so a post-activation rule is refused rather than trained as another."""
    pairs = []
    for rule in rules:
        rule = as_rule(rule)
        if not rule.preact:
            raise ValueError(f"a sweep plan trains pre-activation blocks; rule {rule.key!r} is post-activation")
        pairs.append(rule.pair)
    return pairs


#: Optional settings of a sweep plan, passed on to every sweep of it.
PLAN_OPTIONS = ("batch_size", "loss_bound", "T", "activation", "eval_every", "train_eval")


def _plan_jobs(rules, tasks, sweep, only):
    required = ("depths", "lrs", "seeds", "steps")
    missing = [k for k in required if k not in sweep]
    if missing:
        raise ValueError(f"sweep must give {required}; missing {missing}")
    extra = {k: sweep[k] for k in PLAN_OPTIONS if k in sweep}
    only = None if only is None else _pairs(only)
    jobs = [(n, key, p, b) for key, spec in tasks.items() for n in spec["widths"] for p, b in _pairs(rules)
            if only is None or (p, b) in only]
    jobs.sort(key=lambda job: job[0])  # narrow networks first: the cheap results are ready soonest
    for n, key, p, b in jobs:
        spec = tasks[key]
        args = (spec["task"], p, b, n, sweep["depths"], sweep["lrs"], sweep["seeds"], sweep["steps"])
        yield (key, n, p, b), args, dict(extra, loss=spec.get("loss", "mse"))


def _plan_files(rules, tasks, sweep, prefix, directory):
    """Each job of a plan with the cache file its sweep is (or will be) written to."""
    for job, args, kw in _plan_jobs(rules, tasks, sweep, None):
        key, n, p, b = job
        yield job, cache.cache_path(sweep_name(prefix, key, p, b, n), depth_sweep_config(*args, **kw),
                                    SWEEP_VERSION, "npz", directory)


def missing_from_cache(rules: Sequence[TrainingRule | tuple[str, str]], tasks: Mapping[str, Mapping], sweep: Mapping, *,
                       prefix: str = "sweep", directory=None) -> list[tuple]:
    """The sweeps of a plan (as :func:`run_plan` keys them) that have no file in the cache yet."""
    return [job for job, final in _plan_files(rules, tasks, sweep, prefix, directory) if not final.exists()]


def sweep_jobs(rules: Sequence[TrainingRule | tuple[str, str]], tasks: Mapping[str, Mapping], sweep: Mapping, *,
               prefix: str = "sweep", only=None, directory=None, cached: bool = False) -> dict[tuple, list[Job]]:
    """The depth jobs (:func:`nfdlib.sweeps.depth_jobs`) of every sweep of a plan that has no cache file yet
    (``cached=True``: of every sweep), keyed as :func:`run_plan` keys its results."""
    out = {}
    for job, args, kw in _plan_jobs(rules, tasks, sweep, only):
        key, n, p, b = job
        name = sweep_name(prefix, key, p, b, n)
        if cached or not cache.cache_path(name, depth_sweep_config(*args, **kw), SWEEP_VERSION, "npz",
                                          directory).exists():
            out[job] = depth_jobs(name, *args, **kw)
    return out


def finished_depths(rules: Sequence[TrainingRule | tuple[str, str]], tasks: Mapping[str, Mapping], sweep: Mapping, *,
                    prefix: str = "sweep", directory=None) -> dict[tuple, list[int]]:
    """For each sweep of a plan that has no cache file yet (:func:`missing_from_cache`), the depths whose jobs are
    done, in the plan's order; ``[]`` when none is."""
    return {key: [int(L) for L, job in zip(sweep["depths"], jobs) if job_status(job, directory) == "done"]
            for key, jobs in sweep_jobs(rules, tasks, sweep, prefix=prefix, directory=directory).items()}


def merge_plan(rules: Sequence[TrainingRule | tuple[str, str]], tasks: Mapping[str, Mapping], sweep: Mapping, *,
               prefix: str = "sweep", directory=None) -> list[tuple]:
    """Write the cache file of every sweep of a plan whose depth jobs are all done, computing nothing; returns the
    sweeps written. Sweeps with jobs still missing are left as they are (:func:`finished_depths` lists them)."""
    written = []
    for (key, n, p, b), jobs in sweep_jobs(rules, tasks, sweep, prefix=prefix, directory=directory).items():
        if all(job_status(job, directory) == "done" for job in jobs):
            spec = tasks[key]
            extra = {k: sweep[k] for k in PLAN_OPTIONS if k in sweep}
            cached_depth_sweep(sweep_name(prefix, key, p, b, n), spec["task"], p, b, n, sweep["depths"],
                               sweep["lrs"], sweep["seeds"], sweep["steps"], directory=directory, progress=False,
                               loss=spec.get("loss", "mse"), **extra)
            written.append((key, n, p, b))
    return written


def check_job_files(plans: Sequence[tuple], directory=None, results: Sequence[CachedResult] = ()) -> list[str]:
    """Problems of the committed job files (an empty list when there are none): a file that is no job of an
    unfinished sweep of the given plans or of an unwritten result of ``results`` (its configuration or version
    changed, or its result is whole), or one that is unreadable or incomplete. ``plans`` holds ``(rules, tasks,
    sweep, prefix)``, as :func:`run_plan` takes them; ``results`` the :class:`nfdlib.jobs.CachedResult` of other
    plans (:func:`scaling_results`). How ``tests/test_cache.py`` keeps the finished jobs of long plans honest."""
    root = jobs_dir(directory)
    if not root.exists():
        return []
    wanted = {job.path(directory).name: job for result in results if not result.is_cached(directory)
              for job in result.jobs}
    for rules, tasks, sweep, prefix in plans:
        for jobs in sweep_jobs(rules, tasks, sweep, prefix=prefix, directory=directory).values():
            wanted.update({job.path(directory).name: job for job in jobs})
    problems = []
    for path in sorted(root.glob("*.npz")):
        job = wanted.get(path.name)
        if job is None:
            problems.append(f"jobs/{path.name}: no unfinished result of the plans has this job (stale or finished: "
                            "delete it)")
        elif job_status(job, directory) != "done":
            problems.append(f"jobs/{path.name}: {job_status(job, directory)}")
    return problems


def _same_bits(a, b) -> bool:
    """Bit-identical arrays (NaN included): the same dtype, shape and bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def migrate_partials(plans: Sequence[tuple], directory=None) -> list[str]:
    """Turn the folders of finished depths of the old resume mechanism (``partial/<sweep>-<hash>/L<depth>.npz``)
    into job files, without recomputing: each depth's arrays are stored as its job's result, read back and
    compared array by array, and the folder goes once all of its depths are moved. Returns the files moved."""
    root = (Path(directory) if directory is not None else cache.data_dir()) / "partial"
    moved = []
    if not root.exists():
        return moved
    for rules, tasks, sweep, prefix in plans:
        for job_key, args, kw in _plan_jobs(rules, tasks, sweep, None):
            key, n, p, b = job_key
            name = sweep_name(prefix, key, p, b, n)
            folder = root / cache.cache_path(name, depth_sweep_config(*args, **kw), SWEEP_VERSION, "npz").stem
            if not folder.is_dir():
                continue
            for L, job in zip(sweep["depths"], depth_jobs(name, *args, **kw)):
                old = folder / f"L{int(L)}.npz"
                if not old.exists():
                    continue
                with np.load(old, allow_pickle=False) as z:
                    part = {k: z[k] for k in z.files}
                part.setdefault("L", np.asarray(int(L)))
                meta = {"name": job.name, "config": job.key_config(), "version": JOB_VERSION, "label": job.label,
                        "cpu_seconds": float(part["cpu_seconds"]), "wall_seconds": float(part["wall_seconds"]),
                        "migrated_from": f"partial/{folder.name}/{old.name}"}
                cache.save_file(job.path(directory), "npz", meta, part)
                back = load_job(job, directory)
                if sorted(back) != sorted(part) or any(not _same_bits(back[k], part[k]) for k in part):
                    raise RuntimeError(f"{old} did not survive the move to {job.path(directory)}")
                old.unlink()
                moved.append(f"partial/{folder.name}/{old.name} -> jobs/{job.path(directory).name}")
            if not any(folder.iterdir()):
                folder.rmdir()
    if root.exists() and not any(root.iterdir()):
        root.rmdir()
    return moved


def run_plan(rules: Sequence[TrainingRule | tuple[str, str]], tasks: Mapping[str, Mapping], sweep: Mapping, *,
             prefix: str = "sweep", use_cache: bool = True, progress: bool = True,
             only: Sequence[TrainingRule | tuple[str, str]] | None = None,
             cached_only: bool = False) -> dict[tuple, dict]:
    """Every depth sweep of a notebook's plan: one per task, width and rule.

    ``rules`` lists :class:`nfdlib.rules.TrainingRule` or ``(parametrization, block)`` pairs; ``tasks`` maps a
    key to ``{"task": task dict, "loss": ..., "widths": [...]}``; ``sweep`` holds ``depths, lrs, seeds, steps``
    and optional ``batch_size, loss_bound, T, activation, eval_every, train_eval``. Results are keyed
    ``(task_key, n, parametrization, block)``. With ``use_cache`` each sweep is read from / written to
    ``data/<prefix>_...-<hash>.npz``; otherwise it is computed directly (quick mode). ``only`` restricts to some
    rules (given either way).
    ``cached_only`` (with ``use_cache``) returns only the sweeps already in the cache and computes nothing: how a
    notebook shows a plan whose long sweeps are still being precomputed (:func:`missing_from_cache` lists the
    others).
    """
    out = {}
    jobs = list(_plan_jobs(rules, tasks, sweep, only))
    for job, args, kw in tqdm(jobs, desc="sweeps", disable=not progress or len(jobs) < 2):
        key, n, p, b = job
        name = sweep_name(prefix, key, p, b, n)
        if use_cache:
            config = depth_sweep_config(*args, **kw)
            if cached_only and not cache.cache_path(name, config, SWEEP_VERSION, "npz").exists():
                continue
            out[job] = cached_depth_sweep(name, *args, progress=progress, **kw)
        else:
            out[job] = depth_sweep(*args, progress=progress, **kw)
    return out


# -- the command line -----------------------------------------------------------------------------------------
def _select(parser, what: str, asked, available) -> None:
    """A command-line selector that matches nothing is an error listing what exists (never a silent no-op)."""
    unknown = [a for a in asked or () if a not in available]
    if unknown:
        parser.error(f"{what} {', '.join(map(str, unknown))} matches nothing; this plan has "
                     f"{', '.join(map(str, available))}")


def add_sweep_options(ap: argparse.ArgumentParser, default_plan: str | None = "",
                      default_help: str = "; default: the plain one") -> None:
    """The options that pick a sweep plan of a notebook and a part of it (``--plan``, ``--task``, ``--width``,
    ``--rule``), shared by this command line and ``python -m nfdlib.run``."""
    ap.add_argument("--plan", default=default_plan, help="name of the plan: the prefix of its variables (e.g. "
                                                         "PLATEAU_ reads PLATEAU_TASKS, PLATEAU_SWEEP, "
                                                         "PLATEAU_SWEEP_PREFIX; '' is the plain TASKS, SWEEP, "
                                                         "SWEEP_PREFIX)" + default_help)
    ap.add_argument("--task", action="append", help="only this task key (repeatable)")
    ap.add_argument("--width", action="append", type=int, help="only this width (repeatable)")
    ap.add_argument("--rule", action="append", help="only this rule, as parametrization/block (repeatable)")


def selected_sweep_plan(ap: argparse.ArgumentParser, args, params: Mapping | None = None) -> tuple:
    """``(rules, tasks, sweep, prefix, only)`` of the sweep plan the options of :func:`add_sweep_options` pick from
    ``args.notebook``'s parameters cell (``params`` when already read); a selector that matches nothing ends the
    program with a message that lists what exists."""
    names = {k: args.plan + k for k in ("TASKS", "SWEEP", "SWEEP_PREFIX")}
    missing = [k for k in ("RULES", *names.values()) if params is None or k not in params]
    if params is None or missing:
        params = notebook_plan(ap, args.notebook, ["RULES", *names.values()])
    all_tasks = params[names["TASKS"]]
    _select(ap, "--task", args.task, list(all_tasks))
    tasks = {k: dict(v) for k, v in all_tasks.items() if not args.task or k in args.task}
    _select(ap, "--width", args.width, sorted({n for v in tasks.values() for n in v["widths"]}))
    if args.width:
        tasks = {k: dict(v, widths=[n for n in v["widths"] if n in args.width]) for k, v in tasks.items()}
    rules = _pairs(params["RULES"])
    _select(ap, "--rule", args.rule, ["/".join(r) for r in rules])
    only = None if not args.rule else [tuple(r.split("/")) for r in args.rule]
    return rules, tasks, params[names["SWEEP"]], params[names["SWEEP_PREFIX"]], only


def main(argv: Sequence[str] | None = None) -> None:
    """Precompute (and cache under ``data/``) every sweep of a notebook's plan (notebooks 05, 06) or every result
    of its PLAN (notebook 07), in full mode, in this process (``python -m nfdlib.run`` runs a sweep plan's depths
    on many workers)."""
    ap = argparse.ArgumentParser(prog="python -m nfdlib.plans", description=main.__doc__)
    ap.add_argument("notebook", help="percent-format notebook source whose parameters cell defines RULES and, for "
                                     "each plan, <PLAN>TASKS, <PLAN>SWEEP and <PLAN>SWEEP_PREFIX (notebook 06), "
                                     "or PLAN (notebook 07)")
    add_sweep_options(ap)
    ap.add_argument("--parts", nargs="+", choices=SCALING_PARTS,
                    help="notebook 07 (a parameters cell that defines PLAN): which parts of its plan to compute "
                         "(default: all)")
    args = ap.parse_args(argv)
    if "PLAN" in notebook_plan(ap, args.notebook, []):  # notebook 07: its scaling grids and the limit
        return scaling_main(ap, args)
    if args.parts:
        ap.error("--parts selects parts of notebook 07's PLAN; this notebook's parameters cell defines no PLAN")
    rules, tasks, sweep, prefix, only = selected_sweep_plan(ap, args)
    run_plan(rules, tasks, sweep, prefix=prefix, use_cache=True, only=only)


# -- notebook 07: scaling grids and the limit
#: The parts of notebook 07's plan, in the order the notebook reads them.
SCALING_PARTS = ("limit", "solver", "real", "families")


def _tune_kwargs(spec: Mapping, fam: str) -> dict:
    """The keyword arguments of :func:`nfdlib.scaling.tune_lr` (and ``tune_result``) for rule ``fam`` of a tuning
    ``spec``."""
    return dict(n=spec["n"], L=spec["L"], lrs=spec["lrs"].get(fam, spec["lrs"]["default"]), seeds=spec["seeds"],
                steps=spec["steps"], batch_size=spec.get("batch_size"), loss=spec.get("loss", "mse"),
                loss_bound=spec.get("loss_bound", 1e6))


def tuned_rates(spec: Mapping, *, cache: bool = True, progress: bool = True) -> dict[str, tuple[dict, dict]]:
    """:func:`nfdlib.scaling.tune_lr` for every rule of ``spec["families"]`` on the small model ``spec["n"],
    spec["L"]`` with that rule's grid ``spec["lrs"][rule]`` (or ``spec["lrs"]["default"]``)."""
    return {fam: tune_lr(fam, spec["task"], **_tune_kwargs(spec, fam), cache=cache, progress=progress)
            for fam in spec["families"]}


def family_sizes(spec: Mapping) -> list[tuple[int, int]]:
    """The sizes of a "cross" design: ``spec["widths"]`` at depth ``spec["L"]`` and ``spec["depths"]`` at width
    ``spec["n"]`` (the cheaper design of the rules where scaling is expected to fail)."""
    sizes = {(int(n), int(spec["L"])) for n in spec["widths"]} | {(int(spec["n"]), int(L)) for L in spec["depths"]}
    return sorted(sizes)


def run_scaling_plan(plan: Mapping, *, parts: Sequence[str] = SCALING_PARTS, cache: bool = True,
                     progress: bool = True) -> dict:
    """Every cached computation of notebook 07, in the order the notebook reads them (``parts`` picks some of
    :data:`SCALING_PARTS`)."""
    for p in parts:
        check_choice("parts", p, SCALING_PARTS)
    out: dict = {}
    if "limit" in parts:
        lim = plan["limit"]
        out["limit_reference"] = limit_reference(plan["limit_solver"], cache=cache, progress=progress)
        out["particle_seeds"] = particle_seeds(plan["limit_solver"], out["limit_reference"], cache=cache,
                                               progress=progress)
        out["limit_runs"] = size_grid("limit", lim["family"], lim["task"], grid_sizes(lim["widths"], lim["depths"],
                                      lim.get("max_cost")), lim["seeds"], lim["steps"], lr=lim["lr"],
                                      T=lim.get("T", 1.0), eval_every=lim.get("eval_every"), cache=cache,
                                      progress=progress)
    if "solver" in parts:
        out["solver_sweeps"] = solver_sweeps(plan["solver_sweeps"], cache=cache, progress=progress)
    if "real" in parts or "families" in parts:
        rates = tuned_rates(plan["tune"], cache=cache, progress=progress)
        out["rates"] = rates
        real = plan["real"]
        common = dict(_real_kwargs(real), cache=cache, progress=progress)
        if "real" in parts:
            out["real_runs"] = size_grid("real", real["family"], real["task"],
                                         grid_sizes(real["widths"], real["depths"], real.get("max_cost")),
                                         real["seeds"], real["steps"], lr=rates[real["family"]][1]["grid_lr"],
                                         **common)
        if "families" in parts:
            fams = plan["families"]
            out["family_runs"] = {f: size_grid("real", f, real["task"], family_sizes(fams), fams["seeds"],
                                               real["steps"], lr=rates[f][1]["grid_lr"], **common)
                                  for f in fams["families"]}
    return out


def _real_kwargs(real: Mapping) -> dict:
    """The training settings notebook 07's grids on the real task share (all but the rate)."""
    return dict(batch_size=real["batch_size"], loss=real["loss"], eval_every=real.get("eval_every"),
                loss_bound=real.get("loss_bound", 1e6))


def _peek(result: CachedResult, directory=None):
    """A cached result's arrays without writing anything: its file, else its merged jobs when all are done, else
    ``None``."""
    if result.is_cached(directory):
        return cache.load_file(result.path(directory))[1]
    if result.ready(directory):
        return result.combine(merge_jobs(result.jobs, directory))
    return None


def scaling_results(plan: Mapping, parts: Sequence[str] = SCALING_PARTS, directory=None
                    ) -> tuple[list[CachedResult], list[Job]]:
    """Every cached file of notebook 07's plan (``parts`` of :data:`SCALING_PARTS`) as a
    :class:`nfdlib.jobs.CachedResult` of its jobs: how ``python -m nfdlib.run`` runs the plan on many workers.

    A grid of the real task trains at the rate tuned for its rule, so its jobs exist only once that tuning is done:
    until then they come back as the second list (their labels and costs, estimated at a placeholder rate)."""
    for p in parts:
        check_choice("parts", p, SCALING_PARTS)
    results: list[CachedResult] = []
    waiting: list[Job] = []
    if "limit" in parts:
        lim = plan["limit"]
        results += limit_results(plan["limit_solver"])
        results += size_grid_results("limit", lim["family"], lim["task"],
                                     grid_sizes(lim["widths"], lim["depths"], lim.get("max_cost")), lim["seeds"],
                                     lim["steps"], lr=lim["lr"], T=lim.get("T", 1.0), eval_every=lim.get("eval_every"))
    if "solver" in parts:
        results += list(solver_sweep_results(plan["solver_sweeps"]).values())
    if "real" in parts or "families" in parts:
        tune, real = plan["tune"], plan["real"]
        tunings = {fam: tune_result(fam, tune["task"], **_tune_kwargs(tune, fam)) for fam in tune["families"]}
        results += list(tunings.values())
        grids = []
        if "real" in parts:
            grids.append((real["family"], grid_sizes(real["widths"], real["depths"], real.get("max_cost")),
                          real["seeds"]))
        if "families" in parts:
            fams = plan["families"]
            grids += [(fam, family_sizes(fams), fams["seeds"]) for fam in fams["families"]]
        for fam, sizes, seeds in grids:
            sweep = _peek(tunings[fam], directory)
            lr = 1.0 if sweep is None else best_rate(sweep)["grid_lr"]
            grid = size_grid_results("real", fam, real["task"], sizes, seeds, real["steps"], lr=lr,
                                     **_real_kwargs(real))
            if sweep is None:
                waiting += [job for result in grid for job in result.jobs]
            else:
                results += grid
    return results, waiting


def experiment_results(experiments: Mapping[str, tuple[str, dict]]) -> list[CachedResult]:
    """The cached experiments of notebooks 03 and 04 (their ``EXPERIMENTS``: name -> ``(kind, config)`` of
    :func:`nfdlib.gia.run_experiment`), each as the :class:`nfdlib.jobs.CachedResult` of its jobs."""
    return [experiment_result(kind, config) for kind, config in experiments.values()]


def scaling_main(parser, args) -> None:
    """The command line for notebook 07 (a parameters cell that defines ``PLAN``): precompute (and cache under
    ``data/``) every result of its plan, in full mode; ``--parts`` picks some."""
    sweep_options = [f"--{k}" for k in ("plan", "task", "width", "rule") if getattr(args, k)]
    if sweep_options:
        parser.error(f"{', '.join(sweep_options)} select notebook 06's sweeps; a notebook that defines PLAN "
                     "takes --parts")
    params = notebook_plan(parser, args.notebook, ["PLAN"])
    t0 = time.perf_counter()
    run_scaling_plan(params["PLAN"], parts=args.parts or SCALING_PARTS, cache=True, progress=True)
    print(f"done in {time.perf_counter() - t0:.0f} s")


__all__ = ["parameters_cell", "notebook_plan", "PLAN_OPTIONS", "missing_from_cache", "sweep_jobs", "finished_depths",
           "merge_plan", "check_job_files", "migrate_partials", "run_plan", "add_sweep_options", "selected_sweep_plan",
           "main", "SCALING_PARTS", "tuned_rates", "family_sizes", "run_scaling_plan", "scaling_results",
           "experiment_results", "scaling_main"]


if __name__ == "__main__":
    main()
