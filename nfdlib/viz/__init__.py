"""Figures in the forms the field reads, one module per subject; every figure function only draws.

Figure functions take tidy :class:`~nfdlib.records.Records` or arrays (and the fits computed by the module that
owns the measurement), draw on a given or new ``Axes`` and return it or the figure; :func:`show` displays a
finished figure with its alternative text (the notebooks call it in place of ``plt.show()``).

* :mod:`nfdlib.viz.base`      seed bands, log-log fits, readable ticks, legends outside, ``show`` (00-09)
* :mod:`nfdlib.viz.coords`    coord checks, measurements beside theory, runs at one rate (00, 01, 05)
* :mod:`nfdlib.viz.limit`     error sweeps, trajectories, nondegeneracy, the two limits (02, 04)
* :mod:`nfdlib.viz.gia`       gradient independence (03)
* :mod:`nfdlib.viz.transfer`  slopes by rule, optima by depth, transfer plots (05, 06)
* :mod:`nfdlib.viz.scaling`   scaling laws against the computed limit (07)
"""

from .base import (
    AXIS_LABELS,
    ReadableLogLocator,
    figure_bundle,
    legend_outside,
    log2_axis,
    mark_outside,
    plot_band,
    plot_loglog_fit,
    plot_seed_mean,
    readable_log_ticks,
    robust_limits,
    show,
)
from .coords import plot_coord_check, plot_coord_data, plot_measured_vs_theory, plot_runs_at_rate
from .gia import (
    THETA,
    plot_architectures,
    plot_coupling_depth,
    plot_coupling_width_horizon,
    plot_first_step_ratio,
    plot_init_gap,
    plot_paired_curves,
    plot_paired_gaps,
)
from .limit import (
    plot_bias_bounds,
    plot_depth_errors,
    plot_error_sweep,
    plot_gap_errorbars,
    plot_limit_validation,
    plot_nondegeneracy,
    plot_trajectories,
    plot_two_limits,
)
from .scaling import (
    plot_by_aspect,
    plot_depth_limits,
    plot_deviations,
    plot_frontier,
    plot_limit_extrapolation,
    plot_limit_moves,
    plot_rule_arms,
    plot_signed_bias,
)
from .transfer import (
    METRIC_LABELS,
    RULE_MARKERS,
    plot_best_by_depth,
    plot_budget_drift,
    plot_kernel_growth,
    plot_optima_by_depth,
    plot_pilot,
    plot_quantities_by_rule,
    plot_slopes_by_rule,
    plot_transfer,
    plot_transfer_grid,
)

__all__ = [
    # base: drawing tools and show
    "AXIS_LABELS", "ReadableLogLocator", "figure_bundle", "legend_outside", "log2_axis", "mark_outside", "plot_band",
    "plot_loglog_fit", "plot_seed_mean", "readable_log_ticks", "robust_limits", "show",
    # coords (00, 01, 05)
    "plot_coord_check", "plot_coord_data", "plot_measured_vs_theory", "plot_runs_at_rate",
    # limit (02, 04)
    "plot_bias_bounds", "plot_depth_errors", "plot_error_sweep", "plot_gap_errorbars", "plot_limit_validation",
    "plot_nondegeneracy", "plot_trajectories", "plot_two_limits",
    # gia (03)
    "THETA", "plot_architectures", "plot_coupling_depth", "plot_coupling_width_horizon", "plot_first_step_ratio",
    "plot_init_gap", "plot_paired_curves", "plot_paired_gaps",
    # transfer (05, 06)
    "METRIC_LABELS", "RULE_MARKERS", "plot_best_by_depth", "plot_budget_drift", "plot_kernel_growth",
    "plot_optima_by_depth", "plot_pilot", "plot_quantities_by_rule", "plot_slopes_by_rule", "plot_transfer",
    "plot_transfer_grid",
    # scaling (07)
    "plot_by_aspect", "plot_deviations", "plot_depth_limits", "plot_frontier", "plot_limit_extrapolation",
    "plot_limit_moves", "plot_rule_arms", "plot_signed_bias",
]
