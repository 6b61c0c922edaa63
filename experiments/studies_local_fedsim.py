"""Strict instances of the FedSim bounds with ``tau > 1`` local steps.

The bounds: ``theory.derived_local_fedsim``.

``experiments.studies_strict.strict_checks`` appends :func:`local_fedsim_checks`, so
``partialfed reproduce`` checks them and the mutation tests run on them. For each of
``fedsim_local_partial`` (A3) and ``fedsim_local_kappa_partial`` (A3'):

- *noisy*: ``tau = 3``, 3 of 10 devices and all 10, ``delta = 0.5``, noise on both blocks,
  half the largest admissible steps (``gamma_v`` chosen first, the conditions are joint);
  ``chi = 0`` under A3 (the quadratic's ``delta`` is exact only then), ``chi = 0.5`` under A3';
- *tight, exact gradients*: two identical isotropic devices (``mu = L``), both sampled,
  ``tau = 2``, steps :data:`TIGHT_FRACTION` of the largest (the near-optimum instances below
  use :data:`NOISE_FRACTION`): the weights ``a_u/(gamma_u tau)``
  tend to 1 as the steps shrink (docs/derivations/fedsim_local_partial.md §8), and
  :data:`T_TIGHT` rounds converge, so ``Delta_F0/T`` is nearly attained;
- *noise on u only* and *device sampling only* (``delta = 1``), near the optimum, 1 of 10
  devices: these catch the noise and diversity variants (ratios ~0.6-0.7, not tight: the
  drift terms of order ``eta^2.5``);
- A3' only: the coupled quadratic ``H = [[1, 0.5], [0.5, 1]]`` along its top eigenvector.
"""

from __future__ import annotations

from partialfed.experiments.cell import Cell
from partialfed.experiments.checks import Check
from partialfed.experiments.steps import MaxStep
from partialfed.theory import derived_local_fedsim

__all__ = [
    "local_fedsim_checks",
    "T_TIGHT",
    "T_NOISE",
    "TIGHT_FRACTION",
    "NOISE_FRACTION",
    "LOCAL_D",
]

#: Horizon of the exact-gradient tight instances: with ``L gamma tau ~ 0.025`` the loss
#: contracts by ``(1 - L gamma)^(2 tau T) < 1e-3`` over 300 rounds, whatever the study's ``T``.
T_TIGHT = 300
#: Fraction of the largest admissible steps on the tight instances (ratio 0.96 at 0.02, 0.94
#: at 0.05, 0.91 at 0.1 on the exact-gradient instance).
TIGHT_FRACTION = 0.02
#: ... and on the near-optimum ones, where larger steps reach the stationary noise level sooner
#: within ``T_NOISE`` rounds (ratios 0.66-0.67 at 0.05, 0.51-0.55 at 0.02).
NOISE_FRACTION = 0.05
#: Shared dimension of the noise-only and sampling-only instances (the seed mean of
#: ``||xi||^2`` has relative spread ``sqrt(2/d)``).
LOCAL_D = 100
#: Their horizon (the runs start near the optimum and need ~``1/(L gamma tau)`` rounds to reach
#: the stationary noise level).
T_NOISE = 100


def _steps(fraction: float) -> MaxStep:
    # a_v > 0 is joint in (gamma_u, gamma_v): choose gamma_v first (as for the A3' bounds)
    return MaxStep(fraction=fraction, fields=("gamma_v", "gamma_u"))


def local_fedsim_checks(seeds: tuple, T: int) -> list:
    """The strict checks of the ``tau > 1`` FedSim bounds with these seeds and horizon.

    Parameters
    ----------
    seeds : tuple of int
        Seeds of the stochastic instances (the deterministic tight ones use ``(0, 1)``).
    T : int
        Horizon of the noisy instances (the tight ones keep :data:`T_TIGHT`, the
        near-optimum ones ``T_NOISE``).

    Returns
    -------
    list of Check
    """
    out = []
    for name in sorted(derived_local_fedsim.BOUNDS):
        kappa = "kappa" in name
        chi = 0.5 if kappa else 0.0
        problem = dict(n=10, d_u=3, d_v=2, chi=chi, delta=0.5, noise_u=0.5, noise_v=0.5)
        for m in (3, 10):
            run = dict(algorithm="fedsim", T=T, m=m, tau_u=3, tau_v=3)
            out.append(
                Check(
                    name,
                    Cell.of("quadratic", problem, run),
                    seeds,
                    _steps(0.5),
                    f"fedsim, tau=3, {m} of 10 devices, chi={chi:g}, noisy",
                )
            )
        iso = dict(n=2, d_u=3, d_v=2, chi=0.0, delta=0.0, mu_u=1.0, mu_v=1.0)
        tight = dict(algorithm="fedsim", T=T_TIGHT, m=2, tau_u=2, tau_v=2)
        out.append(
            Check(
                name,
                Cell.of("quadratic", iso, tight),
                (0, 1),
                _steps(TIGHT_FRACTION),
                f"tight: fedsim, tau=2, 2 of 2 identical isotropic devices, exact gradients, "
                f"steps {TIGHT_FRACTION:g} of the largest",
            )
        )
        near = dict(n=10, d_u=LOCAL_D, d_v=1, chi=0.0, delta=0.0, mu_u=1.0, mu_v=1.0)
        near.update(start="top", start_radius=1e-3)
        short = dict(algorithm="fedsim", T=T_NOISE, m=1, tau_u=2, tau_v=2)
        for what, label in (({"noise_u": 1.0}, "noise on u only"), ({"delta": 1.0}, "delta = 1")):
            out.append(
                Check(
                    name,
                    Cell.of("quadratic", {**near, **what}, short),
                    seeds,
                    _steps(NOISE_FRACTION),
                    f"tight (not attained, ratio ~0.7: the drift terms): fedsim, tau=2, 1 of 10 "
                    f"devices, {label}, near the optimum",
                )
            )
        if kappa:
            top = dict(n=2, d_u=1, d_v=1, chi=0.5, delta=0.0, personal=0.0, mu_u=1.0, mu_v=1.0)
            out.append(
                Check(
                    name,
                    Cell.of("quadratic", {**top, "start": "top"}, tight),
                    (0,),
                    _steps(TIGHT_FRACTION),
                    "tight: fedsim, tau=2, 2 of 2 devices, H = [[1, 0.5], [0.5, 1]], along its "
                    "top eigenvector",
                )
            )
    return out
