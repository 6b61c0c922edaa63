"""What each algorithm of ``simulators.run`` does, as data: ``Algorithm`` and ``ALGORITHMS``."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from partialfed.simulators._records import Alg

__all__ = ["ALGORITHMS", "Algorithm", "META", "META_FIELDS"]


@dataclass(frozen=True)
class Algorithm:
    """What an algorithm does (docs/architecture.md#the-algorithms), as data the wrapper reads.

    Attributes
    ----------
    alg : Alg
        Its identity in the round kernel (``simulators._records.Alg``).
    local_update : str
        ``"alternating"`` (v-steps, then u-steps) or ``"simultaneous"`` (joint steps, which
        need ``tau_u == tau_v``).
    u : str
        ``"shared"`` (the server averages the sampled devices' u) or ``"per_device"`` (each
        device keeps its own u; no communication).
    v : str
        ``"personal"`` (each device keeps its v_i), ``"stateless"`` (v_i restarts from its
        initial value every round) or ``"global"`` (one v, averaged like u).
    description : str
    personal : str
        Where the personalised loss (``History.personal_loss``) is evaluated: ``"iterate"``
        (the iterate ``(u, v_i)``: FedAlt, FedSim and the baselines; for ``fedavg`` the global
        model itself, without fine-tuning), ``"adapted"`` (Per-FedAvg: ``w - alpha grad
        F_i(w)``, one step of local adaptation) or ``"personal_models"`` (Ditto's ``w_i``).
    reads : tuple of str
        The fields of ``META_FIELDS`` (RunConfig fields of the full-personalisation baselines)
        that this algorithm reads; ``RunConfig.as_dict`` leaves the others out.
    """

    alg: Alg
    local_update: str
    u: str
    v: str
    description: str
    personal: str = "iterate"
    reads: tuple = ()

    @property
    def joint_steps(self) -> bool:
        """Local steps on u and v at the same point from the same sample (``tau_u == tau_v``)."""
        return self.local_update == "simultaneous"

    @property
    def per_device_u(self) -> bool:
        """Every device keeps its own u (``History.U``); ``History.u`` is their mean."""
        return self.u == "per_device"

    @property
    def stateless_v(self) -> bool:
        """v_i restarts from the initial ``V^0`` every round."""
        return self.v == "stateless"

    @property
    def global_v(self) -> bool:
        """One global v, averaged by the server (every row of V is a copy)."""
        return self.v == "global"

    @property
    def records_V_next(self) -> bool:
        """History records ``||grad_u F(u^t, V^{t+1})||^2``: a shared u updated after a complete
        v-phase (FedAlt's u-stationarity measure)."""
        return self.local_update == "alternating" and not self.per_device_u

    @property
    def meta(self) -> bool:
        """Runs in the full-personalisation kernel (``simulators._meta_rounds``)."""
        return self.alg in META


#: The RunConfig fields read only by the full-personalisation baselines (``Algorithm.reads``).
META_FIELDS = ("alpha", "variant", "hf_delta", "ditto_lam")

#: The algorithms of the full-personalisation kernel.
META = frozenset({Alg.PERFEDAVG, Alg.DITTO})

# Update rules: docs/references.md#pillutla2022-fedalt, docs/references.md#pillutla2022-fedsim,
# docs/references.md#fallah2020-algorithm, docs/references.md#li2021-ditto.
#: The algorithms ``run`` knows, by name.
ALGORITHMS = MappingProxyType(
    {
        "fedalt": Algorithm(
            Alg.FEDALT,
            "alternating",
            "shared",
            "personal",
            "FedAlt (Pillutla et al. 2022): tau_v steps on v_i at u^t, then tau_u steps on "
            "a local copy of u at the new v_i; the server averages u.",
        ),
        "fedsim": Algorithm(
            Alg.FEDSIM,
            "simultaneous",
            "shared",
            "personal",
            "FedSim (Pillutla et al. 2022): tau joint steps, both partial gradients at the "
            "same point from the same sample; the server averages u.",
        ),
        "fedavg": Algorithm(
            Alg.FEDAVG,
            "simultaneous",
            "shared",
            "global",
            "FedAvg: u and v are both global; joint local steps, the server averages both.",
        ),
        "local": Algorithm(
            Alg.LOCAL,
            "alternating",
            "per_device",
            "personal",
            "Local training: no communication; each sampled device runs FedAlt's local update "
            "on its own (u_i, v_i).",
        ),
        "fedrecon": Algorithm(
            Alg.FEDRECON,
            "alternating",
            "shared",
            "stateless",
            "FedRecon (Singhal et al. 2021): FedAlt with stateless devices; v_i restarts from "
            "its initial value every round.",
        ),
        "perfedavg": Algorithm(
            Alg.PERFEDAVG,
            "simultaneous",
            "shared",
            "global",
            "Per-FedAvg (Fallah et al. 2020): w = (u, v) is one global model; tau local steps "
            "on the meta-objective F_i(w - alpha grad F_i(w)) (variant maml, fo or hf); the "
            "server averages w.",
            "adapted",
            ("alpha", "variant", "hf_delta"),
        ),
        "ditto": Algorithm(
            Alg.DITTO,
            "simultaneous",
            "shared",
            "global",
            "Ditto (Li et al. 2021): a global w = (u, v) trained by FedAvg, and on each sampled "
            "device tau steps of a personal model w_i on F_i(w_i) + ditto_lam/2 ||w_i - w||^2.",
            "personal_models",
            ("ditto_lam",),
        ),
    }
)
