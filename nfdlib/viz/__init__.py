"""Figures in the forms the field reads, one module per subject; every figure function only draws.

Figure functions take tidy :class:`~nfdlib.records.Records` or arrays (and the fits computed by the module that
owns the measurement), draw on a given or new ``Axes`` and return it or the figure; :func:`show` displays a
finished figure with its alternative text (the notebooks call it in place of ``plt.show()``).

* :mod:`nfdlib.viz.base`      seed bands, log-log fits, readable ticks, legends outside, ``show`` (00-09)
* :mod:`nfdlib.viz.coords`    coord checks, measurements beside theory, runs at one rate (00, 01, 05)
* :mod:`nfdlib.viz.limit`     error sweeps, trajectories, nondegeneracy, the two limits (02, 04)
* :mod:`nfdlib.viz.gia`       gradient independence (03)
* :mod:`nfdlib.viz.transfer`  slopes by rule, optima by depth, transfer plots (05, 06)
* :mod:`nfdlib.viz.scaling`   scaling laws against the computed limit (07)
"""
