"""nfdlib: finite ResNets under muP and depth-muP, their Neural Feature Dynamics limit, and diagnostics.

Modules (each introduced in the notebook that first needs it):

* :mod:`nfdlib.parametrization`  the one registry of scaling rules (notebook 00)
* :mod:`nfdlib.models`           ``ResNet``: one- and two-layer blocks, true or decoupled backward (00)
* :mod:`nfdlib.optim`            SGD/Adam/AdamW parameter groups from the registry, also for your own modules (00)
* :mod:`nfdlib.parametrize`      ``parametrize``: apply a registry rule to any ``nn.Module`` (roles, init, hooks) (09)
* :mod:`nfdlib.coord_any`        coord checks of any model: each module's output size per step, over sizes (09)
* :mod:`nfdlib.collapse_any`     the first internal layer's own update in any parametrized model, SGD or Adam (09)
* :mod:`nfdlib.transfer_any`     learning-rate sweeps over depth of any parametrized model (09)
* :mod:`nfdlib.training`         SGD training with divergence detection (00)
* :mod:`nfdlib.diagnostics`      coord checks over width and depth (00)
* :mod:`nfdlib.viz`              the figures of every notebook, one module per subject; they only draw (00)
* :mod:`nfdlib.stats`            log-log slope fits with intervals and computed verdicts (00)
* :mod:`nfdlib.nfd.theory`       initial-kernel ODEs, closed forms and first-step kernels (01)
* :mod:`nfdlib.nfd`              the NFD particle solver ``simulate_nfd`` (01, 02)
* :mod:`nfdlib.nfd.runs`         cached network and solver runs, error split into fluctuation and bias (02)
* :mod:`nfdlib.gia`              gradient-independence measurements (03)
* :mod:`nfdlib.coupling`         the reused-weight coupling of a network, layer by layer during training (03)
* :mod:`nfdlib.nfd.reused`       the solver with reused-weight terms, ``coupling="reused"`` (03)
* :mod:`nfdlib.two_layer`        diagnostics of two-layer blocks: own updates, backward signal, kernel shares (04, 05)
* :mod:`nfdlib.engine`           the batched engine: many SGD runs of one architecture at once (05)
* :mod:`nfdlib.sweeps`           learning-rate x seed sweeps over depth, cached and resumable by depth (05, 06)
* :mod:`nfdlib.optima`           reading sweeps: optima, their drift with depth, plateaus, budgets (05, 06)
* :mod:`nfdlib.plans`            notebooks' plans of long computations and their command line (06, 07)
* :mod:`nfdlib.scaling`          FLOP counts, scaling-law fits, extrapolation, compute-optimal sizes (07)
* :mod:`nfdlib.data`             offline datasets: digits, MNIST-1D, synthetic teachers; CIFAR-10 where online (00)
* :mod:`nfdlib.cache`            results cached under ``data/`` keyed by their configuration
* :mod:`nfdlib.config`           quick mode (``NFD_QUICK``), device choice (``NFD_DEVICE``), seeding
* :mod:`nfdlib.validation`       argument checks: a ``ValueError`` that names the argument and what it allows
* :mod:`nfdlib.explore`, :mod:`nfdlib.widgets`  the explorer's computations and the live widgets (00, 02, 05, 06, 08)
"""

from .config import get_device, quick_mode, seed_everything
from .models import ResNet
from .optim import make_sgd, param_groups
from .parametrization import get_parametrization, registry_table
from .parametrize import parametrize

__version__ = "0.1.0"

__all__ = ["ResNet", "param_groups", "make_sgd", "parametrize", "get_parametrization", "registry_table", "get_device",
           "quick_mode", "seed_everything", "__version__"]
