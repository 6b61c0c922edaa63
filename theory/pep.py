"""Performance estimation (PEP) of FedAlt and FedSim: the exact worst case over smooth functions.

A PEP (Drori & Teboulle 2014; Taylor, Hendrickx & Glineur 2017; docs/references.md#pep-federated)
is a semidefinite program whose value is the largest value a performance measure of a
first-order method can take over a whole function class, given an initial condition. This module
writes FedAlt and FedSim (Pillutla et al. 2022, Algorithm 1; the update rules of
``simulators/_kernels.py``, docs/architecture.md#the-algorithms) with full participation and
exact gradients as PEPs and solves them with PEPit (Goujaud et al. 2024). Formulation and
classes: docs/derivations/pep_interpolant.md §1.

* function class: every ``F_i(u, v_i)`` is an ``L``-smooth (nonconvex) function of the joint
  point ``x = u + v`` on a two-block space ``U (+) V``; PEPit's :class:`SmoothFunction` supplies
  the interpolation conditions of that class (eq. (I0) of the proof file), which is what makes
  the value *tight*: it is attained by some ``L``-smooth functions
  (``experiments.pep.instance`` builds one, docs/derivations/pep_interpolant.md §2);
* the blocks: every point and gradient is a ``u``-leaf plus a ``v``-leaf, with ``<a, b> = 0``
  between every ``u``-leaf and every ``v``-leaf, so ``||grad_u||^2`` and ``||grad_v||^2`` are
  quadratic forms of the Gram matrix (the devices' ``v_i`` share ``V``: no constraint couples
  two devices' ``v``, so this loses nothing);
* initial condition: ``F(u^0, V^0) - F(u^T, V^T) <= Delta_F0`` with ``F = (1/n) sum_i F_i``;
* performance measure: a bound's measured left-hand side,
  ``agg_t [w_u Delta_u^t + w_v Delta_v^t]`` with ``Delta_u^t = ||grad_u F||^2`` at ``(u^t, V^t)``
  or ``(u^t, V^{t+1})`` (FedAlt's theorem) and ``Delta_v^t = (1/n) sum_i ||grad_v F_i(u^t,
  v_i^t)||^2``, aggregated by the mean or the minimum over ``t = 0..T-1`` (or ``0..T``).

**Which class the value is tight for.** The value is the exact worst case (up to the solver's
accuracy) over ``{F_i : each L-smooth on U (+) V}`` with ``F^0 - F^T <= Delta_F0``. A function
with block constants ``L_u, L_v, L_uv, L_vu`` (A1) is ``L_full``-smooth with ``L_full =
||[[L_u, L_uv], [L_vu, L_v]]||_2`` (:func:`l_full`), so the value at ``L = L_full`` is a sound
upper bound on the worst case over the block class; it is tight for the block class only when the
worst case it returns has those block constants. Because ``F^0 - F^T <= F^0 - F_low``, the value
also bounds the worst case given ``F^0 - F_low <= Delta_F0`` (every derived bound of
``theory.derived`` telescopes through ``F^0 - F^T`` as well, so both are compared on one class).

PEPit, cvxpy and Clarabel are imported only when a PEP is solved (dependencies of partialfed).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from partialfed._constraints import Interval, Options, validate
from partialfed.theory.pep_samples import Samples, samples_of

__all__ = ["PEPSpec", "PEPResult", "Samples", "Unbounded", "solve", "l_full", "ALGORITHMS"]


class Unbounded(ValueError):
    """The PEP has no finite value (e.g. local u-steps without a diversity constraint)."""


ALGORITHMS = ("fedalt", "fedsim")
"""Algorithms a PEP can be written for (full participation, exact gradients)."""

_OWNER = "theory.pep.PEPSpec"


def l_full(L_u: float, L_v: float, L_uv: float, L_vu: float) -> float:
    """``||[[L_u, L_uv], [L_vu, L_v]]||_2``: a block-smooth function (A1) is this smooth jointly.

    For ``x - y = (du, dv)``, the block norms of ``grad F(x) - grad F(y)`` are at most
    ``M [||du||, ||dv||]^T`` entrywise (A1, Pillutla et al. 2022, Assumption 1; ``M`` the matrix
    of block constants, nonnegative), so its norm is at most ``||M||_2 ||x - y||``.
    """
    m = np.array([[L_u, L_uv], [L_vu, L_v]], dtype=float)
    return float(np.linalg.norm(m, 2))


@dataclass(frozen=True)
class PEPSpec:
    """The parameters of one PEP (they are its cache key, :meth:`key`).

    Parameters
    ----------
    algorithm : {"fedalt", "fedsim"}
    n : int
        Devices, all participating in every round.
    T : int
        Rounds.
    tau_u, tau_v : int
        Local steps on ``u`` and on ``v_i`` (FedSim: ``tau_u == tau_v``, joint steps).
    gamma_u, gamma_v : float
        Step sizes.
    L : float
        Smoothness of every ``F_i`` on the joint space (:func:`l_full` of the block constants).
    Delta_F0 : float
        ``F(u^0, V^0) - F(u^T, V^T) <= Delta_F0``.
    w_u, w_v : float
        Weights of ``Delta_u`` and ``Delta_v`` in the measure (a bound's ``a_u, a_v``).
    u_at : {"iterate", "v_next"}
        Where ``Delta_u`` is measured: ``(u^t, V^t)`` or ``(u^t, V^{t+1})`` (FedAlt only).
    aggregate : {"mean", "min"}
        Over the rounds.
    last : bool
        Include round ``T`` (``t = 0..T``; only with ``u_at="iterate"``), as PEPit's gradient
        descent example does; default ``t = 0..T-1``, as the bounds.
    delta, rho : float or None, float
        Partial gradient diversity (A3, Pillutla et al. 2022, Assumption 3)
        ``(1/n) sum_i ||grad_u F_i - grad_u F||^2 <= delta^2 + rho^2 ||grad_u F||^2``, imposed
        at the points where every device is evaluated at one ``u``: ``(u^t, V^t)`` and, for
        FedAlt, ``(u^t, V^{t+1})``. ``None``: not imposed. Imposed at these points only, the
        value bounds the worst case over the A3 class (a relaxation) and is tight for the
        class with A3 at those points.
    """

    algorithm: str
    n: int
    T: int
    tau_u: int = 1
    tau_v: int = 1
    gamma_u: float = 0.5
    gamma_v: float = 0.5
    L: float = 1.0
    Delta_F0: float = 1.0
    w_u: float = 1.0
    w_v: float = 1.0
    u_at: str = "iterate"
    aggregate: str = "mean"
    last: bool = False
    delta: float | None = None
    rho: float = 0.0

    def __post_init__(self):
        o = _OWNER
        validate(self.algorithm, "algorithm", o, Options(str, set(ALGORITHMS)))
        for name, hi in (("n", 64), ("T", 200), ("tau_u", 100), ("tau_v", 100)):
            object.__setattr__(
                self, name, validate(getattr(self, name), name, o, Interval(int, 1, hi))
            )
        for name in ("gamma_u", "gamma_v", "L", "Delta_F0"):
            v = validate(getattr(self, name), name, o, Interval(float, 0.0, 1e6, closed="right"))
            object.__setattr__(self, name, v)
        for name in ("w_u", "w_v"):
            object.__setattr__(
                self, name, validate(getattr(self, name), name, o, Interval(float, 0.0, 1e6))
            )
        validate(self.u_at, "u_at", o, Options(str, {"iterate", "v_next"}))
        validate(self.aggregate, "aggregate", o, Options(str, {"mean", "min"}))
        if not isinstance(self.last, bool):
            raise TypeError(f"The 'last' parameter of {o} must be a bool. Got {self.last!r}.")
        if self.algorithm == "fedsim" and self.tau_u != self.tau_v:
            raise ValueError(
                f"The 'tau_u' and 'tau_v' parameters of {o} must be equal for fedsim (joint "
                f"steps). Got tau_u={self.tau_u}, tau_v={self.tau_v}."
            )
        if self.u_at == "v_next" and (self.algorithm != "fedalt" or self.last):
            raise ValueError(
                f"The 'u_at' parameter of {o} may be 'v_next' only for fedalt and with "
                f"last=False (V^(T+1) does not exist). Got algorithm={self.algorithm!r}, "
                f"last={self.last}."
            )
        if self.delta is not None:
            d = validate(self.delta, "delta", o, Interval(float, 0.0, 1e6))
            object.__setattr__(self, "delta", d)
        object.__setattr__(self, "rho", validate(self.rho, "rho", o, Interval(float, 0.0, 1e6)))
        if self.delta is None and self.rho != 0:
            raise ValueError(f"The 'rho' parameter of {o} needs 'delta' (A3). Got rho={self.rho}.")
        if self.w_u == 0 and self.w_v == 0:
            raise ValueError(f"The 'w_u' and 'w_v' parameters of {o} must not both be 0.")

    @property
    def size(self) -> int:
        """Oracle calls of the PEP, ``n (T (tau_u + tau_v) + 1)`` (FedSim: ``n (T tau + 1)``)."""
        per_round = self.tau_u if self.algorithm == "fedsim" else self.tau_u + self.tau_v
        return self.n * (self.T * per_round + 1)

    def key(self) -> dict:
        """The parameters as a JSON-ready mapping (the cache key)."""
        return asdict(self)


@dataclass
class PEPResult:
    """A solved PEP.

    Attributes
    ----------
    spec : PEPSpec
    value : float
        The worst case (the dual value: a certified upper bound up to the solver's accuracy).
    primal : float
        The measure at the returned worst case (a lower bound; ``value - primal`` is the gap).
    seconds : float
        Solve time (model building and the SDP).
    status : str
        The solver's status.
    samples : Samples or None
        The worst case, when requested (``solve(..., samples=True)``).
    """

    spec: PEPSpec
    value: float
    primal: float
    seconds: float
    status: str
    samples: Samples | None = None


class _Oracle:
    """Gradients of ``F_i`` as a ``u``-leaf plus a ``v``-leaf, added to PEPit's function."""

    def __init__(self, funcs, point_cls, expr_cls):
        self.funcs, self.Point, self.Expression = funcs, point_cls, expr_cls
        self.u_leaves, self.v_leaves = [], []
        self.records = [[] for _ in funcs]

    def leaf(self, block: str):
        p = self.Point()
        (self.u_leaves if block == "u" else self.v_leaves).append(p)
        return p

    def __call__(self, i, u, v):
        g_u, g_v, f = self.leaf("u"), self.leaf("v"), self.Expression()
        self.funcs[i].add_point((u + v, g_u + g_v, f))
        self.records[i].append((u, v, g_u, g_v, f))
        return g_u, g_v, f


def _mean(items):
    total = items[0]
    for x in items[1:]:
        total = total + x
    return (1.0 / len(items)) * total


def _build(spec: PEPSpec):
    from PEPit import PEP, Expression, Point
    from PEPit.functions import SmoothFunction

    problem = PEP()
    funcs = [problem.declare_function(SmoothFunction, L=spec.L) for _ in range(spec.n)]
    oracle = _Oracle(funcs, Point, Expression)
    u = oracle.leaf("u")
    V = [oracle.leaf("v") for _ in range(spec.n)]
    u0, V0 = u, list(V)
    first = [oracle(i, u, V[i]) for i in range(spec.n)]  # gradients at (u^0, v_i^0)
    f0 = [r[2] for r in first]
    measures, diversity = [], []
    for _ in range(spec.T):
        at_iter = first
        local_u, new_V = [], []
        at_vnext = []
        for i in range(spec.n):
            g_u, g_v, _ = at_iter[i]
            if spec.algorithm == "fedsim":
                ui, vi = u, V[i]
                for k in range(spec.tau_u):  # tau joint steps (Algorithm 1, FedSim)
                    if k:
                        g_u, g_v, _ = oracle(i, ui, vi)
                    ui, vi = ui - spec.gamma_u * g_u, vi - spec.gamma_v * g_v
            else:
                vi = V[i]
                for k in range(spec.tau_v):  # personal phase at u^t (Algorithm 1, FedAlt)
                    if k:
                        g_u, g_v, _ = oracle(i, u, vi)
                    vi = vi - spec.gamma_v * g_v
                ui = u
                for k in range(spec.tau_u):  # shared phase at the new v_i
                    g_u, g_v, _ = oracle(i, ui, vi)
                    if k == 0:
                        at_vnext.append(g_u)
                    ui = ui - spec.gamma_u * g_u
            local_u.append(ui)
            new_V.append(vi)
        measures.append(_measure(spec, at_iter, at_vnext))
        diversity.append([r[0] for r in at_iter])
        if at_vnext:
            diversity.append(at_vnext)
        u, V = _mean(local_u), new_V  # the server averages u (full participation)
        first = [oracle(i, u, V[i]) for i in range(spec.n)]
    if spec.last:
        measures.append(_measure(spec, first, []))
    fT = [r[2] for r in first]
    diversity.append([r[0] for r in first])
    if spec.delta is not None:
        for grads in diversity:  # A3 at points with a common u
            g_bar = _mean(grads)
            spread = _mean([(g - g_bar) ** 2 for g in grads])
            problem.add_constraint(spread <= spec.delta**2 + spec.rho**2 * g_bar**2)
    problem.set_initial_condition(_mean(f0) - _mean(fT) <= spec.Delta_F0)
    for a in oracle.u_leaves:
        for b in oracle.v_leaves:
            problem.add_constraint(a * b == 0)  # U is orthogonal to V
    if spec.aggregate == "mean":
        problem.set_performance_metric(_mean(measures))
    else:
        for m in measures:  # PEPit maximises the minimum of the metrics
            problem.set_performance_metric(m)
    return problem, oracle, (u0, V0), measures


def _measure(spec: PEPSpec, at_iter, at_vnext):
    grads_u = at_vnext if spec.u_at == "v_next" else [r[0] for r in at_iter]
    g_bar = _mean(grads_u)
    delta_v = _mean([r[1] ** 2 for r in at_iter])
    return spec.w_u * g_bar**2 + spec.w_v * delta_v


def solve(spec: PEPSpec, *, samples: bool = False, solver: str = "CLARABEL") -> PEPResult:
    """Solve the PEP ``spec`` (no cache; ``experiments.pep_cache.worst_case`` caches).

    Parameters
    ----------
    spec : PEPSpec
    samples : bool
        Also return the worst case's points, gradients and values (:class:`Samples`).
    solver : str
        A cvxpy SDP solver (default Clarabel, open source).

    Returns
    -------
    PEPResult

    Raises
    ------
    ImportError
        PEPit or cvxpy missing (a broken installation).
    RuntimeError
        The solver did not reach an optimal solution.
    """
    if not isinstance(spec, PEPSpec):
        raise TypeError(
            f"The 'spec' parameter of theory.pep.solve must be a PEPSpec. Got {spec!r}."
        )
    try:
        import PEPit  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "theory.pep needs PEPit, cvxpy and clarabel (dependencies of partialfed): "
            "reinstall partialfed."
        ) from exc
    start = time.perf_counter()
    problem, oracle, x0, measures = _build(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # cvxpy's "may be inaccurate": see status
        value = problem.solve(wrapper="cvxpy", solver=solver, verbose=0)
    status = str(getattr(getattr(problem.wrapper, "prob", None), "status", "unknown"))
    if value is None or "unbounded" in status:
        raise Unbounded(
            f"The worst case of {spec} is unbounded (solver status {status!r}): over all "
            "L-smooth F_i with F^0 - F^T <= Delta_F0 the measure has no finite supremum. Local "
            "u-steps (tau_u > 1) need a diversity constraint (delta, rho)."
        )
    if status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"PEP {spec} was not solved: solver status {status!r}.")
    vals = [float(m.eval()) for m in measures]
    primal = float(np.mean(vals) if spec.aggregate == "mean" else np.min(vals))
    out = PEPResult(spec, float(value), primal, time.perf_counter() - start, status)
    if samples:
        out.samples = samples_of(oracle, x0)
    return out
