"""The shipped verification studies: which bound is checked how, on which problem, at which size.

``partialfed reproduce`` runs every study of :func:`plan`. ``quick`` sizes keep the whole report
within a few minutes on two cores; the full sizes use more seeds and longer horizons. Every
number a study uses is here or in ``experiments/studies_strict.py`` (the strict checks), so
the report can be read next to these two files. Each check and study
holds a :class:`experiments.cell.Cell` and a step rule (``experiments.steps``).
"""

from __future__ import annotations

from dataclasses import dataclass

from partialfed.experiments.cell import Cell
from partialfed.experiments.checks import ExponentStudy
from partialfed.experiments.paper_claims import ClaimsStudy
from partialfed.experiments.paper_claims_coupled import ContrastStudy
from partialfed.experiments.perfedavg_exponents import studies as perfedavg_studies
from partialfed.experiments.regime import RegimeStudy
from partialfed.experiments.regime_search import WorstCaseSearch
from partialfed.experiments.steps import Eta, TunedEta
from partialfed.experiments.studies_strict import (
    NEAR_OPTIMUM,
    NOISE_D,
    T_SHORT,
    strict_checks,
    strict_plan,
)

__all__ = [
    "Plan",
    "plan",
    "strict_checks",
    "strict_plan",
    "NOISE_D",
    "T_SHORT",
    "NEAR_OPTIMUM",
]

#: The quick regime study's step grid and refinement (the full size uses the defaults).
QUICK_ETAS = tuple(float(2.0**k) for k in range(-6, 1))
QUICK_FINE = (2.0**-0.5, 2.0**0.5)


@dataclass(frozen=True)
class Plan:
    """Everything ``reproduce`` runs."""

    quick: bool
    strict: tuple
    exponents: tuple
    regime: RegimeStudy
    search: WorstCaseSearch | None = None
    pep: object | None = None  # experiments.report_pep.PEPStudy (None: no PEP section)
    perfedavg: tuple = ()  # perfedavg_exponents.ThmStudy: Theorem 4.5's exponents
    claims: ClaimsStudy | None = None  # the paper's claims (a) and (b)
    claims_accuracy: ClaimsStudy | None = None  # claim (a) on a classification family
    contrast: ContrastStudy | None = None  # claim (b) on coupled problems


def _no_drift(cell) -> tuple:
    """The drift term taken as zero, with the reason, where the analysis has no eta^2 term.

    With one local step there is no client drift, but the template's drift term (its
    tau-dependence is not recovered, docs/references.md#pillutla2022-theorem-main) also stands
    for FedAlt's O(gamma^2) sampling-error term (docs/references.md#pillutla2022-proof-idea),
    which is there at tau = 1 when m < n. So the term is taken as zero only for FedSim (its
    first-order term is unbiased) and for FedAlt with m = n (no sampling).
    """
    run = cell.run
    if run.tau_u != 1 or run.tau_v != 1:
        return ()
    if run.algorithm == "fedsim":
        return (("drift", "tau = 1: no client drift; FedSim's sampling is unbiased (slide 42)"),)
    if run.algorithm == "fedalt" and run.m == cell.problem().n:
        return (("drift", "tau = 1 and m = n: no client drift, no sampling error (slide 46)"),)
    return ()


def _study(label, bound, family, problem, run, variable, xs, leading, eta0, power, why, seeds):
    """An exponent study whose steps follow ``eta = eta0 (x / xs[0])^power``, gamma = eta/(L tau)
    (docs/references.md#pillutla2022-step-sizes); ``leading`` names the term of the bound that
    leads (its exponent is computed from the bound, ``ExponentStudy.expectation``)."""
    cell = Cell.of(family, problem, run)
    steps = Eta(eta0, variable, xs[0], power)
    absent = _no_drift(cell) if leading != "drift" else ()
    return ExponentStudy(
        label, bound, cell, variable, tuple(xs), leading, steps, seeds, why, absent
    )


def _exponents(quick: bool) -> tuple:
    """Exponent studies. Quadratics are well conditioned (mu = L = 1) so that every block
    converges within the horizon: with a slow personal block, the (m/n)-weighted Delta_v
    transient grows with m and hides the rate (measured: slope -0.16 instead of -0.5 at
    mu_v = 0.1, T = 400). Horizons start where the tuned eta is small (eta0 / L <= 0.15)."""
    # Seeds: with 3 the 95% interval of a noisy slope was +-0.04 to +-0.055, as wide as the
    # equivalence margin (0.05), so no noisy study could be decided; 12 bring it to +-0.015 to
    # +-0.033 for about 9 s more on two cores (measured 2026-12-02, docs/design-notes.md).
    seeds = tuple(range(12)) if quick else tuple(range(24))
    Ts = (400, 800, 1600, 3200) if quick else (800, 1600, 3200, 6400, 12800)
    T_fixed = 1600 if quick else 6400
    noisy = dict(
        n=10, d_u=3, d_v=2, chi=0.5, delta=0.5, noise_u=1.0, noise_v=1.0, mu_u=1.0, mu_v=1.0
    )
    studies = [
        _study(
            f"{alg}: T, noise-dominated",
            f"{alg}_main",
            "quadratic",
            noisy,
            dict(algorithm=alg, m=3, tau_u=1, tau_v=1),
            "T",
            Ts,
            "noise",
            0.125,
            -0.5,
            "sigma_{.,1}^2 > 0 and eta ~ T^{-1/2}: the (Delta_F0 sigma_1^2/T)^{1/2} term leads",
            seeds,
        )
        for alg in ("fedalt", "fedsim")
    ]
    studies.append(
        _study(
            "fedalt: T, deterministic, full participation",
            "fedalt_main",
            "quadratic",
            {**noisy, "noise_u": 0.0, "noise_v": 0.0},
            dict(algorithm="fedalt", m=10, tau_u=1, tau_v=1),
            "T",
            Ts,
            "descent",
            0.5,
            0.0,
            "sigma_{alt,1}^2 = 0 (m = n, no noise), tau = 1 (no drift, expected): Delta_F0/T leads",
            (0,),
        )
    )
    studies.append(
        _study(
            "fedalt: T, client drift (tau = 5), deterministic",
            "fedalt_main",
            "separable",
            dict(n=10, d_u=3, d_v=2, delta=0.8, chi=0.0, noise_u=0.0, noise_v=0.0),
            dict(algorithm="fedalt", m=10, tau_u=5, tau_v=5),
            "T",
            Ts,
            "drift",
            0.5,
            -1 / 3,
            "sigma_{alt,1}^2 = 0 but local steps drift on a nonconvex problem; eta ~ T^{-1/3}: "
            "the (Delta_F0^2 sigma_2^2/T^2)^{1/3} term leads",
            (0,),
        )
    )
    studies.append(
        _study(
            "fedalt: m, noise on u only",
            "fedalt_main",
            "quadratic",
            {**noisy, "n": 32, "delta": 0.0, "noise_v": 0.0, "noise_u": 2.0},
            # m < n at tau = 1: FedAlt's eta^2 (sampling-error) term counts and grows like m
            # under eta ~ m^{1/2}; a small eta0 and a long horizon keep the noise term ahead of
            # it and of the descent term over m = 2..16 (free constants 1).
            dict(algorithm="fedalt", T=12800 if quick else 25600, m=2, tau_u=1, tau_v=1),
            "m",
            (2, 4, 8, 16),
            "noise",
            0.02,
            0.5,
            "sigma_{alt,1}^2 = sigma_u^2/(m L_u): leading term ~ m^{-1/2} with eta ~ m^{1/2}",
            seeds,
        )
    )
    studies.append(
        _study(
            "fedsim: noise_u, noise-dominated",
            "fedsim_main",
            "quadratic",
            {**noisy, "noise_v": 0.0, "delta": 0.0},
            dict(algorithm="fedsim", T=T_fixed, m=3, tau_u=1, tau_v=1),
            "noise_u",
            (1.0, 2.0, 4.0, 8.0),
            "noise",
            0.125,
            -1.0,
            "sigma_{sim,1}^2 ~ sigma_u^2: leading term ~ sigma_u with eta ~ 1/sigma_u",
            seeds,
        )
    )
    return tuple(studies)


def _regime(quick: bool) -> RegimeStudy:
    """FedAlt vs FedSim over noise_v x delta with m = n/5: each algorithm at its best step from
    a grid of eta (the headline), one shared step, and each theorem's tuned eta(T).

    Quick: 7 grid steps 2^-6..1 refined by 2^(+-1/2), 4 seeds (a paired t-interval with 3
    degrees of freedom); full: ``regime.ETA_GRID`` (2^-8..1) refined by ``regime.FINE``
    (2^(+-1/4), 2^(+-1/2)), 6 seeds. Measured times are in docs/design-notes.md.
    """
    grid = (0.1, 0.5, 2.0, 10.0) if quick else (0.1, 0.3, 1.0, 3.0, 10.0)
    cell = Cell.of(
        "quadratic",
        dict(n=20, d_u=5, d_v=3, chi=0.8, noise_u=0.1),
        dict(T=1000 if quick else 4000, m=4, tau_u=1, tau_v=1),
    )
    if quick:
        return RegimeStudy(
            cell,
            "noise_v",
            grid,
            "delta",
            grid,
            TunedEta(0.5),
            (0, 1, 2, 3),
            QUICK_ETAS,
            QUICK_FINE,
        )
    return RegimeStudy(cell, "noise_v", grid, "delta", grid, TunedEta(0.5), tuple(range(6)))


def _search(quick: bool, regime: RegimeStudy) -> WorstCaseSearch:
    """The worst-case search around the regime study's problem (``regime_search.SPACE``):
    random instances only at the quick size, then coordinate moves at the full size."""
    if quick:
        return WorstCaseSearch(
            regime.cell,
            candidates=6,
            moves=0,
            seeds=(0, 1),
            confirm_seeds=(100, 101, 102, 103),
            etas=QUICK_ETAS,
            fine=QUICK_FINE,
        )
    return WorstCaseSearch(regime.cell, candidates=24, moves=1, seeds=(0, 1, 2))


def _claims(quick: bool) -> ClaimsStudy:
    """Claims (a) and (b) on ``logcosh``: d = 10 coordinates, heterogeneity planted on the last
    3 with profile ``1, 1/2, 1/3`` (decay 1), gradient dissimilarity 0.9, total noise 1 spread
    evenly over the coordinates, half the devices per round, two local steps. Quick: 4 seeds,
    T = 300, 6 steps; full: 8 seeds, T = 1000, 8 steps."""
    cell = Cell.of(
        "logcosh",
        dict(n=10, d_u=8, d_v=2, planted=3, decay=1.0, gamma_G=0.9),
        dict(T=300 if quick else 1000, m=5, tau_u=2, tau_v=2, eval_every=50),
    )
    etas = tuple(0.0125 * 2.0**k for k in range(6 if quick else 8))
    seeds = (0, 1, 2, 3) if quick else tuple(range(8))
    return ClaimsStudy(
        cell, (1, 2, 3, 5, 8), etas, seeds, at=0.2, noise=1.0, label="logcosh d=10, planted 3"
    )


def _claims_accuracy(quick: bool) -> ClaimsStudy:
    """Claim (a) with test accuracy on ``teacher`` (docs/references.md#synthetic-teacher):
    10 devices, d = 10 coordinates, the teachers differing on the last 3 (heterogeneity 1.5),
    50 training and 500 test samples per device, labels flipped with probability 0.1 (Bayes
    accuracy 0.9), exact gradients, half the devices per round, two local steps; steps
    ``eta = 4^k``. Quick: 4 seeds, T = 200, ``k = -2..2``; full: 8 seeds, T = 500,
    ``eta = 2^k, k = -4..4``. The headline at 30% personal: the planted coordinates."""
    cell = Cell.of(
        "teacher",
        dict(
            n=10,
            d_u=8,
            d_v=2,
            planted=3,
            samples=50,
            test_samples=500,
            flip=0.1,
            heterogeneity=1.5,
            lam=0.01,
        ),
        dict(T=200 if quick else 500, m=5, tau_u=2, tau_v=2, eval_every=50),
    )
    etas = tuple(4.0**k for k in range(-2, 3)) if quick else tuple(2.0**k for k in range(-4, 5))
    seeds = (0, 1, 2, 3) if quick else tuple(range(8))
    return ClaimsStudy(
        cell, (1, 2, 3, 5, 8), etas, seeds, at=0.3, label="teacher d=10, planted 3, flip 0.1"
    )


def plan(quick: bool = True) -> Plan:
    """The studies of ``partialfed reproduce`` (``quick``: minutes on two cores)."""
    from partialfed.experiments.report_pep import FULL, QUICK

    regime = _regime(quick)
    search = _search(quick, regime)
    return Plan(
        quick,
        strict_plan(quick),
        _exponents(quick),
        regime,
        search,
        QUICK if quick else FULL,
        perfedavg_studies(quick),
        _claims(quick),
        _claims_accuracy(quick),
        # Claim (b) on coupled problems: steps 2^-6..2^3, 6 (full: 12) shared seeds.
        ContrastStudy(
            1000 if quick else 4000,
            tuple(2.0**k for k in range(-6, 4)),
            tuple(range(6 if quick else 12)),
        ),
    )
