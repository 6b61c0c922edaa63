"""Derived FedAlt/FedSim bounds (theory/derived.py, docs/derivations/): algebra and simulation.

Three kinds of tests:

* sympy checks of every algebraic step of the proofs (Young, the joint quadratic bound, the
  collected per-round coefficients, telescoping, reductions between bounds), and exact
  enumeration of the without-replacement identities (P3) and the virtual-participation cross
  term (fedalt_tau1_partial.md, eq. (8));
* the bounds and per-round lemmas on small problems whose constants are exact, simulated here in
  plain numpy (batch over seeds): pathwise for exact gradients and full participation, in
  expectation (exact enumeration of the sampled sets, or Monte Carlo with a standard-error
  tolerance) otherwise;
* deliberately broken versions (right-hand side halved, step size above the condition, a
  proof term dropped) fail.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from partialfed import theory
from partialfed.theory import derived as D
from partialfed.theory.symbols import (
    Delta_F0,
    L_u,
    L_uv,
    L_v,
    L_vu,
    T,
    delta,
    gamma_u,
    gamma_v,
    m,
    n,
    rho,
    sigma_u,
    sigma_v,
    tau_v,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(D.BOUNDS)

# =============================================================================================
# Small problems with exact constants
# =============================================================================================


def _psi(x):
    return x**2 / (1 + x**2)


def _dpsi(x):
    return 2 * x / (1 + x**2) ** 2


PSI1_MAX = 3 * math.sqrt(3) / 8  # max |psi'|, attained at x^2 = 1/3; |psi''| <= 2


class SinProblem:
    """Separable nonconvex F_i(u,v) = a sum psi(u - a_i) + (mu/2)||v - c_i||^2 + k sum sin u sin v.

    Hessian blocks are diagonal: d2/du2 = a psi'' - k sin u sin v (|.| <= 2a + k), d2/dv2 =
    mu - k sin u sin v (|.| <= mu + k), d2/dudv = k cos u cos v (|.| <= k). So L_u = 2a + k,
    L_v = mu + k, L_uv = L_vu = k, and F >= -k d (F_low). Each coordinate of grad_u F_i lies in
    [-(a M + k), a M + k] (M = max|psi'|), so the diversity is <= d (a M + k)^2 = delta^2 (rho=0).
    """

    def __init__(self, n=5, d=3, alpha=1.0, mu=1.0, kappa=0.5, seed=0):
        rng = np.random.default_rng(seed)
        self.n, self.d_u, self.d_v = n, d, d
        self.alpha, self.mu, self.kappa = alpha, mu, kappa
        self.a = rng.normal(0, 1.5, size=(n, d))
        self.c = rng.normal(0, 1.0, size=(n, d))
        self.const = dict(
            L_u=2 * alpha + kappa,
            L_v=mu + kappa,
            L_uv=kappa,
            L_vu=kappa,
            delta=math.sqrt(d) * (alpha * PSI1_MAX + kappa),
            rho=0.0,
        )
        self.F_low = -kappa * d

    def init(self, B, seed=1):
        rng = np.random.default_rng(seed)
        u = np.broadcast_to(rng.normal(0, 2, size=self.d_u), (B, self.d_u)).copy()
        V = np.broadcast_to(rng.normal(0, 2, size=(self.n, self.d_v)), (B, self.n, self.d_v))
        return u, V.copy()

    def losses(self, u, V):  # (B, n)
        U = u[:, None, :]
        return (
            self.alpha * _psi(U - self.a).sum(-1)
            + 0.5 * self.mu * ((V - self.c) ** 2).sum(-1)
            + self.kappa * (np.sin(U) * np.sin(V)).sum(-1)
        )

    def grads(self, u, V):  # ((B, n, d_u), (B, n, d_v))
        U = u[:, None, :]
        gu = self.alpha * _dpsi(U - self.a) + self.kappa * np.cos(U) * np.sin(V)
        gv = self.mu * (V - self.c) + self.kappa * np.sin(U) * np.cos(V)
        return gu, gv


class QuadProblem:
    """F_i(u,v) = z^T H z/2 - b_i^T z, z = (u, v), common H > 0: F_low = min F exactly.

    L_u = lambda_max(H_uu), L_v = lambda_max(H_vv), L_uv = L_vu = ||H_uv||_2 (exact). With
    ``coupling=0`` and ``iso=True``, H = diag(L_u I, L_v I): (P1)/(P2) hold with equality.
    """

    def __init__(self, n=4, d_u=3, d_v=2, coupling=0.6, iso=False, seed=0, spread=2.0):
        rng = np.random.default_rng(seed)
        self.n, self.d_u, self.d_v = n, d_u, d_v
        d = d_u + d_v
        if iso:
            H = np.diag([2.0] * d_u + [1.0] * d_v)
        else:
            A = rng.normal(size=(d, d))
            H = A @ A.T / d + 0.3 * np.eye(d)
        H[:d_u, d_u:] *= coupling
        H[d_u:, :d_u] *= coupling
        assert np.linalg.eigvalsh(H).min() > 0
        self.H = H
        self.b = rng.normal(0, spread, size=(n, d))
        Huu, Hvv, Huv = H[:d_u, :d_u], H[d_u:, d_u:], H[:d_u, d_u:]
        luv = float(np.linalg.norm(Huv, 2))
        luv = max(luv, 1e-300)  # theory.symbols declares L_uv, L_vu > 0
        self.const = dict(
            L_u=float(np.linalg.eigvalsh(Huu).max()),
            L_v=float(np.linalg.eigvalsh(Hvv).max()),
            L_uv=luv,
            L_vu=luv,
        )
        # exact minimiser: v_i = Hvv^{-1}(b_iv - Hvu u), Schur complement in u
        bu, bv = self.b[:, :d_u], self.b[:, d_u:]
        Hvv_inv = np.linalg.inv(Hvv)
        S = Huu - Huv @ Hvv_inv @ Huv.T
        u_star = np.linalg.solve(S, bu.mean(0) - Huv @ Hvv_inv @ bv.mean(0))
        V_star = (Hvv_inv @ (bv - u_star @ Huv).T).T
        self.F_low = float(self.losses(u_star[None], V_star[None]).mean())

    def init(self, B, seed=1):
        rng = np.random.default_rng(seed)
        u = np.broadcast_to(rng.normal(0, 2, size=self.d_u), (B, self.d_u)).copy()
        V = np.broadcast_to(rng.normal(0, 2, size=(self.n, self.d_v)), (B, self.n, self.d_v))
        return u, V.copy()

    def _z(self, u, V):
        U = np.broadcast_to(u[:, None, :], V.shape[:2] + (self.d_u,))
        return np.concatenate([U, V], axis=-1)

    def losses(self, u, V):
        z = self._z(u, V)
        return 0.5 * np.einsum("bni,ij,bnj->bn", z, self.H, z) - (z * self.b).sum(-1)

    def grads(self, u, V):
        g = self._z(u, V) @ self.H - self.b
        return g[..., : self.d_u], g[..., self.d_u :]


def diversity(problem, u, V):
    """(1/n) sum_i ||grad_u F_i - grad_u F||^2 at (u, V), shape (B,)."""
    gu, _ = problem.grads(u, V)
    return ((gu - gu.mean(1, keepdims=True)) ** 2).sum(-1).mean(-1)


# =============================================================================================
# Plain-numpy FedAlt / FedSim (tau_u = 1), batched over independent runs
# =============================================================================================


def one_round(problem, algo, u, V, mask, gamma_u, gamma_v, sigma_u, sigma_v, rng, tau_v=1):
    """One round from (u, V) with sampled-set indicator ``mask`` (B, n).

    Returns (u_next, V_next, grad_u_sq_at_V_next). Noise: N(0, sigma^2/d I) per block.
    """
    m_ = mask.sum(1, keepdims=True)
    mk = mask[..., None]
    B, n_ = mask.shape

    def noise(s, d):
        return rng.normal(0.0, s / math.sqrt(d), size=(B, n_, d)) if s > 0 else 0.0

    if algo == "fedsim":
        gu, gv = problem.grads(u, V)
        u_next = u - gamma_u * (mk * (gu + noise(sigma_u, problem.d_u))).sum(1) / m_
        V_next = V - gamma_v * mk * (gv + noise(sigma_v, problem.d_v))
        gu_next, _ = problem.grads(u, V_next)
    else:
        V_next = V
        for _ in range(tau_v):
            _, gv = problem.grads(u, V_next)
            V_next = V_next - gamma_v * mk * (gv + noise(sigma_v, problem.d_v))
        gu_next, _ = problem.grads(u, V_next)
        u_next = u - gamma_u * (mk * (gu_next + noise(sigma_u, problem.d_u))).sum(1) / m_
    return u_next, V_next, (gu_next.mean(1) ** 2).sum(-1)


def random_masks(rng, B, n_, m_):
    idx = np.argsort(rng.random((B, n_)), axis=1)[:, :m_]
    mask = np.zeros((B, n_))
    np.put_along_axis(mask, idx, 1.0, axis=1)
    return mask


def simulate(
    problem, algo, T_, m_, gamma_u, gamma_v, sigma_u=0.0, sigma_v=0.0, B=1, seed=0, tau_v=1
):
    """History-like arrays (B, T+1): loss, grad_u_sq, grad_v_sq, grad_u_sq_at_V_next."""
    rng = np.random.default_rng(seed)
    u, V = problem.init(B)
    rec = {
        k: np.zeros((B, T_ + 1)) for k in ("loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next")
    }
    for t in range(T_ + 1):
        gu, gv = problem.grads(u, V)
        rec["loss"][:, t] = problem.losses(u, V).mean(1)
        rec["grad_u_sq"][:, t] = (gu.mean(1) ** 2).sum(-1)
        rec["grad_v_sq"][:, t] = (gv**2).sum(-1).mean(1)
        if t == T_:
            rec["grad_u_sq_at_V_next"][:, t] = np.nan
            break
        mask = random_masks(rng, B, problem.n, m_)
        u, V, gnext = one_round(
            problem, algo, u, V, mask, gamma_u, gamma_v, sigma_u, sigma_v, rng, tau_v
        )
        rec["grad_u_sq_at_V_next"][:, t] = gnext
    return rec


def values(problem, rec, T_, m_, gamma_u_, gamma_v_, sigma_u_=0.0, sigma_v_=0.0, tau_v_=1):
    """Symbol values for Bound.evaluate / weights (Delta_F0 from the run's initial loss)."""
    vals = dict(problem.const)
    vals.update(
        n=problem.n,
        m=m_,
        T=T_,
        gamma_u=gamma_u_,
        gamma_v=gamma_v_,
        sigma_u=sigma_u_,
        sigma_v=sigma_v_,
        tau_v=tau_v_,
        Delta_F0=float(rec["loss"][0, 0]) - problem.F_low,
    )
    vals.setdefault("delta", 0.0)
    vals.setdefault("rho", 0.0)
    return vals


def measured_lhs(bound, rec, vals):
    """Per-run left-hand side mean_t (a_u Delta_u + a_v Delta_v), shape (B,)."""
    w = bound.weights(vals)
    du = rec["grad_u_sq_at_V_next"] if "V^{t+1}" in bound.lhs.terms[0].at else rec["grad_u_sq"]
    per_round = w["Delta_u"] * du[:, :-1] + w["Delta_v"] * rec["grad_v_sq"][:, :-1]
    return per_round.mean(1)


def lemma_inputs(rec):
    return dict(
        F_t=rec["loss"][:, :-1],
        F_next=rec["loss"][:, 1:],
        Delta_u_t=rec["grad_u_sq"][:, :-1],
        Delta_v_t=rec["grad_v_sq"][:, :-1],
        Delta_u_next_V=rec["grad_u_sq_at_V_next"][:, :-1],
    )


def lemma_eval(lemma, rec, vals, **over):
    need = set(lemma.required)
    args = {k: v for k, v in {**vals, **lemma_inputs(rec)}.items() if k in need}
    args.update(over)
    return lemma.lhs_minus_rhs(args)


# =============================================================================================
# 1. Registry and data
# =============================================================================================


def test_registry_has_derived_bounds_without_free_constants():
    for name in NAMES:
        b = theory.get_bound(name)
        assert b is D.BOUNDS[name]
        assert b.provenance == "derived"
        assert not b.free_constants and not b.has_free_constants
        assert all(c.checkable for c in b.conditions)
        doc, eq = b.source.split(", eq. ")
        text = (ROOT / doc).read_text()
        assert f"\\tag{{{eq.strip('()')}}}" in text, (name, eq)
        lem = D.LEMMAS[name]
        ldoc, leq = lem.source.split(", eq. ")
        assert ldoc == doc and f"\\tag{{{leq.strip('()')}}}" in text
        assert lem.pathwise == name.endswith("_full")
    readme = (ROOT / "docs/derivations/README.md").read_text()
    assert all(f"`{name}`" in readme for name in NAMES)


def test_lemma_symbols_and_measured_points():
    lem = D.LEMMAS["fedalt_tau1_partial"]
    assert set(lem.measured) == {"F_t", "F_next", "Delta_u_next_V", "Delta_v_t"}
    assert set(D.LEMMAS["fedsim_tau1_full"].measured) == {"F_t", "F_next", "Delta_u_t", "Delta_v_t"}
    assert set(D.MEASURED_AT) == set(D.PER_ROUND)
    assert D.MEASURED_AT["F_next"] == ("F", theory.At.NEXT)
    assert lem.holds_pathwise() is False
    assert D.LEMMAS["fedalt_tau1_full"].holds_pathwise(0.0, 0.0) is True
    assert D.LEMMAS["fedalt_tau1_full"].holds_pathwise(0.1, 0.0) is False


def test_lemma_validation_messages():
    lem = D.LEMMAS["fedalt_tau1_full"]
    base = dict(
        F_t=1.0,
        F_next=0.5,
        Delta_u_next_V=0.1,
        Delta_v_t=0.2,
        L_u=1.0,
        L_v=1.0,
        gamma_u=0.5,
        gamma_v=0.5,
        sigma_u=0.0,
        sigma_v=0.0,
        n=3,
    )
    assert float(lem.lhs_minus_rhs(base)) < 0
    with pytest.raises(ValueError, match="needs a value for 'F_t'"):
        lem.lhs_minus_rhs({k: v for k, v in base.items() if k != "F_t"})
    with pytest.raises(ValueError, match="Unknown parameter 'chi' of Lemma"):
        lem.lhs_minus_rhs(base, chi=0.1)
    with pytest.raises(ValueError, match="gamma_u < 2/L_u"):
        lem.lhs_minus_rhs({**base, "gamma_u": 2.5})
    with pytest.raises(ValueError, match="Delta_v_t"):
        lem.lhs_minus_rhs({**base, "Delta_v_t": -1.0})
    with pytest.raises(ValueError, match="Unknown lemma"):
        D.get_lemma("fedalt")


@pytest.mark.parametrize("name", NAMES)
def test_conditions_violated_raise(name):
    b = D.BOUNDS[name]
    vals = dict(
        Delta_F0=1.0,
        T=10,
        L_u=1.0,
        L_v=1.0,
        L_uv=0.5,
        L_vu=0.5,
        gamma_u=0.1,
        gamma_v=0.1,
        sigma_u=0.1,
        sigma_v=0.1,
        n=4,
        m=2,
        delta=0.5,
        rho=0.5,
        tau_v=2,
    )
    assert float(b.evaluate(vals, ignore_extra=True)) > 0
    with pytest.raises(ValueError, match="gamma_u"):
        b.evaluate({**vals, "gamma_u": 2.0}, ignore_extra=True)
    with pytest.raises(ValueError, match="gamma_v"):
        b.evaluate({**vals, "gamma_v": 2.0}, ignore_extra=True)
    if "partial" in name:
        with pytest.raises(ValueError, match="m <= n"):
            b.evaluate({**vals, "m": 5}, ignore_extra=True)


# =============================================================================================
# 2. sympy: the algebra of the proofs
# =============================================================================================

a_, b_, s_ = sp.symbols("a b s", nonnegative=True)
Du, Dv, Gp, Gt, Y, Dd, E2 = sp.symbols("Du Dv Gp Gt Y Dd E2", nonnegative=True)


def test_young_cross_term_P2():
    # (L_uv + L_vu) a b <= chi_bar (L_u a^2 + L_v b^2) (preliminaries.md (P2)):
    # the gap is chi_bar (sqrt(L_u) a - sqrt(L_v) b)^2 >= 0
    gap = D.CHI_BAR * (L_u * a_**2 + L_v * b_**2) - (L_uv + L_vu) * a_ * b_
    assert sp.simplify(gap - D.CHI_BAR * (sp.sqrt(L_u) * a_ - sp.sqrt(L_v) * b_) ** 2) == 0
    # the integral of the fundamental-theorem remainder bound
    integrand = s_ * ((L_u * a_ + L_uv * b_) * a_ + (L_vu * a_ + L_v * b_) * b_)
    first = sp.integrate(integrand, (s_, 0, 1))
    assert sp.expand(first - (L_u * a_**2 + (L_uv + L_vu) * a_ * b_ + L_v * b_**2) / 2) == 0
    # chi_bar <= chi = max(L_uv, L_vu)/sqrt(L_u L_v)
    chi = sp.Max(L_uv, L_vu) / sp.sqrt(L_u * L_v)
    for lu, lv, x, y in [(1, 2, 0.3, 0.9), (3, 1, 2, 1), (1, 1, 1, 1)]:
        sub = {L_u: lu, L_v: lv, L_uv: x, L_vu: y}
        assert float(D.CHI_BAR.subs(sub)) <= float(chi.subs(sub)) + 1e-15


def test_joint_quadratic_bound_P2_numerically():
    # (P2) on the SinProblem at random points and displacements (it is a consequence of A1)
    P = SinProblem(n=3, d=4, kappa=0.7)
    rng = np.random.default_rng(3)
    B = 4000
    u = rng.normal(0, 3, (B, P.d_u))
    V = rng.normal(0, 3, (B, P.n, P.d_v))
    a = rng.normal(0, 1, (B, P.d_u)) * rng.exponential(1, (B, 1))
    bb = rng.normal(0, 1, (B, P.n, P.d_v)) * rng.exponential(1, (B, 1, 1))
    gu, gv = P.grads(u, V)
    lhs = P.losses(u + a, V + bb)
    na2 = (a**2).sum(-1)[:, None]
    nb2 = (bb**2).sum(-1)
    c = P.const
    chib = (c["L_uv"] + c["L_vu"]) / (2 * math.sqrt(c["L_u"] * c["L_v"]))
    lin = P.losses(u, V) + (gu * a[:, None, :]).sum(-1) + (gv * bb).sum(-1)
    sharp = lin + 0.5 * (
        c["L_u"] * na2 + (c["L_uv"] + c["L_vu"]) * np.sqrt(na2 * nb2) + c["L_v"] * nb2
    )
    young = lin + (1 + chib) / 2 * (c["L_u"] * na2 + c["L_v"] * nb2)
    assert np.all(lhs <= sharp + 1e-9) and np.all(sharp <= young + 1e-9)


@pytest.mark.parametrize("n_, m_", [(2, 1), (4, 2), (5, 3), (6, 1), (6, 6), (7, 4)])
def test_without_replacement_identities_by_enumeration(n_, m_):
    rng = np.random.default_rng(n_ * 10 + m_)
    x = rng.integers(-5, 6, size=(n_, 2)).astype(float)
    subsets = list(itertools.combinations(range(n_), m_))
    xbar = x.mean(0)
    var = np.mean([((x[list(S)].mean(0) - xbar) ** 2).sum() for S in subsets])
    q = float(D.Q_WOR.subs({n: n_, m: m_}))
    assert var == pytest.approx(q * ((x - xbar) ** 2).sum(-1).mean(), rel=1e-12, abs=1e-12)
    # pair probabilities (P3)
    cnt_in = sum(0 in S for S in subsets) / len(subsets)
    assert cnt_in == pytest.approx(m_ / n_)
    if n_ >= 2:
        both = sum(0 in S and 1 in S for S in subsets) / len(subsets)
        one_out = sum(1 in S and 0 not in S for S in subsets) / len(subsets)
        assert both == pytest.approx(m_ * (m_ - 1) / (n_ * (n_ - 1)))
        assert one_out == pytest.approx(m_ * (n_ - m_) / (n_ * (n_ - 1)))


def test_sampling_constants_identities():
    p, q = D.P_OUT, D.Q_WOR
    assert sp.simplify(m / n * q - p / (n - 1)) == 0  # fedalt_tau1_partial.md eq. (1)
    assert sp.simplify(q + p / (n - 1) - (1 + m / n) * q) == 0  # used in (11)
    assert q.subs(m, n) == 0 and p.subs(m, n) == 0


@pytest.mark.parametrize("n_, m_", [(3, 1), (5, 2), (6, 4)])
def test_virtual_cross_term_exact_and_error_size(n_, m_):
    """fedalt_tau1_partial.md §2: E_S<e, U - G~> = -(p/(n-1)) (1/n) sum <d_i, y_i>; and
    E||e||^2 <= p^2 D (eq. (10))."""
    rng = np.random.default_rng(7)
    d = rng.normal(size=(n_, 3))
    h = rng.normal(size=(n_, 3))
    y = h - h.mean(0)
    subsets = list(itertools.combinations(range(n_), m_))
    cross, e2 = [], []
    for S in subsets:
        out = [i for i in range(n_) if i not in S]
        e = d[out].sum(0) / n_
        cross.append(e @ y[list(S)].mean(0))
        e2.append(e @ e)
    p = 1 - m_ / n_
    assert np.mean(cross) == pytest.approx(-(p / (n_ - 1)) * np.mean((d * y).sum(-1)), abs=1e-12)
    assert np.mean(e2) <= p**2 * np.mean((d**2).sum(-1)) + 1e-12


def _descent_parts(name):
    d = D.DESCENTS[name]
    return d.a_u, d.a_v, d.noise


def test_fedsim_full_algebra():
    # eq. (2) + (3) -> (4)/(5)
    beta = 1 + D.CHI_BAR
    rhs = (
        -gamma_u * Du
        + beta / 2 * L_u * gamma_u**2 * (Du + sigma_u**2 / n)
        - gamma_v * Dv
        + beta / 2 * L_v * gamma_v**2 * (Dv + sigma_v**2)
    )
    a_u, a_v, N = _descent_parts("fedsim_tau1_full")
    assert sp.simplify(rhs - (-a_u * Du - a_v * Dv + N)) == 0
    # a_u >= gamma_u/2 when gamma_u <= 1/(beta L_u)
    assert sp.simplify(a_u.subs(gamma_u, 1 / (beta * L_u)) - 1 / (2 * beta * L_u)) == 0


def test_fedsim_partial_algebra_and_reduction():
    # eq. (7) -> (8); at m = n it is fedsim_tau1_full
    q = D.Q_WOR
    bu, bv = 1 + D.CHI_BAR * m / n, 1 + D.CHI_BAR
    rhs = (
        -gamma_u * Du
        + bu * L_u * gamma_u**2 / 2 * ((1 + q * rho**2) * Du + q * delta**2 + sigma_u**2 / m)
        - m / n * gamma_v * Dv
        + m / n * bv * L_v * gamma_v**2 / 2 * (Dv + sigma_v**2)
    )
    a_u, a_v, N = _descent_parts("fedsim_tau1_partial")
    assert sp.simplify(rhs - (-a_u * Du - a_v * Dv + N)) == 0
    full = D.BOUNDS["fedsim_tau1_full"]
    part = D.BOUNDS["fedsim_tau1_partial"]
    assert sp.simplify(part.rhs.subs(m, n) - full.rhs) == 0
    for q_ in ("Delta_u", "Delta_v"):
        assert sp.simplify(part.lhs.weight(q_).subs(m, n) - full.lhs.weight(q_)) == 0
    # (2): sampled devices pay (1 + chi_bar) L_u/2, the others L_u/2
    assert sp.simplify((m * (1 + D.CHI_BAR) + (n - m)) / n - bu) == 0


def test_fedalt_full_algebra():
    # eq. (2) + (4) -> (5), and (8) -> (9) for tau_v steps
    rhs = (
        -gamma_v * (1 - L_v * gamma_v / 2) * Dv
        + tau_v * L_v * gamma_v**2 * sigma_v**2 / 2
        - gamma_u * Du
        + L_u * gamma_u**2 / 2 * (Du + sigma_u**2 / n)
    )
    a_u, a_v, N = _descent_parts("fedalt_tauv_full")
    assert sp.simplify(rhs - (-a_u * Du - a_v * Dv + N)) == 0
    one = D.BOUNDS["fedalt_tau1_full"]
    gen = D.BOUNDS["fedalt_tauv_full"]
    assert sp.simplify(gen.rhs.subs(tau_v, 1) - one.rhs) == 0
    assert one.rhs.free_symbols.isdisjoint({L_uv, L_vu})  # no cross constant


def test_fedalt_partial_algebra():
    """Every step of fedalt_tau1_partial.md §2-§3 and §5, collected symbolically."""
    p, q = D.P_OUT, D.Q_WOR
    # (5)+(6)+(7)+(8)+(9), in expectation over S: E||e||^2 -> E2, ||G~||^2 -> Gt, E||G+||^2 -> Gp
    u_part = (
        gamma_u * (E2 / 2 - Gp / 2 - Gt / 2)
        + p / (n - 1) * (Dd / (2 * L_u) + L_u * gamma_u**2 * Y / 2)
        + L_u * gamma_u**2 / 2 * (Gt + q * Y + sigma_u**2 / m)
    )
    # (10): E2 <= p^2 D, Y <= delta^2 + rho^2 Gt (all coefficients of E2 and Y are >= 0)
    for sym in (E2, Y):
        assert sp.simplify(sp.diff(u_part, sym)).is_nonnegative in (True, None)
    u_part = u_part.subs({E2: p**2 * Dd, Y: delta**2 + rho**2 * Gt})
    eq11 = (
        -gamma_u / 2 * Gp
        - gamma_u / 2 * (1 - L_u * gamma_u * (1 + (1 + m / n) * q * rho**2)) * Gt
        + L_u * gamma_u**2 / 2 * ((1 + m / n) * q * delta**2 + sigma_u**2 / m)
        + (gamma_u * p**2 + p / ((n - 1) * L_u)) / 2 * Dd
    )
    assert sp.simplify(u_part - eq11) == 0
    # condition (12) makes the Gt coefficient <= 0: at equality it is exactly 0
    gu_max = 1 / (L_u * (1 + (1 + m / n) * q * rho**2))
    assert sp.simplify(sp.diff(eq11, Gt).subs(gamma_u, gu_max)) == 0
    # §5 with tau_v steps: Gamma >= Dv, E D <= L_uv^2 tau_v gamma_v^2 (Gamma + tau_v sigma_v^2)
    Gam = sp.Symbol("Gamma", nonnegative=True)
    v_part = (
        -m / n * gamma_v * (1 - L_v * gamma_v / 2) * Gam
        + tau_v * m / n * L_v * gamma_v**2 * sigma_v**2 / 2
    )
    total = (v_part + eq11.subs(Gt, 0)).subs(
        Dd, L_uv**2 * tau_v * gamma_v**2 * (Gam + tau_v * sigma_v**2)
    )
    a_u, a_v, N = _descent_parts("fedalt_tauv_partial")
    assert sp.simplify(total - (-a_u * Gp - a_v * Gam + N)) == 0
    # the gamma_v condition is exactly a_v > 0
    gv_max = D.DESCENTS["fedalt_tauv_partial"].conditions[-1].relation.rhs
    assert sp.simplify(a_v.subs(gamma_v, gv_max)) == 0
    # tau_v = 1 reduces to fedalt_tau1_partial
    one, gen = D.BOUNDS["fedalt_tau1_partial"], D.BOUNDS["fedalt_tauv_partial"]
    assert sp.simplify(gen.rhs.subs(tau_v, 1) - one.rhs) == 0
    assert sp.simplify(gen.lhs.weight("Delta_v").subs(tau_v, 1) - one.lhs.weight("Delta_v")) == 0
    # m = n: the virtual error disappears and the noise equals the full-participation one
    assert sp.simplify(one.rhs.subs(m, n) - D.BOUNDS["fedalt_tau1_full"].rhs) == 0


def test_telescoping_P7():
    t = sp.Symbol("t", integer=True, nonnegative=True)
    Ff, Dt = sp.Function("F"), sp.Function("D")
    Nn = sp.Symbol("N")
    # sum_{t<T} (F_t - F_{t+1}) = F_0 - F_T
    tel = sp.Sum(Ff(t) - Ff(t + 1), (t, 0, T - 1)).doit()
    assert sp.simplify(tel - (Ff(0) - Ff(T))) == 0
    # summing  D_t <= F_t - F_{t+1} + N  and F_T >= F_low gives mean D <= Delta_F0/T + N
    s = sp.Sum(Ff(t) - Ff(t + 1) + Nn, (t, 0, T - 1)).doit()
    assert sp.simplify(s / T - ((Ff(0) - Ff(T)) / T + Nn)) == 0
    for name in NAMES:
        assert sp.simplify(D.BOUNDS[name].rhs - Delta_F0 / T - D.DESCENTS[name].noise) == 0
    del Dt


def test_bounds_are_monotone_in_chi_bar():
    """Replacing chi_bar by chi >= chi_bar keeps a valid (weaker) bound."""
    cb = sp.Symbol("cb", nonnegative=True)
    # m = 1 + j, n = m + k with k >= 1 encodes 1 <= m < n (m = n is fedsim_tau1_full)
    j = sp.Symbol("j", integer=True, nonnegative=True)
    k = sp.Symbol("k", integer=True, positive=True)
    for name in ("fedsim_tau1_full", "fedsim_tau1_partial"):
        d = D.DESCENTS[name]
        sub = {L_uv: 2 * cb * sp.sqrt(L_u * L_v) - L_vu, n: 1 + j + k, m: 1 + j}
        for w in (d.a_u, d.a_v):
            assert sp.simplify(sp.diff(w.subs(sub), cb)).is_nonpositive
        assert sp.simplify(sp.diff(d.noise.subs(sub), cb)).is_nonnegative


# =============================================================================================
# 3. The bounds on small exact problems
# =============================================================================================

FULL_CASES = {
    # name: (problem factory, gamma_u * L_u, gamma_v * L_v)
    "sin": (lambda: SinProblem(n=5, d=3, kappa=0.5), 0.8, 0.8),
    "quad": (lambda: QuadProblem(n=4, coupling=0.8), 0.7, 0.9),
}


def _steps(problem, gu_L, gv_L, scale=1.0):
    c = problem.const
    chib = (c["L_uv"] + c["L_vu"]) / (2 * math.sqrt(c["L_u"] * c["L_v"]))
    # inside every condition of the full-participation bounds
    return scale * gu_L / ((1 + chib) * c["L_u"]), scale * gv_L / ((1 + chib) * c["L_v"])


@pytest.mark.parametrize("case", sorted(FULL_CASES))
@pytest.mark.parametrize(
    "algo, name, tv",
    [
        ("fedsim", "fedsim_tau1_full", 1),
        ("fedalt", "fedalt_tau1_full", 1),
        ("fedalt", "fedalt_tauv_full", 3),
    ],
)
def test_full_participation_exact_gradients_pathwise(case, algo, name, tv):
    make, gu_L, gv_L = FULL_CASES[case]
    P = make()
    gu, gv = _steps(P, gu_L, gv_L)
    T_ = 60
    rec = simulate(P, algo, T_, P.n, gu, gv, tau_v=tv)
    vals = values(P, rec, T_, P.n, gu, gv, tau_v_=tv)
    b = D.BOUNDS[name]
    lhs = measured_lhs(b, rec, vals)
    rhs = float(b.evaluate(vals, ignore_extra=True))
    assert np.all(lhs <= rhs * (1 + 1e-12)), (lhs, rhs)
    # every prefix T' is a run of length T' too
    for Tp in (1, 5, 20):
        sub = {k: v[:, : Tp + 1] for k, v in rec.items()}
        vp = {**vals, "T": Tp}
        assert np.all(
            measured_lhs(b, sub, vp) <= float(b.evaluate(vp, ignore_extra=True)) * (1 + 1e-12)
        )
    # per-round lemma at every round
    lem = D.LEMMAS[name]
    assert lem.holds_pathwise(0.0, 0.0)
    gap = lemma_eval(lem, rec, vals)
    scale = np.abs(rec["loss"]).max()
    assert np.all(gap <= 1e-12 * scale), gap.max()


@pytest.mark.parametrize(
    "algo, name", [("fedsim", "fedsim_tau1_full"), ("fedalt", "fedalt_tau1_full")]
)
def test_halved_rhs_is_violated_on_a_tight_problem(algo, name):
    """Uncoupled isotropic quadratic: (P1)/(P2) are equalities, so the bound is tight as T grows."""
    P = QuadProblem(n=3, coupling=0.0, iso=True, seed=2)
    gu, gv = 0.5 / P.const["L_u"], 0.5 / P.const["L_v"]
    T_ = 80
    rec = simulate(P, algo, T_, P.n, gu, gv)
    vals = values(P, rec, T_, P.n, gu, gv)
    b = D.BOUNDS[name]
    lhs = float(measured_lhs(b, rec, vals)[0])
    rhs = float(b.evaluate(vals, ignore_extra=True))
    assert lhs <= rhs * (1 + 1e-12)
    assert lhs > 0.99 * rhs  # tight ...
    assert lhs > 0.5 * rhs  # ... so the halved bound fails
    # the per-round lemma is an equality here
    gap = lemma_eval(D.LEMMAS[name], rec, vals)
    np.testing.assert_allclose(gap, 0.0, atol=1e-12 * abs(rec["loss"][0, 0]))


def test_fedsim_needs_the_coupling_factor():
    """Dropping (1 + chi_bar) from fedsim_tau1_full breaks its lemma on a coupled quadratic."""
    P = QuadProblem(n=2, d_u=1, d_v=1, coupling=1.0, seed=5)
    P.H = np.array([[1.0, 0.95], [0.95, 1.0]])
    P.const = dict(L_u=1.0, L_v=1.0, L_uv=0.95, L_vu=0.95)
    P.b = np.array([[1.0, -1.0], [-1.0, 1.0]])
    P.F_low = -10.0
    gu = gv = 0.95 / (1 + 0.95)  # inside gamma < 2/((1 + chi_bar) L)
    T_ = 10
    rec = simulate(P, "fedsim", T_, P.n, gu, gv)
    vals = values(P, rec, T_, P.n, gu, gv)
    lem = D.LEMMAS["fedsim_tau1_full"]
    assert np.all(lemma_eval(lem, rec, vals) <= 1e-12)
    # same inequality with chi_bar = 0 (L_uv = L_vu = 0): violated in some round
    broken = lemma_eval(lem, rec, {**vals, "L_uv": 1e-300, "L_vu": 1e-300})
    assert np.any(broken > 1e-6)


@pytest.mark.parametrize(
    "algo, name", [("fedsim", "fedsim_tau1_full"), ("fedalt", "fedalt_tau1_full")]
)
def test_full_participation_noisy_in_expectation(algo, name):
    P = SinProblem(n=5, d=3, kappa=0.5)
    gu, gv = _steps(P, 0.8, 0.8)
    su, sv = 1.5, 1.0
    T_, B = 40, 600
    rec = simulate(P, algo, T_, P.n, gu, gv, su, sv, B=B, seed=11)
    vals = values(P, rec, T_, P.n, gu, gv, su, sv)
    b = D.BOUNDS[name]
    lhs = measured_lhs(b, rec, vals)
    rhs = float(b.evaluate(vals, ignore_extra=True))
    se = lhs.std(ddof=1) / math.sqrt(B)
    assert lhs.mean() <= rhs + 3 * se, (lhs.mean(), rhs, se)
    # the lemma, averaged over runs at each round (a Monte Carlo check of the unconditional form)
    gap = lemma_eval(D.LEMMAS[name], rec, vals)
    gse = gap.std(0, ddof=1) / math.sqrt(B)
    assert np.all(gap.mean(0) <= 3 * gse + 1e-12)


# ---- partial participation -----------------------------------------------------------------


def enumerate_round(P, algo, u, V, m_, gamma_u_, gamma_v_, tau_v_=1):
    """Exact E over S (all C(n, m) subsets) of F_next and ||grad_u F(u, V^{t+1})||^2 (sigma=0)."""
    subsets = list(itertools.combinations(range(P.n), m_))
    K = len(subsets)
    mask = np.zeros((K, P.n))
    for k, S in enumerate(subsets):
        mask[k, list(S)] = 1.0
    uu = np.broadcast_to(u, (K,) + u.shape[1:]).copy()
    VV = np.broadcast_to(V, (K,) + V.shape[1:]).copy()
    rng = np.random.default_rng(0)
    un, Vn, gnext = one_round(P, algo, uu, VV, mask, gamma_u_, gamma_v_, 0.0, 0.0, rng, tau_v_)
    return P.losses(un, Vn).mean(1).mean(), gnext.mean()


PARTIAL = [
    ("fedsim", "fedsim_tau1_partial", 1),
    ("fedalt", "fedalt_tau1_partial", 1),
    ("fedalt", "fedalt_tauv_partial", 2),
]


def _partial_steps(P, name, m_, frac=0.7):
    """Steps at ``frac`` of the bound's admissible gamma_u and gamma_v (with delta/rho given)."""
    c = P.const
    vals = dict(c, n=P.n, m=m_, tau_v=2, rho=c.get("rho", 0.0), delta=c.get("delta", 0.0))
    d = D.DESCENTS[name]
    gu_cond = [x for x in d.conditions if "gamma_u" in x.label][0].relation.rhs
    sym = {s.name: s for s in gu_cond.free_symbols}
    gu = frac * float(gu_cond.subs({sym[k]: v for k, v in vals.items() if k in sym}))
    gv_cond = [x for x in d.conditions if "gamma_v" in x.label][0].relation.rhs
    vals["gamma_u"] = gu
    sym = {s.name: s for s in gv_cond.free_symbols}
    gv = frac * float(gv_cond.subs({sym[k]: v for k, v in vals.items() if k in sym}))
    return gu, gv


@pytest.mark.parametrize("algo, name, tv", PARTIAL)
@pytest.mark.parametrize("case", ["sin", "quad"])
def test_partial_lemma_exact_expectation_by_enumeration(algo, name, tv, case):
    """The per-round lemma in exact conditional expectation over S_t, along a real trajectory.

    A3 is used only at one point per round ((u^t, V^t) for FedSim, (u^t, V~^{t+1}) for FedAlt),
    so the test uses that point's exact diversity as delta_t^2 (rho = 0): a sharper check than a
    global delta, and valid for the coupled quadratic too.
    """
    P = SinProblem(n=5, d=2, kappa=0.8) if case == "sin" else QuadProblem(n=5, coupling=0.9, seed=3)
    P.const.pop("delta", None)
    m_ = 2
    P.const["delta"], P.const["rho"] = 1.0, 0.0  # for step sizes only (delta unused there)
    gu, gv = _partial_steps(P, name, m_)
    rng = np.random.default_rng(4)
    u, V = P.init(1)
    lem = D.LEMMAS[name]
    gaps = []
    for _ in range(25):
        if algo == "fedsim":
            d2 = diversity(P, u, V)
        else:  # virtual full participation: every device takes its v-steps
            Vt = V
            for _k in range(tv):
                Vt = Vt - gv * P.grads(u, Vt)[1]
            d2 = diversity(P, u, Vt)
        gu_all, gv_all = P.grads(u, V)
        EF, EG = enumerate_round(P, algo, u, V, m_, gu, gv, tv)
        args = dict(
            F_t=P.losses(u, V).mean(),
            F_next=EF,
            Delta_u_t=(gu_all.mean(1) ** 2).sum(),
            Delta_v_t=(gv_all**2).sum(-1).mean(),
            Delta_u_next_V=EG,
            L_u=P.const["L_u"],
            L_v=P.const["L_v"],
            L_uv=P.const["L_uv"],
            L_vu=P.const["L_vu"],
            gamma_u=gu,
            gamma_v=gv,
            sigma_u=0.0,
            sigma_v=0.0,
            n=P.n,
            m=m_,
            delta=math.sqrt(float(d2[0])),
            rho=0.0,
            tau_v=tv,
        )
        args = {k: v for k, v in args.items() if k in lem.required}
        gaps.append(float(lem.lhs_minus_rhs(args)))
        mask = random_masks(rng, 1, P.n, m_)
        u, V, _ = one_round(P, algo, u, V, mask, gu, gv, 0.0, 0.0, rng, tv)
    assert max(gaps) <= 1e-10, max(gaps)


def test_partial_fedsim_needs_the_sampling_variance_term():
    """Without the q delta^2 term (delta = 0) the FedSim partial lemma fails at a stationary
    point: the sampling variance is what moves the iterate there."""
    P = QuadProblem(n=4, coupling=0.0, iso=True, seed=1, spread=3.0)
    # start at the minimiser of F in u with v_i at their personal minimisers: G = 0, g_i = 0
    u = P.b[:, : P.d_u].mean(0, keepdims=True) / 2.0
    V = P.b[None, :, P.d_u :] / 1.0
    gu_all, gv_all = P.grads(u, V)
    assert (gu_all.mean(1) ** 2).sum() < 1e-20 and (gv_all**2).sum() < 1e-20
    m_, g_u, g_v = 1, 0.4, 0.4
    EF, _ = enumerate_round(P, "fedsim", u, V, m_, g_u, g_v)
    lem = D.LEMMAS["fedsim_tau1_partial"]
    base = dict(
        F_t=P.losses(u, V).mean(),
        F_next=EF,
        Delta_u_t=0.0,
        Delta_v_t=0.0,
        L_u=2.0,
        L_v=1.0,
        L_uv=1e-300,
        L_vu=1e-300,
        gamma_u=g_u,
        gamma_v=g_v,
        sigma_u=0.0,
        sigma_v=0.0,
        n=4,
        m=m_,
        rho=0.0,
    )
    d2 = float(diversity(P, u, V)[0])
    assert float(lem.lhs_minus_rhs(base, delta=math.sqrt(d2))) <= 1e-12
    assert float(lem.lhs_minus_rhs(base, delta=0.0)) > 1e-3


@pytest.mark.parametrize("algo, name, tv", PARTIAL)
@pytest.mark.parametrize("noisy", [False, True])
def test_partial_participation_bound_in_expectation(algo, name, tv, noisy):
    P = SinProblem(n=6, d=2, kappa=0.6)
    m_ = 2
    gu, gv = _partial_steps(P, name, m_)
    su, sv = (1.0, 1.0) if noisy else (0.0, 0.0)
    T_, B = 30, 500
    rec = simulate(P, algo, T_, m_, gu, gv, su, sv, B=B, seed=5, tau_v=tv)
    vals = values(P, rec, T_, m_, gu, gv, su, sv, tau_v_=tv)
    b = D.BOUNDS[name]
    lhs = measured_lhs(b, rec, vals)
    rhs = float(b.evaluate(vals, ignore_extra=True))
    se = lhs.std(ddof=1) / math.sqrt(B)
    assert lhs.mean() <= rhs + 3 * se, (lhs.mean(), rhs, se)
    gap = lemma_eval(D.LEMMAS[name], rec, vals)
    gse = gap.std(0, ddof=1) / math.sqrt(B)
    assert np.all(gap.mean(0) <= 3 * gse + 1e-12)
    # a step size above the condition is refused
    with pytest.raises(ValueError, match="condition"):
        b.evaluate({**vals, "gamma_u": 10 * gu}, ignore_extra=True)
