"""The benchmark scripts that cannot run here in full must at least run: benchmarks/gpu_check.py is meant for a
lent GPU machine, so CI runs its dry run (tiny sizes, CPU only) to keep it from rotting."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_dry_run_prints_its_table():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    table = out.stdout.split("| check | CPU |", 1)[1]
    for check in ("explorer update, CPU caps", "NFD solver, decoupled", "NFD solver, reused", "batched sweep"):
        assert check in table
    assert "DISAGREE" not in table


def test_scale_out_benchmark_runs_every_executor_and_agrees_with_serial():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale_out.py"), "--jobs", "2", "--steps", "5"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    header, _, *rows = out.stdout.split("| executor |", 1)[1].splitlines()[:5]
    columns = [c.strip() for c in header.strip(" |").split("|")]
    assert columns[:5] == ["workers", "wall (s)", "one-time (s)", "jobs span (s)", "jobs/hour"], header
    assert [row.split("|")[1].strip() for row in rows[:3]] == ["serial", "processes", "dask"], rows
    for row in rows[:3]:  # wall = one-time + jobs span, each a time, and a finite overhead per job
        cells = dict(zip(columns, [c.strip() for c in row.strip(" |").split("|")[1:]]))
        wall, once, span = (float(cells[k]) for k in ("wall (s)", "one-time (s)", "jobs span (s)"))
        assert span > 0 and once >= 0 and abs(wall - once - span) <= 0.015, row
        assert float(cells["overhead per job (s)"]) == float(cells["overhead per job (s)"]), row
    assert "results identical to the serial run: yes" in out.stdout
