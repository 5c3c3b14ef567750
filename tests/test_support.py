"""config, cache, stats, data, training and diagnostics."""

import json
import math
import warnings

import numpy as np
import pytest
import torch

from nfdlib import cache, config
from nfdlib.data import load_dataset, load_digits, make_teacher_task
from nfdlib.diagnostics import coord_check_depth, coord_check_verdict, coord_check_width
from nfdlib.models import ResNet
from nfdlib.stats import describe_slope, fit_loglog
from nfdlib.training import train


# -- config ---------------------------------------------------------------------------------------------
def test_quick_mode(monkeypatch):
    monkeypatch.setenv("NFD_QUICK", "1")
    assert config.quick_mode()
    monkeypatch.setenv("NFD_QUICK", "0")
    assert not config.quick_mode()
    monkeypatch.setenv("NFD_QUICK", "maybe")
    with pytest.raises(ValueError, match=r"^NFD_QUICK"):
        config.quick_mode()


def test_device_choice(monkeypatch):
    monkeypatch.setenv("NFD_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    assert config.get_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match=r"^device"):
        config.get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"^device 'cuda' was requested but is not available"):
            config.get_device("cuda")


def test_seed_everything():
    config.seed_everything(3)
    a = torch.randn(3), np.random.rand()
    config.seed_everything(3)
    b = torch.randn(3), np.random.rand()
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    with pytest.raises(ValueError, match=r"^seed"):
        config.seed_everything(-1)


# -- cache ----------------------------------------------------------------------------------------------
def test_cache_hits_changes_and_corruption(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"values": [1.0, 2.0, float("nan")], "n": len(calls)}

    cfg = {"L": [2, 4], "lr": 0.1}
    first = cache.cached("demo", cfg, compute, version="1", directory=tmp_path)
    again = cache.cached("demo", cfg, compute, version="1", directory=tmp_path)
    assert len(calls) == 1 and again == first
    cache.cached("demo", {**cfg, "lr": 0.2}, compute, version="1", directory=tmp_path)
    assert len(calls) == 2
    cache.cached("demo", cfg, compute, version="2", directory=tmp_path)
    assert len(calls) == 3
    path = cache.cache_path("demo", cfg, "1", directory=tmp_path)
    path.write_text("{ not json")
    with pytest.warns(UserWarning, match="unreadable"):
        out = cache.cached("demo", cfg, compute, version="1", directory=tmp_path)
    assert len(calls) == 4 and out["n"] == 4
    # A file holding another configuration under this name is not trusted.
    stored = json.loads(path.read_text())
    stored["meta"]["config"]["lr"] = 9
    path.write_text(json.dumps(stored))
    with pytest.warns(UserWarning, match="another configuration"):
        cache.cached("demo", cfg, compute, version="1", directory=tmp_path)
    assert len(calls) == 5
    assert not list(tmp_path.glob("*.tmp"))


def test_cache_npz_roundtrip(tmp_path):
    arrays = {"loss": np.arange(6.0).reshape(2, 3), "L": np.array([2, 4])}
    out = cache.cached("arr", {"a": 1}, lambda: arrays, version="1", fmt="npz", directory=tmp_path)
    again = cache.cached("arr", {"a": 1}, lambda: pytest.fail("recomputed"), version="1", fmt="npz",
                         directory=tmp_path)
    np.testing.assert_array_equal(out["loss"], again["loss"])
    bad = cache.cache_path("arr", {"a": 1}, "1", fmt="npz", directory=tmp_path)
    bad.write_bytes(b"garbage")
    with pytest.warns(UserWarning):
        cache.cached("arr", {"a": 1}, lambda: arrays, version="1", fmt="npz", directory=tmp_path)
    with pytest.raises(ValueError, match=r"^name"):
        cache.cached("a/b", {}, dict, version="1", directory=tmp_path)


# -- stats ----------------------------------------------------------------------------------------------
def test_fit_loglog_recovers_slope():
    x = np.array([4, 8, 16, 32, 64] * 3, float)
    rng = np.random.default_rng(0)
    y = 3.0 * x**-1.0 * np.exp(0.05 * rng.standard_normal(x.size))
    fit = fit_loglog(x, y)
    assert fit.contains(-1.0) and fit.hi - fit.lo < 0.2
    assert "shrinks" in describe_slope(fit, "error", "n")
    flat = fit_loglog(x, 2 + 0 * x)
    assert "flat" in describe_slope(flat, "rms", "L")
    with pytest.raises(ValueError):
        fit_loglog([1, 1], [2, 3])


def test_slope_difference_is_welchs_interval_from_the_raw_residuals():
    from scipy import stats as st

    from nfdlib.stats import slope_difference

    rng = np.random.default_rng(3)
    x = np.array([2, 4, 8, 16, 32, 64] * 3, float)
    ya = x**0.3 * np.exp(0.2 * rng.standard_normal(x.size))
    xb = np.array([2, 4, 8, 16, 32, 64] * 2, float)  # unequal sizes and noise: Welch, not a pooled variance
    yb = x[:12] ** 0.0 * np.exp(0.05 * rng.standard_normal(xb.size))
    d = slope_difference(fit_loglog(x, ya), fit_loglog(xb, yb))

    def slope_se(xx, yy):  # straight from the residuals of a least-squares line in log-log
        lx, ly = np.log(xx), np.log(yy)
        k, c = np.polyfit(lx, ly, 1)
        return k, math.sqrt(np.sum((ly - k * lx - c) ** 2) / (lx.size - 2) / np.sum((lx - lx.mean()) ** 2))

    (ka, sa), (kb, sb) = slope_se(x, ya), slope_se(xb, yb)
    dof = (sa**2 + sb**2) ** 2 / (sa**4 / (x.size - 2) + sb**4 / (xb.size - 2))
    half = st.t.ppf(0.975, dof) * math.hypot(sa, sb)
    assert d.slope == pytest.approx(ka - kb) and d.points == 30
    assert (d.lo, d.hi) == pytest.approx((ka - kb - half, ka - kb + half), rel=1e-9)
    # undefined (a fit through two points) stays undefined; fits at other levels are refused
    two = fit_loglog([2, 4], [1.0, 2.0])
    assert math.isnan(slope_difference(two, fit_loglog(x, ya)).lo)
    with pytest.raises(ValueError, match="level"):
        slope_difference(fit_loglog(x, ya, level=0.9), fit_loglog(xb, yb))


def test_slope_difference_covers_the_true_difference_95_percent_of_the_time():
    from nfdlib.stats import slope_difference

    rng = np.random.default_rng(0)
    x = np.array([2, 4, 8, 16, 32, 64] * 3, float)
    covered = 0
    for _ in range(400):
        a = fit_loglog(x, x**0.25 * np.exp(0.3 * rng.standard_normal(x.size)))
        b = fit_loglog(x, x**0.25 * np.exp(0.1 * rng.standard_normal(x.size)))
        covered += slope_difference(a, b).contains(0.0)
    assert 0.92 <= covered / 400 <= 0.98


# -- data and training ----------------------------------------------------------------------------------
def test_datasets_are_normalized_and_reproducible():
    a, b = load_digits(200, 100, seed=1), load_digits(200, 100, seed=1)
    assert torch.equal(a.X_train, b.X_train)
    assert a.X_train.pow(2).mean().item() == pytest.approx(1.0, rel=1e-4)
    assert a.Y_train.shape == (200, 10) and a.labels_train.shape == (200,)
    t = make_teacher_task(d=8, n_train=50, n_test=20, seed=0)
    assert t.Y_train.std().item() == pytest.approx(1.0, rel=0.05)
    with pytest.raises(ValueError, match=r"^name"):
        load_dataset("cifar100")
    with pytest.raises(ValueError, match=r"^n_train"):
        load_digits(5000, 10)


def test_mnist1d_loads():
    data = load_dataset("mnist1d", n_train=300, n_test=100)
    assert data.X_train.shape == (300, 40) and data.num_outputs == 10


def test_training_learns_and_divergence_is_recorded():
    data = load_digits(300, 100, seed=0)
    m = ResNet(64, 10, 64, 4, seed=0)
    res = train(m, data, lr=1.0, steps=40, batch_size=64, eval_every=10)
    assert not res.diverged and res.train_loss[-1] < 0.7 * res.train_loss[0]
    assert res.test_acc[-1] > 0.5
    bad = train(ResNet(64, 10, 64, 4, seed=0), data, lr=1e4, steps=20, eval_every=1)
    assert bad.diverged and bad.diverged_at is not None and math.isnan(bad.final())
    with pytest.raises(ValueError, match=r"^lr"):
        train(m, data, lr=float("nan"), steps=1)
    with pytest.raises(ValueError, match=r"^loss"):
        train(m, data, lr=0.1, steps=1, loss="hinge")


def test_training_reproducible_from_seed():
    data = load_digits(200, 50, seed=0)
    runs = [train(ResNet(64, 10, 32, 3, seed=4), data, lr=0.05, steps=10, batch_size=32, seed=7) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].train_loss, runs[1].train_loss)


# -- coord checks ---------------------------------------------------------------------------------------
def test_coord_check_depth_separates_depth_mup_from_mup():
    depths = [2, 4, 8, 16]
    dm = coord_check_depth("depth-mup", depths, n=64, steps=2, seeds=(0, 1, 2), progress=False)
    verdict = coord_check_verdict(dm, "L", "h_rms", step=0)
    assert abs(verdict.fit.slope) < 0.1 and verdict.flat and not verdict.unstable
    assert verdict.flatness.agrees and verdict.flatness.claim == "+0 +- 0.1" and verdict.growth.disagrees
    # "flat" is an equivalence claim: with a tolerance narrower than the interval it is not resolved
    tight = coord_check_verdict(dm, "L", "h_rms", step=0, flat_tol=0.001)
    assert tight.flatness.outcome == "not resolved" and not tight.flat
    # the per-step change of three seeds is too noisy to call flat within 0.1, but it clearly does not blow up
    updates = coord_check_verdict(dm, "L", "dh_rms")
    assert not updates.flatness.disagrees and updates.growth.disagrees and not updates.unstable
    mup = coord_check_depth("mup", depths, n=64, steps=1, seeds=(0, 1), lr=0.001, progress=False)
    verdict = coord_check_verdict(mup, "L", "h_rms", step=0)
    assert verdict.fit.slope > 0.5 and verdict.unstable and not verdict.flat and verdict.ratio > 10


def test_coord_check_width_records_and_divergence():
    rec = coord_check_width("sp", [16, 64], L=2, steps=2, seeds=(0,), lr=1e3, progress=False,
                            block="two")
    assert {"h_rms", "dh_rms", "z_rms", "dz_rms", "f_rms", "df_rms"} <= set(rec.unique("quantity"))
    assert any(r["diverged"] for r in rec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        verdict = coord_check_verdict(rec, "n", "df_rms")
    assert "UNSTABLE" in verdict.text and verdict.diverged_at and verdict.unstable
    # a divergence is an exponent of +inf: it agrees with "blows up" and disagrees with "flat"
    assert verdict.growth.agrees and verdict.flatness.disagrees and not verdict.flat
    with pytest.raises(ValueError, match=r"^widths must"):
        coord_check_width("sp", [0], L=2, progress=False)


def test_markdown_table():
    from nfdlib.stats import markdown_table

    table = markdown_table(["claim", "measured"], [("a | b", 1)])
    assert table.splitlines()[2] == "| a \\| b | 1 |"
    with pytest.raises(ValueError, match=r"^each row must have 2 cells"):
        markdown_table(["a", "b"], [(1,)])


def test_plot_band_spreads():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nfdlib.viz import plot_band

    _, ax = plt.subplots()
    line = plot_band(ax, [1, 2], [[1.0, 3.0], [2.0, float("nan")]], "x", spread="se")
    np.testing.assert_allclose(line.get_ydata(), [2.0, 2.0])
    assert plot_band(ax, [1], [[float("nan")]], "y") is None
    with pytest.raises(ValueError, match=r"^spread"):
        plot_band(ax, [1], [[1.0]], spread="iqr")
    plt.close("all")


def test_mnist1d_num_samples():
    from nfdlib.data import mnist1d_num_samples

    assert mnist1d_num_samples(4000, 1000) == 5000  # the benchmark's standard generation
    assert mnist1d_num_samples(4001, 10) == 10000
    assert mnist1d_num_samples(20000, 2000) == 25000
    assert mnist1d_num_samples(100, 2001) == 15000  # the test split is the 20% that needs the samples


def test_mnist1d_beyond_the_default_size_is_generated_and_cached(tmp_path, monkeypatch):
    from nfdlib.data import load_mnist1d

    monkeypatch.setenv("NFD_DATA_DIR", str(tmp_path))
    first = load_mnist1d(n_train=4500, n_test=50, seed=3)
    assert first.X_train.shape == (4500, 40) and first.labels_train.shape == (4500,)
    files = list(tmp_path.glob("mnist1d_arrays-*.npz"))
    assert len(files) == 1
    again = load_mnist1d(n_train=4500, n_test=50, seed=3)  # read back from the file
    assert torch.equal(first.X_train, again.X_train) and torch.equal(first.labels_test, again.labels_test)
    assert len(set(first.labels_train.tolist())) == 10
    with pytest.raises(ValueError, match=r"^n_train must be an integer >= 1"):
        load_mnist1d(n_train=0)
