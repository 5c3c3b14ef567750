"""Speed of the NFD particle solver, and its time against a finite network of the same error.

Prints two tables:

1. particle-steps per second (one particle through one Euler step of one SGD step; forward and backward sweeps
   together) for a few sizes, on the CPU and on CUDA/MPS when available;
2. for the training task of notebook 02 (depth ``L = K``, ``STEPS`` SGD steps): the wall time of one decoupled
   finite network of width ``n`` and of one solve with ``M = n`` particles, and the error of each (rms over
   inputs and steps of the output trajectory, against a large-``M`` solver reference averaged over seeds). The
   solver with ``M`` particles is the width-``M`` decoupled network in law, so the errors should match; the
   question is which is cheaper.

Timings are noisy on a shared machine: compare numbers from one run only, and read the load line it prints.

    python benchmarks/nfd_solver.py            # full sizes (a few minutes on 2 CPU cores)
    python benchmarks/nfd_solver.py --quick    # small sizes (seconds)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from nfdlib.nfd import run_finite_network, simulate_nfd
from nfdlib.nfd.runs import DEFAULT_TASK, make_task
from nfdlib.stats import rms


def devices() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def speed_table(sizes, steps: int, repeats: int) -> None:
    task = make_task(DEFAULT_TASK)
    print(f"\n## particle-steps per second (P = {task.X_train.shape[0]} train + {task.X_test.shape[0]} test inputs, "
          f"{steps} SGD steps, float32; best of {repeats})")
    print("| device | M | K | seconds | particle-steps/s |")
    print("|---|---|---|---|---|")
    for dev in devices():
        for M, K in sizes:
            best = float("inf")
            for r in range(repeats):
                if dev == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                simulate_nfd(task.X_train, task.Y_train, X_test=task.X_test, M=M, K=K, steps=steps, lr=0.5, seed=r,
                             device=dev, kernel_layers=[0, K])
                if dev == "cuda":
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - start)
            print(f"| {dev} | {M} | {K} | {best:.2f} | {M * K * (steps + 1) / best:.3g} |", flush=True)


def versus_network(widths, L: int, steps: int, seeds: int, ref_M: int, ref_seeds: int) -> None:
    task = make_task(DEFAULT_TASK)
    kw = dict(X_test=task.X_test, Y_test=task.Y_test, T=1.0, steps=steps, lr=0.5, kernel_layers=[0, L])
    start = time.perf_counter()
    ref = np.mean([np.concatenate([r.f_train, r.f_test], 1) for r in
                   (simulate_nfd(task.X_train, task.Y_train, M=ref_M, K=L, seed=1000 + s, **kw)
                    for s in range(ref_seeds))], 0)
    print(f"\n## solver against a decoupled finite network of the same error (L = K = {L}, {steps} SGD steps, "
          f"{seeds} seeds; reference: {ref_seeds} solves with M = {ref_M}, {time.perf_counter() - start:.0f} s)")
    # warm-up: the first network run of a process pays one-off set-up costs
    run_finite_network(task.X_train, task.Y_train, n=32, L=L, seed=0, backward="decoupled", **(kw | {"steps": 1}))
    print("| n = M | network s/run | solver s/run | time ratio network/solver | network error | solver error |")
    print("|---|---|---|---|---|---|")
    for n in widths:
        t_net, t_sol, e_net, e_sol = [], [], [], []
        for s in range(seeds):
            a = time.perf_counter()
            net = run_finite_network(task.X_train, task.Y_train, n=n, L=L, seed=s, backward="decoupled", **kw)
            b = time.perf_counter()
            sol = simulate_nfd(task.X_train, task.Y_train, M=n, K=L, seed=s, **kw)
            c = time.perf_counter()
            t_net.append(b - a)
            t_sol.append(c - b)
            e_net.append(rms(np.concatenate([net.f_train, net.f_test], 1) - ref))
            e_sol.append(rms(np.concatenate([sol.f_train, sol.f_test], 1) - ref))
        tn, ts = np.median(t_net), np.median(t_sol)
        print(f"| {n} | {tn:.2f} | {ts:.2f} | {tn / ts:.2f} | {np.mean(e_net):.4f} | {np.mean(e_sol):.4f} |",
              flush=True)
    print("(the network's time includes measuring its kernels at 2 layers every step, as the solver does)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, devices {devices()}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.quick:
        speed_table([(256, 8), (1024, 8)], steps=4, repeats=1)
        versus_network([64, 256], L=4, steps=4, seeds=2, ref_M=2048, ref_seeds=2)
    else:
        speed_table([(1024, 16), (4096, 16), (16384, 16), (4096, 64), (4096, 256)], steps=10, repeats=2)
        versus_network([256, 1024, 4096], L=16, steps=10, seeds=3, ref_M=16384, ref_seeds=8)


if __name__ == "__main__":
    main()
