"""Head-less tests of the live widgets: set controls' values as a slider move would, and check what each panel
computed, that failures are displayed rather than raised, and that revisited settings come from the cache."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from nfdlib import explore as ex
from nfdlib import widgets
from nfdlib.widgets.explore_views import _config_controls

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
    assert M == ex.LIMIT_PARTICLES and K == 4 and notes == []
    for caps in ex.CAPS.values():  # at every device's largest steps, M is three times the reused history or more
        assert caps.M == ex.LIMIT_PARTICLES and caps.M >= 3 * (caps.steps + 1) * ex.ExploreConfig().P


# Small sizes for the tests of the limit and the memo: 2 solves of 128 particles.
TINY_CAPS = ex.Caps(n=512, L=16, steps=8, seeds=4, M=128, K=16)


def test_the_limit_does_not_move_with_the_width():
    """The limit beside a width-32 network is the one beside a width-256 network (not a solve of n particles)."""
    caps = replace(TINY_CAPS, M=512)
    narrow, wide = (ex.explore(ex.ExploreConfig(**{**SMALL, "n": n}), caps=caps, memo=ex.Memo(), solves=2)
                    for n in (32, 256))
    for coupling in ("decoupled", "reused"):
        assert narrow["limit"][coupling]["M"] == wide["limit"][coupling]["M"] == 512
        np.testing.assert_array_equal(narrow["limit"][coupling]["loss"], wide["limit"][coupling]["loss"])
        np.testing.assert_array_equal(narrow["limit"][coupling]["h_T"], wide["limit"][coupling]["h_T"])


def test_a_width_move_reuses_the_limit(memo):
    ex.explore(ex.ExploreConfig(**SMALL), caps=TINY_CAPS, memo=memo, solves=2)
    moved = ex.explore(ex.ExploreConfig(**{**SMALL, "n": 64}), caps=TINY_CAPS, memo=memo, solves=2)
    assert moved["cached"] == {"networks": False, "NFD decoupled": True, "NFD reused": True}


def test_the_limit_is_the_mean_of_independent_solves_with_its_standard_error():
    cfg = ex.ExploreConfig(**SMALL)
    limit = ex.run_limit(cfg, "reused", 128, 4, solves=3)
    singles = [ex.run_solver(cfg, "reused", 128, 4, seed=seed)["loss"] for seed in range(3)]
    np.testing.assert_allclose(limit["loss"], np.mean(singles, axis=0), rtol=1e-12)
    np.testing.assert_allclose(limit["loss_se"], np.std(singles, axis=0, ddof=1) / np.sqrt(3), rtol=1e-12)
    assert limit["h_T"].shape == (3 * 128,) and limit["final"].shape == (3,)
    assert np.all(limit["loss_se"][1:] > 0)  # the solves differ: each has its own seed
    one = ex.run_limit(cfg, "reused", 128, 4, solves=1)
    assert np.all(np.isnan(one["loss_se"]))  # one solve: no error estimate, never a zero one


# Every field of a configuration, and another value for it. A memo key that leaves out a field the part depends
# on serves a stale result when only that field changes.
FIELD_CHANGES = [("n", 64), ("L", 8), ("T", 0.5), ("eta", 0.25), ("steps", 2), ("parametrization", "ntk"),
                 ("preact", False), ("backward", "decoupled"), ("activation", "tanh"), ("seeds", 1), ("P", 6),
                 ("d", 6)]


def _parts(result: dict) -> dict:
    """The arrays each part of an explore() result computed, by name."""
    out = {}
    if result["networks"] is not None:  # a part that failed carries its error message instead of arrays
        out["networks loss"] = result["networks"].get("loss", result["networks"].get("error"))
        out["networks h_T"] = result["networks"].get("h_T", result["networks"].get("error"))
    for coupling, res in (result["limit"] or {}).items():
        out[f"limit {coupling}"] = res.get("loss", res.get("error"))
    for rule, res in (result["collapse"] or {}).items():
        out[f"collapse {rule}"] = res.get("dz_own", res.get("error"))
    return out


@pytest.mark.parametrize("block", ["one", "two"])
@pytest.mark.parametrize("field, value", FIELD_CHANGES, ids=[f for f, _ in FIELD_CHANGES])
def test_the_memo_never_serves_a_stale_part(field, value, block):
    """After a one-field move, what the memo serves equals a fresh computation, part by part (a key without
    ``eta`` kept the previous rate's limit curves)."""
    base = ex.ExploreConfig(**{**SMALL, "block": block})
    moved = replace(base, **{field: value})
    memo = ex.Memo()
    ex.explore(base, caps=TINY_CAPS, memo=memo, solves=2)
    served = _parts(ex.explore(moved, caps=TINY_CAPS, memo=memo, solves=2))
    fresh = _parts(ex.explore(moved, caps=TINY_CAPS, memo=ex.Memo(), solves=2))
    assert served.keys() == fresh.keys()
    for name in fresh:
        np.testing.assert_array_equal(served[name], fresh[name], err_msg=f"{name} is stale after a {field} move")


def test_the_limit_key_names_what_a_solve_depends_on():
    cfg = ex.ExploreConfig(**SMALL)
    key = dict(ex.limit_key(cfg, 128, 4, 2))
    assert key == {"T": 1.0, "eta": 0.5, "steps": 3, "activation": "relu", "P": 8, "d": 8, "M": 128, "K": 4,
                   "solves": 2}
    for field, value in FIELD_CHANGES:  # the fields that do not change a solve leave the key alone
        same = ex.limit_key(replace(cfg, **{field: value}), 128, 4, 2) == ex.limit_key(cfg, 128, 4, 2)
        assert same == (field not in key), field
    assert ex.limit_key(cfg, 256, 4, 2) != ex.limit_key(cfg, 128, 4, 2)
    assert ex.limit_key(cfg, 128, 8, 2) != ex.limit_key(cfg, 128, 4, 2)
    assert ex.limit_key(cfg, 128, 4, 3) != ex.limit_key(cfg, 128, 4, 2)


def test_the_gap_interval_covers_the_true_difference():
    """Welch's interval for networks minus limit (4 seeds, 4 solves, unequal spreads) covers the true difference
    in about 95% of simulated data sets with a known answer."""
    rng = np.random.default_rng(7)
    covered, trials = 0, 4000
    for _ in range(trials):
        a, b = rng.normal(1.0, 0.3, 4), rng.normal(0.8, 0.1, 4)
        lo, hi = ex.difference_interval(a.mean(), a.std(ddof=1) / 2, 3, b.mean(), b.std(ddof=1) / 2, 3)
        covered += lo <= 0.2 <= hi
    assert 0.935 <= covered / trials <= 0.965
    assert np.isnan(ex.difference_interval(1.0, float("nan"), 3, 0.5, 0.1, 3)).all()


def test_gap_verdict_judges_the_interval_against_a_relative_tolerance():
    def gap(lo, hi):
        return {"reused": 0.02, "gap_reused_interval": (lo, hi), "decoupled": 0.04,
                "gap_decoupled_interval": (-0.001, 0.001)}

    assert ex.gap_verdict(gap(-0.001, 0.0015), "reused", 0.1).outcome == "agree"  # within +-0.002
    assert ex.gap_verdict(gap(0.003, 0.004), "reused", 0.1).outcome == "disagree"  # 10% of 0.02, not 0.1
    assert ex.gap_verdict(gap(0.001, 0.003), "reused", 0.1).outcome == "not resolved"
    assert ex.gap_verdict(gap(0.003, 0.004), "decoupled", 0.1).outcome == "agree"  # the decoupled interval
    assert ex.gap_verdict(gap(float("nan"), float("nan")), "reused", 0.1).outcome == "not resolved"
    with pytest.raises(ValueError, match=r"^coupling must be one of 'decoupled', 'reused'"):
        ex.gap_verdict(gap(0, 0), "gia", 0.1)


def test_particle_verdict_tells_one_law_from_another():
    rng = np.random.default_rng(3)
    same = ex.particle_verdict(rng.normal(size=4000), rng.normal(size=8000), 0.1)[1]
    wider = ex.particle_verdict(rng.normal(size=4000), 2 * rng.normal(size=8000), 0.1)[1]
    few = ex.particle_verdict(rng.normal(size=30), rng.normal(size=8000), 0.1)[1]
    assert (same.outcome, wider.outcome, few.outcome) == ("agree", "disagree", "not resolved")
    with pytest.raises(ValueError, match=r"^units and particles must each hold"):
        ex.particle_verdict([np.nan], [1.0], 0.1)


def test_panels_show_the_limits_monte_carlo_error_and_the_gap_interval(memo):
    result = ex.explore(ex.ExploreConfig(**SMALL), caps=TINY_CAPS, memo=memo, solves=2)
    html = widgets.readout_html(widgets.draw_panels(result, "abd"))
    se = result["gap"]["reused_se"]
    assert f"± {se:.2g} (Monte Carlo SE)" in html and "mean of 2 solves of M = 128 particles" in html
    lo, hi = result["gap"]["gap_interval"]
    assert f"95% interval [{lo:+.2g}, {hi:+.2g}]" in html and "the two laws differ by" in html


def test_another_rule_gets_depth_mup_particles_as_a_reference_but_no_gap(memo):
    result = ex.explore(ex.ExploreConfig(**{**SMALL, "parametrization": "completep"}), caps=TINY_CAPS, memo=memo,
                        solves=2)
    assert result["limit_applies"] is False and result["gap"] is None and "reused" in result["limit"]
    html = widgets.readout_html(widgets.draw_panels(result, "bd"))
    assert "no NFD limit here" in html and "a reference: these networks have no limit here" in html


def test_answers_compute_on_demand_under_voila(monkeypatch):
    calls = []

    def compute():
        calls.append(1)
        return "the answer is 42"

    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.8")
    assert widgets.served_by_voila()
    box = widgets.on_demand_answer(compute)
    assert calls == []  # nothing computed until the button is pressed
    button, out = box.children
    button.click()
    assert calls == [1] and button.layout.display == "none"
    monkeypatch.delenv("SERVER_SOFTWARE")
    assert not widgets.served_by_voila()
    shown = widgets.on_demand_answer(compute)  # in a notebook: computed at once, behind a <details>
    assert calls == [1, 1] and "the answer is 42" in shown.data and "<details>" in shown.data


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


def test_the_gpu_reaches_the_slider_ends_8x_wider_and_4x_deeper_than_a_cpu():
    """Notebook 08 says so; the caps of a GPU (16x and 8x a CPU's) are not what a reader can reach."""
    cpu, cuda = ex.CAPS["cpu"], ex.CAPS["cuda"]
    assert max(widgets.POWERS_N) == 8 * cpu.n and max(widgets.POWERS_L) == 4 * cpu.L
    assert cuda.n >= max(widgets.POWERS_N) and cuda.L >= max(widgets.POWERS_L)



# -- the explorer's start values: off a slider's grid, beyond its ends, beyond the caps (issue 22, point 6) -------
@pytest.mark.parametrize(("name", "value", "shown"), [("n", 100, 128), ("L", 3, 4), ("T", 3.0, 4.0),
                                                      ("eta", 0.3, 0.25), ("eta", 0.1, 0.125)])
def test_a_start_value_off_the_grid_snaps_to_the_nearest_stop_and_says_so(name, value, shown):
    controls, notes = _config_controls(ex.ExploreConfig(**{name: value}), (name,))
    assert controls[name].value == shown  # nearest on a log scale: T = 3 is nearer 4 than 2
    assert len(notes) == 1 and notes[0].startswith(f"{name} = {value:g} is not on the slider's grid (")
    assert notes[0].endswith(f"snapped to {shown:g}")


@pytest.mark.parametrize(("name", "value"), [("n", 8192), ("L", 1), ("eta", 1e-3), ("steps", 100), ("seeds", 10)])
def test_a_start_value_beyond_a_slider_extends_it_and_says_so(name, value):
    controls, notes = _config_controls(ex.ExploreConfig(**{name: value}), (name,))
    assert controls[name].value == value  # never clamped to the slider's end
    assert len(notes) == 1 and notes[0].startswith(f"{name} = {value:g} is beyond the slider's ")


def test_start_values_on_the_grid_are_kept_without_a_note():
    default = ex.ExploreConfig()
    controls, notes = _config_controls(default, widgets.EXPLORER_CONTROLS)
    assert notes == [] and {k: w.value for k, w in controls.items()} == {k: getattr(default, k) for k in controls}


def test_the_explorer_shows_its_start_notes_until_a_control_moves(memo):
    app = widgets.explorer(memo=memo, **{**SMALL, "n": 24, "seeds": 9})
    assert app.controls["n"].value == 32 and app.controls["seeds"].value == 9
    assert "n = 24 is not on the slider's grid" in app.message.value
    assert "seeds = 9 is beyond the slider's 1 to 6" in app.message.value
    # the cap note shows the value asked for, not the slider's end
    assert "seeds 9 -> 4" in app.status.value and app.result["requested"].seeds == 9
    app.controls["seeds"].value = 2
    assert app.notes == [] and "slider" not in app.message.value and "capped" not in app.status.value


@pytest.mark.parametrize(("changes", "note"), [({"d": 100000}, "d 100000 -> 1024"),
                                               ({"P": 2000}, "P 2000 -> 24 (the solver's (steps + 1) P is capped"),
                                               ({"P": 2000, "steps": 100}, "P 2000 -> 8 ")])
def test_task_sizes_are_capped_with_a_note(changes, note):
    config, notes = ex.apply_caps(ex.ExploreConfig(**changes), ex.CAPS["cpu"])
    assert any(n.startswith(note) for n in notes), notes
    assert config.d <= 1024 and (config.steps + 1) * config.P <= ex.CAPS["cpu"].history
    for caps in ex.CAPS.values():  # at its largest history, the reused solver still has three particles per term
        assert caps.M >= 3 * caps.history
