"""Neural Feature Dynamics: the limit of depth-muP ResNets as width and depth grow.

* :mod:`nfdlib.nfd.solver`  the particle solver of the NFD system, ``simulate_nfd`` (01, 02)
* :mod:`nfdlib.nfd.finite`  finite networks measured in the same terms, ``run_finite_network`` (02, 04)
* :mod:`nfdlib.nfd.reused`  the solver with the reused-weight terms of true backpropagation,
  ``coupling="reused"`` (04); imported here so that the coupling is registered
* :mod:`nfdlib.nfd.theory`  initial-kernel ODEs, closed forms and first-step kernels (00 to 03)
* :mod:`nfdlib.nfd.runs`    cached runs of networks and of the solver over seeds and sizes, and the split of errors
  into fluctuation and bias (01 to 04, 07); not imported here (``from nfdlib.nfd.runs import ...``)

This package re-exports the public names of ``solver`` and ``finite``.
"""

from . import reused  # noqa: F401 - registers coupling="reused"
from .finite import network_kernels, run_finite_network
from .solver import (
    COUPLINGS,
    ConditionalGaussian,
    NFDResult,
    NFDSolver,
    coupling_solver,
    layers_at,
    loss_and_chi,
    register_coupling,
    simulate_nfd,
)

__all__ = ["ConditionalGaussian", "NFDResult", "NFDSolver", "COUPLINGS", "register_coupling", "coupling_solver",
           "simulate_nfd", "loss_and_chi", "layers_at", "network_kernels", "run_finite_network"]
