"""A strict check with no free constant: a run against the PEP worst case of its own parameters.

The PEP value (``theory.pep``) is the largest value the run's measure can take over every
``L``-smooth ``F_i`` with ``F^0 - F^T <= Delta_F0``; it *is* a bound, for any ``tau_u``,
``tau_v`` and ``T``, so a run with the same parameters must stay below it. :func:`pep_check`
gives the verdict:

* ``"outside assumptions"`` when the run is not one the PEP is about: another algorithm, step
  size, number of local steps or rounds, partial participation, noisy or minibatch gradients, a
  smoothness not known (kinds ``exact``/``certified``) or above the PEP's ``L``: the problem's
  ``L_joint`` when it has one (a certified joint smoothness, set by
  ``synthetic.interpolant``), else ``l_full`` of its block constants; or, for a PEP with
  ``delta``, a diversity not known below it;
* ``"violated"`` when the measure exceeds the bound by more than the solver's accuracy
  (``rtol``), or the run diverged;
* ``"holds"`` otherwise.

The bound of a run with ``F^0 - F^T = D``: without ``delta`` the PEP is homogeneous (``F ->
c^2 F(./c)`` keeps ``L`` and the step sizes and scales ``Delta_F0`` and the measure by ``c^2``),
so the bound is ``D * value(1) / Delta_F0``; with ``delta`` it is the value itself when ``D <=
Delta_F0`` (the feasible set grows with ``Delta_F0``) and the verdict is "outside assumptions"
otherwise.

A check that cannot fail is a defect: :data:`PEP_MUTANTS` are wrong bounds (the value times 0.9;
the PEP of ``tau_u = tau_v = 1`` used for a run with more local steps), and
:func:`pep_mutation` runs each on the PEP's own worst case, where every one must be
``"violated"`` while the true bound ``"holds"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from partialfed.theory.pep import PEPSpec, l_full

__all__ = ["PEPCheck", "pep_check", "PEP_MUTANTS", "pep_mutation"]

#: Relative slack for the solver's accuracy (Clarabel stops near 1e-8 on these SDPs).
RTOL = 1e-5

_KNOWN = ("exact", "certified")


@dataclass(frozen=True)
class PEPCheck:
    """The verdict of :func:`pep_check`.

    Attributes
    ----------
    verdict : {"holds", "violated", "outside assumptions"}
    measured : float
        The run's measure (``experiments.pep.measure``).
    bound : float
        The PEP bound for the run's ``F^0 - F^T`` (NaN when outside assumptions).
    reasons : tuple of str
        Why the run is outside the PEP's assumptions (empty otherwise).
    """

    verdict: str
    measured: float
    bound: float
    reasons: tuple[str, ...] = ()


def _reasons(spec: PEPSpec, problem, config) -> list[str]:
    out = []
    for name in ("algorithm", "T", "tau_u", "tau_v", "gamma_u", "gamma_v"):
        if getattr(config, name) != getattr(spec, name):
            out.append(f"{name}={getattr(config, name)!r}, the PEP's is {getattr(spec, name)!r}")
    if problem.n != spec.n or config.m != spec.n:
        out.append(f"n={problem.n}, m={config.m}: the PEP has n = m = {spec.n}")
    if problem.noise_u or problem.noise_v or problem.batch:
        out.append("stochastic gradients: the PEP is for exact gradients")
    c = problem.constants
    joint = getattr(problem, "L_joint", None)
    if joint is not None:  # certified joint smoothness (synthetic.interpolant)
        if joint > spec.L * (1 + 1e-12):
            out.append(f"the problem is {joint:.6g}-smooth, above the PEP's L = {spec.L:.6g}")
    else:
        for name in ("L_u", "L_v", "L_uv", "L_vu"):
            if c.kind.get(name) not in _KNOWN:
                out.append(f"{name} is {c.kind.get(name)!r}, not exact or certified")
        lf = l_full(c.L_u, c.L_v, c.L_uv, c.L_vu)
        if lf > spec.L * (1 + 1e-12):
            out.append(f"||[[L_u, L_uv], [L_vu, L_v]]||_2 = {lf:.6g} > the PEP's L = {spec.L:.6g}")
    if spec.delta is not None:
        for name, cap in (("delta", spec.delta), ("rho", spec.rho)):
            if c.kind.get(name) not in _KNOWN or getattr(c, name) > cap:
                out.append(
                    f"{name} = {getattr(c, name):.6g} ({c.kind.get(name)!r}) is not known to be "
                    f"<= the PEP's {cap:.6g}"
                )
    return out


def pep_check(
    spec: PEPSpec,
    problem,
    history,
    *,
    value: float | None = None,
    rtol: float = RTOL,
    **worst_case_kw,
) -> PEPCheck:
    """Verdict of a run against the PEP ``spec`` (module docstring).

    Parameters
    ----------
    spec : PEPSpec
    problem : synthetic.Problem
        The problem the run was on (its constants decide the assumptions).
    history : simulators.History
        A run recording every round.
    value : float, optional
        The PEP's value to use (a mutant passes a wrong one); default: solved or cached
        (``experiments.pep.worst_case`` with ``worst_case_kw``).
    rtol : float
        Relative slack for the solver's accuracy.

    Returns
    -------
    PEPCheck
    """
    from partialfed.experiments.pep import measure, worst_case

    measured = measure(spec, history) if history.status == "ok" else float("nan")
    reasons = _reasons(spec, problem, history.config)
    drop = float(history.loss[0] - history.loss[spec.T]) if history.status == "ok" else np.nan
    if spec.delta is not None and history.status == "ok" and drop > spec.Delta_F0:
        reasons.append(f"F^0 - F^T = {drop:.6g} > the PEP's Delta_F0 = {spec.Delta_F0:.6g}")
    if reasons:
        return PEPCheck("outside assumptions", measured, float("nan"), tuple(reasons))
    if value is None:
        value = worst_case(spec, **worst_case_kw).value
    if history.status != "ok":
        return PEPCheck("violated", measured, float(value))
    bound = value if spec.delta is not None else value * max(drop, 0.0) / spec.Delta_F0
    ok = measured <= bound * (1 + rtol) + 1e-12
    return PEPCheck("holds" if ok else "violated", measured, float(bound))


def _times_09(spec: PEPSpec, value: float, **kw) -> float:
    return 0.9 * value


def _tau_one(spec: PEPSpec, value: float, **kw) -> float | None:
    from partialfed.experiments.pep import worst_case

    if spec.tau_u == 1 and spec.tau_v == 1:
        return None  # the mutant is the bound itself
    return worst_case(replace(spec, tau_u=1, tau_v=1), **kw).value


PEP_MUTANTS: dict[str, Callable[..., float | None]] = {
    "value x 0.9": _times_09,
    "PEP of tau_u = tau_v = 1": _tau_one,
}
"""Mutant name -> ``f(spec, value, **worst_case_kw)``, the wrong bound's value (``None``: does
not apply to this spec)."""


def pep_mutation(spec: PEPSpec, problem, history, **worst_case_kw) -> dict[str, str]:
    """Verdicts of the true PEP bound and of each mutant on a run (the PEP's worst case).

    Returns
    -------
    dict
        ``"PEP"`` and each applicable mutant name -> verdict. On the worst case the true bound
        must hold and every mutant be violated.
    """
    from partialfed.experiments.pep import worst_case

    value = worst_case(spec, **worst_case_kw).value
    out = {"PEP": pep_check(spec, problem, history, value=value).verdict}
    for name, mutant in PEP_MUTANTS.items():
        wrong = mutant(spec, value, **worst_case_kw)
        if wrong is not None:
            out[name] = pep_check(spec, problem, history, value=wrong).verdict
    return out
