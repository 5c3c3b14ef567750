"""What the live widgets compute for one configuration: small networks, their NFD limit, the two-layer collapse.

What the live widgets compute: small finite networks, their NFD limit and the two-layer collapse, for one
configuration at a time, fast enough to follow a slider (notebook 08; the widgets are in :mod:`nfdlib.widgets`).

Everything here calls the library's own code: :class:`~nfdlib.models.ResNet` trained by
:func:`nfdlib.training.train`, the particle solver :func:`nfdlib.nfd.simulate_nfd` (decoupled and reused), and
:func:`nfdlib.two_layer.block_updates`. Nothing is precomputed. The task is a small regression problem
(:func:`nfdlib.data.make_teacher_task`: ``P`` Gaussian inputs in ``d`` dimensions, a random teacher, MSE loss,
full-batch SGD) so that the solver, whose cost grows like ``(steps * P)^2``, keeps up with a slider.

A configuration is an :class:`ExploreConfig`. :func:`apply_caps` shrinks it to what the device can compute in
about a second (:data:`CAPS`) and says what it changed. Results are memoized per configuration and per part
(:class:`Memo`), so moving a slider back to a value already seen costs nothing, and changing, say, the backward
mode or the width recomputes the networks but not the solver.

The limit beside the networks does not depend on their width: it is the mean of :data:`LIMIT_SOLVES`
independent solves of :data:`LIMIT_PARTICLES` particles each, whatever ``n`` is, and its Monte Carlo error is the
standard error over those solves (:func:`run_limit`). How these two numbers were chosen is measured by
``benchmarks/widgets.py --particles``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch
from scipy.stats import ks_2samp
from scipy.stats import t as student_t

from .activations import ACTIVATIONS
from .config import get_device
from .data import make_teacher_task
from .models import BACKWARDS, BLOCKS, ResNet
from .nfd import simulate_nfd
from .parametrization import names as parametrization_names
from .rules import TrainingRule
from .stats import Verdict, interval_verdict, ks_interval, rms
from .training import train
from .two_layer import block_updates
from .validation import check_bool, check_choice, check_float, check_int

# Parametrizations whose one-layer, pre-activation networks have the NFD limit that the solver computes.
LIMIT_PARAMETRIZATIONS = ("depth-mup", "depth-mup-corrected")
# The rules compared in the collapse panel, each a parametrization of two-layer blocks: depth-muP and its
# correction (the user's rule is added to them).
COLLAPSE_RULES = ("depth-mup", "depth-mup-corrected")


@dataclass(frozen=True)
class ExploreConfig:
    """One point of the explorer: network sizes, training, architecture and how many seeds.

    ``n`` width, ``L`` depth, ``T`` depth horizon, ``eta`` base SGD rate (every matrix of a depth-muP network
    trains at ``eta * n``; the registry gives the other rules), ``steps`` full-batch SGD steps on the task of
    ``P`` training inputs in ``d`` dimensions. ``backward`` is ``"true"`` or ``"decoupled"`` (GIA).
    """

    n: int = 128
    L: int = 8
    T: float = 1.0
    eta: float = 0.5
    steps: int = 6
    parametrization: str = "depth-mup"
    block: str = "one"
    preact: bool = True
    backward: str = "true"
    activation: str = "relu"
    seeds: int = 2
    P: int = 8
    d: int = 8

    def __new__(cls, *args, **kwargs):
        # The generated __init__ would say only "unexpected keyword argument"; a user needs the field names.
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ValueError(f"{cls.__name__} has no field {', '.join(unknown)}; its fields are {', '.join(allowed)}")
        if len(args) > len(allowed):
            raise ValueError(f"{cls.__name__} takes at most {len(allowed)} values ({', '.join(allowed)}), "
                             f"got {len(args)}")
        return super().__new__(cls)

    def __post_init__(self):
        check_int("n", self.n, minimum=2)
        check_int("L", self.L)
        check_float("T", self.T)
        check_float("eta", self.eta)
        check_int("steps", self.steps, minimum=0)
        check_choice("parametrization", self.parametrization, parametrization_names())
        check_choice("block", self.block, BLOCKS)
        check_bool("preact", self.preact)
        check_choice("backward", self.backward, BACKWARDS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_int("seeds", self.seeds)
        check_int("P", self.P)
        check_int("d", self.d)

    @property
    def rule(self) -> TrainingRule:
        """The networks' training rule: the parametrization with its block type, pre- or post-activation."""
        return TrainingRule(self.parametrization, self.block, self.preact)

    @property
    def has_limit(self) -> bool:
        """True when the solver computes this network's limit: depth-muP family, one-layer pre-activation blocks
        (under the correction a one-layer network is plain depth-muP: it has no first internal layer)."""
        rule = self.rule
        return rule.parametrization in LIMIT_PARAMETRIZATIONS and rule.block == "one" and rule.preact

    def key(self) -> tuple:
        return tuple(sorted(asdict(self).items()))


@dataclass(frozen=True)
class Caps:
    """The largest sizes computed on one kind of device; larger requests are shrunk and the user is told."""

    n: int
    L: int
    steps: int
    seeds: int
    M: int  # solver particles
    K: int  # solver Euler steps in layer-time
    # The solver's history (steps + 1) P: each particle is regressed on that many noise coordinates, so its cost
    # grows like its square, and P = 2000 inputs took over a minute at 6 steps. P is capped so that the history
    # stays within what the caps above were measured at (their steps at the default P = 8): an update at P = 32
    # and 6 steps already took 9.7 CPU-s against 3.4 at P = 8. d, the inputs' dimension, enters the solver only
    # through their Gram matrix and the networks through their first layer (n d weights).
    history: int = 168
    d: int = 1024

    def __post_init__(self):
        for name, value in asdict(self).items():
            check_int(f"caps.{name}", value, minimum=2 if name == "n" else 1)

    def scaled(self, factor: int) -> Caps:
        """Every network and solver size multiplied by ``factor`` (steps and seeds too; the history and ``d``
        kept): what benchmarks time on a GPU."""
        check_int("factor", factor)
        return replace(self, **{name: int(getattr(self, name) * factor)
                                for name in ("n", "L", "steps", "seeds", "M", "K")})


# The limit's particles per solve and its number of independent solves (solver seeds 0, 1, ...). The same on
# every device and for every width, so that the limit beside the networks does not move with the width slider.
# Chosen with `benchmarks/widgets.py --particles` at the default configuration (the solve does not depend on n;
# L = K = 8, 6 steps, eta = 0.5, 8 solver seeds per M): the standard deviation over seeds of one solve's final
# loss was 0.0049 (reused) and 0.0094 (decoupled) at M = 128, 0.0016 and 0.0029 at M = 2048, and no smaller at
# M = 4096 (0.0019 and 0.0025, for 1.65 times the CPU time); the mean stayed within 0.002 of its M = 4096 value
# from M = 512 on (no visible finite-M bias). Past M = 2048 more solves cut the error faster than more particles:
# four solves of 2048 give a standard error of about 0.0008 (reused, 3% of its loss) and 0.0015 (decoupled),
# smaller than the networks' seed error at n = 512 (0.0012 with 4 seeds). A solve of 2048 costs 0.18
# (decoupled) and 0.28 (reused) CPU-s at the defaults on the shared machine below.
LIMIT_PARTICLES = 2048
LIMIT_SOLVES = 4

# Measured with benchmarks/widgets.py on a shared two-core machine about 3x slower than a laptop, one thread: a
# cold update one slider move from the defaults takes 1.3 CPU-s (median; 0.46 when the limit was one solve of
# max(n, 168) particles), 4.1 at worst (L = 16, whose solves run on K = 16 Euler steps); the four solves of each
# limit are most of it, and a width, seeds, rule or backward move reuses them. At these caps an update takes
# about 40 CPU-s with one-layer blocks (networks 14, the two limits 25), and the status line says "computing"
# meanwhile. The networks' cost grows like n^2 L steps seeds: at n = 1024 an update took
# two to five minutes, too long for a slider. A GPU's caps are 16x the width and 8x the depth of a
# CPU's, but the sliders (nfdlib.widgets) stop at n = 4096 and L = 256: 8x and 4x the CPU's caps (a start value
# beyond extends them). ``M`` is the particles per solve (:data:`LIMIT_PARTICLES` everywhere). ``history`` is
# (steps + 1) P at each device's steps cap and the default P = 8, so more inputs at fewer steps cost no more than
# the caps measured (at 6 steps, up to P = 24 on a CPU).
CAPS = {"cpu": Caps(n=512, L=64, steps=20, seeds=4, M=LIMIT_PARTICLES, K=16, history=21 * 8),
        "mps": Caps(n=2048, L=128, steps=30, seeds=4, M=LIMIT_PARTICLES, K=32, history=31 * 8),
        "cuda": Caps(n=8192, L=512, steps=40, seeds=8, M=LIMIT_PARTICLES, K=128, history=41 * 8)}


def caps_for(device: torch.device | str | None = None) -> Caps:
    """The :data:`CAPS` of ``device`` (the automatic device when ``None``)."""
    return CAPS[get_device(device).type]


def apply_caps(config: ExploreConfig, caps: Caps) -> tuple[ExploreConfig, list[str]]:
    """``config`` shrunk to ``caps``, and one note per size that was shrunk (``"n 4096 -> 1024"``). ``P`` is
    capped after ``steps``, at the most inputs whose history ``(steps + 1) P`` is within ``caps.history``."""
    if not isinstance(config, ExploreConfig):
        raise ValueError(f"config must be an ExploreConfig, got {type(config).__name__}")
    if not isinstance(caps, Caps):
        raise ValueError(f"caps must be a Caps (for instance explore.CAPS['cpu']), got {type(caps).__name__}")
    changes, notes = {}, []
    for name in ("n", "L", "steps", "seeds", "d"):
        want, limit = getattr(config, name), getattr(caps, name)
        if want > limit:
            changes[name] = limit
            notes.append(f"{name} {want} -> {limit}")
    steps = changes.get("steps", config.steps)
    most_inputs = max(1, caps.history // (steps + 1))
    if config.P > most_inputs:
        changes["P"] = most_inputs
        notes.append(f"P {config.P} -> {most_inputs} (the solver's (steps + 1) P is capped at {caps.history})")
    return replace(config, **changes), notes


def solver_sizes(config: ExploreConfig, caps: Caps) -> tuple[int, int, list[str]]:
    """Particles ``M`` per solve and Euler steps ``K`` of the limit shown beside a network of depth ``L``.

    ``K = L`` (the solver on the network's own layer grid) within the caps. ``M`` is ``caps.M`` whatever the
    network's width: the limit is one fixed reference, not a solve the size of the network. The reused solver
    regresses each particle on its own noise history of ``(steps + 1) P`` coordinates and needs many more
    particles than that; a note says when ``M`` is under three times that history.
    """
    notes = []
    K = min(config.L, caps.K)
    if K < config.L:
        notes.append(f"solver K {config.L} -> {K}")
    M = caps.M
    if M < 3 * (config.steps + 1) * config.P:
        notes.append(f"solver M {M} is under 3 (steps + 1) P = {3 * (config.steps + 1) * config.P}")
    return M, K, notes


def limit_key(config: ExploreConfig, M: int, K: int, solves: int) -> tuple:
    """What a limit solve depends on: the task (``P``, ``d``), ``T``, ``eta``, ``steps``, the activation and the
    solver's sizes. Not the width, the seeds, the backward mode or the rule of the networks beside it."""
    return (("T", config.T), ("eta", config.eta), ("steps", config.steps), ("activation", config.activation),
            ("P", config.P), ("d", config.d), ("M", M), ("K", K), ("solves", solves))


class Memo:
    """A least-recently-used store of results keyed by ``(part, configuration)``; counts hits and misses."""

    def __init__(self, size: int = 128):
        self.size = check_int("size", size)
        self._store: OrderedDict = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key, compute: Callable[[], object]) -> tuple[object, bool]:
        """``(value, from_cache)``; ``compute()`` runs only on a miss. Exceptions are not stored."""
        if key in self._store:
            self._store.move_to_end(key)
            self.hits += 1
            return self._store[key], True
        value = compute()
        self.misses += 1
        self._store[key] = value
        if len(self._store) > self.size:
            self._store.popitem(last=False)
        return value, False

    def __contains__(self, key) -> bool:
        return key in self._store

    def clear(self) -> None:
        self._store.clear()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._store)


MEMO = Memo()


def _rms_per_layer(h: list[torch.Tensor]) -> np.ndarray:
    return np.array([rms(t) for t in h])


def task_for(config: ExploreConfig):
    """The regression task of the explorer (fixed teacher, seed 0): ``P`` training and 16 test inputs."""
    return make_teacher_task(d=config.d, n_train=config.P, n_test=16, seed=0)


def run_networks(config: ExploreConfig, device=None) -> dict:
    """Train ``config.seeds`` networks and measure panels (a), (b) and (d).

    Returns ``tau (L+1,)``; per seed ``h_rms_init``, ``h_rms_final`` (rms of ``h_l`` over inputs and units,
    ``(seeds, L+1)``) and ``dh_rms`` (rms of the change of ``h_l`` over training); ``loss`` ``(seeds, steps+1)``
    (train loss before each step; NaN after a divergence) and ``test_loss``; ``h_T`` ``(seeds, n)``, the
    coordinates of ``h_L`` on the first training input after training; ``diverged_at`` (step or -1 per seed).
    """
    device = get_device(device)
    task = task_for(config).to(device)
    X = task.X_train
    S, L = config.steps, config.L
    out = {"tau": np.linspace(0.0, config.T, L + 1), "h_rms_init": [], "h_rms_final": [], "dh_rms": [],
           "loss": [], "test_loss": [], "h_T": [], "diverged_at": []}
    for seed in range(config.seeds):
        model = ResNet(config.d, 1, config.n, L, block=config.block, parametrization=config.parametrization,
                       activation=config.activation, T=config.T, preact=config.preact, backward=config.backward,
                       seed=seed, device=device)
        with torch.no_grad():
            _, before = model(X, return_features=True)
        result = train(model, task, config.eta, S, loss="mse", eval_every=1, seed=seed)
        with torch.no_grad():
            _, after = model(X, return_features=True)
        out["h_rms_init"].append(_rms_per_layer(before.h))
        out["h_rms_final"].append(_rms_per_layer(after.h))
        out["dh_rms"].append(_rms_per_layer([a - b for a, b in zip(after.h, before.h)]))
        out["loss"].append(result.train_loss)
        out["test_loss"].append(result.test_loss)
        out["h_T"].append(after.h[-1][0].double().cpu().numpy())
        out["diverged_at"].append(-1 if result.diverged_at is None else int(result.diverged_at))
    return {k: (np.asarray(v) if k != "tau" else v) for k, v in out.items()}


def run_solver(config: ExploreConfig, coupling: str, M: int, K: int, device=None, seed: int = 0) -> dict:
    """The NFD solve of ``config``'s task with ``M`` particles on ``K`` Euler steps (float64, solver ``seed``).

    Returns ``loss`` (train loss before each step) and ``h_T`` (the particles' ``h_T`` on the
    first training input after the last step, ``(M,)``). Only meaningful when ``config.has_limit``.
    """
    check_choice("coupling", coupling, ("decoupled", "reused"))
    device = get_device(device)
    task = task_for(config)
    # float64: float32 round-off in the conditional sampling blows long solves up (see simulate_nfd); MPS has
    # no float64.
    dtype = torch.float32 if device.type == "mps" else torch.float64
    # Training inputs only: each extra input adds to every conditional Gaussian's history.
    res = simulate_nfd(task.X_train, task.Y_train, M=M, K=K, T=config.T,
                       steps=config.steps, lr=config.eta, activation=config.activation, coupling=coupling, seed=seed,
                       kernel_layers=[K], return_particles=True, device=device, dtype=dtype)
    return {"loss": res.train_loss, "h_T": res.particles["h_T"][-1][:, 0],
            "M": M, "K": K, "seconds": res.seconds}


def run_limit(config: ExploreConfig, coupling: str, M: int, K: int, solves: int = LIMIT_SOLVES,
              device=None) -> dict:
    """The NFD limit of ``config``'s task as the mean of ``solves`` independent solves (solver seeds
    ``0 .. solves-1``) of ``M`` particles on ``K`` Euler steps, with its Monte Carlo error.

    Returns ``loss`` (mean over solves of the train loss before each step), ``loss_se`` (its standard error over
    the solves, NaN for one solve), ``final`` (each solve's final loss), ``h_T`` (the particles of every solve,
    ``(solves * M,)``), ``M``, ``K``, ``solves`` and ``seconds``. Solves that are not finite are kept, so a
    blown-up solve makes the mean NaN rather than being dropped quietly.
    """
    check_int("solves", solves)
    runs = [run_solver(config, coupling, M, K, device, seed=seed) for seed in range(solves)]
    losses = np.stack([np.asarray(r["loss"], float) for r in runs])
    with np.errstate(over="ignore", invalid="ignore"):  # a blown-up solve: its inf/NaN shows in the mean and SE
        se = losses.std(axis=0, ddof=1) / np.sqrt(solves) if solves > 1 else np.full(losses.shape[1], np.nan)
    return {"loss": losses.mean(axis=0), "loss_se": se, "final": losses[:, -1],
            "h_T": np.concatenate([np.asarray(r["h_T"], float) for r in runs]), "M": M, "K": K,
            "solves": solves, "seconds": float(sum(r["seconds"] for r in runs))}


def run_collapse(config: ExploreConfig, rule: str, device=None) -> dict:
    """Panel (c): the first internal layer's own update ``m1 dW1_l phi(h_{l-1})`` per block after one SGD step
    of a two-layer network under ``rule`` (rms over inputs and units; ``(seeds, L)``), with ``tau`` of each
    block's output."""
    device = get_device(device)
    task = task_for(config)
    values = []
    for seed in range(config.seeds):
        model = ResNet(config.d, 1, config.n, config.L, block="two", parametrization=rule,
                       activation=config.activation, T=config.T, preact=config.preact, seed=seed, device=device)
        rows = block_updates(model, task.X_train, task.Y_train, config.eta, 1, kernel=False, record_steps=[1])
        own = {r["layer"]: r["value"] for r in rows if r["quantity"] == "dz_own" and r["step"] == 1}
        values.append([own.get(layer, np.nan) for layer in range(1, config.L + 1)])
    return {"tau": np.arange(1, config.L + 1) * config.T / config.L, "dz_own": np.asarray(values, float)}


def _safe(fn: Callable[[], dict]) -> dict:
    """Run one part; a failure becomes ``{"error": message}`` so that the other panels still draw."""
    try:
        return fn()
    except (ValueError, FloatingPointError, RuntimeError, torch.linalg.LinAlgError) as err:
        return {"error": f"{type(err).__name__}: {err}"}


PARTS = ("networks", "limit", "collapse")


def explore(config: ExploreConfig, *, device=None, caps: Caps | None = None, memo: Memo | None = None,
            parts: tuple[str, ...] = PARTS, collapse_rules: tuple[str, ...] | None = None,
            solves: int = LIMIT_SOLVES) -> dict:
    """Everything the explorer draws for ``config``: ``networks``, ``limit`` (``{"decoupled", "reused"}``, each
    from :func:`run_limit` with ``solves`` solves, for one-layer blocks; ``None`` for two-layer ones),
    ``limit_applies`` (whether that limit is the networks' own: ``config.has_limit``; for another rule or
    post-activation blocks it is the depth-muP pre-activation limit, drawn as a reference), ``collapse``
    (``{rule: ...}`` for two-layer blocks, else ``None``), ``gap`` (the network-to-limit readout, only where
    the limit applies), plus ``config`` (after caps), ``notes`` (caps applied), ``cached`` (which parts came
    from the memo), ``device`` and ``seconds``. ``parts`` picks what to compute (a subset of :data:`PARTS`);
    ``collapse_rules`` overrides the rules of the collapse part (default: depth-muP, the correction, and
    ``config``'s own rule).

    A part that fails carries ``{"error": ...}`` instead of its arrays; nothing is raised for a bad
    combination or a divergence. Arguments of the wrong kind (a dict for ``config``, a string for ``parts`` or
    ``collapse_rules``, an unknown rule, ``solves < 1``) raise ``ValueError`` before anything is computed.
    """
    start = time.perf_counter()
    if not isinstance(config, ExploreConfig):
        raise ValueError(f"config must be an ExploreConfig (ExploreConfig(**values) builds one from a dict), "
                         f"got {type(config).__name__}")
    check_names("parts", parts, PARTS)
    if collapse_rules is not None:
        check_names("collapse_rules", collapse_rules, parametrization_names())
    check_int("solves", solves)
    device = get_device(device)
    caps = caps_for(device) if caps is None else caps
    if not isinstance(caps, Caps):
        raise ValueError(f"caps must be a Caps (for instance explore.CAPS['cpu']) or None, got {type(caps).__name__}")
    memo = MEMO if memo is None else memo
    if not isinstance(memo, Memo):
        raise ValueError(f"memo must be an explore.Memo or None, got {type(memo).__name__}")
    cfg, notes = apply_caps(config, caps)
    dev_key = str(device)
    cached = {}
    networks = limit = collapse = None
    with one_thread_on_cpu(device):
        if "networks" in parts:
            networks, cached["networks"] = memo.get(("networks", cfg.key(), dev_key),
                                                    lambda: _safe(lambda: run_networks(cfg, device)))
        if "limit" in parts and cfg.block == "one":
            M, K, solver_notes = solver_sizes(cfg, caps)
            notes = notes + solver_notes
            limit = {}
            # The solve depends on the task, T, eta, steps and activation only: not on n, seeds, backward or rule.
            key = limit_key(cfg, M, K, solves)
            for coupling in ("decoupled", "reused"):
                limit[coupling], cached[f"NFD {coupling}"] = memo.get(
                    ("solver", coupling, key, dev_key),
                    lambda c=coupling: _safe(lambda: run_limit(cfg, c, M, K, solves, device)))
        if "collapse" in parts and cfg.block == "two":
            collapse = {}
            rules = collapse_rules
            if rules is None:
                rules = COLLAPSE_RULES + ((cfg.parametrization,) if cfg.parametrization not in COLLAPSE_RULES else ())
            for rule in rules:
                collapse_cfg = replace(cfg, parametrization=rule, steps=1, backward="true")
                collapse[rule], cached[f"collapse {rule}"] = memo.get(
                    ("collapse", rule, collapse_cfg.key(), dev_key),
                    lambda r=rule, c=collapse_cfg: _safe(lambda: run_collapse(c, r, device)))
    gap = limit_gap(cfg, networks, limit) if networks is not None and cfg.has_limit else None
    return {"config": cfg, "requested": config, "notes": notes, "networks": networks, "limit": limit,
            "limit_applies": cfg.has_limit,
            "collapse": collapse, "gap": gap, "cached": cached, "device": dev_key,
            "seconds": time.perf_counter() - start}


def check_names(name: str, values, allowed) -> tuple[str, ...]:
    """A non-empty list or tuple of names from ``allowed`` (a bare string would be read letter by letter)."""
    allowed = tuple(allowed)
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{name} must be a non-empty list or tuple of names from {', '.join(allowed)}; "
                         f"got {values!r}")
    for value in values:
        check_choice(name, value, allowed)
    return tuple(values)


@contextmanager
def one_thread_on_cpu(device: torch.device):
    """On a CPU, run on one thread. The explorer's products have at most 16 rows (its inputs), so they are bound
    by per-call overhead; with two threads on a two-core machine that had other work, an 8 x 512 by 512 x 512
    product took 5 ms instead of 0.24 ms, and a whole update at n = 512, L = 32 took 34 s instead of 13 s."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def difference_interval(a: float, se_a: float, dof_a: int, b: float, se_b: float, dof_b: int,
                        level: float = 0.95) -> tuple[float, float]:
    """Welch's interval for ``a - b`` from two independent means with standard errors ``se_a``, ``se_b`` on
    ``dof_a``, ``dof_b`` degrees of freedom (Welch-Satterthwaite degrees for the t quantile). NaN where either
    standard error is undefined: an interval is never made up."""
    values = np.array([a, se_a, b, se_b], float)
    if not np.all(np.isfinite(values)) or min(dof_a, dof_b) < 1:
        return float("nan"), float("nan")
    var = se_a ** 2 + se_b ** 2
    if var == 0:
        return a - b, a - b
    dof = var ** 2 / (se_a ** 4 / dof_a + se_b ** 4 / dof_b)
    half = float(student_t.ppf(0.5 + level / 2, dof) * np.sqrt(var))
    return a - b - half, a - b + half


def limit_gap(config: ExploreConfig, networks: dict, limit: dict | None) -> dict | None:
    """The final train loss of the networks (mean and standard error over seeds) against the limit that matches
    their backward pass (reused for true backpropagation, decoupled for GIA networks), and the other limit.

    For each coupling ``c``: ``out[c]`` the limit's final loss, ``out[c + "_se"]`` its Monte Carlo error, and
    ``out["gap_" + c]`` with ``out["gap_" + c + "_interval"]``, the networks minus that limit and its 95% Welch
    interval (seed error of the networks and Monte Carlo error of the limit). ``gap`` and ``gap_interval`` are
    those of the matching limit."""
    if limit is None or "error" in networks:
        return None
    final = networks["loss"][:, -1]
    finite = final[np.isfinite(final)]
    if finite.size == 0:
        return None
    mean = float(finite.mean())
    se = float(finite.std(ddof=1) / np.sqrt(finite.size)) if finite.size > 1 else float("nan")
    match = "reused" if config.backward == "true" else "decoupled"
    out = {"net_mean": mean, "net_se": se, "seeds": int(finite.size), "match": match}
    for coupling, res in limit.items():
        value = float(res["loss"][-1]) if "error" not in res else float("nan")
        value_se = float(res["loss_se"][-1]) if "error" not in res else float("nan")
        out[coupling], out[f"{coupling}_se"] = value, value_se
        out[f"gap_{coupling}"] = mean - value
        out[f"gap_{coupling}_interval"] = difference_interval(
            mean, se, finite.size - 1, value, value_se, res.get("solves", 1) - 1)
    out["gap"] = out[f"gap_{match}"]
    out["gap_interval"] = out[f"gap_{match}_interval"]
    out["relative_gap"] = out["gap"] / out[match] if np.isfinite(out[match]) and out[match] > 0 else float("nan")
    return out


def stream_growth(networks: dict) -> float:
    """Panel (a)'s readout: rms of ``h_L`` over rms of ``h_0`` at initialization, each a mean over seeds."""
    h = networks["h_rms_init"]
    return float(h[:, -1].mean() / h[:, 0].mean())


def feature_change(networks: dict) -> np.ndarray:
    """Per seed, the rms change of ``h_L`` over training (panel (a)'s second readout; NaN for a diverged seed)."""
    return np.asarray(networks["dh_rms"], float)[:, -1]


def gap_verdict(gap: dict, coupling: str, tol: float) -> Verdict:
    """"The networks' final loss equals the ``coupling`` limit's within ``tol`` times that limit's loss", judged
    by :func:`nfdlib.stats.interval_verdict` on the 95% interval of the gap (:func:`limit_gap`)."""
    check_choice("coupling", coupling, ("decoupled", "reused"))
    check_float("tol", tol)
    lo, hi = gap[f"gap_{coupling}_interval"]
    bound = tol * abs(gap[coupling]) if np.isfinite(gap[coupling]) else float("nan")
    if not np.isfinite(bound):
        return interval_verdict(float("nan"), float("nan"), allowed=(-1.0, 1.0))
    return interval_verdict(lo, hi, allowed=(-bound, bound))


def particle_verdict(units, particles, tol: float) -> tuple[float, Verdict]:
    """"A unit's coordinate has the law of a particle, within Kolmogorov-Smirnov distance ``tol``": the sample
    distance and the verdict on the 95% interval of the distance between the two laws
    (:func:`nfdlib.stats.ks_interval`, which accounts for both sample sizes). Non-finite values are dropped."""
    check_float("tol", tol)
    a, b = np.asarray(units, float).ravel(), np.asarray(particles, float).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("units and particles must each hold at least one finite value")
    distance, lo, hi = ks_interval(a, b)
    return distance, interval_verdict(lo, hi, allowed=(-np.inf, tol))  # a distance is never negative


def ks_distance(units, particles) -> float:
    """The Kolmogorov-Smirnov distance (largest gap between the two empirical distribution functions) between a
    network's unit coordinates and the solver's particles; non-finite values are dropped."""
    a, b = np.asarray(units, float).ravel(), np.asarray(particles, float).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("units and particles must each hold at least one finite value")
    return float(ks_2samp(a, b).statistic)


__all__ = ["ks_distance", "ExploreConfig", "Caps", "CAPS", "caps_for", "apply_caps", "solver_sizes", "limit_key",
           "Memo", "MEMO", "explore", "run_networks", "run_solver", "run_limit", "run_collapse", "limit_gap",
           "difference_interval", "stream_growth", "feature_change", "gap_verdict", "particle_verdict",
           "task_for", "LIMIT_PARAMETRIZATIONS", "LIMIT_PARTICLES", "LIMIT_SOLVES", "PARTS", "COLLAPSE_RULES"]
