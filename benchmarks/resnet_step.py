"""SGD steps per second of nfdlib.models.ResNet, true against decoupled (GIA) backpropagation.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/resnet_step.py [--device cuda]

Prints one line per size and the decoupled/true time ratio (ratios from one run are the figures to quote: the
machine is shared, so absolute times are noisy).
"""

from __future__ import annotations

import argparse
import time

import torch

from nfdlib.config import get_device
from nfdlib.models import ResNet
from nfdlib.optim import make_sgd


def steps_per_second(model: ResNet, X: torch.Tensor, Y: torch.Tensor, repeats: int) -> float:
    opt = make_sgd(model, 0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        (0.5 * (model(X) - Y).pow(2).sum(-1).mean()).backward()
        opt.step()

    step()  # warm-up
    if X.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if X.device.type == "cuda":
        torch.cuda.synchronize()
    return repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = get_device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'block':>5} {'n':>5} {'L':>4} {'batch':>5} | {'true steps/s':>12} {'decoupled':>10} {'ratio':>6}")
    for block, n, L in [("one", 64, 16), ("one", 256, 64), ("two", 256, 32), ("one", 1024, 16)]:
        X = torch.randn(128, 32, device=device)
        Y = torch.randn(128, 1, device=device)
        rates = [steps_per_second(ResNet(32, 1, n, L, block=block, backward=mode, device=device), X, Y, args.repeats)
                 for mode in ("true", "decoupled")]
        print(f"{block:>5} {n:>5} {L:>4} {128:>5} | {rates[0]:12.1f} {rates[1]:10.1f} {rates[0] / rates[1]:6.2f}")


if __name__ == "__main__":
    main()
