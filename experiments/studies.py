"""The shipped verification studies: which bound is checked how, on which problem, at which size.

``partialfed reproduce`` runs every study of :func:`plan`. ``quick`` sizes keep the whole report
within a few minutes on two cores; the full sizes use more seeds and longer horizons. Every
number a study uses is here, so the report can be read next to this file. Each check and study
holds a :class:`experiments.cell.Cell` and a step rule (``experiments.steps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from partialfed import theory
from partialfed.experiments.cell import Cell
from partialfed.experiments.checks import Check, ExponentStudy
from partialfed.experiments.regime import RegimeStudy
from partialfed.experiments.regime_search import WorstCaseSearch
from partialfed.experiments.steps import STEP_FIELDS, Eta, MaxStep, TunedEta
from partialfed.theory import derived_diversity

__all__ = ["Plan", "plan", "strict_checks", "NOISE_D", "T_SHORT", "NEAR_OPTIMUM"]

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


#: Shared dimension of the noise-only and diversity-only instances: ``||xi||^2`` of a
#: ``d``-dimensional Gaussian has relative spread ``sqrt(2/d)``, so the seed mean resolves the
#: ``1/T`` gap between the measured side and a tight bound (ratio ``1 - 1/T``).
NOISE_D = 400
#: Their start: ``1e-3 sqrt(d)`` from the optimum along the top eigenvector, so that
#: ``Delta_F0 > 0`` (the bounds need it) but ``Delta_F0/T`` is negligible against the noise.
NEAR_OPTIMUM = {"start": "top", "start_radius": 1e-3}
#: Horizon of those instances: ratio ``1 - 1/T = 0.96``, a gap the seeds resolve (4-6 seeds).
T_SHORT = 25


def _tight(single: dict, name: str, run: dict, seeds: tuple, T: int, **problem) -> list:
    """The tight instances of a single-block bound (isotropic quadratics, ``gamma = 1/L``).

    Exact gradients from a random point converge in one step, so ``2 Delta_F0/(gamma T)`` is
    attained; near the optimum (:data:`NEAR_OPTIMUM`) each round draws fresh noise (or a fresh
    sample) and ``L gamma sigma^2`` (or the sampling term) is attained up to ``1/T``.
    """
    u_only = MaxStep(fields=("gamma_u",))
    iso = {**single, "d_v": 0, "mu_u": 1.0, **problem}
    at_opt = {**iso, "d_u": NOISE_D, **NEAR_OPTIMUM}
    out = [
        Check(
            name,
            Cell.of("quadratic", iso, dict(run, T=T)),
            (0,),
            u_only,
            label="tight: isotropic quadratic (mu = L), exact gradients",
        ),
        Check(
            name,
            Cell.of("quadratic", {**at_opt, "noise_u": 1.0}, dict(run, T=T_SHORT)),
            seeds,
            u_only,
            label=f"tight: noise only, near the optimum, d = {NOISE_D}",
        ),
    ]
    if run.get("m", 1) < iso.get("n", 1):
        out.append(
            Check(
                name,
                Cell.of("quadratic", {**at_opt, "delta": 1.0}, dict(run, T=T_SHORT)),
                seeds,
                u_only,
                label=f"tight: device sampling only (delta = 1), near the optimum, d = {NOISE_D}",
            )
        )
    return out


def _strict(quick: bool) -> tuple:
    return strict_checks(tuple(range(6 if quick else 24)), 300 if quick else 2000)


def strict_checks(seeds: tuple, T: int) -> tuple:
    """Every strict check of ``reproduce`` with these seeds and horizon (the instances with
    ``T_SHORT`` keep theirs); ``plan(quick)`` uses 6 seeds and ``T = 300`` (full: 24, 2000)."""
    single = dict(n=1, d_u=1, d_v=1, chi=0.0, delta=0.0, mu_u=1.0)
    u_only = MaxStep(fields=("gamma_u",))
    checks = [
        Check(
            "sgd_nonconvex",
            Cell.of(
                "quadratic",
                {**single, "d_u": 2, "mu_u": 0.5, "noise_u": 1.0},
                dict(algorithm="fedalt", T=T, m=1, gamma_v=0.0),
            ),
            seeds,
            u_only,
            # eigenvalues (L, L/2) leave a margin of ~1/3; the tight instances follow.
            label="SGD on a quadratic with eigenvalues (L, L/2), noise-dominated",
        ),
        *_tight(
            {**single, "d_u": 2},
            "sgd_nonconvex",
            dict(algorithm="fedalt", m=1, gamma_v=0.0),
            seeds,
            T,
        ),
        Check(
            "gd_tight",
            # Nearly flat directions (eigenvalues down to 1e-3 L) keep GD sublinear over the
            # horizon, as on the nonconvex functions the bound is about.
            Cell.of(
                "quadratic",
                dict(n=1, d_u=20, d_v=1, chi=0.0, delta=0.0, mu_u=1e-3),
                dict(algorithm="fedalt", T=T // 3, m=1, gamma_v=0.0),
            ),
            (0,),
            u_only,
            label="GD with gamma = 1/L on an ill-conditioned quadratic (min over rounds)",
        ),
        Check(
            "gd_tight",
            # docs/references.md#synthetic-pep-worst-case: equality for every T <= periods
            Cell.of("sawtooth", dict(d_u=1), dict(algorithm="fedalt", T=T, m=1, gamma_v=0.0)),
            (0,),
            u_only,
            label="tight: GD's worst case, the sawtooth family (PEP)",
        ),
        Check(
            "fedsgd_partial",
            # eigenvalues (L, L/2): the bound is attained along the first direction only
            Cell.of(
                "quadratic",
                dict(n=10, d_u=2, d_v=1, chi=0.0, delta=1.0, noise_u=1.0, mu_u=0.5),
                dict(algorithm="fedalt", T=T, m=3, gamma_v=0.0),
            ),
            seeds,
            u_only,
            label="FedSGD, 3 of 10 devices per round (sampling and noise), eigenvalues (L, L/2)",
        ),
        *_tight(
            {**single, "n": 10, "d_u": 2},
            "fedsgd_partial",
            dict(algorithm="fedalt", m=1, gamma_v=0.0),
            seeds,
            T,
        ),
    ]
    checks += _derived_checks(seeds, T)
    return tuple(checks)


def _descent_steps(bound) -> MaxStep:
    """Half the supremum of a strict step condition (``gamma < 2/((1 + chi_bar) L)`` gives
    ``1/((1 + chi_bar) L)``, where ``gamma (1 - beta L gamma/2)`` peaks; at the supremum the
    weight vanishes), the whole supremum of a non-strict one (``gamma_u <= 1/L_u`` with the
    weight ``gamma_u/2``, largest there)."""
    full = []
    for f in STEP_FIELDS:
        rels = [
            c.relation
            for c in bound.conditions
            if c.checkable and getattr(c.relation.lhs, "name", None) == f  # gamma_u <= ...
        ]
        if rels and all(isinstance(r, sp.LessThan) for r in rels):
            full.append((f, 1.0))
    # A3' bounds: a_v > 0 couples the steps (gamma_u^2 = O(gamma_v)): choose gamma_v first.
    order = ("gamma_v", "gamma_u") if bound.name in derived_diversity.BOUNDS else STEP_FIELDS
    return MaxStep(fraction=0.5, fields=order, fractions=tuple(full))


def _derived_checks(seeds: tuple, T: int) -> list:
    """Strict checks of every in-project (``derived``) FedAlt/FedSim bound.

    Steps: :func:`_descent_steps`. Instances, for each bound (``tau_v = 3`` for ``tauv``):

    - *noisy*: the general case (``chi = 0.5`` with full participation; ``chi = 0`` with
      partial participation, where the quadratic's ``delta`` is exact only then);
    - *tight, exact gradients*: an isotropic quadratic (``mu = L``, ``chi = 0``), where one step
      of ``gamma = 1/L`` reaches the optimum, so ``Delta_F0/T`` is attained;
    - *tight, noise on u only, near the optimum* (one device of 10 with partial participation):
      the ``sigma_u^2`` term is attained up to ``1/T``;
    - partial participation: *tight, device sampling only* (``delta = 1``, near the optimum);
    - bounds that depend on ``L_uv``: ``chi = 0.5`` with ``H = [[1, chi], [chi, 1]]``, started
      along its top eigenvector, where the ``(1 + chi_bar)`` factor is attained; for the A3'
      partial-participation bounds with all devices sampled (``m = n = 2``), not for the A3
      ones, whose ``delta`` holds only at the personal optima when ``chi > 0``.

    Full-participation bounds are also run with exact gradients at ``chi = 0.5``, where their
    per-round lemma must hold at every round.
    """
    out = []
    for name, b in sorted(theory.BOUNDS.items()):
        if b.provenance != "derived" or b.algorithm not in ("fedalt", "fedsim"):
            continue
        if b.has_free_constants:
            continue
        partial = name.endswith("_partial")
        tau_v = 3 if "tauv" in name else 1
        # A3 (delta) is exact for the quadratic only at chi = 0; A3' (the kappa bounds) is global.
        chi = 0.0 if partial and name not in derived_diversity.BOUNDS else 0.5
        problem = dict(n=10, d_u=3, d_v=2, chi=chi, delta=0.5, noise_u=0.5, noise_v=0.5)
        run = dict(algorithm=b.algorithm, T=T, m=3 if partial else 10, tau_u=1, tau_v=tau_v)
        setting = f"{b.algorithm}, tau_u=1, tau_v={tau_v}"
        label = f"{setting}, {'3 of 10' if partial else 'all 10'} devices, chi={chi:g}"
        steps = _descent_steps(b)
        out.append(Check(name, Cell.of("quadratic", problem, run), seeds, steps, label + ", noisy"))
        if not partial:
            exact = {**problem, "noise_u": 0.0, "noise_v": 0.0}
            out.append(
                Check(
                    name, Cell.of("quadratic", exact, run), (0,), steps, label + ", exact gradients"
                )
            )
        iso = dict(n=10, d_u=3, d_v=2, chi=0.0, delta=0.0, mu_u=1.0, mu_v=1.0)
        # Partial participation: a random V^0 makes the Delta_v part tight only in expectation
        # (each v_i waits a geometric time to be sampled), which no CI over a few seeds can
        # certify; started with V^0 = V* (the top eigenvector lies in u when L_v < L_u) the
        # run is deterministic and the bound an equality.
        det = {**iso, "L_v": 0.5, "mu_v": 0.5, "start": "top"} if partial else iso
        where = "u off its optimum, V^0 = V*" if partial else "random start"
        out.append(
            Check(
                name,
                Cell.of("quadratic", det, run),
                (0,),
                steps,
                f"tight: {label.replace('chi=0.5', 'chi=0')}, isotropic, exact gradients, {where}",
            )
        )
        at_opt = {**iso, "d_u": NOISE_D, "d_v": 1, **NEAR_OPTIMUM}
        short = dict(run, T=T_SHORT, m=1 if partial else 10)
        devices = "1 of 10" if partial else "all 10"
        out.append(
            Check(
                name,
                Cell.of("quadratic", {**at_opt, "noise_u": 1.0}, short),
                seeds,
                steps,
                f"tight: {setting}, {devices} devices, noise on u only, near the optimum",
            )
        )
        if partial:
            out.append(
                Check(
                    name,
                    Cell.of("quadratic", {**at_opt, "delta": 1.0}, short),
                    seeds,
                    steps,
                    f"tight: {setting}, 1 of 10 devices, delta = 1 only, near the optimum",
                )
            )
        coupled = "L_uv" in {s.name for s in b.free_symbols | b.lhs.free_symbols}
        # A3 (delta) with chi > 0 holds only at the personal optima, which this run leaves
        # ("outside assumptions"); A3' (the kappa bounds) holds everywhere.
        if coupled and (not partial or name in derived_diversity.BOUNDS):
            n = 2 if partial else 1
            top = dict(n=n, d_u=1, d_v=1, chi=0.5, delta=0.0, personal=0.0, mu_u=1.0, mu_v=1.0)
            out.append(
                Check(
                    name,
                    Cell.of("quadratic", {**top, "start": "top"}, dict(run, m=n)),
                    (0,),
                    steps,
                    f"tight: {setting}, {n} of {n} devices, H = [[1, 0.5], [0.5, 1]], "
                    "along its top eigenvector",
                )
            )
    return out


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


def plan(quick: bool = True) -> Plan:
    """The studies of ``partialfed reproduce`` (``quick``: minutes on two cores)."""
    regime = _regime(quick)
    return Plan(quick, _strict(quick), _exponents(quick), regime, _search(quick, regime))
