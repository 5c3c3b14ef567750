"""nfdlib: finite ResNets under muP and depth-muP, their Neural Feature Dynamics limit, and diagnostics.

The package is layered like the collection: the registry of rules and finite networks, then the limit
(:mod:`nfdlib.nfd`), the measurements built on both, and last the figures (:mod:`nfdlib.viz`) and widgets. The
README's library section lists every module with what it holds and the notebooks that use it (a table computed
from the code, so it cannot drift).
"""

from .config import get_device, quick_mode, seed_everything
from .models import ResNet
from .optim import make_sgd, param_groups
from .parametrization import get_parametrization, registry_table
from .parametrize import parametrize

__version__ = "0.1.0"

__all__ = ["ResNet", "param_groups", "make_sgd", "parametrize", "get_parametrization", "registry_table", "get_device",
           "quick_mode", "seed_everything", "__version__"]
