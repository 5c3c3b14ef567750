"""Configurations per second and achieved FLOP/s: the batched sweep engines (``nfdlib.engine.train_stacked``)
against a plain Python loop of ``nfdlib.training.train`` calls over the same configurations (rates x seeds),
measured against the machine's matmul peak.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sweeps.py [--threads 1] [--repeats 3] [--device cpu]

What is printed:

* the **matmul peak**: the best of several single large fp32 products (1024 x 1024 x 1024) on the same threads,
  measured before and after the cases (the larger figure is kept: a shared machine only ever slows it down);
* per width and engine: configurations per second, the achieved GFLOP/s and its fraction of the peak. On the
  CPU every time is the process's CPU time (what it actually ran; other load on a shared machine does not
  inflate it, though it still competes for caches and memory bandwidth), with ``--threads 1`` the default.
  FLOPs count the matrix products only, ``2 * multiply-adds``: per configuration and SGD step the forward
  pass ``2 B (n d + L k n^2 + n d_out)`` (``k`` matrices per block), as much again for the weight gradients,
  and the input gradients of every matrix but the first; the evaluations of the training and test losses
  (forward passes) are counted too. Elementwise work (activations, their derivatives, the loss) is not
  counted: it is what the engines spend beyond the matmul time;
* the **matmul floor** of the fused engine: the same batched products as one of its SGD steps (same shapes,
  same memory layouts), timed alone. Its fraction of the peak is the most the engine could reach with free
  elementwise work; the gap between it and the engine is the elementwise and Python overhead, and the gap
  between it and 100% is what the shapes themselves cost (small products, and the ``x W^T`` products of the
  forward pass, which MKL runs about 1.3-2.4x slower than ``x W`` at these sizes).

Each case trains the same configurations every way, ``repeats`` times, interleaved (loop, bmm, fused, loop,
...) so that a load change on a shared machine hits all of them; the best of the repeats is kept. Quote ratios
measured in one run, with the load printed at the start.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from nfdlib.config import get_device
from nfdlib.data import load_mnist1d
from nfdlib.engine import train_loop, train_stacked
from nfdlib.models import ResNet


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device) -> float:
    """Seconds of ``fn()``: CPU time of this process on the CPU (the time it actually ran: other processes on a
    shared machine do not inflate it), wall-clock time on an accelerator."""
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    _sync(device)
    w0 = clock()
    fn()
    _sync(device)
    return clock() - w0


def matmul_peak(device, size: int = 1024, repeats: int = 7) -> float:
    """GFLOP/s of the best of ``repeats`` fp32 products ``(size x size) @ (size x size)``."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    for _ in range(2):
        a @ b
    best = min(_time(lambda: a @ b, device) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def step_flops(n: int, L: int, d: int, d_out: int, batch: int, blocks: int = 2) -> float:
    """Matmul FLOPs of one SGD step of one configuration: forward, weight gradients, input gradients (all
    matrices but the first)."""
    forward = 2 * batch * (n * d + L * blocks * n * n + n * d_out)
    return 3 * forward - 2 * batch * n * d


def matmul_floor(n: int, L: int, d: int, d_out: int, batch: int, C: int, device, repeats: int = 5) -> float:
    """Seconds of the batched products of one fused-engine step of ``C`` two-layer configurations, alone."""
    x = torch.randn(C, batch, d, device=device)
    U = torch.randn(C, n, d, device=device) * 0.01
    v = torch.randn(C, d_out, n, device=device) * 0.01
    W = torch.randn(C, n, n, device=device) * 0.01
    a, g, out = (torch.randn(C, batch, n, device=device) for _ in range(3))
    chi = torch.randn(C, batch, d_out, device=device)

    def step():
        torch.bmm(x, U.mT, out=out)
        for _ in range(2 * L):  # forward: a W^T (the engine's layout), into a buffer or onto h
            out.baddbmm_(a, W.mT, alpha=1e-9)
        torch.bmm(a, v.mT)
        torch.bmm(chi, v, out=out)
        v.baddbmm_(chi.mT, a, alpha=-1e-9)
        for _ in range(2 * L):  # backward: signal g W, update W -= g^T a
            torch.bmm(g, W, out=out)
            W.baddbmm_(g.mT, a, alpha=-1e-9)
        U.baddbmm_(g.mT, x, alpha=-1e-9)

    step()
    return min(_time(step, device) for _ in range(repeats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--device", default=None, help="cpu, cuda or mps (default: NFD_DEVICE or the best available)")
    ap.add_argument("--widths", default="32,64,128,256")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--configs", type=int, default=36, help="learning rates x seeds per case (the sweeps: 12 x 3)")
    ap.add_argument("--engines", default="fused,bmm", help="batched engines to time (nfdlib.engine.ENGINES)")
    ap.add_argument("--no-loop", action="store_true", help="skip the Python loop (slow at large widths)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"load average {load:.2f} at start")
    peak = matmul_peak(device)
    print(f"matmul peak (best 1024^3 fp32 product): {peak:.1f} GFLOP/s")
    data = load_mnist1d(1024, 256)
    C, steps, L, B = args.configs, args.steps, args.depth, 64
    lrs = np.tile(2.0 ** np.linspace(-5, -1, C // 3), 3)[:C]
    seeds = np.repeat([0, 1, 2], C // 3)[:C]
    engines = [e for e in args.engines.split(",") if e]

    def warm(seed):
        return ResNet(data.d, 10, 16, 2, block="two", seed=seed, device=device)
    for engine in engines:
        train_stacked(warm, lrs[:2], seeds[:2], data, 2, batch_size=B, loss="xent", engine=engine)

    print(f"{C} configurations (learning rates x seeds), two-layer blocks, L={L}, {steps} SGD steps at batch {B}, "
          f"MNIST-1D (1024 train, 256 test, evaluated at the start and the end); best of {args.repeats}")
    rows = []
    for n in [int(w) for w in args.widths.split(",")]:
        def make(seed, n=n):
            return ResNet(data.d, 10, n, L, block="two", seed=seed, device=device)
        kw = dict(batch_size=B, loss="xent", eval_every=steps)
        per_cfg = steps * step_flops(n, L, data.d, 10, B) + 2 * (1024 + 256) * 2 * (n * data.d + 2 * L * n * n + 10 * n)
        total = C * per_cfg
        cases = ([] if args.no_loop else [("loop", lambda kw=kw: train_loop(make, lrs, seeds, data, steps, **kw))])
        cases += [(e, lambda kw=kw, e=e: train_stacked(make, lrs, seeds, data, steps, engine=e, **kw)) for e in engines]
        best = {name: float("inf") for name, _ in cases}
        for _ in range(args.repeats):
            for name, fn in cases:
                best[name] = min(best[name], _time(fn, device))
        floor = matmul_floor(n, L, data.d, 10, B, C, device)
        floor_flops = C * step_flops(n, L, data.d, 10, B)
        peak = max(peak, matmul_peak(device))
        for name, t in best.items():
            rows.append((n, name, C / t, total / t / 1e9))
        rows.append((n, "floor", float("nan"), floor_flops / floor / 1e9))
    print(f"matmul peak (best of before and after): {peak:.1f} GFLOP/s\n")
    print(f"{'width':>6} {'engine':>8} {'cfg/s':>8} {'GFLOP/s':>8} {'of peak':>8}")
    for n, name, cps, gf in rows:
        cps_s = "" if name == "floor" else f"{cps:.2f}"
        label = "matmuls" if name == "floor" else name
        print(f"{n:>6} {label:>8} {cps_s:>8} {gf:>8.1f} {gf / peak:>8.0%}")
    print("\n'matmuls' is the matmul floor of the fused engine (its products alone, same shapes and layouts).")
    ratios = {}
    for n, name, cps, _ in rows:
        ratios.setdefault(n, {})[name] = cps
    for n, r in ratios.items():
        parts = [f"{e}/loop {r[e] / r['loop']:.2f}x" for e in engines if "loop" in r]
        if "fused" in r and "bmm" in r:
            parts.append(f"fused/bmm {r['fused'] / r['bmm']:.2f}x")
        print(f"n={n}: " + ", ".join(parts))
    # What bounds the fused engine: its products alone (the floor) against the peak, and the rest of its time.
    gflops = {(n, name): gf for n, name, _, gf in rows}
    if "fused" in engines:
        print("\nwhat bounds the fused engine:")
        for n in ratios:
            fused, floor = gflops[(n, "fused")], gflops[(n, "floor")]
            print(f"  n={n}: {fused / peak:.0%} of peak. Its matrix products alone reach {floor / peak:.0%} (small "
                  f"batched products, and x W^T in the forward pass, which MKL runs slower than x W); about "
                  f"{1 - fused / floor:.0%} of its time goes to everything else: activations and their derivatives "
                  f"(memory-bound passes over C x batch x n), the loss, the evaluations' slicing, Python per layer.")


if __name__ == "__main__":
    main()
