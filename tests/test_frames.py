"""Tables as pandas DataFrames: records, claims and checks keep every row and column."""

import math

import pytest

from nfdlib.records import Records
from nfdlib.stats import Checks, Claims, interval_verdict

pd = pytest.importorskip("pandas")


def test_records_become_one_row_each_with_missing_cells_as_nan():
    frame = Records([{"n": 64, "L": 4, "value": 1.5}, {"n": 128, "L": 8}]).to_frame()
    assert list(frame.columns) == ["n", "L", "value"] and len(frame) == 2
    assert frame.loc[0, "value"] == 1.5 and math.isnan(frame.loc[1, "value"])


def test_claims_keep_the_interval_and_the_verdict_they_printed():
    claims = Claims()
    claims.add("slope is -1/2", "-0.48 [-0.52, -0.44]", interval_verdict(-0.52, -0.44, allowed=(-0.65, -0.35)),
               echo=False)
    claims.add("no drift", "+0.35 [+0.2, +0.5]", interval_verdict(0.2, 0.5, allowed=(-0.15, 0.15)), echo=False)
    frame = claims.to_frame()
    assert list(frame["verdict"]) == ["agree", "disagree"]
    assert list(frame["lo"]) == [-0.52, 0.2] and list(frame["allowed_hi"]) == [-0.35, 0.15]
    assert frame.loc[1, "measured"] == "+0.35 [+0.2, +0.5]"


def test_checks_keep_error_and_bound(capsys):
    checks = Checks()
    checks.add("identity", 2e-9, 1e-6)
    frame = checks.to_frame()
    assert frame.to_dict("records") == [{"check": "identity", "error": 2e-9, "bound": 1e-6}]


def test_a_depth_sweep_as_tidy_rows_keeps_every_run_and_evaluation():
    from nfdlib import optima, sweeps

    task = {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}
    sweep = sweeps.depth_sweep(task, "depth-mup", "two", 4, [2, 3], [0.1, 50.0], [0, 1], 3, progress=False,
                               loss_bound=10.0)
    rows = optima.sweep_records(sweep)
    assert len(rows) == 2 * 2 * 2 * len(sweep["steps"])
    row = rows.where(L=3, lr=0.1, seed=1, step=int(sweep["steps"][-1]))[0]
    assert row["train_loss"] == float(sweep["train_loss"][1, 0, 1, -1]) and not row["diverged"]
    at = int(sweep["diverged_at"][0, 1, 0])
    assert at >= 0, "the rate 50 should diverge"
    flags = [r["diverged"] for r in rows.where(L=2, lr=50.0, seed=0)]
    assert flags == [int(s) >= at for s in sweep["steps"]]
    assert list(rows.to_frame().columns[:5]) == ["L", "lr", "seed", "step", "diverged"]
