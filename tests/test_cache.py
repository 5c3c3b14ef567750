"""Caches that cannot go stale unnoticed.

* Every file under ``data/`` is readable, of a registered kind, complete, and carries its kind's current version
  (caught in CI without recomputing anything).
* For every registered cached computation a tiny configuration is computed and compared with a stored golden
  reference (``tests/golden/caches.json``, one entry per kind and version). A change of the numbers fails until the
  kind's version constant is bumped, which invalidates the cached files, and the goldens are regenerated for the new
  version::

      python tests/test_cache.py --update   # refuses to overwrite the goldens of an unchanged version

A hash of the source code would invalidate hours of caches on every cosmetic edit; the goldens only react to
changed numbers.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from nfdlib import cache, data, gia, jobs, scaling, sweeps, two_layer
from nfdlib.nfd import runs as nfd_runs
from nfdlib.plans import check_job_files, experiment_results, parameters_cell, scaling_results

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_FILE = Path(__file__).resolve().parent / "golden" / "caches.json"
RTOL, ATOL = 1e-4, 1e-7
TINY = {"d": 3, "n_train": 3, "n_test": 2, "seed": 0}


def _arrays(result, keys) -> dict[str, list]:
    return {k: np.asarray(result[k], float).ravel().tolist() for k in keys}


def _records(rows) -> dict[str, list]:
    return {"value": [float(r["value"]) for r in rows], "quantity": [str(r["quantity"]) for r in rows]}


# kind prefix -> (the module constant holding its version, a tiny computation returning named flat lists)
def _job_round_trip() -> dict:
    with tempfile.TemporaryDirectory() as directory:
        job = jobs.Job("golden", "nfdlib.jobs:demo_job", {"seed": 0, "size": 4, "repeats": 2})
        jobs.run_job(job, directory)
        return jobs.load_job(job, directory)


GOLDEN = {
    "sweep": (lambda: sweeps.SWEEP_VERSION, lambda: _arrays(sweeps.depth_sweep(
        {"name": "teacher", **{k: TINY[k] for k in ("d", "n_train", "n_test")}}, "depth-mup", "two", 8, [2, 3],
        [0.1, 0.4], [0, 1], 3, progress=False), ("train_loss", "test_loss", "diverged_at"))),
    "nfd_net_": (lambda: nfd_runs.VERSION, lambda: _arrays(nfd_runs.network_runs(
        n=16, L=2, seeds=[0, 1], task=TINY, steps=2, cache=False, progress=False), ("f_train", "f_test", "Phi", "G"))),
    "nfd_solver": (lambda: nfd_runs.VERSION, lambda: {
        c: _arrays(nfd_runs.solver_runs(M=32, K=2, seeds=[0], task=TINY, steps=2, coupling=c, cache=False,
                                          progress=False), ("f_train", "G"))["f_train"]
        for c in ("decoupled", "reused")}),
    "nfd_init_moments_": (lambda: nfd_runs.VERSION, lambda: _arrays(nfd_runs.init_moments(
        n=8, L=2, seeds=range(3), task=TINY, cache=False, progress=False), ("Phi_mean", "Phi_var", "G_mean"))),
    "nfd_nondeg_": (lambda: nfd_runs.VERSION, lambda: {
        "net": _arrays(nfd_runs.nondegeneracy_networks(ns=[48], L=2, seeds=[0], task=TINY, steps=2, every=1,
                                                         cache=False, progress=False), ("lam_min",))["lam_min"],
        "solver": _arrays(nfd_runs.nondegeneracy_solver(M=64, K=2, seeds=[0], task=TINY, steps=2, every=1,
                                                          cache=False, progress=False), ("lam_min",))["lam_min"]}),
    "gia_": (lambda: gia.VERSION, lambda: {
        **{f"init_{k}": v for k, v in _records(gia.run_experiment(
            "init_gap", dict(widths=[8], depths=[2], seeds=[0, 1], P=3, d=4), cache=False, progress=False)).items()},
        **{f"coupling_{k}": v for k, v in _records(gia.run_experiment(
            "coupling", dict(widths=[8], depths=[2], seeds=[0, 1], P=3, d=4, steps=2), cache=False,
            progress=False)).items()},
        **{f"paired_{k}": v for k, v in _records(gia.run_experiment(
            "paired", dict(dataset="teacher", dataset_kwargs=dict(d=4, n_train=6, n_test=4, seed=0),
                           runs=[dict(n=8, L=2)], seeds=[0, 1], steps=2, lr=0.3, probe=4), cache=False,
            progress=False)).items()}}),
    "gia_limit_networks": (lambda: gia.VERSION, lambda: _arrays(gia.run_experiment(
        "limit_networks", dict(ns=[8], Ls=[2], seeds=[0], task=TINY, steps=2), cache=False, progress=False),
        ("f_train", "train_loss"))),
    "gia_limit_solver": (lambda: gia.VERSION, lambda: _arrays(gia.run_experiment(
        "limit_solver", dict(Ks=[2], M=32, seeds=[0], task=TINY, steps=2, coupling="reused"), cache=False,
        progress=False), ("f_train", "train_loss"))),
    "collapse_": (lambda: two_layer.COLLAPSE_VERSION, lambda: _records(two_layer.collapse_scan(
        [("depth-mup", "two")], [(8, 2)], lr=0.3, steps=2, seeds=[0], d=4, batch=4, summarize=True,
        progress=False))),
    "scaling_": (lambda: scaling.VERSION, lambda: {
        **_arrays(scaling.train_sizes("depth-mup", {"name": "teacher", **{k: TINY[k] for k in ("d", "n_train",
                                                                                               "n_test")}},
                                      [(8, 2), (16, 3)], [0, 1], 3, lr=0.4), ("train_loss", "params", "flops")),
        "solver": _arrays(scaling.solver_runs(Ks=[2], M=32, seeds=[0], task=TINY, steps=2), ("train_loss",))[
            "train_loss"]}),
    # job files hold what their function computes (goldens above); this one checks the container round trip
    "job_": (lambda: jobs.JOB_VERSION, lambda: _arrays(_job_round_trip(), ("x",))),
    "mnist1d_arrays": (lambda: data.MNIST1D_VERSION, lambda: {
        k: [float(np.asarray(v, float).sum()), *np.asarray(v, float).ravel()[:20].tolist()]
        for k, v in data._mnist1d_arrays(1000).items()}),
}
# The pilot and plateau plans of notebook 06 are depth sweeps: the same computation, the same golden.
GOLDEN["pilot_"] = GOLDEN["plateau_"] = GOLDEN["sweep"]


def _load_goldens() -> dict:
    return json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}


def _differences(got: dict, want: dict) -> list[str]:
    out = []
    for key in sorted(set(got) | set(want)):
        if key not in got or key not in want:
            out.append(f"{key}: present in only one of computed and stored")
            continue
        a, b = got[key], want[key]
        if len(a) != len(b):
            out.append(f"{key}: {len(a)} values computed, {len(b)} stored")
        elif a and isinstance(a[0], str):
            if a != b:
                out.append(f"{key}: the rows differ")
        elif not np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=RTOL, atol=ATOL, equal_nan=True):
            worst = np.nanmax(np.abs(np.asarray(a, float) - np.asarray(b, float)))
            out.append(f"{key}: numbers differ (largest difference {worst:.3g})")
    return out


# -- every stored file ----------------------------------------------------------------------------------------
def test_every_registered_kind_has_a_golden():
    missing = set(cache.KINDS) - set(GOLDEN)
    assert not missing, f"cached computations without a golden test: {missing}"


def test_every_file_in_data_is_readable_complete_and_current():
    files = sorted(p for p in (ROOT / "data").iterdir() if p.suffix in (".json", ".npz"))
    assert files, "data/ holds no cache file"
    problems = [msg for p in files for msg in cache.check_file(p)]
    assert not problems, "\n".join(problems)


#: data/ is cloned with the repository (and fetched by Colab): it stays under this size.
DATA_LIMIT_MB = 100


def test_data_stays_under_its_size_limit():
    size = sum(p.stat().st_size for p in (ROOT / "data").rglob("*") if p.is_file()) / 2**20
    assert 0 < size < DATA_LIMIT_MB, f"data/ holds {size:.1f} MB (limit {DATA_LIMIT_MB} MB)"


def _notebook_experiments() -> dict[str, dict]:
    """The named experiments (``EXPERIMENTS``) of every notebook that has them, in full mode."""
    out = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        if "EXPERIMENTS = " in path.read_text():
            out[path.name] = parameters_cell(str(path))["EXPERIMENTS"]
    return out


def test_every_named_experiment_of_a_notebook_is_cached():
    """Full mode of notebooks 03 and 04 reads each of its EXPERIMENTS from data/: a changed configuration would
    recompute it (python -m nfdlib.run NOTEBOOK computes them), so a missing file fails here instead."""
    if cache.data_dir().resolve() != (ROOT / "data").resolve():
        pytest.skip("NFD_DATA_DIR points elsewhere")
    notebooks = _notebook_experiments()
    assert set(notebooks) >= {"03_gradient_independence.py", "04_true_backprop_limit.py"}
    missing = [f"{nb}: {name}" for nb, experiments in notebooks.items()
               for name, result in zip(experiments, experiment_results(experiments)) if not result.is_cached()]
    assert not missing, missing


def _notebook_sweep_plans() -> list[tuple]:
    """Every depth-sweep plan of the notebooks in full mode: (rules, tasks, sweep, prefix) for each variable
    ``<PLAN>SWEEP_PREFIX`` of a parameters cell."""
    plans = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        if "SWEEP_PREFIX" not in path.read_text():
            continue
        params = parameters_cell(str(path))
        for var in (v for v in params if v.endswith("SWEEP_PREFIX")):
            plan = var[: -len("SWEEP_PREFIX")]
            plans.append((params["RULES"], params[plan + "TASKS"], params[plan + "SWEEP"], params[var]))
    return plans


def test_committed_job_files_belong_to_an_unfinished_result_of_a_notebook():
    """Plans longer than a session are committed a few jobs at a time as job files under data/jobs/ (resumed by the
    next session or by python -m nfdlib.run): depths of notebook 06's sweeps, solves and grid sizes of notebook 07's
    PLAN. A job whose result is whole or whose configuration changed must not linger."""
    if cache.data_dir().resolve() != (ROOT / "data").resolve():
        pytest.skip("NFD_DATA_DIR points elsewhere")
    plans = _notebook_sweep_plans()
    assert {p[3] for p in plans} >= {"sweep_05", "pilot_05", "plateau_05"}, "the notebooks' plans were not found"
    results = scaling_results(parameters_cell(str(ROOT / "notebooks" / "07_scaling_laws.py"))["PLAN"])[0]
    results += [r for experiments in _notebook_experiments().values() for r in experiment_results(experiments)]
    problems = check_job_files(plans, results=results)
    assert not problems, "\n".join(problems)
    assert not (ROOT / "data" / "partial").exists(), "data/partial/ is the old resume mechanism: migrate it to jobs"


def test_check_file_reports_stale_incomplete_unknown_and_unreadable(tmp_path):
    arrays = {"L": [2], "lr": [0.1], "seed": [0], "steps": [0, 1], "train_loss": [[1.0]], "test_loss": [[1.0]],
              "diverged": [False], "diverged_at": [-1]}
    cache.cached("sweep_x", {"a": 1}, lambda: arrays, version=sweeps.SWEEP_VERSION, fmt="npz", directory=tmp_path)
    good = next(tmp_path.glob("sweep_x-*.npz"))
    assert cache.check_file(good) == []
    cache.cached("sweep_x", {"a": 1}, lambda: arrays, version="0-old", fmt="npz", directory=tmp_path)
    stale = [p for p in tmp_path.glob("sweep_x-*.npz") if p != good][0]
    assert any("stale" in msg for msg in cache.check_file(stale))
    with np.load(good) as z:
        kept = {k: z[k] for k in z.files if k != "diverged_at"}
    np.savez(good, **kept)
    assert any("missing ['diverged_at']" in msg for msg in cache.check_file(good))
    cache.cached("nobody_knows", {"a": 1}, lambda: {"x": 1}, version="1", directory=tmp_path)
    assert any("no registered" in msg for msg in cache.check_file(next(tmp_path.glob("nobody_knows-*.json"))))
    bad = tmp_path / "sweep_y-0000.npz"
    bad.write_bytes(b"garbage")
    assert any("unreadable" in msg for msg in cache.check_file(bad))


def test_a_result_missing_a_required_array_is_never_cached(tmp_path):
    with pytest.raises(ValueError, match=r"^compute\(\) for 'sweep_z' returned no \['diverged_at'"):
        cache.cached("sweep_z", {}, lambda: {"L": [2], "lr": [1.0], "seed": [0], "steps": [0], "train_loss": [1.0],
                                             "test_loss": [1.0], "diverged": [False]},
                     version="1", fmt="npz", directory=tmp_path)


# -- goldens ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(GOLDEN))
def test_golden_numbers_of_each_cached_computation(kind):
    version_of, compute = GOLDEN[kind]
    version = version_of()
    stored = _load_goldens().get(kind, {})
    assert version in stored, (f"tests/golden/caches.json has no golden for {kind!r} at version {version!r}: run "
                               "python tests/test_cache.py --update")
    diffs = _differences(compute(), stored[version])
    assert not diffs, (f"the numbers of the cached computation {kind!r} changed at version {version!r}: bump its "
                       "version constant (the cached files under data/ then recompute) and run python "
                       "tests/test_cache.py --update\n" + "\n".join(diffs))


def _update() -> None:
    """Write the goldens of the current versions; an existing golden of an unchanged version must still hold."""
    goldens = _load_goldens()
    for kind, (version_of, compute) in sorted(GOLDEN.items()):
        version, got = version_of(), compute()
        old = goldens.get(kind, {}).get(version)
        if old is not None:
            diffs = _differences(got, old)
            if diffs:
                raise SystemExit(f"{kind}: the numbers changed but the version is still {version!r}; bump it first\n"
                                 + "\n".join(diffs))
            print(f"{kind}: version {version} unchanged")
            continue
        goldens.setdefault(kind, {})[version] = got
        print(f"{kind}: golden written for version {version}")
    GOLDEN_FILE.parent.mkdir(exist_ok=True)
    GOLDEN_FILE.write_text(json.dumps(goldens, indent=0, sort_keys=True) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        raise SystemExit("usage: python tests/test_cache.py --update")
    _update()
