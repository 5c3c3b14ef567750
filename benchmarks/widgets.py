"""How long one explorer update takes: each part (networks, the two NFD solves, the collapse scan, drawing) and the
whole update, at the default sizes and at the device's caps, cold (computed) and cached (a revisited setting).

Run:  .venv/bin/python benchmarks/widgets.py [--device cpu] [--skip-caps] [--particles]

``--particles`` measures instead how the limit's final loss varies over solver seeds at several particle counts
``M`` (the numbers behind ``nfdlib.explore.LIMIT_PARTICLES`` and ``LIMIT_SOLVES``): for each ``M`` and coupling,
the mean and standard deviation over seeds of one solve's final loss, and its CPU time.

A cold update is timed on a fresh memo; the cached figure is the same update asked again. Each configuration is
a slider move away from the defaults (L, n, eta, steps), so the medians describe what a reader sees while
exploring. Target on 2 CPU cores: median cold update under 1 s at the defaults, cached under 0.1 s. Timings on
a shared machine are noisy: the load average is printed at the start and the end; quote ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from nfdlib import explore as ex
from nfdlib import widgets
from nfdlib.config import get_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``fn()``. On a shared machine the load inflates wall-clock time; CPU time,
    for code on one thread (the explorer runs small sizes on one), is what an idle machine's wall clock would
    show."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    return time.perf_counter() - start, time.process_time() - cpu


def moves(base: ex.ExploreConfig) -> list[ex.ExploreConfig]:
    """The starting configuration and single-slider moves away from it."""
    out = [base]
    for L in (base.L // 2, base.L * 2):
        out.append(replace(base, L=max(L, 1)))
    for n in (base.n // 2, base.n * 2):
        out.append(replace(base, n=max(n, 2)))
    out.append(replace(base, eta=base.eta * 2))
    out.append(replace(base, steps=max(base.steps - 2, 1)))
    return out


def part_times(configs, device, caps) -> dict[str, list[float]]:
    """Seconds per part for each configuration, each computed cold (no memo)."""
    times: dict[str, list[float]] = {"networks": [], f"NFD decoupled ({ex.LIMIT_SOLVES} solves)": [],
                                     f"NFD reused ({ex.LIMIT_SOLVES} solves)": [], "collapse (two rules)": [],
                                     "drawing (4 panels)": []}
    for cfg in configs:
        cfg, _ = ex.apply_caps(cfg, caps)
        M, K, _ = ex.solver_sizes(cfg, caps)
        with ex.one_thread_on_cpu(device):
            times["networks"].append(_timed(lambda c=cfg: ex.run_networks(c, device), device))
            for coupling in ("decoupled", "reused"):
                times[f"NFD {coupling} ({ex.LIMIT_SOLVES} solves)"].append(
                    _timed(lambda c=cfg, k=coupling, m=M, kk=K: ex.run_limit(c, k, m, kk, ex.LIMIT_SOLVES, device),
                           device))
            two = replace(cfg, block="two", steps=1)
            times["collapse (two rules)"].append(_timed(
                lambda c=two: [ex.run_collapse(c, r, device) for r in ex.COLLAPSE_RULES], device))
            result = ex.explore(cfg, device=device, caps=caps, memo=ex.Memo())
        times["drawing (4 panels)"].append(_timed(lambda r=result: _render(r), device))
    return times


def _render(result) -> bytes:
    return widgets.render_png(widgets.draw_panels(result, "abcd"))


def update_times(configs, device, block: str) -> tuple[list[float], list[float]]:
    """Whole explorer updates (compute and draw, through the widget): each configuration once cold (fresh
    memo), then each again (cached)."""
    first = configs[0]
    app = widgets.explorer(device=device, memo=ex.Memo(), block=block,
                           **{k: getattr(first, k) for k in ("n", "L", "eta", "steps", "seeds")})
    cold, cached = [], []
    for cfg in configs[1:]:
        cold.append(_move(app, cfg, device))
    for cfg in configs:
        cached.append(_move(app, cfg, device))
    return cold, cached


def _move(app, cfg, device) -> float:
    """Set the controls to ``cfg`` without triggering an update per control, then time one update."""
    for name in ("n", "L", "eta", "steps", "seeds"):
        widget = app.controls[name]
        widget.unobserve(app._on_change, names="value")
        widget.value = getattr(cfg, name)
        widget.observe(app._on_change, names="value")
    return _timed(app.update, device)


def _row(name: str, values: list[tuple[float, float]]) -> str:
    if not values:
        return f"| {name} | - | - | - | - | 0 |"
    wall, cpu = [v[0] for v in values], [v[1] for v in values]
    return (f"| {name} | {statistics.median(wall):.3f} | {max(wall):.3f} | {statistics.median(cpu):.3f} | "
            f"{max(cpu):.3f} | {len(values)} |")


def particle_study(config: ex.ExploreConfig, device, Ms=(128, 256, 512, 1024, 2048, 4096), seeds: int = 8) -> None:
    """Mean and standard deviation over solver seeds of one solve's final loss, per particle count ``M``."""
    K = config.L
    print(f"one solve's final train loss over {seeds} solver seeds (n-independent; L = K = {K}, "
          f"{config.steps} steps, eta = {config.eta:g}, T = {config.T:g})\n")
    print("| M | coupling | mean | sd over seeds | sd / mean | median CPU s |\n|---|---|---|---|---|---|")
    with ex.one_thread_on_cpu(device):
        for M in Ms:
            for coupling in ("decoupled", "reused"):
                finals, cpu = [], []
                for seed in range(seeds):
                    t = time.process_time()
                    finals.append(float(ex.run_solver(config, coupling, M, K, device, seed=seed)["loss"][-1]))
                    cpu.append(time.process_time() - t)
                v = np.asarray(finals)
                print(f"| {M} | {coupling} | {v.mean():.5f} | {v.std(ddof=1):.5f} | {v.std(ddof=1) / v.mean():.3f} | "
                      f"{statistics.median(cpu):.3f} |", flush=True)
    print(f"\nthe explorer's limit: mean of {ex.LIMIT_SOLVES} solves of M = {ex.LIMIT_PARTICLES}: its standard "
          f"error is the sd at that M divided by sqrt({ex.LIMIT_SOLVES})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cpu, cuda or mps (default: NFD_DEVICE or the best available)")
    ap.add_argument("--skip-caps", action="store_true", help="time the default sizes only")
    ap.add_argument("--particles", action="store_true", help="measure the limit's Monte Carlo error against M")
    args = ap.parse_args()
    device = get_device(args.device)
    if args.particles:
        particle_study(ex.ExploreConfig(), device)
        return
    caps = ex.caps_for(device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, caps {caps}, "
          f"load average {load:.2f} at start\n")
    defaults = ex.ExploreConfig()
    at_caps = replace(defaults, n=caps.n, L=caps.L, steps=caps.steps, seeds=caps.seeds)
    scenarios = [("defaults", defaults)] + ([] if args.skip_caps else [("caps", at_caps)])
    # One warm-up, so that the first timed update does not pay for imports and allocator growth.
    ex.explore(defaults, device=device, memo=ex.Memo())
    _render(ex.explore(defaults, device=device, memo=ex.Memo()))
    header = "| {} | median wall s | worst wall s | median CPU s | worst CPU s | runs |\n|---|---|---|---|---|---|"
    print(header.format("scenario: part (cold)"))
    for label, base in scenarios:
        configs = moves(base) if label == "defaults" else [base]
        for part, values in part_times(configs, device, caps).items():
            print(_row(f"{label}: {part}", values))
    print()
    print(header.format("scenario: whole update"))
    for label, base in scenarios:
        configs = moves(base) if label == "defaults" else [replace(base, L=base.L // 2), base]
        for block in ("one", "two"):
            cold, cached = update_times([replace(c, block=block) for c in configs], device, block)
            print(_row(f"{label}, {block}-layer blocks: cold", cold))
            print(_row(f"{label}, {block}-layer blocks: cached (revisit)", cached))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load:.2f} at the end")


if __name__ == "__main__":
    main()
