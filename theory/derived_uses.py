"""Which constants of A0-A3 each proof of ``docs/derivations/`` uses, and where (``Bound.uses``).

Read from the proofs, step by step (equation numbers of the proof files, (P1)-(P8) of
``docs/derivations/preliminaries.md``):

* ``Where.ITERATES``: the proof applies the constant only at the run's points ``(u^t, V^t)``,
  at FedAlt's half-step ``(u^t, V^{t+1})``, or on the box between consecutive iterates (the
  joint bound (P2) passes through ``(u^t, v_i^t + s b)``). A constant known on a region that is
  a product of convex sets in ``u`` and in each ``v_i`` covers such a use when every iterate
  lies in the region.
* ``Where.EVERYWHERE``: at points the run never visits. The partial-participation FedAlt proofs
  couple the run with a virtual full participation (P8): every device, sampled or not, forms
  ``v~_i``; A3 is applied at ``(u^t, V~)``, the cross constant ``L_uv`` between ``v_i^t`` and
  ``v~_i`` and the ``v``-descent (P1) on every device's virtual step.

``theory/derived.py`` attaches :data:`USES` to its bounds; a bound missing here declares no uses
and fails ``tests/theory/test_uses.py``.
"""

from __future__ import annotations

from partialfed.theory.bound_parts import Uses, Where

__all__ = ["USES"]

_I, _E = Where.ITERATES, Where.EVERYWHERE
_F_LOW = Uses("F_low", _I, "(P7): F(u^T, V^T) >= F_low when the lemma is telescoped")


def _joint(doc: str, eq: str) -> tuple[Uses, ...]:
    """A1 in the joint bound (P2) on the box between (u^t, v_i^t) and (u^{t+1}, v_i^{t+1})."""
    at = f"(P2) between (u^t, v_i^t) and (u^{{t+1}}, v_i^{{t+1}}), {doc} eq. ({eq})"
    return tuple(Uses(c, _I, at) for c in ("L_u", "L_v", "L_uv", "L_vu"))


def _noise(doc: str, eq: str) -> tuple[Uses, ...]:
    at = f"A2 at the query points (u^t, v_i^t), (P4)-(P5), {doc} eq. ({eq})"
    return (Uses("sigma_u", _I, at), Uses("sigma_v", _I, at))


_SIM_FULL = "fedsim_tau1_full.md"
_SIM_PART = "fedsim_tau1_partial.md"
_ALT_FULL = "fedalt_tau1_full.md"
_ALT_PART = "fedalt_tau1_partial.md"


def _fedalt_full(v_at: str) -> tuple[Uses, ...]:
    return (
        Uses("L_v", _I, f"(P1) in v at u^t along {v_at}, {_ALT_FULL} eq. (2)/(8)"),
        Uses("L_u", _I, f"(P1) in u at V^{{t+1}} from u^t to u^{{t+1}}, {_ALT_FULL} eq. (3)"),
        Uses("sigma_v", _I, f"v-noise drawn at {v_at}, {_ALT_FULL} eq. (2)/(8)"),
        Uses("sigma_u", _I, f"u-noise drawn at (u^t, v_i^{{t+1}}), {_ALT_FULL} eq. (4)"),
        _F_LOW,
    )


def _fedalt_partial(tau_v: bool) -> tuple[Uses, ...]:
    virtual = "every device's virtual v-step(s) v_i^t -> v~_i (P8), unsampled ones included"
    sigma_v = (
        Uses("sigma_v", _E, f"noise of the virtual local steps v~_{{i,k}}, {_ALT_PART} (17)-(18)")
        if tau_v
        else Uses(
            "sigma_v", _I, f"v-noise drawn at (u^t, v_i^t) for every device (P8), {_ALT_PART} (10)"
        )
    )
    return (
        Uses("L_v", _E, f"(P1) in v on {virtual}, {_ALT_PART} eq. (4)/(17)"),
        Uses("L_uv", _E, f"||d_i|| <= L_uv ||v_i^t - v~_i|| at the virtual v~_i, {_ALT_PART} (3)"),
        Uses("L_u", _I, f"(P1) for F(., V^{{t+1}}) from u^t to u^{{t+1}}, {_ALT_PART} eq. (5)"),
        Uses("sigma_u", _I, f"u-noise at (u^t, v~_i) of the sampled devices, {_ALT_PART} (5)"),
        sigma_v,
        Uses(
            "delta", _E, f"A3 at (u^t, V~), the virtual full-participation point, {_ALT_PART} (10)"
        ),
        Uses("rho", _E, f"A3 at (u^t, V~), the virtual full-participation point, {_ALT_PART} (10)"),
        _F_LOW,
    )


USES: dict[str, tuple[Uses, ...]] = {
    "fedsim_tau1_full": (*_joint(_SIM_FULL, "2"), *_noise(_SIM_FULL, "3"), _F_LOW),
    "fedsim_tau1_partial": (
        *_joint(_SIM_PART, "2"),
        *_noise(_SIM_PART, "5")[:1],
        *_noise(_SIM_PART, "6")[1:],
        Uses("delta", _I, f"A3 at (u^t, V^t), {_SIM_PART} eq. (4)"),
        Uses("rho", _I, f"A3 at (u^t, V^t), {_SIM_PART} eq. (4)"),
        _F_LOW,
    ),
    "fedalt_tau1_full": _fedalt_full("the segment [v_i^t, v_i^{t+1}]"),
    "fedalt_tauv_full": _fedalt_full("the local iterates v_{i,k}, k < tau_v"),
    "fedalt_tau1_partial": _fedalt_partial(tau_v=False),
    "fedalt_tauv_partial": _fedalt_partial(tau_v=True),
}
"""Bound name -> the constants its proof uses, and where."""
