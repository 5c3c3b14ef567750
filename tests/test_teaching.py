"""The library pieces added for the teaching pass of notebooks 00 to 02: the post-activation recursion, the
first-step ratio, the network kernels at initialization, error sweeps, and figures with alternative text."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from nfdlib.models import ResNet  # noqa: E402
from nfdlib.nfd.runs import error_parts, errors_by_size, init_kernel_networks  # noqa: E402
from nfdlib.nfd.theory import first_step_kernels, first_step_ratio, init_kernels, postact_moments  # noqa: E402
from nfdlib.viz import figure_bundle, legend_outside, readable_log_ticks  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


# -- the post-activation recursion (notebook 00, section 5) -------------------------------------------------
def test_postact_recursion_matches_wide_post_activation_networks():
    """rms(h_l) of wide post-activation ReLU networks at init follows the mean-field recursion at every layer."""
    n, L, T, d = 4096, 16, 1.0, 16
    x = torch.randn(4, d, generator=torch.Generator().manual_seed(0))
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(d)  # |x|^2 / d = 1 for every input: one q_0 for all
    net = ResNet(d, 1, n, L, T=T, preact=False, seed=1)
    with torch.no_grad():
        hs = net(x, return_features=True)[1].h
    q0 = float((hs[0] ** 2).mean())
    theory = postact_moments(T, L, q0)
    measured = np.array([float((h**2).mean().sqrt()) for h in hs])
    np.testing.assert_allclose(measured, theory["rms"], rtol=0.04)
    means = np.array([float(h.mean()) for h in hs])  # h_0's sample mean is O(n^-1/2), not 0: compare increments
    np.testing.assert_allclose(means[1:] - means[0], theory["m"][1:], rtol=0.05)


def test_postact_recursion_compounds_and_has_the_identity_limit():
    deep = postact_moments(1.0, 256)["rms"][-1]
    assert deep > 100 * postact_moments(1.0, 256)["rms"][0]  # exp(c sqrt(L)) growth, not sqrt(T L)
    ident = postact_moments(2.0, 8, q0=1.5, activation="identity")  # no mean: q_L = q_0 (1 + T/L)^L exactly
    assert np.allclose(ident["m"], 0.0)
    assert math.isclose(ident["q"][-1], 1.5 * (1 + 2.0 / 8) ** 8, rel_tol=1e-12)
    tanh = postact_moments(1.0, 8, activation="tanh")  # odd activation: zero mean increments
    assert np.allclose(tanh["m"], 0.0, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{"T": -1.0, "L": 4}, {"T": 1.0, "L": 0}, {"T": 1.0, "L": 4, "q0": float("nan")},
                                    {"T": 1.0, "L": 4, "activation": "sigmoid"}])
def test_postact_recursion_refuses_bad_input(kwargs):
    with pytest.raises(ValueError):
        postact_moments(**kwargs)


# -- the first-step ratio (notebook 02, section 2) ----------------------------------------------------------
@pytest.mark.parametrize("T", [0.5, 1.0, 2.0])
def test_first_step_ratio_on_the_diagonal_is_one_over_one_plus_T_over_4(T):
    X = np.ones((1, 4))  # |x|^2 / d = 1: one input, the diagonal law
    assert math.isclose(first_step_ratio(X, [1.0], T), 1 / (1 + T / 4), rel_tol=1e-6)


def test_first_step_ratio_is_the_projection_of_the_two_kernel_steps():
    X = np.random.default_rng(0).normal(size=(6, 5))
    chi0 = np.array([0.3, -0.2, 0.5, 0.1])
    k = first_step_kernels(X, T=1.0, K=8)
    a, b = -k["Theta_nfd"][:, :4] @ chi0, -k["Theta_true"][:, :4] @ chi0
    assert math.isclose(first_step_ratio(X, chi0, 1.0, K=8), a @ b / (b @ b), rel_tol=1e-12)
    with pytest.raises(ValueError):
        first_step_ratio(X, chi0, 1.0, P=3)


# -- network kernels and error sweeps -----------------------------------------------------------------------
def test_init_kernel_networks_shapes_and_input_layer():
    X = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    out = init_kernel_networks(X, 3, n=2048, L=4, seeds=(0, 1), device="cpu")
    assert out["q"].shape == (2, 5, 5, 5) and out["Phi"].shape == (2, 5, 5, 5) and out["G"].shape == (2, 5, 3, 3)
    q0 = (X @ X.T / 8).double().numpy()
    np.testing.assert_allclose(out["q"][:, 0].mean(0), q0, atol=0.1 * np.abs(q0).max())
    # ReLU on the diagonal: Phi = q / 2 up to sampling
    np.testing.assert_allclose(np.diagonal(out["Phi"][:, 0], axis1=-2, axis2=-1),
                               np.diagonal(out["q"][:, 0], axis1=-2, axis2=-1) / 2, rtol=0.15)
    with pytest.raises(ValueError):
        init_kernel_networks(X, 9, n=16, L=2, seeds=(0,))


def test_init_kernel_networks_follow_the_ode_backwards():
    X = torch.randn(3, 8, generator=torch.Generator().manual_seed(2))
    out = init_kernel_networks(X, 3, n=2048, L=8, seeds=(0, 1, 2), device="cpu")
    ik = init_kernels(X.double().numpy(), T=1.0, K=8)
    G0 = np.diagonal(out["G"][:, 0], axis1=-2, axis2=-1).mean()
    assert math.isclose(G0, np.diag(ik.G[0]).mean(), rel_tol=0.1)


def test_errors_by_size_agrees_with_error_parts():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(4, 3))
    samples = {8: ref + 0.5 * rng.normal(size=(6, 4, 3)), 32: ref + 0.1 + 0.25 * rng.normal(size=(5, 4, 3))}
    out = errors_by_size(samples, ref, scale=2.0, reference_noise=0.01)
    for i, s in enumerate(samples.values()):
        parts = error_parts(s, ref, scale=2.0, reference_noise=0.01)
        assert out["bias"][i] == pytest.approx(parts["bias"])
        assert out["noise_floor"][i] == pytest.approx(parts["noise_floor"])
    assert list(out["x"]) == [8] * 6 + [32] * 5
    assert out["per_seed"].shape == (11,)
    assert list(out["seen"]) == [bool(b > 2 * f) for b, f in zip(out["bias"], out["noise_floor"])]
    with pytest.raises(ValueError):
        errors_by_size({}, ref)


# -- figures ------------------------------------------------------------------------------------------------
def test_figure_bundle_carries_the_alternative_text():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    data, metadata = figure_bundle(fig, 'A line from (1, 3) to (2, 4); "quoted" <tag>')
    plt.close(fig)
    assert data["image/png"] and data["text/html"].startswith('<img src="data:image/png;base64,')
    assert 'alt="A line from (1, 3) to (2, 4); &quot;quoted&quot; &lt;tag&gt;"' in data["text/html"]
    assert metadata["image/png"]["alt"].startswith("A line")
    assert "A line" in data["text/plain"]
    for bad in ("", "   ", None):
        with pytest.raises(ValueError):
            figure_bundle(fig, bad)


def test_nbconvert_html_keeps_the_alternative_text():
    """nbconvert's HTML export shows the text/html of the bundle, so the image keeps its alt and nbconvert reports
    nothing missing (it does not read alt text from an image/png output)."""
    from nbconvert import HTMLExporter

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    data, metadata = figure_bundle(fig, "a diagonal line")
    plt.close(fig)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show(fig, 'a diagonal line')")
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=metadata)]
    nb.cells.append(cell)
    html, _ = HTMLExporter().from_notebook_node(nb)
    imgs = re.findall(r"<img[^>]*>", html)
    assert imgs and all('alt="a diagonal line"' in tag for tag in imgs), imgs


def test_readable_log_ticks_label_a_narrow_axis():
    fig, ax = plt.subplots()
    ax.plot([64, 128, 256], [0.011, 0.013, 0.012])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    readable_log_ticks(ax)
    fig.canvas.draw()
    ylabels = [t.get_text() for t in ax.get_yticklabels() if t.get_text() and
               ax.get_ylim()[0] <= t.get_position()[1] <= ax.get_ylim()[1]]
    xlabels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert len(ylabels) >= 2, ylabels
    assert "128" in xlabels, xlabels


def test_legend_outside_places_the_legend_beyond_the_axes():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a")
    legend = legend_outside(ax, where="right")
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert box.x0 > ax.get_window_extent().x1
    with pytest.raises(ValueError):
        legend_outside(ax, where="left")
    plt.close(fig)


# Notebooks whose figures are still shown with plt.show() (no alternative text) and are reworked on another
# branch; strict, so that a fixed notebook fails here until its name is removed.
WITHOUT_ALT: set[str] = set()


@pytest.mark.parametrize(
    "source",
    [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="figures without alt text, reworked elsewhere"))
     if p.name in WITHOUT_ALT else p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))],
    ids=lambda p: p.name,
)
def test_notebook_figures_are_shown_with_alt_text(source):
    """Every figure goes through nfdlib.viz.show(fig, alt); plt.show() would display it without alt text."""
    text = source.read_text()
    assert "plt.show()" not in text, f"{source.name} shows a figure with plt.show(): use nfdlib.viz.show"
