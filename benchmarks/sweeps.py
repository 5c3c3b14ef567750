"""Configurations per second: the batched sweep (``nfdlib.sweeps.train_stacked``) against a plain Python loop of
``nfdlib.training.train`` calls over the same configurations (learning rates x seeds).

Run:  OMP_NUM_THREADS=2 .venv/bin/python benchmarks/sweeps.py [--threads 2] [--repeats 3] [--device cpu]

Each case trains the same configurations both ways, ``repeats`` times, interleaved (loop, batched, loop, ...)
so that a load change on a shared machine hits both; the figure kept is the best of the repeats. It prints
configurations per second and the ratio batched / loop. Timings on a shared machine are noisy: quote ratios
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
from nfdlib.models import ResNet
from nfdlib.sweeps import train_loop, train_stacked


def _time(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``fn()`` (CPU time is what a shared machine's load does not inflate)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--device", default=None, help="cpu, cuda or mps (default: NFD_DEVICE or the best available)")
    ap.add_argument("--widths", default="32,64,128,256")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--configs", type=int, default=16, help="learning rates x seeds per case")
    ap.add_argument("--chunks", default="0", help="chunk sizes to try for the batched path (0 = all at once)")
    ap.add_argument("--engines", default="bmm,vmap", help="batched engines to time (nfdlib.sweeps.ENGINES)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"load average {load:.2f} at start")
    data = load_mnist1d(1024, 256)
    C, steps = args.configs, args.steps
    lrs = np.tile(2.0 ** np.linspace(-5, -1, C // 2), 2)
    seeds = np.repeat([0, 1], C // 2)

    # Warm up vmap and the allocator once, so the first case does not pay for it.
    def warm(seed):
        return ResNet(data.d, 10, 16, 2, block="two", seed=seed, device=device)
    for engine in args.engines.split(","):
        train_stacked(warm, lrs[:2], seeds[:2], data, 2, batch_size=64, loss="xent", engine=engine)

    print(f"{C} configurations (learning rates x 2 seeds), two-layer blocks, L={args.depth}, {steps} SGD steps "
          f"at batch 64, MNIST-1D (1024 train); best of {args.repeats}")
    print("cfg/s = configurations per wall-clock second; cfg/cpu-s = per CPU second (robust to other load)")
    print(f"{'width':>6} {'engine':>6} {'chunk':>6} {'loop cfg/s':>11} {'batched cfg/s':>14} {'ratio':>6} "
          f"{'loop cfg/cpu-s':>15} {'batched cfg/cpu-s':>18} {'cpu ratio':>9}")
    for n in [int(w) for w in args.widths.split(",")]:
        def make(seed, n=n):
            return ResNet(data.d, 10, n, args.depth, block="two", seed=seed, device=device)
        kw = dict(batch_size=64, loss="xent", eval_every=steps)
        for engine in args.engines.split(","):
            for chunk in [int(c) for c in args.chunks.split(",")]:
                t_loop, t_batch = [], []
                for _ in range(args.repeats):
                    t_loop.append(_time(lambda kw=kw: train_loop(make, lrs, seeds, data, steps, **kw)))
                    t_batch.append(_time(lambda kw=kw, chunk=chunk, engine=engine: train_stacked(
                        make, lrs, seeds, data, steps, chunk_size=chunk or None, engine=engine, **kw)))
                lo, ba = C / min(t[0] for t in t_loop), C / min(t[0] for t in t_batch)
                clo, cba = C / min(t[1] for t in t_loop), C / min(t[1] for t in t_batch)
                print(f"{n:>6} {engine:>6} {chunk or C:>6} {lo:>11.2f} {ba:>14.2f} {ba / lo:>6.2f} {clo:>15.2f} "
                      f"{cba:>18.2f} {cba / clo:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
