"""The GPU paths in one run: explorer updates, the NFD solver and a batched sweep, timed on CUDA against the CPU,
and the same numbers from one seed on both devices. Prints one table.

Run on a machine with CUDA:   python benchmarks/gpu_check.py            (about 3 minutes on one H200)
Check the script on a CPU:    python benchmarks/gpu_check.py --dry-run  (tiny sizes; CUDA rows say "no CUDA")

Rows:
* explorer update at the CPU caps, and at 8x those widths, depths, particles and Euler steps (the CUDA caps
  of nfdlib.explore), cold (fresh memo) and cached;
* the particle solver (decoupled and reused) at one size, CPU against CUDA;
* one batched learning-rate sweep (nfdlib.engine.train_stacked), CPU against CUDA;
* agreement on a fixed seed: the solver in float64 (outputs and losses over training), a float32 network
  trained for a few steps, and the explorer's panel data. Every random number is drawn on the CPU, so the two
  devices see the same draws; what differs is arithmetic order, which float64 keeps near 1e-12 and float32
  near 1e-6 relative.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch

from nfdlib import explore as ex
from nfdlib.data import load_mnist1d, make_teacher_task
from nfdlib.engine import train_stacked
from nfdlib.models import ResNet
from nfdlib.nfd import simulate_nfd
from nfdlib.training import train

ROWS: list[tuple[str, str, str, str]] = []


def row(check: str, cpu: str, cuda: str, verdict: str) -> None:
    ROWS.append((check, cpu, cuda, verdict))
    print(f"  {check}: cpu {cpu} | cuda {cuda} | {verdict}", flush=True)


def timed(fn, device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


def ratio(cpu: float | None, cuda: float | None) -> str:
    return "-" if not cpu or not cuda else f"CUDA {cpu / cuda:.1f}x faster"


def agreement(name: str, a, b, tol: float) -> None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(float(np.abs(a).max()), 1e-30)
    err = float(np.abs(a - b).max()) / scale
    ok = np.isfinite(err) and err <= tol
    row(name, "reference", f"max rel. diff {err:.2e}", f"{'agree' if ok else 'DISAGREE'} (tolerance {tol:g})")


def explorer_rows(cuda, dry: bool) -> None:
    cpu_caps = ex.CAPS["cpu"] if not dry else ex.Caps(n=64, L=8, steps=3, seeds=2, M=128, K=8)
    big = ex.Caps(n=cpu_caps.n * 8, L=cpu_caps.L * 8, steps=cpu_caps.steps, seeds=cpu_caps.seeds,
                  M=cpu_caps.M * 8, K=cpu_caps.K * 8)
    for label, caps in (("CPU caps", cpu_caps), ("8x CPU caps", big)):
        cfg = ex.ExploreConfig(n=caps.n, L=caps.L, steps=caps.steps, seeds=caps.seeds)
        for block in ("one", "two"):
            c = replace(cfg, block=block)
            cpu_time = None
            if label == "CPU caps":  # the CPU itself only at its own caps
                cpu_time, _ = timed(lambda c=c, k=caps: ex.explore(c, device="cpu", caps=k, memo=ex.Memo()),
                                    torch.device("cpu"))
            cuda_time = cached = None
            if cuda is not None:
                memo = ex.Memo()
                cuda_time, _ = timed(lambda c=c, m=memo, k=caps: ex.explore(c, device=cuda, caps=k, memo=m), cuda)
                cached, _ = timed(lambda c=c, m=memo, k=caps: ex.explore(c, device=cuda, caps=k, memo=m), cuda)
            sizes = f"n={caps.n} L={caps.L} steps={caps.steps} seeds={caps.seeds} M={caps.M} K={caps.K}"
            row(f"explorer update, {label} ({sizes}), {block}-layer", fmt(cpu_time),
                f"{fmt(cuda_time)} cold, {fmt(cached)} cached", ratio(cpu_time, cuda_time))


def solver_rows(cuda, dry: bool) -> None:
    task = make_teacher_task(d=8, n_train=8, n_test=8, seed=0)
    M, K, S = (256, 8, 4) if dry else (4096, 32, 10)
    results = {}
    for coupling in ("decoupled", "reused"):
        times = {}
        for dev in ["cpu"] + (["cuda"] if cuda is not None else []):
            device = torch.device(dev)
            times[dev], results[(coupling, dev)] = timed(lambda d=device, c=coupling: simulate_nfd(
                task.X_train, task.Y_train, X_test=task.X_test, Y_test=task.Y_test, M=M, K=K, steps=S, lr=0.5,
                coupling=c, seed=0, kernel_layers=[K], device=d, dtype=torch.float64), device)
        row(f"NFD solver, {coupling}, M={M} K={K} steps={S} (float64)", fmt(times["cpu"]), fmt(times.get("cuda")),
            ratio(times["cpu"], times.get("cuda")))
    if cuda is None:
        row("solver CPU vs CUDA (float64)", "-", "no CUDA", "not checked")
        return
    for coupling in ("decoupled", "reused"):
        a, b = results[(coupling, "cpu")], results[(coupling, "cuda")]
        agreement(f"solver {coupling}: f_train over training, CPU vs CUDA", a.f_train, b.f_train, 1e-6)
        agreement(f"solver {coupling}: train loss over training, CPU vs CUDA", a.train_loss, b.train_loss, 1e-6)


def network_rows(cuda) -> None:
    if cuda is None:
        row("network CPU vs CUDA (float32)", "-", "no CUDA", "not checked")
        return
    task = make_teacher_task(d=16, n_train=32, n_test=32, seed=0)
    losses = {}
    for dev in ("cpu", "cuda"):
        model = ResNet(16, 1, 256, 16, seed=0, device=dev)
        losses[dev] = train(model, task, 0.5, 5, seed=0).train_loss
    agreement("ResNet n=256 L=16, 5 SGD steps: train loss, CPU vs CUDA", losses["cpu"], losses["cuda"], 1e-4)
    cfg = ex.ExploreConfig(n=128, L=8, steps=6, seeds=2)
    on = {dev: ex.explore(cfg, device=dev, memo=ex.Memo()) for dev in ("cpu", "cuda")}
    agreement("explorer panel (a), h_rms after training, CPU vs CUDA", on["cpu"]["networks"]["h_rms_final"],
              on["cuda"]["networks"]["h_rms_final"], 1e-4)
    agreement("explorer panel (b), reused limit loss, CPU vs CUDA", on["cpu"]["limit"]["reused"]["loss"],
              on["cuda"]["limit"]["reused"]["loss"], 1e-6)


def sweep_rows(cuda, dry: bool) -> None:
    n, L, steps = (32, 4, 5) if dry else (256, 16, 100)
    data = load_mnist1d(512 if dry else 4000, 256 if dry else 1000)
    lrs = np.tile(2.0 ** np.arange(-4, 2, 0.5), 3)
    seeds = np.repeat([0, 1, 2], len(lrs) // 3)
    times = {}
    for dev in ["cpu"] + (["cuda"] if cuda is not None else []):
        device = torch.device(dev)

        def make(seed, d=device):
            return ResNet(data.d, 10, n, L, block="two", parametrization="depth-mup-corrected", seed=seed, device=d)

        times[dev], _ = timed(lambda m=make: train_stacked(m, lrs, seeds, data, steps, batch_size=128, loss="xent"),
                              device)
    row(f"batched sweep, {len(lrs)} configurations, n={n} L={L} two-layer, {steps} steps, batch 128",
        fmt(times["cpu"]), fmt(times.get("cuda")), ratio(times["cpu"], times.get("cuda")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes: check that the script runs (any machine)")
    args = ap.parse_args()
    cuda = torch.device("cuda") if torch.cuda.is_available() else None
    name = torch.cuda.get_device_name(0) if cuda is not None else "none"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}; CUDA device: {name}; CPU threads {torch.get_num_threads()}; "
          f"load average {load:.2f}")
    start = time.perf_counter()
    explorer_rows(cuda, args.dry_run)
    solver_rows(cuda, args.dry_run)
    network_rows(cuda)
    sweep_rows(cuda, args.dry_run)
    print(f"\n| check | CPU | CUDA ({name}) | result |\n|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if any("DISAGREE" in r[3] for r in ROWS):
        raise SystemExit("a CPU-vs-CUDA agreement check failed")


if __name__ == "__main__":
    main()
