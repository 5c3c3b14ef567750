"""Scaling laws measured against the computed limit.

* :mod:`nfdlib.scaling.counts`    parameters and matrix-multiply FLOPs of a ``ResNet``, checked against the model
  and torch's FLOP counter
* :mod:`nfdlib.scaling.grids`     cached grids of trained sizes ``(n, L)`` per training rule, the learning rate
  tuned on a small model and transferred
* :mod:`nfdlib.scaling.limit`     the limit ``E_NFD`` from the reused NFD solver, with its Monte Carlo error
* :mod:`nfdlib.scaling.laws`      the parametric laws, Huber fits with seed-bootstrap intervals, extrapolation
  tests and the law with an ``n x L`` interaction
* :mod:`nfdlib.scaling.gap`       the finite-size gap to the limit: bias and spread per size, the signed bias fit
* :mod:`nfdlib.scaling.frontier`  the compute-optimal ``(n, L)``, arm trends, lines of constant aspect ratio

This package re-exports the public names of its modules (``nfdlib.scaling.fit_law``). The whole plan of notebook
07 is :func:`nfdlib.plans.run_scaling_plan`; each cached file of it is assembled from jobs
(:func:`nfdlib.plans.scaling_results`), which ``python -m nfdlib.run notebooks/07_scaling_laws.py`` runs on many
workers (``python -m nfdlib.plans`` in one process).
"""

from .counts import (
    Flops,
    count_params,
    flops_per_example,
    flops_per_run,
    flops_per_step,
    measured_flops_per_example,
    model_params,
)
from .frontier import (
    arm_trend,
    aspect_lines,
    aspect_ratios,
    compute_model,
    compute_optimal,
    depth_pays_width,
    depth_threshold,
    distinct_budgets,
    empirical_frontier,
    fitted_frontier,
    floor_identified,
    nearest_size,
    slopes_along,
)
from .gap import BiasFit, deviations, fit_signed_bias, smoothed_se
from .grids import (
    SIZE_COST,
    VERSION,
    concat_runs,
    grid_sizes,
    load_task_once,
    size_cost,
    size_grid,
    size_grid_results,
    size_part,
    train_sizes,
    tune_lr,
    tune_part,
    tune_result,
)
from .laws import (
    FORMS,
    INTERACTION_PARAMS,
    MISFIT_FACTOR,
    LawFit,
    SizeTable,
    extrapolation_test,
    fit_interaction_law,
    fit_law,
    fit_runs,
    holdout_mask,
    huber,
    interaction_predict,
    param_names,
    size_table,
)
from .limit import (
    SOLVER_ARRAYS,
    limit_at,
    limit_estimate,
    limit_reference,
    limit_results,
    limit_with_particles,
    particle_seeds,
    solver_result,
    solver_runs,
    solver_sweep_results,
    solver_sweeps,
)

__all__ = [
    # counts
    "Flops", "count_params", "model_params", "flops_per_example", "flops_per_step", "flops_per_run",
    "measured_flops_per_example",
    # grids
    "VERSION", "grid_sizes", "train_sizes", "load_task_once", "concat_runs", "size_grid", "tune_lr", "SIZE_COST",
    "size_cost", "size_part", "size_grid_results", "tune_part", "tune_result",
    # laws
    "FORMS", "param_names", "SizeTable", "size_table", "fit_runs", "huber", "LawFit", "MISFIT_FACTOR", "fit_law",
    "holdout_mask", "extrapolation_test", "BiasFit", "fit_signed_bias", "smoothed_se", "INTERACTION_PARAMS",
    "fit_interaction_law", "interaction_predict",
    # frontier
    "compute_model", "compute_optimal", "fitted_frontier", "empirical_frontier", "arm_trend", "deviations",
    "depth_pays_width", "depth_threshold", "slopes_along", "distinct_budgets", "nearest_size", "floor_identified",
    "aspect_ratios", "aspect_lines",
    # limit
    "SOLVER_ARRAYS", "solver_runs", "limit_reference", "limit_estimate", "solver_sweeps", "particle_seeds",
    "limit_with_particles", "limit_at", "solver_result", "limit_results", "solver_sweep_results",
]
