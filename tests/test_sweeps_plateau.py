"""Training to a plateau (notebook 06, section 8): the validation split held apart from the test split, the
fused sweep engine against the autograd engines, sweeps read at a given step, and the plateau budget."""

import math

import numpy as np
import pytest
import torch

from nfdlib import cache, engine, optima, plans, stats, sweeps, viz
from nfdlib.data import load_digits, load_mnist1d, make_teacher_task
from nfdlib.jobs import load_job, run_job
from nfdlib.models import ResNet
from nfdlib.training import evaluate


# -- validation split --------------------------------------------------------------------------------------
def _rows(X):
    return {tuple(np.round(r, 6)) for r in X.numpy().astype(np.float64)}


def test_mnist1d_validation_is_disjoint_and_leaves_the_other_splits_alone():
    plain = load_mnist1d(n_train=300, n_test=100, seed=4)
    data = load_mnist1d(n_train=300, n_test=100, seed=4, n_val=200)
    # the training and test examples are the same with or without a validation split
    torch.testing.assert_close(data.X_train, plain.X_train, rtol=0, atol=0)
    torch.testing.assert_close(data.X_test, plain.X_test, rtol=0, atol=0)
    assert data.X_val.shape == (200, 40) and data.labels_val.shape == (200,) and data.has_val
    assert not plain.has_val and plain.X_val is None
    # held apart: no validation input is a training input, and every class is there
    assert not _rows(data.X_val) & _rows(data.X_train)
    assert len(set(data.labels_val.tolist())) == 10
    torch.testing.assert_close(data.Y_val.argmax(1), data.labels_val)
    # scaled with the training statistics, like the test split (so its scale is close to 1, not exactly 1)
    assert abs(float((data.X_val**2).mean()) - 1) < 0.2
    with pytest.raises(ValueError, match="n_val"):
        load_mnist1d(n_train=300, n_test=100, n_val=-1)


def test_teacher_and_digits_validation_splits():
    plain = make_teacher_task(d=5, n_train=30, n_test=20, noise=0.2, seed=1)
    data = make_teacher_task(d=5, n_train=30, n_test=20, noise=0.2, seed=1, n_val=40)
    for k in ("X_train", "Y_train", "X_test", "Y_test"):
        torch.testing.assert_close(getattr(data, k), getattr(plain, k), rtol=0, atol=0)
    assert data.X_val.shape == (40, 5) and data.Y_val.shape == (40, 1) and data.labels_val is None
    assert not _rows(data.X_val) & (_rows(data.X_train) | _rows(data.X_test))
    # the same teacher: a noiseless validation target is the teacher's function, scaled like the training one
    clean = make_teacher_task(d=5, n_train=4000, n_test=20, seed=1, n_val=4000)
    assert float(clean.Y_val.std()) == pytest.approx(float(clean.Y_train.std()), rel=0.05)
    digits = load_digits(n_train=100, n_test=50, n_val=60)
    torch.testing.assert_close(digits.X_train, load_digits(n_train=100, n_test=50).X_train, rtol=0, atol=0)
    assert not _rows(digits.X_val) & (_rows(digits.X_train) | _rows(digits.X_test))
    with pytest.raises(ValueError, match="n_val"):
        load_digits(n_train=1000, n_test=500, n_val=400)  # 1900 > 1797 images


def test_a_sweep_records_validation_loss_and_accuracy():
    data = load_digits(n_train=48, n_test=24, n_val=30, dtype=torch.float64)
    swapped = type(data)(data.name, data.X_train, data.Y_train, data.X_val, data.Y_val, data.labels_train,
                         data.labels_val)

    def make(seed):
        return ResNet(data.d, 10, 12, 3, block="two", seed=seed, dtype=torch.float64)

    kw = dict(batch_size=16, loss="xent", eval_every=2)
    a = engine.train_stacked(make, [0.1, 0.8], [0, 1], data, 5, **kw)
    b = engine.train_stacked(make, [0.1, 0.8], [0, 1], swapped, 5, **kw)
    np.testing.assert_allclose(a["val_loss"], b["test_loss"], rtol=1e-12)
    np.testing.assert_allclose(a["val_acc"], b["test_acc"], rtol=1e-12)
    assert "val_loss" not in b and not np.allclose(a["val_loss"], a["test_loss"])


def test_train_eval_uses_the_first_training_examples():
    data = make_teacher_task(d=4, n_train=40, n_test=10, dtype=torch.float64)

    def make(seed):
        return ResNet(4, 1, 8, 2, block="two", seed=seed, dtype=torch.float64)

    out = engine.train_stacked(make, [0.1], [0], data, 0, train_eval=7)
    model = make(0)
    expected, _ = evaluate(model, data.X_train[:7], data.Y_train[:7], None, "mse")
    whole, _ = evaluate(model, data.X_train, data.Y_train, None, "mse")
    assert out["train_loss"][0, 0] == pytest.approx(expected, rel=1e-12)
    assert abs(whole - expected) > 1e-3  # the subset is not the whole split
    # training is unchanged by the evaluation subset: the test loss after training is the same
    a = engine.train_stacked(make, [0.3], [0], data, 4, batch_size=8, train_eval=7)
    b = engine.train_stacked(make, [0.3], [0], data, 4, batch_size=8)
    np.testing.assert_allclose(a["test_loss"], b["test_loss"], rtol=1e-12)


# -- the fused engine -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("block, activation, loss, parametrization", [
    ("two", "relu", "xent", "depth-mup-corrected"),
    ("two", "tanh", "mse", "completep"),
    ("one", "gelu", "xent", "depth-mup"),
    ("one", "identity", "mse", "mup"),
    ("two", "relu", "mse", "sp"),
])
def test_fused_engine_matches_autograd(block, activation, loss, parametrization):
    data = load_digits(n_train=40, n_test=20, dtype=torch.float64)
    y_out = 10

    def make(seed):
        return ResNet(data.d, y_out, 12, 4, block=block, activation=activation, parametrization=parametrization,
                      T=1.7, seed=seed, dtype=torch.float64)

    # the middle rate diverges for some rules: the engine drops it and carries on with the others
    lrs, seeds = [0.02, 0.1, 1e5, 0.02, 0.1], [0, 0, 0, 1, 1]
    kw = dict(batch_size=16, loss=loss, eval_every=2, loss_bound=1e4)
    fused = engine.train_stacked(make, lrs, seeds, data, 6, engine="fused", **kw)
    ref = engine.train_stacked(make, lrs, seeds, data, 6, engine="bmm", **kw)
    np.testing.assert_array_equal(fused["diverged"], ref["diverged"])
    assert fused["diverged"][2]
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(fused[key], ref[key], rtol=1e-10, atol=1e-13, err_msg=key)
    final = fused["train_loss"][[0, 1, 3, 4], -1]
    assert np.isfinite(final).sum() >= 3 and np.nanmax(final) - np.nanmin(final) > 1e-4  # not vacuous


def test_fused_engine_falls_back_for_other_architectures():
    data = make_teacher_task(d=4, n_train=16, n_test=8, dtype=torch.float64)

    def make(seed, preact=False):
        return ResNet(4, 1, 8, 3, block="two", preact=preact, seed=seed, dtype=torch.float64)

    assert not engine.fused_supported(make(0)) and engine.fused_supported(make(0, preact=True))
    a = engine.train_stacked(make, [0.1, 0.5], [0, 1], data, 4, batch_size=8, engine="fused")
    b = engine.train_loop(make, [0.1, 0.5], [0, 1], data, 4, batch_size=8)
    np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-10)


def test_fused_engine_on_float32_stays_close_to_the_loop():
    """The sweeps run in float32: over many steps the engines agree to float32 rounding, not bitwise."""
    data = load_digits(n_train=64, n_test=32)

    def make(seed):
        return ResNet(data.d, 10, 16, 4, block="two", seed=seed)

    a = engine.train_stacked(make, [0.1, 0.4], [0, 1], data, 30, batch_size=16, loss="xent", eval_every=10)
    b = engine.train_loop(make, [0.1, 0.4], [0, 1], data, 30, batch_size=16, loss="xent", eval_every=10)
    np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-4)


# -- reading a sweep at a step, and the plateau ---------------------------------------------------------------
def _sweep_with_steps():
    steps = np.array([0, 100, 200, 300, 400])
    loss = np.array([[[2.0, 1.0, 0.8, 0.7, 0.69]], [[2.0, 0.9, 0.5, np.nan, np.nan]], [[2.0, 1.5, 1.2, 1.0, 0.9]]])
    return {"lr": np.array([0.1, 0.5, 1.0]), "seed": np.array([0]), "steps": steps, "train_loss": loss,
            "val_loss": loss + 0.1, "diverged": np.array([[False], [True], [False]]),
            "diverged_at": np.array([[-1], [250], [-1]])}


def test_final_metric_at_a_step_keeps_runs_that_diverge_later():
    sweep = _sweep_with_steps()
    assert np.isnan(optima.final_metric(sweep)[1, 0])
    np.testing.assert_allclose(optima.final_metric(sweep, step=200)[:, 0], [0.8, 0.5, 1.2])
    assert np.isnan(optima.final_metric(sweep, step=300)[1, 0])
    sweep["train_loss"][1, 0, 3] = 0.4  # a value recorded at the step of divergence is not trusted
    sweep["diverged_at"][1, 0] = 300
    assert np.isnan(optima.final_metric(sweep, step=300)[1, 0])
    assert optima.best_lr(sweep["lr"], optima.final_metric(sweep, step=200)[:, 0]).grid_lr == 0.5
    with pytest.raises(ValueError, match="step"):
        optima.final_metric(sweep, step=150)
    with pytest.raises(ValueError, match="key"):
        optima.final_metric(sweep, key="val_accuracy")


def test_best_loss_by_step_is_the_envelope_over_rates():
    sweep = _sweep_with_steps()
    np.testing.assert_allclose(optima.best_loss_by_step(sweep, "train_loss")[0], [2.0, 0.9, 0.5, 0.7, 0.69])
    with pytest.raises(ValueError, match="loss"):
        optima.best_loss_by_step(sweep, "test_acc")


def test_plateau_step_finds_where_improvement_stops():
    steps = np.arange(0, 10001, 250)
    curve = 0.3 + np.exp(-steps / 800.0)  # settles: the gain over the last quarter falls below 1% at S
    S = optima.plateau_step(steps, curve)

    def gain(s):  # the fall between the means of the last two quarters, over the evaluations in each
        late = [0.3 + math.exp(-t / 800) for t in steps if 0.75 * s < t <= s]
        early = [0.3 + math.exp(-t / 800) for t in steps if 0.5 * s < t <= 0.75 * s]
        return (np.mean(early) - np.mean(late)) / np.mean(late)

    assert gain(S) < 0.01 <= gain(S - 250) and 4000 < S < 8000
    # a pause that training breaks later is not a plateau
    paused = curve.copy()
    level = curve[steps == 1500][0]
    paused[(steps >= 1500) & (steps < 4000)] = level  # flat for 2500 steps: settled there ...
    paused[steps >= 4000] = level - 0.2 * (1 - np.exp(-(steps[steps >= 4000] - 4000) / 300))  # ... then falls
    assert optima.plateau_step(steps[steps <= 4000], paused[steps <= 4000]) <= 4000
    assert optima.plateau_step(steps, paused) > 4000
    # a curve that is still falling at the end never settles; a rising (overfitting) one has settled
    assert optima.plateau_step(steps, np.exp(-steps / 5000.0)) is None
    assert optima.plateau_step(steps, 1 + steps / 1e4) == 750  # the first step with evaluations in both windows
    with pytest.raises(ValueError, match="steps"):
        optima.plateau_step([0, 0, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="window"):
        optima.plateau_step(steps, curve, window=0.6)


def test_plateau_budget_per_depth():
    steps = np.arange(0, 4001, 200)
    lrs = np.array([0.1, 0.3, 1.0])
    loss = np.empty((2, 3, 2, steps.size))
    for d, tau in enumerate((100.0, 300.0)):  # the deeper network settles later
        for i, lr in enumerate(lrs):
            loss[d, i] = (0.3 - i * 0.05) + np.exp(-steps * lr / tau)
    sweep = {"L": np.array([2, 8]), "lr": lrs, "seed": np.array([0, 1]), "steps": steps, "val_loss": loss,
             "diverged": np.zeros((2, 3, 2), bool)}
    rows = optima.plateau_budget(sweep)
    assert [r["L"] for r in rows] == [2, 8]
    assert rows[0]["plateau_step"] < rows[1]["plateau_step"]
    for r, d in zip(rows, range(2)):
        assert r["plateau_step"] == optima.plateau_step(steps, optima.best_loss_by_step(sweep)[d])
        assert r["gain_last_window"] < 0.01


def test_depth_sweep_records_its_compute_time():
    task = {"name": "teacher", "d": 4, "n_train": 8, "n_test": 4, "n_val": 4}
    out = sweeps.depth_sweep(task, "depth-mup", "two", 8, [2, 3], [0.1, 0.4], [0], 3, progress=False)
    assert out["wall_seconds"].shape == (2,) and np.all(out["cpu_seconds"] > 0)
    assert int(out["threads"]) >= 1 and out["val_loss"].shape == (2, 2, 1, 2)


def test_main_runs_one_plan_filtered(tmp_path, monkeypatch, capsys):
    src = tmp_path / "99_plan.py"
    src.write_text(
        '# %% tags=["parameters"]\n'
        'RULES = [("depth-mup", "two"), ("completep", "two")]\n'
        'TASKS = {}\nSWEEP = {}\nSWEEP_PREFIX = "unused"\n'
        'TINY_TASKS = {"a": {"task": {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4, "n_val": 4},'
        ' "widths": [4, 6]}, "b": {"task": {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}, "widths": [4]}}\n'
        'TINY_SWEEP = {"depths": [2], "lrs": [0.1], "seeds": [0], "steps": 2, "train_eval": 4}\n'
        'TINY_SWEEP_PREFIX = "tiny"\n')
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    plans.main([str(src), "--plan", "TINY_", "--task", "a", "--width", "6", "--rule", "completep/two"])
    files = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.npz"))
    assert files == ["tiny_a_completep_two_n6"]
    with pytest.raises(SystemExit) as stop:
        plans.main([str(src), "--plan", "NOPE_"])
    assert stop.value.code == 2 and "NOPE_TASKS" in capsys.readouterr().err


def test_final_metric_averages_the_last_evaluations():
    sweep = _sweep_with_steps()
    np.testing.assert_allclose(optima.final_metric(sweep, step=200, average=2)[:, 0], [0.9, 0.7, 1.35])
    np.testing.assert_allclose(optima.final_metric(sweep, average=3)[[0, 2], 0], [(0.8 + 0.7 + 0.69) / 3, 3.1 / 3])
    with pytest.raises(ValueError, match="average"):
        optima.final_metric(sweep, step=100, average=3)
    # optima read the same way
    assert optima.seed_mean_optima(sweep, "val_loss", step=200, average=2)[0].grid_lr == 0.5


def test_paired_difference_pairs_by_depth_and_seed():
    a = [{"L": 2, "test_acc_seeds": [0.8, 0.7, 0.9]}, {"L": 4, "test_acc_seeds": [0.6, np.nan, 0.8]}]
    b = [{"L": 2, "test_acc_seeds": [0.7, 0.7, 0.7]}, {"L": 4, "test_acc_seeds": [0.7, 0.5, 0.6]}]
    diff = stats.paired_difference(a, b, "test_acc")
    pairs = np.array([0.1, 0.0, 0.2, -0.1, 0.2])  # the pair with a missing run is left out
    assert diff["pairs"] == 5 and diff["mean"] == pytest.approx(pairs.mean())
    half = 2.7764451051977987 * pairs.std(ddof=1) / math.sqrt(5)  # t(0.975, 4 dof)
    assert diff["lo"] == pytest.approx(pairs.mean() - half) and diff["hi"] == pytest.approx(pairs.mean() + half)
    np.testing.assert_allclose(diff["per_depth"], [0.1, 0.05])
    with pytest.raises(ValueError, match="depths"):
        stats.paired_difference(a, b[:1])
    with pytest.raises(ValueError, match="metric"):
        stats.paired_difference(a, b, "test_loss")


def test_plot_transfer_reads_a_step(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    sweep = _sweep_with_steps()
    sweep["L"] = np.array([4])
    for key in ("train_loss", "test_loss", "val_loss", "diverged", "diverged_at"):
        if key in sweep:
            sweep[key] = sweep[key][None]
    ax = viz.plot_transfer(sweep, "val_loss", curve_optima=optima.seed_mean_optima(sweep, "val_loss", 200), step=200)
    ys = ax.lines[0].get_ydata()
    np.testing.assert_allclose(ys, [0.9, 0.6, 1.3])


def test_run_plan_cached_only_reads_what_exists_and_lists_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    rules = [("depth-mup", "two"), ("completep", "two")]
    tasks = {"t": {"task": {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}, "widths": [4]}}
    plan = {"depths": [2], "lrs": [0.1], "seeds": [0], "steps": 2}
    assert plans.missing_from_cache(rules, tasks, plan, prefix="p") == [("t", 4, *r) for r in rules]
    done = plans.run_plan(rules, tasks, plan, prefix="p", only=[rules[0]], progress=False)
    assert plans.missing_from_cache(rules, tasks, plan, prefix="p") == [("t", 4, *rules[1])]

    def refuse(*args, **kwargs):
        raise AssertionError("cached_only must not compute")

    monkeypatch.setattr(sweeps, "depth_sweep", refuse)
    got = plans.run_plan(rules, tasks, plan, prefix="p", cached_only=True, progress=False)
    assert list(got) == [("t", 4, *rules[0])]
    np.testing.assert_array_equal(got[("t", 4, *rules[0])]["train_loss"], done[("t", 4, *rules[0])]["train_loss"])


def test_finished_depths_of_an_unfinished_sweep_are_listed_resumed_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    rules = [("depth-mup", "two")]
    tasks = {"t": {"task": {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}, "widths": [4]}}
    plan = {"depths": [2, 3, 4], "lrs": [0.1, 0.2], "seeds": [0, 1], "steps": 2}
    todo = [(rules, tasks, plan, "p")]
    assert plans.finished_depths(rules, tasks, plan, prefix="p") == {("t", 4, *rules[0]): []}
    assert plans.check_job_files(todo) == []  # no job file at all
    real, calls = sweeps.lr_sweep, []

    def interrupted(data, p, b, n, L, *args, **kwargs):  # the session ends while depth 4 trains
        calls.append(L)
        if L == 4:
            raise KeyboardInterrupt
        return real(data, p, b, n, L, *args, **kwargs)

    monkeypatch.setattr(sweeps, "lr_sweep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        plans.run_plan(rules, tasks, plan, prefix="p", progress=False)
    assert plans.missing_from_cache(rules, tasks, plan, prefix="p") == [("t", 4, *rules[0])]
    assert plans.finished_depths(rules, tasks, plan, prefix="p") == {("t", 4, *rules[0]): [2, 3]}
    assert plans.check_job_files(todo) == []
    assert plans.merge_plan(rules, tasks, plan, prefix="p") == []  # depth 4 is missing: nothing is written
    jobs = plans.sweep_jobs(rules, tasks, plan, prefix="p")[("t", 4, *rules[0])]
    # what a committed job file can go wrong with: truncated, or left over from a plan that changed
    good = jobs[1].path().read_bytes()
    jobs[1].path().write_bytes(good[: len(good) // 2])
    assert plans.check_job_files(todo) == [f"jobs/{jobs[1].path().name}: corrupt"]
    assert plans.finished_depths(rules, tasks, plan, prefix="p") == {("t", 4, *rules[0]): [2]}
    jobs[1].path().write_bytes(good)
    assert plans.check_job_files([(rules, tasks, dict(plan, steps=3), "p")])[0].endswith("(stale or finished: "
                                                                                       "delete it)")
    # resuming trains only the missing depth, then the job files go: the sweep is whole
    calls.clear()
    monkeypatch.setattr(sweeps, "lr_sweep", lambda *a, **k: (calls.append(a[4]), real(*a, **k))[1])
    done = plans.run_plan(rules, tasks, plan, prefix="p", progress=False)
    assert calls == [4] and list(done[("t", 4, *rules[0])]["L"]) == [2, 3, 4]
    assert plans.finished_depths(rules, tasks, plan, prefix="p") == {}
    assert plans.check_job_files(todo) == [] and not list((tmp_path / "jobs").iterdir())
    whole = sweeps.depth_sweep(tasks["t"]["task"], *rules[0], 4, plan["depths"], plan["lrs"], plan["seeds"],
                               plan["steps"], progress=False)
    for key in ("train_loss", "test_loss", "diverged_at"):  # resumed by depth = computed in one go
        np.testing.assert_array_equal(done[("t", 4, *rules[0])][key], whole[key])


def test_merge_plan_writes_whole_sweeps_from_their_jobs_and_computes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    rules = [("depth-mup", "one"), ("completep", "two")]
    tasks = {"t": {"task": {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}, "widths": [4]}}
    plan = {"depths": [2, 3], "lrs": [0.1, 0.2], "seeds": [0], "steps": 2}
    jobs = plans.sweep_jobs(rules, tasks, plan, prefix="p")
    for job in jobs[("t", 4, *rules[0])]:
        run_job(job)
    run_job(jobs[("t", 4, *rules[1])][0])

    def refuse(*args, **kwargs):
        raise AssertionError("merging must not compute")

    monkeypatch.setattr(sweeps, "lr_sweep", refuse)
    assert plans.merge_plan(rules, tasks, plan, prefix="p") == [("t", 4, *rules[0])]
    assert plans.missing_from_cache(rules, tasks, plan, prefix="p") == [("t", 4, *rules[1])]
    assert plans.finished_depths(rules, tasks, plan, prefix="p") == {("t", 4, *rules[1]): [2]}


def test_old_partial_folders_become_job_files_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    rules = [("depth-mup", "two")]
    tasks = {"t": {"task": {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}, "widths": [4]}}
    plan = {"depths": [2, 3], "lrs": [0.1], "seeds": [0, 1], "steps": 2}
    (job2, job3), = plans.sweep_jobs(rules, tasks, plan, prefix="p").values()
    config = sweeps.depth_sweep_config(tasks["t"]["task"], *rules[0], 4, plan["depths"], plan["lrs"],
                                       plan["seeds"], plan["steps"], loss="mse")
    folder = tmp_path / "partial" / cache.cache_path("p_t_depth-mup_two_n4", config, sweeps.SWEEP_VERSION, "npz").stem
    folder.mkdir(parents=True)
    part = sweeps.depth_part(**job2.config)
    part.pop("threads")  # the old files did not record it
    np.savez(folder / "L2.npz", **part)
    moved = plans.migrate_partials([(rules, tasks, plan, "p")])
    assert len(moved) == 1 and not (tmp_path / "partial").exists()
    back = load_job(job2)
    assert sorted(back) == sorted(part)
    for key in part:
        np.testing.assert_array_equal(back[key], part[key])
    assert plans.finished_depths(rules, tasks, plan, prefix="p") == {("t", 4, *rules[0]): [2]}


def test_notebook_06_reads_its_early_training_sweeps_from_the_committed_cache():
    """The 200-step plan of notebook 06 is read without cached_only: every sweep of it must be in data/ under
    the key the code computes (a change to the key would make the notebook recompute for an hour)."""
    from pathlib import Path

    from nfdlib import cache

    root = Path(__file__).resolve().parent.parent
    if cache.data_dir().resolve() != (root / "data").resolve():
        pytest.skip("NFD_DATA_DIR points elsewhere")
    p = plans.parameters_cell(str(root / "notebooks" / "06_lr_correction.py"))
    assert plans.missing_from_cache(p["RULES"], p["TASKS"], p["SWEEP"], prefix=p["SWEEP_PREFIX"]) == []


def test_best_loss_at_budget_averages_the_best_curve_before_a_budget():
    sweep = _sweep_with_steps()  # best validation curve: 2.1, 1.0, 0.6, 0.8, 0.79 at steps 0 ... 400
    np.testing.assert_allclose(optima.best_loss_at_budget(sweep, 400), [0.79])  # (300, 400]: one evaluation
    np.testing.assert_allclose(optima.best_loss_at_budget(sweep, 400, window=0.5), [(0.8 + 0.79) / 2])
    np.testing.assert_allclose(optima.best_loss_at_budget(sweep, 200, window=0.5), [0.6])
    np.testing.assert_allclose(optima.best_loss_at_budget(sweep, 400, key="train_loss", window=0.5), [0.695])
    two = dict(sweep, L=np.array([2, 4]), val_loss=np.stack([sweep["val_loss"], sweep["val_loss"] * 2]),
               diverged=np.stack([sweep["diverged"]] * 2))
    np.testing.assert_allclose(optima.best_loss_at_budget(two, 400), [0.79, 1.58])  # one value per depth
    with pytest.raises(ValueError, match="step"):
        optima.best_loss_at_budget(sweep, 50)
    with pytest.raises(ValueError, match="window"):
        optima.best_loss_at_budget(sweep, 400, window=1.5)


def test_paired_verdicts_judge_each_reported_metric():
    a = [{"L": 2, "test_acc_seeds": [0.8, 0.82, 0.81], "test_loss_seeds": [0.40, 0.41, 0.39]},
         {"L": 4, "test_acc_seeds": [0.85, 0.84, 0.86], "test_loss_seeds": [0.35, 0.36, 0.34]}]
    b = [{"L": 2, "test_acc_seeds": [0.7, 0.71, 0.69], "test_loss_seeds": [0.5, 0.51, 0.5]},
         {"L": 4, "test_acc_seeds": [0.72, 0.73, 0.7], "test_loss_seeds": [0.46, 0.44, 0.45]}]
    out = stats.paired_verdicts(a, b)
    assert list(out) == ["test_acc", "test_loss"]
    diff, v = out["test_acc"]
    assert diff == stats.paired_difference(a, b, "test_acc") and v.outcome == "agree"  # a is more accurate ...
    assert out["test_loss"][1].outcome == "agree"  # ... and a lower loss is better: a negative difference agrees
    b[0]["test_loss_seeds"] = [0.38, 0.43, 0.40]
    b[1]["test_loss_seeds"] = [0.36, 0.33, 0.36]
    assert stats.paired_verdicts(a, b)["test_loss"][1].outcome == "not resolved"  # equal within the noise
    # the allowed range is the one given: "a has the higher loss" is refuted by the accuracy-like numbers
    flipped = stats.paired_verdicts(b, a, better={"test_acc": (0.0, math.inf)})
    assert list(flipped) == ["test_acc"] and flipped["test_acc"][1].outcome == "disagree"
    no_loss = [{k: v for k, v in r.items() if k != "test_loss_seeds"} for r in a]
    assert list(stats.paired_verdicts(no_loss, b)) == ["test_acc"]  # a metric not reported is left out


def test_compute_time_sums_the_stored_compute():
    results = {"x": {"cpu_seconds": np.array([10.0, 20.0]), "wall_seconds": np.array([12.0, 25.0]),
                     "threads": np.array(2)},
               "y": {"cpu_seconds": np.array([5.0]), "wall_seconds": np.array([6.0]), "threads": np.array(1)},
               "z": {"train_loss": np.zeros(3)}}  # computed before the compute was recorded
    cpu, wall, threads = optima.compute_time(results)
    assert cpu == 35.0 and wall == 43.0 and threads == [1, 2]
    assert optima.compute_time({}) == (0, 0, [])


def test_plans_and_readers_take_training_rules_and_key_results_by_pair(tmp_path, monkeypatch):
    from nfdlib.rules import TRANSFER_RULES, TrainingRule

    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    tasks = {"t": {"task": {"name": "teacher", "d": 3, "n_train": 8, "n_test": 4}, "widths": [4]}}
    plan = {"depths": [2], "lrs": [0.1], "seeds": [0], "steps": 2}
    pairs = [rule.pair for rule in TRANSFER_RULES]
    expected = [("t", 4, *pair) for pair in pairs]
    assert plans.missing_from_cache(TRANSFER_RULES, tasks, plan, prefix="p") == expected
    assert plans.missing_from_cache(pairs, tasks, plan, prefix="p") == expected
    with pytest.raises(ValueError, match="post-activation"):
        plans.missing_from_cache([TrainingRule("depth-mup", "one", preact=False)], tasks, plan, prefix="p")
    drifts = {key: optima.Drift(None, math.nan, math.nan, 0, 0) for key in expected}
    assert list(optima.transfer_outcomes(drifts, TRANSFER_RULES)) == pairs
    case = {("t", 4): drifts[expected[1]]}
    assert optima.cases_of(drifts, TRANSFER_RULES[1]) == optima.cases_of(drifts, pairs[1]) == case
