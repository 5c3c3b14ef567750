"""Live widgets: depth and width sliders that rerun the library's own code and redraw.

* :mod:`~nfdlib.widgets.live`: what every widget shares: :class:`LiveFigure` (controls, a figure recomputed and
  redrawn when they move, a status and a message line), the controls, and the helpers that lay out a figure's
  panels and their readouts.
* :mod:`~nfdlib.widgets.panels`: the explorer's panels, each drawing one part of an
  :func:`nfdlib.explore.explore` result, and :func:`draw_panels`.
* :mod:`~nfdlib.widgets.explore_views`: :func:`explorer`, the full explorer (notebook 08), and its small views
  :func:`coord_check_widget` (notebook 00), :func:`limit_widget` (02) and :func:`collapse_widget` (05).
* :mod:`~nfdlib.widgets.transfer`: :func:`transfer_widget` (06), a rate slider over cached learning-rate sweeps.
* :mod:`~nfdlib.widgets.answers`: :func:`on_demand_answer` and :func:`hidden_answer`, the guided experiments'
  answers, computed only on demand when Voila serves the notebook (:func:`served_by_voila`).

The names below are re-exported here, so ``nfdlib.widgets.explorer`` and the rest are used from this package.
"""

from .answers import hidden_answer, on_demand_answer, served_by_voila
from .explore_views import (
    EXPLORER_CONTROLS,
    HORIZONS,
    POWERS_L,
    POWERS_N,
    RATES,
    collapse_widget,
    coord_check_widget,
    explorer,
    limit_widget,
)
from .live import LiveFigure, readout_html, render_png
from .panels import (
    PANELS,
    RULE_LABELS,
    draw_feature_change,
    draw_feature_size,
    draw_loss_and_limit,
    draw_own_update,
    draw_panels,
    draw_unit_coordinates,
)
from .transfer import transfer_widget

__all__ = ["LiveFigure", "hidden_answer", "on_demand_answer", "served_by_voila", "render_png", "readout_html",
           "explorer", "coord_check_widget", "limit_widget", "collapse_widget", "transfer_widget",
           "EXPLORER_CONTROLS", "POWERS_N", "POWERS_L", "RATES", "HORIZONS", "RULE_LABELS",
           "draw_panels", "PANELS", "draw_feature_size", "draw_feature_change", "draw_loss_and_limit",
           "draw_own_update", "draw_unit_coordinates"]
