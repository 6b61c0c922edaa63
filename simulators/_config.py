"""The data of one run: its settings (:class:`RunConfig`) and its recorded metrics
(:class:`History`), with the names of the recorded columns.

``simulators._api.run`` takes the one and returns the other; every public name here is
re-exported by ``simulators._api`` and ``simulators``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType

import numpy as np
import pandas as pd

from partialfed._constraints import Interval, Options, validate_params
from partialfed.simulators._algorithms import ALGORITHMS, META_FIELDS
from partialfed.simulators._records import VARIANTS

__all__ = ["METRICS", "PERSONAL_METRICS", "REGION", "History", "RunConfig"]


#: Per-round metrics recorded by ``run``.
METRICS = ("loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next")

#: Per-round personalisation metrics, recorded by ``run`` for every algorithm (``History``
#: documents them). Kept apart from ``METRICS``, which a stored result must have: results stored
#: before these existed stay valid, and the store writes these when a run's frame has them.
PERSONAL_METRICS = ("meta_grad_sq", "personal_loss", "personal_accuracy")

#: The extra per-round column recorded for a family with a registered region function
#: (``synthetic._objective.register``): ``max_i region(u^t, v_i^t)``, at most 1 exactly when the
#: iterate lies in the region where the family's ``local`` constants hold.
REGION = "region"

_OWNER = "RunConfig"
_BIG = 10**7


@dataclass(frozen=True)
class RunConfig:
    """Settings of one simulated run (everything except the problem).

    Parameters
    ----------
    algorithm : str
        A key of ``ALGORITHMS``.
    T : int
        Rounds, in [1, 10^7].
    m : int
        Devices sampled per round, uniformly without replacement; in [1, n] (n is checked by
        ``run``).
    tau_u, tau_v : int
        Local steps on u and on v_i, in [1, 10^4]. FedSim and FedAvg take joint steps and need
        ``tau_u == tau_v``.
    gamma_u, gamma_v : float
        Step sizes, in [0, 10^6].
    seed : int
        Seed of the initial point, of the device sampling and of all gradient noise.
    eval_every : int
        Record metrics every this many rounds (and always at rounds 0 and T), in [1, T].
    alpha : float
        Per-FedAvg's inner (adaptation) step size, in [0, 10^6]; also the ``alpha`` of
        ``History.meta_grad_sq`` (docs/references.md#fallah2020-objective). Per-FedAvg's outer
        step ``beta`` is ``gamma_u`` on the u block and ``gamma_v`` on the v block (equal for
        the paper's single ``beta``), its ``tau`` is ``tau_u == tau_v``.
    variant : str
        Per-FedAvg's local step: ``"maml"`` (exact Hessian-vector product), ``"fo"`` (first
        order) or ``"hf"`` (Hessian free: central difference with step ``hf_delta``).
    hf_delta : float
        Step of the Hessian-free variant's finite difference, in (0, 10^6].
    ditto_lam : float
        Ditto's proximal weight lambda (docs/references.md#li2021-ditto), in [0, 10^6].

    The last four are read only by ``perfedavg`` (``alpha``, ``variant``, ``hf_delta``) and
    ``ditto`` (``ditto_lam``): for any other algorithm they are validated, then set to their
    defaults, and ``as_dict`` leaves out those an algorithm does not read.
    """

    algorithm: str = "fedalt"
    T: int = 100
    m: int = 1
    tau_u: int = 1
    tau_v: int = 1
    gamma_u: float = 0.1
    gamma_v: float = 0.1
    seed: int = 0
    eval_every: int = 1
    alpha: float = 0.01
    variant: str = "maml"
    hf_delta: float = 1e-3
    ditto_lam: float = 0.1

    #: What each field accepts (``eval_every`` is bounded by ``T``; ``m`` by the problem's
    #: ``n``, which ``run`` checks).
    _parameter_constraints = MappingProxyType(
        {
            "algorithm": [Options(str, ALGORITHMS)],
            "T": [Interval(int, 1, _BIG)],
            "m": [Interval(int, 1, _BIG)],
            "tau_u": [Interval(int, 1, 10**4)],
            "tau_v": [Interval(int, 1, 10**4)],
            "gamma_u": [Interval(float, 0.0, 1e6)],
            "gamma_v": [Interval(float, 0.0, 1e6)],
            "seed": [Interval(int, 0, 2**63 - 1)],
            "eval_every": [Interval(int, 1, "T")],
            "alpha": [Interval(float, 0.0, 1e6)],
            "variant": [Options(str, VARIANTS)],
            "hf_delta": [Interval(float, 0.0, 1e6, closed="right")],
            "ditto_lam": [Interval(float, 0.0, 1e6)],
        }
    )

    def __post_init__(self):
        # Checked only: the fields keep the values given (numpy scalars included).
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        validate_params(values, self._parameter_constraints, _OWNER)
        if ALGORITHMS[self.algorithm].joint_steps and self.tau_u != self.tau_v:
            raise ValueError(
                f"The 'tau_v' parameter of RunConfig must equal tau_u (={self.tau_u}) for "
                f"algorithm '{self.algorithm}', which takes joint steps. Got {self.tau_v}."
            )
        # A field of META_FIELDS that the algorithm does not read (checked above all the same)
        # takes its default: runs that differ only there are one run, equal and hashed alike.
        for name in set(META_FIELDS) - set(ALGORITHMS[self.algorithm].reads):
            object.__setattr__(self, name, self.__dataclass_fields__[name].default)

    def as_dict(self) -> dict:
        """The fields by name, without the ``META_FIELDS`` that the algorithm does not read
        (``Algorithm.reads``): the run's spec, so a FedAlt run is stored and hashed as before
        these fields existed, and two runs that differ only in unread fields are one run."""
        unread = set(META_FIELDS) - set(ALGORITHMS[self.algorithm].reads)
        return {k: v for k, v in asdict(self).items() if k not in unread}


@dataclass
class History:
    """Metrics of one run, recorded at rounds ``rounds`` (0, eval_every, ..., T).

    Attributes
    ----------
    loss : array
        ``F(u^t, V^t)``.
    grad_u_sq : array
        ``Delta_u = ||grad_u F(u^t, V^t)||^2``. For ``local`` (one u per device) it is
        ``(1/n) sum_i ||grad_u F_i(u_i^t, v_i^t)||^2``.
    grad_v_sq : array
        ``Delta_v = (1/n) sum_i ||grad_v F_i(u^t, v_i^t)||^2``.
    grad_u_sq_at_V_next : array
        ``||grad_u F(u^t, V^{t+1})||^2``, FedAlt's u-stationarity measure
        (docs/references.md#pillutla2022-u-point), for ``fedalt`` and ``fedrecon``; NaN for other
        algorithms and at round T.
    meta_grad_sq : array
        ``||grad F~(w^t)||^2`` with ``F~ = (1/n) sum_i F_i(w - alpha grad F_i(w))`` and ``w = (u,
        v)`` (docs/references.md#fallah2020-objective), exact (HVP-based, eq. (M1) of
        ``simulators._meta_kernels``): Per-FedAvg's stationarity measure, for ``perfedavg``;
        NaN for the other algorithms.
    personal_loss : array
        The personalised loss ``(1/n) sum_i F_i(personal model of i)``, what
        ``ALGORITHMS[a].personal`` names: the loss itself for FedAlt, FedSim and the baselines
        (``fedavg``: the global model, no fine-tuning); ``(1/n) sum_i F_i(w - alpha grad
        F_i(w))`` for ``perfedavg``; the personal models ``w_i`` for ``ditto``.
    personal_accuracy : array
        For a problem with a held-out test set (``Problem.test``, family ``teacher``): at round
        T, the mean over devices of the test accuracy of the same personal models
        (``simulators._accuracy``); NaN at the other rounds, for a diverged run and for problems
        without a test set.
    clients : (T, m) int array
        Devices sampled in each round (ascending).
    u, V : arrays
        Final iterates (for ``local``, ``u`` is the mean of the devices' own ``U``; for
        ``perfedavg`` and ``ditto``, the global model, ``V`` holding n copies of its v).
    personal_U, personal_V : arrays or None
        Ditto's personal models ``(u_i, v_i)``, ``(n, d_u)`` and ``(n, d_v)``; ``None`` otherwise.
    status : str
        ``"ok"`` or ``"diverged"``; ``diverged_at`` is then the first round with an iterate
        (any device's) or a metric (loss, ``Delta_u``, ``Delta_v``) that is non-finite or beyond
        1e100 in absolute value, whatever ``eval_every``; metrics from that round on are NaN.
    region : array or None
        For a family with a region function (``representation``): the region value at
        ``(u^t, V^t)`` per recorded round (``<= 1`` inside the region where its ``local``
        constants hold; column ``"region"`` of ``to_frame``). ``None`` for other families.
    """

    algorithm: str
    config: RunConfig
    problem: str
    knobs: dict
    rounds: np.ndarray
    loss: np.ndarray
    grad_u_sq: np.ndarray
    grad_v_sq: np.ndarray
    grad_u_sq_at_V_next: np.ndarray
    meta_grad_sq: np.ndarray
    personal_loss: np.ndarray
    personal_accuracy: np.ndarray
    clients: np.ndarray
    u: np.ndarray
    V: np.ndarray
    U: np.ndarray | None = None
    status: str = "ok"
    diverged_at: int | None = None
    message: str = ""
    F_low: float = field(default=float("nan"))
    region: np.ndarray | None = None
    personal_U: np.ndarray | None = None
    personal_V: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """One row per recorded round: ``round``, the ``METRICS``, the ``PERSONAL_METRICS``,
        ``region`` (when recorded), ``status``."""
        names = (*METRICS, *PERSONAL_METRICS)
        frame = pd.DataFrame({"round": self.rounds, **{k: getattr(self, k) for k in names}})
        if self.region is not None:
            frame[REGION] = self.region
        frame["status"] = self.status
        return frame

    def __repr__(self) -> str:
        last = np.flatnonzero(np.isfinite(self.loss))
        tail = f"F={self.loss[last[-1]]:.4g} at round {self.rounds[last[-1]]}" if last.size else ""
        return f"History({self.algorithm!r}, T={self.config.T}, status={self.status!r}, {tail})"
