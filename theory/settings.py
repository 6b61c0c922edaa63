"""The setting of a bound: the runs its proof is about (docs/architecture.md#bounds-are-data).

A bound's :attr:`~theory.bound.Bound.conditions` are what a *check chooses* (step sizes); its
*setting* is what a *run is*: which simulator algorithms it runs on
(:attr:`~theory.bound.Bound.simulators`, names of ``simulators.ALGORITHMS``) and the conditions
on ``m, n, tau_u, tau_v`` (and, for the single-block theorems, ``gamma_v``, ``sigma_u``) that its
proof needs (:attr:`~theory.bound.Bound.setting`). They are kept apart so that the per-round
lemmas do not require ``m`` and step selection (``experiments.steps.MaxStep``) never sees them:
a run outside its bound's setting is not a step to avoid, it is a run the bound makes no claim
about, and a strict check says "outside assumptions" (``experiments.checks.setting``).

Every registered bound is declared here, in :data:`SETTINGS`, next to the statement of its proof
(docs/derivations/README.md's table "algorithm, setting"; the classical theorems' sources in
docs/references.md), so that the whole table can be audited in one place; each module's
``BOUNDS`` passes through :func:`declare`, which refuses an undeclared bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import sympy as sp

from partialfed.theory.bound_parts import Condition
from partialfed.theory.symbols import gamma_v, m, n, sigma_u, tau_u, tau_v

__all__ = [
    "EXACT_GRADIENTS",
    "FULL",
    "ONE_TAU",
    "SETTINGS",
    "SINGLE_BLOCK_RUNS",
    "TAU_U1",
    "TAU_V1",
    "V_FROZEN",
    "declare",
    "setting_reasons",
]


def _eq(a, b) -> sp.Basic:
    # unevaluated: gamma_v is declared positive, so sp.Eq(gamma_v, 0) would collapse to False
    return sp.Eq(a, b, evaluate=False)


FULL = Condition("full participation (m = n)", _eq(m, n))
TAU_U1 = Condition("one local u-step per round (tau_u = 1)", _eq(tau_u, 1))
TAU_V1 = Condition("one local v-step per round (tau_v = 1)", _eq(tau_v, 1))
ONE_TAU = Condition("one local-step count (tau_u = tau_v = tau)", _eq(tau_u, tau_v))
V_FROZEN = Condition("a single block: v is not trained (gamma_v = 0)", _eq(gamma_v, 0))
EXACT_GRADIENTS = Condition("exact gradients (sigma_u = 0)", _eq(sigma_u, 0))

#: Simulator algorithms on which a single-block theorem (GD, SGD, FedSGD) is a run: with
#: ``gamma_v = 0`` and ``tau_u = 1`` each of them takes one (stochastic) gradient step on ``u``
#: per round at the frozen ``V`` (experiments/studies_strict.py runs them on ``fedalt``).
SINGLE_BLOCK_RUNS = ("fedalt", "fedsim", "fedavg")

_SINGLE = (V_FROZEN, TAU_U1)
_ALT, _SIM = ("fedalt",), ("fedsim",)

#: Bound name -> (simulator algorithms, setting conditions). Each row is the proof's statement.
SETTINGS: dict[str, tuple[tuple[str, ...], tuple[Condition, ...]]] = {
    # Pillutla et al. 2022, Thm 1 / Thm 2 (docs/references.md#pillutla2022): any m <= n (the
    # bound's own condition); FedSim's theorem has one step count tau (its conditions say so).
    "fedalt_main": (_ALT, ()),
    "fedalt_main_w1": (_ALT, ()),
    "fedsim_main": (_SIM, (ONE_TAU,)),
    "fedsim_main_w1": (_SIM, (ONE_TAU,)),
    # Classical single-block theorems (theory/classic.py): one function of u, so v frozen and
    # one step per round; GD uses the full, exact gradient; SGD the variance sigma of the one
    # stochastic gradient (device sampling is FedSGD's sampling term, not sigma).
    "sgd_nonconvex": (SINGLE_BLOCK_RUNS, (*_SINGLE, FULL)),
    "gd_descent_lemma": (SINGLE_BLOCK_RUNS, (*_SINGLE, FULL, EXACT_GRADIENTS)),
    "gd_tight": (SINGLE_BLOCK_RUNS, (*_SINGLE, FULL, EXACT_GRADIENTS)),
    "fedsgd_partial": (SINGLE_BLOCK_RUNS, _SINGLE),  # any m <= n (its condition)
    # Local SGD (classic.py, docs/references.md#koloskova2020): one model, all n clients
    "local_sgd_canonical": (("fedavg",), (FULL,)),
    # Per-FedAvg (Fallah et al. 2020, Thm 4.5): its own algorithm, any m (its r <= 1)
    "perfedavg_thm45": (("perfedavg",), ()),
    # docs/derivations/README.md, column "algorithm, setting"
    "fedsim_tau1_full": (_SIM, (TAU_U1, TAU_V1, FULL)),
    "fedalt_tau1_full": (_ALT, (TAU_U1, TAU_V1, FULL)),
    "fedsim_tau1_partial": (_SIM, (TAU_U1, TAU_V1)),
    "fedalt_tau1_partial": (_ALT, (TAU_U1, TAU_V1)),
    "fedalt_tauv_full": (_ALT, (TAU_U1, FULL)),  # fedalt_tau1_full.md §5: any tau_v
    "fedalt_tauv_partial": (_ALT, (TAU_U1,)),  # fedalt_tau1_partial.md §5: any tau_v
    "fedsim_tau1_kappa_partial": (_SIM, (TAU_U1, TAU_V1)),
    "fedalt_tau1_kappa_partial": (_ALT, (TAU_U1, TAU_V1)),
    "fedalt_tauv_kappa_partial": (_ALT, (TAU_U1,)),  # fedalt_kappa_partial.md §4
    "fedsim_local_partial": (_SIM, (ONE_TAU,)),  # any tau >= 1
    "fedsim_local_kappa_partial": (_SIM, (ONE_TAU,)),
    "fedalt_local_partial": (_ALT, ()),  # any tau_u, tau_v, m <= n
    "fedalt_local_full": (_ALT, (FULL,)),  # fedalt_local_partial.md §5: S_t = [n]
}


def declare(bounds: Mapping[str, Any]) -> dict:
    """``bounds`` with each bound's :data:`SETTINGS` row filled in (``simulators``, ``setting``).

    Raises
    ------
    KeyError
        A bound without a row: every registered bound must say which runs it is about.
    """
    out = {}
    for name, b in bounds.items():
        if name not in SETTINGS:
            raise KeyError(
                f"Bound {name!r} declares no setting: add its simulator algorithms and the "
                "conditions on m, n, tau_u, tau_v its proof needs to theory.settings.SETTINGS."
            )
        sims, conds = SETTINGS[name]
        out[name] = replace(b, simulators=tuple(sims), setting=tuple(conds))
    return out


def _has(cond: Condition, values: Mapping) -> str:
    names = sorted(s.name for s in cond.free_symbols)
    if cond == FULL:
        return f"this run samples m = {values['m']} of n = {values['n']}"
    return "this run has " + ", ".join(f"{k} = {values[k]}" for k in names)


def setting_reasons(bound, algorithm: str, values: Mapping) -> list[str]:
    """Why a run is outside ``bound``'s setting, one sentence each (empty: inside).

    Parameters
    ----------
    bound : Bound
    algorithm : str
        The run's simulator algorithm (``RunConfig.algorithm``).
    values : mapping
        The run's symbol values (``experiments.cell.Cell.values``: ``m, n, tau_u, tau_v,
        gamma_v``, the problem's constants).

    Returns
    -------
    list of str
        E.g. ``"fedalt_tauv_full is proved for full participation (m = n); this run samples
        m = 2 of n = 10"``.
    """
    out = []
    if bound.simulators and algorithm not in bound.simulators:
        out.append(
            f"{bound.name} is about {bound.algorithm or 'its algorithm'}, run on "
            f"{' or '.join(bound.simulators)}; this run is {algorithm}"
        )
    for cond in bound.setting:
        missing = sorted(s.name for s in cond.free_symbols if s.name not in values)
        if missing:
            out.append(
                f"{bound.name} is proved for {cond.label}; this run does not say "
                f"{', '.join(missing)}"
            )
            continue
        subs = {s: values[s.name] for s in cond.free_symbols}
        if not bool(cond.relation.subs(subs)):
            out.append(f"{bound.name} is proved for {cond.label}; {_has(cond, values)}")
    return out
