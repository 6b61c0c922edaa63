"""PEP worst cases in the application: a disk cache, the worst case as a runnable problem, the
measure of a run, and the tightness of the derived bounds.

``theory.pep`` writes and solves one PEP; this module

* caches results on disk, keyed by every parameter of the :class:`~theory.pep.PEPSpec`, the
  solver, the PEPit version and a digest of the source of ``theory.pep`` and
  ``theory.pep_samples`` (an edited formulation is solved again) (:func:`worst_case`; JSON
  files written atomically under ``$PARTIALFED_CACHE_DIR/pep`` or
  ``~/.cache/partialfed/pep``), and says when a solve starts
  and how long it took (solver time grows with ``n T (tau_u + tau_v)``);
* turns the worst case into a :class:`~synthetic.Problem` the simulators run
  (:func:`instance`, with ``synthetic.interpolant.smooth_interpolant``) and reads the PEP's
  measure off a run's :class:`~simulators.History` (:func:`measure`);
* compares every derived bound with the PEP at parameters where both apply
  (:func:`tightness`): full participation, exact gradients, ``tau_u = 1`` (``tau_v`` only for the
  bounds that have it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from partialfed.experiments._atomic import write_text
from partialfed.theory.pep import PEPResult, PEPSpec, Samples, solve

__all__ = [
    "FORMAT",
    "cache_dir",
    "worst_case",
    "instance",
    "measure",
    "TightnessRow",
    "tightness",
    "tightness_table",
]

FORMAT = 1
"""Version of the cache files (part of the key)."""

#: Oracle calls above which a solve announces itself (a few seconds on one core).
ANNOUNCE_SIZE = 12


def cache_dir() -> Path:
    """``<partialfed cache root>/pep`` (``$PARTIALFED_CACHE_DIR/pep`` or ``~/.cache/partialfed/
    pep``, the root chosen by ``partialfed._cache.cache_root``)."""
    from partialfed._cache import cache_root

    return cache_root() / "pep"


@functools.cache
def _pepit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pepit")
    except PackageNotFoundError:  # pragma: no cover - environment
        return "missing"


@functools.cache
def _source_digest() -> str:
    """SHA-256 (16 hex digits) of the source of ``theory.pep`` and ``theory.pep_samples``: a
    cached value was solved by the formulation of those files, so editing them misses the cache.
    Computed once per process, as the installed version above."""
    from partialfed.theory import pep, pep_samples

    h = hashlib.sha256()
    for module in (pep, pep_samples):
        h.update(Path(module.__file__).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _key(spec: PEPSpec, solver: str) -> tuple[str, dict]:
    key = {
        "format": FORMAT,
        "pepit": _pepit_version(),
        "source": _source_digest(),
        "solver": solver,
        "spec": spec.key(),
    }
    text = json.dumps(key, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32], key


def _encode(result: PEPResult, key: dict) -> str:
    s = result.samples
    samples = None
    if s is not None:
        samples = {
            "u0": s.u0.tolist(),
            "V0": s.V0.tolist(),
            "points": [[a.tolist() for a in p] for p in s.points],
        }
    doc = {
        **key,
        "value": result.value,
        "primal": result.primal,
        "seconds": result.seconds,
        "status": result.status,
        "samples": samples,
    }
    return json.dumps(doc, sort_keys=True)


def _decode(text: str, spec: PEPSpec) -> PEPResult:
    doc = json.loads(text)
    samples = None
    if doc.get("samples") is not None:
        d = doc["samples"]
        samples = Samples(
            np.asarray(d["u0"], dtype=float),
            np.asarray(d["V0"], dtype=float),
            [tuple(np.asarray(a, dtype=float) for a in p) for p in d["points"]],
        )
    return PEPResult(spec, doc["value"], doc["primal"], doc["seconds"], doc["status"], samples)


def _label(spec: PEPSpec) -> str:
    taus = f"tau={spec.tau_u}" if spec.algorithm == "fedsim" else f"tau_u={spec.tau_u}, "
    taus += "" if spec.algorithm == "fedsim" else f"tau_v={spec.tau_v}"
    return f"PEP {spec.algorithm} n={spec.n} T={spec.T} {taus}"


def worst_case(
    spec: PEPSpec,
    *,
    samples: bool = False,
    folder: str | Path | None = None,
    cache: bool = True,
    progress=None,
    solver: str = "CLARABEL",
) -> PEPResult:
    """The solved PEP ``spec``, from the disk cache when it is there.

    Parameters
    ----------
    spec : PEPSpec
    samples : bool
        Need the worst case's points (a cached result without them is solved again).
    folder : str or Path, optional
        Cache folder (default :func:`cache_dir`).
    cache : bool
        Read and write the cache (``False``: always solve, write nothing).
    progress : experiments.progress.Progress, optional
        Where to say that a solve of more than :data:`ANNOUNCE_SIZE` oracle calls starts and
        how long it took.
    solver : str
        The cvxpy solver.

    Returns
    -------
    PEPResult
    """
    if not isinstance(spec, PEPSpec):
        raise TypeError(f"The 'spec' parameter of worst_case must be a PEPSpec. Got {spec!r}.")
    name, key = _key(spec, solver)
    path = Path(folder if folder is not None else cache_dir()) / f"{name}.json"
    if cache and path.exists():
        try:
            hit = _decode(path.read_text(), spec)
        except (OSError, ValueError, KeyError):  # a damaged file is solved again
            hit = None
        if hit is not None and (hit.samples is not None or not samples):
            return hit
    show = progress is not None and progress.active and spec.size > ANNOUNCE_SIZE
    if show:
        progress.line(f"solving {_label(spec)} ({spec.size} oracle calls; cached afterwards)")
    start = time.perf_counter()
    result = solve(spec, samples=True, solver=solver)
    if show:
        progress.line(f"solved {_label(spec)} in {time.perf_counter() - start:.1f} s")
    if cache:
        write_text(path, _encode(result, key))
    if not samples:
        result.samples = None
    return result


def instance(result: PEPResult, *, margin: bool = False):
    """The worst case of a solved PEP as a problem the simulators run.

    Parameters
    ----------
    result : PEPResult
        With samples (``worst_case(spec, samples=True)``).
    margin : bool
        See ``synthetic.interpolant.smooth_interpolant``.

    Returns
    -------
    synthetic.Problem
        ``F_i`` the ``L``-smooth interpolant of device ``i``'s samples; ``init`` returns the
        PEP's ``(u^0, V^0)``.
    """
    from partialfed.synthetic.interpolant import smooth_interpolant

    if result.samples is None:
        raise ValueError(
            "The 'result' parameter of instance must carry samples: solve it with "
            "worst_case(spec, samples=True)."
        )
    s = result.samples
    return smooth_interpolant(s.u0, s.V0, s.points, result.spec.L, margin=margin)


def run_config(spec: PEPSpec):
    """The ``simulators.RunConfig`` of the PEP's algorithm: every device, every round recorded."""
    from partialfed.simulators import RunConfig

    return RunConfig(
        algorithm=spec.algorithm,
        T=spec.T,
        m=spec.n,
        tau_u=spec.tau_u,
        tau_v=spec.tau_v,
        gamma_u=spec.gamma_u,
        gamma_v=spec.gamma_v,
        eval_every=1,
    )


def measure(spec: PEPSpec, history) -> float:
    """The PEP's measure on a run: ``agg_t [w_u Delta_u^t + w_v Delta_v^t]`` from its History.

    ``Delta_u`` is the column ``grad_u_sq`` (``u_at="iterate"``) or ``grad_u_sq_at_V_next``
    (``"v_next"``), ``Delta_v`` the column ``grad_v_sq``, at rounds ``0..T-1`` (``0..T`` with
    ``last``). The run must record every round.
    """
    rounds = np.asarray(history.rounds)
    want = np.arange(spec.T + (1 if spec.last else 0))
    if not np.all(np.isin(want, rounds)):
        raise ValueError(
            "The 'history' parameter of measure must record every round (eval_every=1) up to "
            f"T={spec.T}. Got rounds {rounds.tolist()[:6]}..."
        )
    idx = np.searchsorted(rounds, want)
    du = history.grad_u_sq_at_V_next if spec.u_at == "v_next" else history.grad_u_sq
    per_round = spec.w_u * np.asarray(du)[idx] + spec.w_v * np.asarray(history.grad_v_sq)[idx]
    return float(np.mean(per_round) if spec.aggregate == "mean" else np.min(per_round))


@dataclass(frozen=True)
class TightnessRow:
    """One derived bound against the PEP at the same parameters.

    ``ratio = bound / pep``. The PEP is at ``L`` and the bound at ``L_u = L_v = L_uv = L_vu =
    L``: every ``L``-smooth ``F_i`` has these block constants, so the PEP's class lies inside the
    bound's and ``ratio >= 1`` up to the solver's accuracy (below 1 the bound would be wrong).
    """

    bound: str
    algorithm: str
    n: int
    T: int
    tau_v: int
    gamma: float
    bound_value: float
    pep_value: float
    ratio: float
    seconds: float


def _bounds():
    from partialfed.theory import (
        derived,
        derived_diversity,
        derived_local_fedalt,
        derived_local_fedsim,
    )

    return {
        **derived.BOUNDS,
        **derived_diversity.BOUNDS,
        **derived_local_fedsim.BOUNDS,
        **derived_local_fedalt.BOUNDS,
    }


def tightness(
    bound_name: str,
    *,
    n: int = 2,
    T: int = 3,
    tau_v: int = 1,
    gamma: float = 0.5,
    L: float = 1.0,
    progress=None,
    folder=None,
    cache: bool = True,
) -> TightnessRow:
    """Derived bound ``bound_name`` divided by its PEP (full participation, exact gradients).

    The PEP's measure is the bound's left-hand side (its weights ``a_u, a_v`` at these values,
    ``Delta_u`` where the bound measures it, the mean over ``t < T``) and ``Delta_F0 = 1``.
    """
    bounds = _bounds()
    if bound_name not in bounds:
        raise ValueError(
            f"The 'bound_name' parameter of tightness must be a derived bound; allowed: "
            f"{', '.join(sorted(bounds))}. Got {bound_name!r}."
        )
    b = bounds[bound_name]
    uses_tau_v = "tau_v" in {s.name for s in b.rhs.free_symbols} or "tauv" in bound_name
    if tau_v != 1 and not uses_tau_v:
        raise ValueError(
            f"The 'tau_v' parameter of tightness must be 1 for {bound_name!r} (it has no tau_v). "
            f"Got {tau_v}."
        )
    values = dict(
        n=n, m=n, T=T, tau=1, tau_u=1, tau_v=tau_v, gamma_u=gamma, gamma_v=gamma, Delta_F0=1.0,
        L_u=L, L_v=L, L_uv=L, L_vu=L, sigma_u=0.0, sigma_v=0.0, delta=0.0, rho=0.0,
        delta_prime=0.0, rho_prime=0.0, kappa=0.0, chi=1.0,
    )  # fmt: skip
    need = {s.name for s in b.rhs.free_symbols}
    for c in b.conditions:
        need |= {s.name for s in c.free_symbols}
    for t in b.lhs.terms:
        need |= {s.name for s in t.weight.free_symbols}
    vals = {k: v for k, v in values.items() if k in need}
    bound_value = float(b.evaluate(vals))
    w = b.weights(vals)
    point = {t.quantity: t.point.value for t in b.lhs.terms}
    spec = PEPSpec(
        b.algorithm, n=n, T=T, tau_u=1, tau_v=tau_v, gamma_u=gamma, gamma_v=gamma, L=L,
        w_u=float(w["Delta_u"]), w_v=float(w["Delta_v"]),
        u_at="v_next" if point["Delta_u"] == "v_next" else "iterate",
    )  # fmt: skip
    res = worst_case(spec, progress=progress, folder=folder, cache=cache)
    ratio = bound_value / res.value if res.value > 0 else math.inf
    return TightnessRow(
        bound_name, b.algorithm, n, T, tau_v, gamma, bound_value, res.value, ratio, res.seconds
    )


#: The rows of the report's table: (bound, tau_v); n, T and gamma are the table's.
TABLE_BOUNDS = (
    ("fedsim_tau1_full", 1),
    ("fedalt_tau1_full", 1),
    ("fedalt_tauv_full", 1),
    ("fedalt_tauv_full", 3),
    ("fedsim_tau1_partial", 1),
    ("fedalt_tau1_partial", 1),
    ("fedalt_tauv_partial", 3),
    ("fedsim_tau1_kappa_partial", 1),
    ("fedalt_tau1_kappa_partial", 1),
    ("fedalt_tauv_kappa_partial", 3),
    ("fedsim_local_partial", 1),
    ("fedsim_local_kappa_partial", 1),
    ("fedalt_local_full", 3),
    ("fedalt_local_partial", 3),
)


def tightness_table(
    *, n: int = 2, T: int = 3, gamma: float = 0.5, progress=None, folder=None, cache=True
) -> list[TightnessRow]:
    """:func:`tightness` for every row of :data:`TABLE_BOUNDS` (the partial-participation
    bounds at ``m = n``; the local-step bounds at ``tau = 1`` / ``tau_u = 1``, where the PEP
    needs no diversity constraint)."""
    rows = []
    for name, tv in TABLE_BOUNDS:
        rows.append(
            tightness(
                name,
                n=n,
                T=T,
                tau_v=tv,
                gamma=gamma,
                progress=progress,
                folder=folder,
                cache=cache,
            )  # fmt: skip
        )
    return rows
