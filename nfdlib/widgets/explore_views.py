"""The explorer and its small views: controls bound to an ``ExploreConfig``, figures drawn from its result.

The explorer and its small views (notebooks 00, 02, 05 and 08): widgets whose controls are fields of
:class:`nfdlib.explore.ExploreConfig` and whose figure is panels of :mod:`nfdlib.widgets.panels`.

* :func:`explorer` is the full explorer (notebook 08): every control and panels (a) to (d);
* :func:`coord_check_widget` (notebook 00), :func:`limit_widget` (02) and :func:`collapse_widget` (05) are small
  views of the same machinery.

Each update runs in :func:`nfdlib.explore.explore`, on the GPU when there is one; sizes beyond the device's
caps are shrunk and the status line says so. A starting value between two stops of a slider starts at the nearest
stop, one beyond a slider's end extends the slider; the message line says which until a control moves. Results
are memoized per configuration (:class:`nfdlib.explore.Memo`); a failure (divergence, a bad combination) is shown
in the panel or in the message line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace

import ipywidgets as W

from .. import explore as ex
from ..activations import ACTIVATIONS
from ..config import get_device
from ..parametrization import names as parametrization_names
from ..validation import check_choice
from .live import LiveFigure, dropdown, rate_label, selection_slider, toggle_buttons
from .panels import RULE_LABELS, draw_panels

POWERS_N = [2**k for k in range(4, 13)]  # 16 .. 4096
POWERS_L = [2**k for k in range(1, 9)]  # 2 .. 256
RATES = [2.0**k for k in range(-5, 5)]  # 1/32 .. 8
HORIZONS = [0.25, 0.5, 1.0, 2.0, 4.0]


def _on_grid(name: str, value, grid) -> tuple[list, object, str | None]:
    """A slider's options and starting value for a requested ``value``, and a note when they differ from the
    grid's. On the grid: as it is. Beyond either end: the grid is extended to ``value``, so that what is computed
    is what was asked (the device's caps may still shrink it, and their note then shows ``value``). Between two
    grid values: the nearest on a log scale (every grid here is geometric), and the note says from what to what."""
    grid = list(grid)
    if value in grid:
        return grid, value, None
    if value < grid[0] or value > grid[-1]:
        return (sorted([*grid, value]), value,
                f"{name} = {value:g} is beyond the slider's {grid[0]:g} to {grid[-1]:g}: the slider was extended to it")
    nearest = min(grid, key=lambda g: abs(math.log(g) - math.log(value)))
    return grid, nearest, (f"{name} = {value:g} is not on the slider's grid ({', '.join(f'{g:g}' for g in grid)}): "
                           f"snapped to {nearest:g}")


def _int_slider(name: str, description: str, value: int, minimum: int, maximum: int) -> tuple[W.IntSlider,
                                                                                               str | None]:
    """An integer slider from ``minimum`` to ``maximum``, extended to ``value`` beyond it (ipywidgets would clamp
    it silently), with a note when it was."""
    note = None
    if value > maximum:
        note = f"{name} = {value} is beyond the slider's {minimum} to {maximum}: the slider was extended to it"
        maximum = value
    slider = W.IntSlider(value=value, min=minimum, max=maximum, description=description, continuous_update=False,
                         style={"description_width": "90px"}, layout=W.Layout(width="330px"))
    return slider, note


# -------------------------------------------------------------------------------------------------------------
# The widgets
# -------------------------------------------------------------------------------------------------------------
GRIDS = {"n": ("width n", POWERS_N, str), "L": ("depth L", POWERS_L, str),
         "T": ("horizon T", HORIZONS, lambda v: f"{v:g}"), "eta": ("rate η", RATES, rate_label)}
INT_SLIDERS = {"steps": ("SGD steps", 0, 40), "seeds": ("seeds", 1, 6)}


def _config_controls(config: ex.ExploreConfig, which: Sequence[str]) -> tuple[dict[str, W.ValueWidget], list[str]]:
    """The controls named in ``which``, set to ``config``, and a note for each value that a slider could not show
    as it is (:func:`_on_grid`, :func:`_int_slider`)."""
    others = {
        "parametrization": lambda: dropdown("rule", [(RULE_LABELS.get(p, p), p) for p in parametrization_names()],
                                            config.parametrization),
        "activation": lambda: dropdown("activation φ", list(ACTIVATIONS), config.activation),
        "block": lambda: toggle_buttons("block", [("one-layer", "one"), ("two-layer", "two")], config.block),
        "preact": lambda: toggle_buttons("activation at", [("pre", True), ("post", False)], config.preact),
        "backward": lambda: toggle_buttons("backward", [("true", "true"), ("decoupled", "decoupled")],
                                           config.backward),
    }
    allowed = sorted([*GRIDS, *INT_SLIDERS, *others])
    for name in which:
        if name not in allowed:
            raise ValueError(f"controls must be names from {allowed}, got {name!r}")
    controls, notes = {}, []
    for name in which:
        note = None
        if name in GRIDS:
            description, grid, fmt = GRIDS[name]
            options, value, note = _on_grid(name, getattr(config, name), grid)
            controls[name] = selection_slider(description, options, value, fmt)
        elif name in INT_SLIDERS:
            description, lowest, highest = INT_SLIDERS[name]
            controls[name], note = _int_slider(name, description, getattr(config, name), lowest, highest)
        else:
            controls[name] = others[name]()
        if note:
            notes.append(note)
    return controls, notes


def _start(widget: str, config: Mapping, defaults: Mapping | None = None) -> ex.ExploreConfig:
    """The starting configuration of ``widget`` from its keyword arguments; a name that is neither a field of
    :class:`nfdlib.explore.ExploreConfig` nor ``device``/``memo`` is refused with the list of both."""
    allowed = [f.name for f in fields(ex.ExploreConfig)]
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise ValueError(f"{widget} takes no argument {', '.join(unknown)}; it takes device, memo and the fields of "
                         f"ExploreConfig: {', '.join(allowed)}")
    return ex.ExploreConfig(**{**(defaults or {}), **config})


def _check_memo(memo) -> None:
    if memo is not None and not isinstance(memo, ex.Memo):
        raise ValueError(f"memo must be an explore.Memo or None, got {type(memo).__name__}")


def _config_widget(config: ex.ExploreConfig, controls: Sequence[str], panels: str, *, parts: Sequence[str],
                   device=None, memo: ex.Memo | None = None, collapse_rules=None, title: str = "",
                   columns: int = 2) -> LiveFigure:
    _check_memo(memo)
    get_device(device)  # an unknown device is refused here, not inside the first update

    def compute(values: dict) -> dict:
        cfg = replace(config, **values)
        rules = collapse_rules(values) if callable(collapse_rules) else collapse_rules
        return ex.explore(cfg, device=device, memo=memo, parts=parts, collapse_rules=rules)

    widgets, notes = _config_controls(config, controls)
    return LiveFigure(widgets, compute, lambda r: draw_panels(r, panels), title=title, columns=columns, notes=notes)


EXPLORER_CONTROLS = ("n", "L", "T", "eta", "steps", "seeds", "parametrization", "activation", "block", "preact",
                     "backward")


def explorer(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """The full explorer (notebook 08): every control and panels (a) to (d). Keyword arguments set the starting
    configuration (fields of :class:`nfdlib.explore.ExploreConfig`); ``device`` overrides the automatic choice.
    A value between two stops of a slider starts at the nearest stop, one beyond a slider's end extends the
    slider; the message line says which (``LiveFigure.notes``)."""
    return _config_widget(_start("explorer", config), EXPLORER_CONTROLS, "abcd",
                          parts=("networks", "limit", "collapse"), device=device, memo=memo,
                          title="NFD explorer: move depth and width and watch the limit hold or fail")


def coord_check_widget(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """Notebook 00: a depth slider, a parametrization choice and a rate on the coord check: panel (a) and the
    feature change over training."""
    base = _start("coord_check_widget", config, {"n": 128, "steps": 4, "eta": 0.25})
    return _config_widget(base, ("L", "parametrization", "eta"), "au", parts=("networks",), device=device,
                          memo=memo)


def limit_widget(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """Notebook 02: width and depth sliders on the networks against the NFD solves, panels (b) and (d)."""
    return _config_widget(_start("limit_widget", config), ("n", "L", "backward", "steps"), "bd",
                          parts=("networks", "limit"), device=device, memo=memo)


def collapse_widget(*, device=None, memo: ex.Memo | None = None, **config) -> LiveFigure:
    """Notebook 05: a depth slider on the collapse profile of two-layer blocks, with the correction
    switched on or off (panel (c) only). ``parametrization`` starts the switch (default: on)."""
    # The widget shows two-layer blocks under depth-muP with the correction on or off, nothing else: another
    # block or rule would be silently replaced, so it is refused.
    if "block" in config:
        check_choice("block", config["block"], ("two",))
    if "parametrization" in config:
        check_choice("parametrization", config["parametrization"], ex.COLLAPSE_RULES)
    _check_memo(memo)
    get_device(device)
    base = _start("collapse_widget", config, {"block": "two", "n": 128, "parametrization": "depth-mup-corrected"})
    controls, notes = _config_controls(base, ("L",))
    controls["parametrization"] = toggle_buttons("correction",
                                                 [("off", "depth-mup"), ("on", "depth-mup-corrected")],
                                                 base.parametrization)

    def compute(values: dict) -> dict:
        rules = ("depth-mup",) if values["parametrization"] == "depth-mup" else ex.COLLAPSE_RULES
        return ex.explore(replace(base, **values), device=device, memo=memo, parts=("collapse",),
                          collapse_rules=rules)

    return LiveFigure(controls, compute, lambda r: draw_panels(r, "c", title=(
        f"two-layer blocks, n = {r['config'].n}, η = {r['config'].eta:g}, seeds 0-{r['config'].seeds - 1}")),
        notes=notes)


__all__ = ["POWERS_N", "POWERS_L", "RATES", "HORIZONS", "GRIDS", "INT_SLIDERS", "EXPLORER_CONTROLS", "explorer",
           "coord_check_widget", "limit_widget", "collapse_widget"]
