"""Head-less tests of the live widgets: set controls' values as a slider move would, and check what each panel
computed, that failures are displayed rather than raised, and that revisited settings come from the cache."""

import numpy as np
import pytest
import torch

from nfdlib import explore as ex
from nfdlib import widgets

SMALL = {"n": 32, "L": 4, "steps": 3, "seeds": 2}


def growth(result):
    h = result["networks"]["h_rms_init"]
    return float(h[:, -1].mean() / h[:, 0].mean())


def own_update(result, rule):
    return float(np.sqrt(np.mean(result["collapse"][rule]["dz_own"] ** 2)))


@pytest.fixture
def memo():
    return ex.Memo()


def test_explorer_draws_on_creation(memo):
    app = widgets.explorer(memo=memo, **SMALL)
    assert app.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert app.error is None and app.updates == 1 and app.computed == 1
    assert "device" in app.status.value and "computed" in app.status.value
    r = app.result
    assert r["networks"]["h_rms_init"].shape == (2, 5) and r["networks"]["loss"].shape == (2, 4)
    assert set(r["limit"]) == {"decoupled", "reused"}  # depth-muP one-layer: the limit is drawn
    assert r["limit"]["reused"]["loss"].shape == (4,) and r["gap"]["match"] == "reused"
    assert r["collapse"] is None
    assert np.all(np.isfinite(r["networks"]["h_T"])) and r["networks"]["h_T"].shape == (2, 32)


def test_depth_slider_leaves_depth_mup_flat_and_blows_up_mup(memo):
    app = widgets.explorer(memo=memo, **SMALL)
    shallow = growth(app.result)
    app.controls["L"].value = 32
    assert app.result["config"].L == 32 and app.result["networks"]["h_rms_init"].shape == (2, 33)
    deep = growth(app.result)
    assert deep == pytest.approx(shallow, rel=0.15)  # panel (a) flat in depth under depth-muP
    app.controls["parametrization"].value = "mup"  # no branch multiplier: the variance compounds
    assert growth(app.result) > 10 * deep


def test_correction_lifts_the_collapse_panel(memo):
    app = widgets.explorer(memo=memo, **{**SMALL, "block": "two"})
    at4 = {rule: own_update(app.result, rule) for rule in ex.COLLAPSE_RULES}
    app.controls["L"].value = 16
    at16 = {rule: own_update(app.result, rule) for rule in ex.COLLAPSE_RULES}
    # depth-muP: the first internal layer's own update falls like L^-1/2 (here 4x deeper: about 1/2) ...
    assert 0.35 < at16["depth-mup"] / at4["depth-mup"] < 0.7
    # ... the correction holds it (and one step apart the two rules differ by exactly sqrt(L): same gradient).
    assert 0.75 < at16["depth-mup-corrected"] / at4["depth-mup-corrected"] < 1.33
    assert at16["depth-mup-corrected"] / at16["depth-mup"] == pytest.approx(4.0, rel=1e-3)
    assert app.result["limit"] is None  # no solver for two-layer blocks


def test_revisited_settings_come_from_the_cache(memo):
    app = widgets.explorer(memo=memo, **SMALL)
    app.controls["L"].value = 8
    computed, misses = app.computed, memo.misses
    app.controls["L"].value = 4  # back to the first setting: neither computed nor drawn again
    assert app.computed == computed and memo.misses == misses
    assert "figure from cache" in app.status.value
    app.controls["backward"].value = "decoupled"  # new networks, but the solves do not depend on the backward
    assert memo.misses == misses + 1
    assert app.result["cached"] == {"networks": False, "NFD decoupled": True, "NFD reused": True}
    assert app.result["gap"]["match"] == "decoupled"


def test_status_says_computing_while_a_new_setting_computes(memo, monkeypatch):
    app = widgets.explorer(memo=memo, **SMALL)
    seen, render = [], app._render

    def watching(values):
        seen.append(app.status.value)  # what the reader sees while the kernel is busy
        return render(values)

    monkeypatch.setattr(app, "_render", watching)
    app.controls["L"].value = 8
    assert len(seen) == 1 and "computing" in seen[0]
    assert "computing" not in app.status.value  # replaced by the result's status line
    app.controls["L"].value = 4  # a revisit is drawn from the memo without a "computing" flash
    assert len(seen) == 1


def test_caps_on_a_cpu_keep_the_largest_update_small():
    """The CPU caps bound the cost n^2 L steps seeds of the networks, the explorer's dominant term, so that the
    corner of the sliders stays within tens of seconds (benchmarks/widgets.py measures it); the GPU gets more."""
    cpu, cuda = ex.CAPS["cpu"], ex.CAPS["cuda"]
    assert cpu.n ** 2 * cpu.L * cpu.steps * cpu.seeds <= 512 ** 2 * 64 * 20 * 4
    assert cuda.n > cpu.n and cuda.L > cpu.L


def test_divergence_is_shown_not_raised(memo):
    app = widgets.explorer(memo=memo, **{**SMALL, "parametrization": "sp", "L": 16})
    app.controls["eta"].value = 8.0
    assert app.error is None
    assert np.all(app.result["networks"]["diverged_at"] >= 0)
    assert app.image.value[:4] == b"\x89PNG"


def test_a_failing_part_is_a_message_in_its_panel(memo, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(ex, "run_solver", broken)
    app = widgets.explorer(memo=memo, **SMALL)
    assert app.error is None  # the other panels still drew
    assert "solver exploded" in app.message.value and "nfd-error" in app.message.value
    assert app.result["limit"]["reused"] == {"error": "RuntimeError: solver exploded"}
    assert app.result["gap"]["reused"] != app.result["gap"]["reused"]  # NaN, not a made-up number


def test_a_failing_update_keeps_the_widget_alive(memo, monkeypatch):
    app = widgets.explorer(memo=memo, **SMALL)
    before = app.image.value

    def broken(*args, **kwargs):
        raise ValueError("n must be an integer >= 2, got 0")

    monkeypatch.setattr(ex, "explore", broken)
    app.controls["L"].value = 16  # would raise inside the callback; must not
    assert app.error == "ValueError: n must be an integer >= 2, got 0"
    assert "could not be computed" in app.message.value and app.image.value == before
    monkeypatch.undo()
    app.controls["L"].value = 8
    assert app.error is None and app.message.value == ""


def test_caps_shrink_sizes_and_say_so(memo):
    caps = ex.Caps(n=64, L=8, steps=3, seeds=2, M=128, K=4)
    result = ex.explore(ex.ExploreConfig(n=1024, L=32, steps=3, seeds=2), caps=caps, memo=memo)
    assert result["config"].n == 64 and result["config"].L == 8
    assert "n 1024 -> 64" in result["notes"] and "L 32 -> 8" in result["notes"]
    assert "solver K 8 -> 4" in result["notes"] and result["limit"]["decoupled"]["K"] == 4
    assert result["requested"].n == 1024


def test_solver_particles_suffice_for_the_reused_terms():
    M, K, notes = ex.solver_sizes(ex.ExploreConfig(n=32, L=4, steps=10, P=8), ex.CAPS["cpu"])
    assert M >= 3 * 11 * 8 and K == 4 and notes == []


@pytest.mark.parametrize("field, value, message", [
    ("n", 0, r"^n must be an integer >= 2, got 0"),
    ("parametrization", "depth", r"^parametrization must be one of 'sp', "),
    ("block", "three", r"^block must be one of 'one', 'two'; got 'three'"),
    ("eta", -1.0, r"^eta must be > 0, got -1.0"),
    ("preact", "yes", r"^preact must be True or False, got 'yes'"),
])
def test_config_refuses_bad_input(field, value, message):
    with pytest.raises(ValueError, match=message):
        ex.ExploreConfig(**{field: value})


def test_explore_refuses_unknown_parts():
    with pytest.raises(ValueError, match=r"^parts must be one of 'networks', 'limit', 'collapse'; got 'kernel'"):
        ex.explore(ex.ExploreConfig(**SMALL), parts=("kernel",))


def test_notebook_widgets_build_and_respond(memo):
    coord = widgets.coord_check_widget(memo=memo, n=32, steps=2, seeds=1)
    assert set(coord.controls) == {"L", "parametrization", "eta"} and coord.result["limit"] is None
    limit = widgets.limit_widget(memo=memo, **SMALL)
    limit.controls["n"].value = 64
    assert limit.result["config"].n == 64 and set(limit.result["limit"]) == {"decoupled", "reused"}
    collapse = widgets.collapse_widget(memo=memo, n=32, L=4, seeds=1)
    assert set(collapse.result["collapse"]) == set(ex.COLLAPSE_RULES)
    collapse.controls["parametrization"].value = "depth-mup"  # correction off: depth-muP alone
    assert set(collapse.result["collapse"]) == {"depth-mup"}


def fake_sweep():
    rng = np.random.default_rng(0)
    depths, lrs = np.array([2, 8, 32]), 2.0 ** np.arange(-2, 3)
    # loss = (log2 lr - log2 best(L))^2 + 0.1, best rate halving per 4x depth; seed noise; one diverged run
    best = 1 - np.log2(depths) / 2
    loss = (np.log2(lrs)[None, :, None] - best[:, None, None]) ** 2 + 0.1 + 0.01 * rng.random((3, 5, 2))
    diverged = np.zeros((3, 5, 2), bool)
    diverged[2, 0, 1] = True
    return {"L": depths, "lr": lrs, "train_loss": loss[..., None], "diverged": diverged}


def test_transfer_widget_reads_the_chosen_rate():
    sweep = fake_sweep()
    app = widgets.transfer_widget({"fake": sweep})
    assert app.error is None
    app.controls["lr"].value = 0.5
    assert app.result["lr"] == 0.5
    assert np.array_equal(app.result["at_rate"], sweep["train_loss"][:, 1, :, -1])
    # each depth's optimum (dots): 2^0.5 at L=2 and 2^-0.5 at L=8, as planted
    assert app.result["optima"][:2] == pytest.approx([2**0.5, 2**-0.5], rel=0.1)
    app.controls["lr"].value = 0.25  # the rate at which one seed of L=32 diverged
    assert np.isnan(app.result["at_rate"][2, 1]) and app.image.value[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"^sweeps_by_label must hold at least one sweep"):
        widgets.transfer_widget({})


def test_panels_draw_every_failure_as_text():
    cfg = ex.ExploreConfig(**SMALL)
    broken = {"config": cfg, "networks": {"error": "RuntimeError: x"}, "limit": None, "collapse": None,
              "gap": None}
    fig = widgets.draw_panels(broken, "abcdu")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sum("RuntimeError: x" in t for t in texts) == 4
    with pytest.raises(ValueError, match=r"^panels must be letters from 'aubcd'"):
        widgets.draw_panels(broken, "z")


def test_explore_runs_on_one_cpu_thread_and_restores_the_setting(memo, monkeypatch):
    seen, real = [], ex.run_networks

    def watching(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(ex, "run_networks", watching)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ex.explore(ex.ExploreConfig(**SMALL), device="cpu", memo=memo, parts=("networks",))
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
