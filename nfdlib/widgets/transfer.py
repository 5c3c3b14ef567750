"""The transfer widget: a rate slider over cached learning-rate sweeps, the metric at that rate against depth.

The transfer widget of notebook 06: a rate slider over cached learning-rate sweeps, showing how the metric
at one rate moves with depth next to each depth's own optimum.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from .. import optima, viz
from ..validation import check_choice
from .live import LiveFigure, dropdown, log_y_axis, panel_figure, rate_label, selection_slider


def transfer_widget(sweeps_by_label: Mapping[str, Mapping], key: str = "train_loss") -> LiveFigure:
    """Notebook 06: a rate slider over cached learning-rate sweeps. Left, the transfer plot with the chosen rate
    marked and each depth's optimum dotted; right, the metric against depth at the chosen rate, next to the
    best over the grid. ``sweeps_by_label`` maps a label to one :func:`nfdlib.sweeps.depth_sweep` result."""
    if not isinstance(sweeps_by_label, Mapping) or not sweeps_by_label:
        got = "an empty mapping" if isinstance(sweeps_by_label, Mapping) else type(sweeps_by_label).__name__
        raise ValueError(f"sweeps_by_label must hold at least one sweep (a mapping of labels to sweeps), got {got}")
    check_choice("key", key, optima.METRICS)
    labels = list(sweeps_by_label)
    lrs = sorted({float(v) for s in sweeps_by_label.values() for v in np.asarray(s["lr"], float)})
    controls = {"label": dropdown("sweep", labels, labels[0]),
                "lr": selection_slider("rate η", lrs, lrs[len(lrs) // 2], rate_label)}

    def compute(values: dict) -> dict:
        sweep = sweeps_by_label[values["label"]]
        grid = np.asarray(sweep["lr"], float)
        final = optima.final_metric(sweep, key)  # (depths, rates, seeds)
        i = int(np.argmin(np.abs(np.log2(grid) - np.log2(values["lr"]))))
        best = [o.value for o in optima.seed_mean_optima(sweep, key)]
        return {"sweep": sweep, "label": values["label"], "lr": float(grid[i]), "at_rate": final[:, i, :],
                "depths": np.asarray(sweep["L"]), "best": np.asarray(best, float),
                "optima": [o.lr for o in optima.seed_mean_optima(sweep, key)], "cached": {"sweep (cached)": True}}

    def draw(r: dict) -> Figure:
        fig, (left, right) = panel_figure("xy", 4.8, 3.5)
        viz.plot_transfer(r["sweep"], key, curve_optima=optima.seed_mean_optima(r["sweep"], key), ax=left,
                          title=r["label"])
        left.axvline(r["lr"], color="k", lw=1, ls="--")
        at = r["at_rate"]
        ok = np.isfinite(at)
        mean = np.where(ok.all(1), np.nanmean(np.where(ok, at, np.nan), axis=1), np.nan)
        right.plot(r["depths"], mean, "-o", color="k", label=f"at η = {r['lr']:g} (mean of seeds)")
        right.plot(r["depths"], r["best"], "s--", color="C2", ms=4, label="at each depth's own best η")
        for L, v in zip(r["depths"], mean):
            if not np.isfinite(v):
                right.annotate("diverged", (L, np.nanmax(r["best"])), fontsize=7, color="#b00", ha="center")
        right.set_xscale("log", base=2)
        if key != "test_acc":
            log_y_axis(right)
        right.set_xlabel("depth L (log2 scale)")
        right.set_ylabel(viz.METRIC_LABELS[key])
        right.legend(fontsize=7)
        right.grid(alpha=0.3)
        fig.title_text = "dashed line: the chosen rate; dots: each depth's optimum (open: at the grid's edge)"
        return fig

    return LiveFigure(controls, compute, draw)


__all__ = ["transfer_widget"]
