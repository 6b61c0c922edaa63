"""theory.pep: the FedAlt/FedSim PEPs reproduce known worst cases and refuse what they cannot do.

Sizes are small (n <= 2, T <= 3): each solve takes well under a second to a few seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PEPit")

from partialfed.theory.pep import PEPSpec, Unbounded, l_full, solve  # noqa: E402


@pytest.mark.parametrize("T", [1, 2, 3])
def test_gd_value_of_pepit_example(T):
    """n = 1, tau = 1, FedSim is gradient descent on F_1(u, v) jointly. PEPit's nonconvex GD
    example (examples/nonconvex_optimization/gradient_descent.py): with gamma = 1/L,
    min_{t <= N} ||grad f(x_t)||^2 <= (4/3)(L/N)(f(x_0) - f(x_N)), min over the N + 1 iterates
    t = 0..N (our ``last=True``), f(x_0) - f(x_N) <= 1. The two-block PEP must give it at L = 1
    and L = 2 (the value scales with L at gamma L fixed)."""
    for L in (1.0, 2.0):
        spec = PEPSpec(
            "fedsim", n=1, T=T, gamma_u=1 / L, gamma_v=1 / L, L=L, aggregate="min", last=True
        )
        r = solve(spec)
        assert r.value == pytest.approx(4 / 3 * L / T, rel=1e-6)
        assert r.primal == pytest.approx(r.value, rel=1e-5)  # duality gap


def test_fedsim_tau1_is_the_descent_lemma():
    """FedSim with tau = 1 is gradient descent in the metric of (u, V) where every F_i is
    L-smooth: the descent lemma gives mean_{t<T}(Delta_u + Delta_v) <= Delta_F0/(T gamma
    (1 - L gamma/2)), and the PEP (the exact worst case) must equal it for n = 2 as for n = 1
    (the issue's feasibility run: n = 3, T = 5 gives T x value = 8/3 at gamma = 0.5)."""
    for n in (1, 2):
        for gamma in (0.5, 1.0):
            r = solve(PEPSpec("fedsim", n=n, T=3, gamma_u=gamma, gamma_v=gamma))
            assert r.value == pytest.approx(1 / (3 * gamma * (1 - gamma / 2)), rel=1e-6)


def test_fedalt_worst_case_is_above_fedsim_at_the_iterates():
    """Measured at (u^t, V^t), FedAlt's worst case exceeds FedSim's at the same step: its u-step
    uses the gradient at V^{t+1}, not the one the measure reads. The two PEPs are different
    programs (a PEP that ignored the algorithm would give one value)."""
    sim = solve(PEPSpec("fedsim", n=2, T=2)).value
    alt = solve(PEPSpec("fedalt", n=2, T=2)).value
    assert alt > sim * 1.05


def test_value_grows_with_tau_v_and_delta_f0_scales_it():
    """FedAlt's worst case at (u^t, V^t) grows with tau_v (more personal steps between the
    points where Delta_v is read); and the value is linear in Delta_F0 (F -> c^2 F(./c))."""
    vals = [solve(PEPSpec("fedalt", n=1, T=2, tau_v=k)).value for k in (1, 3)]
    assert vals[1] > vals[0] * 1.05
    r2 = solve(PEPSpec("fedalt", n=1, T=2, tau_v=1, Delta_F0=2.0)).value
    assert r2 == pytest.approx(2 * vals[0], rel=1e-5)


def test_local_u_steps_need_diversity():
    """With tau_u > 1 and n = 2 the worst case over L-smooth F_i is unbounded (client drift: the
    devices' local steps can cancel in the average while their gradients grow); with A3 at the
    common-u points it is finite, and for n = 1 (no drift) A3 changes nothing."""
    with pytest.raises(Unbounded, match="diversity"):
        solve(PEPSpec("fedsim", n=2, T=2, tau_u=2, tau_v=2))
    bounded = solve(PEPSpec("fedsim", n=2, T=2, tau_u=2, tau_v=2, delta=0.1)).value
    assert np.isfinite(bounded)
    one = solve(PEPSpec("fedsim", n=1, T=2, tau_u=2, tau_v=2)).value
    one_d = solve(PEPSpec("fedsim", n=1, T=2, tau_u=2, tau_v=2, delta=0.1)).value
    assert one_d == pytest.approx(one, rel=1e-5)
    assert bounded >= one * (1 - 1e-6)  # n = 2 with delta contains the n = 1 instances


def test_samples_are_the_algorithm():
    """The returned worst case is consistent with FedSim's update: x^{k+1} = x^k - gamma g^k on
    each device's sample sequence (tau = 1: one joint step per round, then the next round's
    point after averaging u)."""
    spec = PEPSpec("fedsim", n=2, T=2)
    r = solve(spec, samples=True)
    s = r.samples
    u_next = np.mean([p[0][0] - spec.gamma_u * p[2][0] for p in s.points], axis=0)
    for i, (u, v, _gu, gv, _f) in enumerate(s.points):
        assert np.allclose(u[0], s.u0, atol=1e-9)
        assert np.allclose(v[0], s.V0[i], atol=1e-9)
        assert np.allclose(u[1], u_next, atol=1e-9)
        assert np.allclose(v[1], v[0] - spec.gamma_v * gv[0], atol=1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(algorithm="fedavg", n=1, T=1), "algorithm"),
        (dict(algorithm="fedsim", n=1, T=1, tau_u=2, tau_v=1), "must be equal"),
        (dict(algorithm="fedsim", n=1, T=1, u_at="v_next"), "v_next"),
        (dict(algorithm="fedalt", n=1, T=1, u_at="v_next", last=True), "last"),
        (dict(algorithm="fedalt", n=0, T=1), "'n'"),
        (dict(algorithm="fedalt", n=1, T=1, gamma_u=0.0), "gamma_u"),
        (dict(algorithm="fedalt", n=1, T=1, rho=0.5), "needs 'delta'"),
        (dict(algorithm="fedalt", n=1, T=1, w_u=0.0, w_v=0.0), "both be 0"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        PEPSpec(**kwargs)


def test_l_full_is_the_spectral_norm():
    assert l_full(1.0, 1.0, 0.0, 0.0) == pytest.approx(1.0)
    assert l_full(1.0, 1.0, 1.0, 1.0) == pytest.approx(2.0)
    assert l_full(3.0, 1.0, 0.5, 0.0) == pytest.approx(np.linalg.norm([[3, 0.5], [0, 1]], 2))
