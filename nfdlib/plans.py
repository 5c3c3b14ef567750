"""The plans of long computations and their one command line.

A notebook states the sizes of its long computations as plain data in its cell tagged ``parameters``
(:func:`parameters_cell` executes that cell in full mode). This module turns such a plan into the computations
it names and precomputes them in the background with exactly the notebook's configuration:

    python -m nfdlib.plans notebooks/06_lr_correction.py [--plan P] [--task T] [--width N] [--rule p/b]
    python -m nfdlib.plans notebooks/07_scaling_laws.py [--parts limit solver real families]

* notebooks' parameters cells: :func:`parameters_cell`, :func:`notebook_plan`;
* notebook 06's (and 05's) learning-rate sweeps: one :func:`nfdlib.sweeps.cached_depth_sweep` per task, width
  and rule (:func:`run_plan`), what is missing from the cache (:func:`missing_from_cache`), the depths already
  finished of unfinished sweeps (:func:`partial_depths`, :func:`check_partials`);
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
from .rules import TrainingRule, as_rule
from .scaling import grid_sizes, limit_reference, particle_seeds, size_grid, solver_sweeps, tune_lr
from .sweeps import (
    SWEEP_VERSION,
    cached_depth_sweep,
    depth_file_problem,
    depth_sweep,
    depth_sweep_config,
    partial_dir,
    sweep_name,
)
from .validation import check_choice


# -- notebooks' parameters cells ------------------------------------------------------------------------------
def parameters_cell(path: str) -> dict:
    """Execute the cell tagged ``parameters`` of a percent-format notebook source in full mode
    (``NFD_QUICK=0``) and return its variables: how the sweeps of a notebook are precomputed in the background
    with exactly the notebook's configuration (``python -m nfdlib.plans notebooks/06_lr_correction.py``).

    A missing file, a source without a parameters cell, or a cell that fails raises ``ValueError`` with the file
    and the line of the notebook source where it failed."""
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as err:
        raise ValueError(f"notebook {path!r} cannot be read ({err.strerror or err})") from err
    starts = [m.start() for m in re.finditer(r"^# %%", text, flags=re.M)]
    cells = [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]
    params = [(a, c) for a, c in zip(starts, cells) if re.match(r"[^\n]*tags=\[[^\]]*\"parameters\"", c)]
    if not params:
        raise ValueError(f"notebook {path!r} has no cell tagged parameters")
    start, cell = params[0]
    # Pad with the lines above the cell's body, so that an error names the line of the notebook source.
    body = "\n" * (text.count("\n", 0, start) + 1) + cell.split("\n", 1)[1]
    old = os.environ.get("NFD_QUICK")
    os.environ["NFD_QUICK"] = "0"
    try:
        scope: dict = {}
        exec(compile(body, path, "exec"), scope)  # noqa: S102 - our own notebook source
    except Exception as err:  # noqa: BLE001 - any failure of the cell is reported with its line
        line = err.lineno if isinstance(err, SyntaxError) else next(
            (f.lineno for f in reversed(traceback.extract_tb(err.__traceback__)) if f.filename == path), "?")
        raise ValueError(f"the parameters cell of {path} fails at line {line}: {type(err).__name__}: {err}") \
            from err
    finally:
        if old is None:
            os.environ.pop("NFD_QUICK", None)
        else:
            os.environ["NFD_QUICK"] = old
    return {k: v for k, v in scope.items() if not k.startswith("__")}


def notebook_plan(parser, notebook: str, names: Sequence[str]) -> dict:
    """The variables ``names`` of a notebook's parameters cell, for a command line: every failure (no such file,
    no parameters cell, a cell that fails, a variable it does not define) ends the program through
    ``parser.error`` with one line that says what is wrong and, for a missing variable, which plans exist."""
    try:
        params = parameters_cell(notebook)
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


def _plan_jobs(rules, tasks, sweep, only):
    required = ("depths", "lrs", "seeds", "steps")
    missing = [k for k in required if k not in sweep]
    if missing:
        raise ValueError(f"sweep must give {required}; missing {missing}")
    extra = {k: sweep[k] for k in ("batch_size", "loss_bound", "T", "activation", "eval_every", "train_eval")
             if k in sweep}
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


def partial_depths(rules: Sequence[TrainingRule | tuple[str, str]], tasks: Mapping[str, Mapping], sweep: Mapping, *,
                   prefix: str = "sweep", directory=None) -> dict[tuple, list[int]]:
    """For each sweep of a plan that has no cache file yet (:func:`missing_from_cache`), the depths already
    finished in its partial folder (:func:`partial_dir`), in the plan's order; ``[]`` when none is."""
    return {job: [int(L) for L in sweep["depths"] if (partial_dir(final) / f"L{int(L)}.npz").exists()]
            for job, final in _plan_files(rules, tasks, sweep, prefix, directory) if not final.exists()}


def check_partials(plans: Sequence[tuple], directory=None) -> list[str]:
    """Problems of the folders of finished depths (:func:`partial_dir`; an empty list when there are none): a folder
    that belongs to no unfinished sweep of the given plans (its configuration or :data:`SWEEP_VERSION` changed, or the
    sweep has finished), a file that is not a depth of its plan, unreadable, or missing an array or the plan's
    grid of rates and seeds. ``plans`` holds ``(rules, tasks, sweep, prefix)``, as :func:`run_plan` takes them.
    How ``tests/test_cache.py`` keeps the committed finished depths of long sweeps honest."""
    root = (Path(directory) if directory is not None else cache.data_dir()) / "partial"
    if not root.exists():
        return []
    wanted = {}
    for rules, tasks, sweep, prefix in plans:
        for _job, final in _plan_files(rules, tasks, sweep, prefix, directory):
            if not final.exists():
                wanted[partial_dir(final).name] = sweep
    problems = []
    for folder in sorted(root.iterdir()):
        sweep = wanted.get(folder.name)
        if not folder.is_dir():
            problems.append(f"partial/{folder.name}: a file where only folders of finished depths belong")
            continue
        if sweep is None:
            problems.append(f"partial/{folder.name}: no unfinished sweep of the plans has this key (stale or "
                            "finished: delete it)")
            continue
        depths = {f"L{int(L)}.npz" for L in sweep["depths"]}
        for path in sorted(p for p in folder.iterdir() if not p.name.endswith(".tmp.npz")):  # tmp: being written
            where = f"partial/{folder.name}/{path.name}"
            if path.name not in depths:
                problems.append(f"{where}: not a depth of its plan ({sorted(depths)})")
                continue
            try:
                with np.load(path, allow_pickle=False) as z:
                    part = {k: z[k] for k in z.files}
            except Exception as err:  # noqa: BLE001 - report, do not raise
                problems.append(f"{where}: unreadable ({type(err).__name__})")
                continue
            problem = depth_file_problem(part, int(path.stem[1:]), sweep["lrs"], sweep["seeds"])
            if problem is not None:
                problems.append(f"{where}: {problem}")
    return problems


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


def main(argv: Sequence[str] | None = None) -> None:
    """Precompute (and cache under ``data/``) every sweep of a notebook's plan (notebooks 05, 06) or every result
    of its PLAN (notebook 07), in full mode."""
    ap = argparse.ArgumentParser(prog="python -m nfdlib.plans", description=main.__doc__)
    ap.add_argument("notebook", help="percent-format notebook source whose parameters cell defines RULES and, for "
                                     "each plan, <PLAN>TASKS, <PLAN>SWEEP and <PLAN>SWEEP_PREFIX (notebook 06), "
                                     "or PLAN (notebook 07)")
    ap.add_argument("--plan", default="", help="name of the plan: the prefix of its variables (default: the "
                                               "plain TASKS, SWEEP, SWEEP_PREFIX; e.g. PLATEAU_ reads "
                                               "PLATEAU_TASKS, PLATEAU_SWEEP, PLATEAU_SWEEP_PREFIX)")
    ap.add_argument("--task", action="append", help="only this task key (repeatable)")
    ap.add_argument("--width", action="append", type=int, help="only this width (repeatable)")
    ap.add_argument("--rule", action="append", help="only this rule, as parametrization/block (repeatable)")
    ap.add_argument("--parts", nargs="+", choices=SCALING_PARTS,
                    help="notebook 07 (a parameters cell that defines PLAN): which parts of its plan to compute "
                         "(default: all)")
    args = ap.parse_args(argv)
    if "PLAN" in notebook_plan(ap, args.notebook, []):  # notebook 07: its scaling grids and the limit
        return scaling_main(ap, args)
    if args.parts:
        ap.error("--parts selects parts of notebook 07's PLAN; this notebook's parameters cell defines no PLAN")
    names = {k: args.plan + k for k in ("TASKS", "SWEEP", "SWEEP_PREFIX")}
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
    run_plan(rules, tasks, params[names["SWEEP"]], prefix=params[names["SWEEP_PREFIX"]], use_cache=True, only=only)


# -- notebook 07: scaling grids and the limit
#: The parts of notebook 07's plan, in the order the notebook reads them.
SCALING_PARTS = ("limit", "solver", "real", "families")


def tuned_rates(spec: Mapping, *, cache: bool = True, progress: bool = True) -> dict[str, tuple[dict, dict]]:
    """:func:`nfdlib.scaling.tune_lr` for every rule of ``spec["families"]`` on the small model ``spec["n"],
    spec["L"]`` with that rule's grid ``spec["lrs"][rule]`` (or ``spec["lrs"]["default"]``)."""
    out = {}
    for fam in spec["families"]:
        lrs = spec["lrs"].get(fam, spec["lrs"]["default"])
        out[fam] = tune_lr(fam, spec["task"], n=spec["n"], L=spec["L"], lrs=lrs, seeds=spec["seeds"],
                           steps=spec["steps"], batch_size=spec.get("batch_size"), loss=spec.get("loss", "mse"),
                           loss_bound=spec.get("loss_bound", 1e6), cache=cache, progress=progress)
    return out


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
        common = dict(batch_size=real["batch_size"], loss=real["loss"], eval_every=real.get("eval_every"),
                      loss_bound=real.get("loss_bound", 1e6), cache=cache, progress=progress)
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


__all__ = ["parameters_cell", "notebook_plan", "missing_from_cache", "partial_depths", "check_partials", "run_plan",
           "main", "SCALING_PARTS", "tuned_rates", "family_sizes", "run_scaling_plan", "scaling_main"]


if __name__ == "__main__":
    main()
