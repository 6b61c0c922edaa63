"""Limits of Split LBI (docs/derivations/split_lbi_kl.md, section 7).

- (K15), derived, exact: ``W/kappa + Z`` moves by ``-alpha grad L(W)``, whatever ``nu``.
- (K16), nu -> 0 (recalled: "Split LBI reduces to LBI", docs/references.md#fu2020-iss; the
  damping kappa/2 derived): with ``alpha = r nu / kappa`` the path in ``t = k alpha`` tends to
  LBI on L itself with damping ``kappa/2``; with damping ``kappa`` it does not.
- (K17), kappa -> infinity with ``kappa alpha`` fixed (the inverse scale space, recalled): the
  entry times ``k_j alpha`` tend to ``t_j = (1 + h_j nu)/(h_j |c_j|)`` at rate ``1/kappa``.
"""

from __future__ import annotations

import numpy as np

from partialfed import simulators
from partialfed.simulators.split_lbi import shrink

RNG = np.random.default_rng(0)
_A = RNG.normal(size=(4, 4))
H = _A @ _A.T / 4 + 0.3 * np.eye(4)
C = np.array([1.0, -0.7, 0.0, 0.4])


def quad(w):
    r = w - C
    return 0.5 * float(r @ H @ r), H @ r


def lbi(damping, alpha, iters):
    """LBI on L itself (eq. (K16)): ``Y <- Y - alpha grad L(Gamma)``,
    ``Gamma = damping shrink(Y)``; every iterate of Gamma."""
    Y, G, out = np.zeros(4), np.zeros(4), [np.zeros(4)]
    for _ in range(iters):
        Y = Y - alpha * quad(G)[1]
        G = damping * shrink(Y)
        out.append(G)
    return np.array(out)


def test_dual_sum_identity_is_exact():
    kw = dict(kappa=3.0, alpha=0.04, nu=0.7, iters=200)
    p = simulators.split_lbi(quad, np.array([0.3, 0.0, -0.2, 0.1]), **kw)
    Y = p.W / kw["kappa"] + p.Z
    grads = np.array([quad(w)[1] for w in p.W[:-1]])
    np.testing.assert_allclose(Y[1:], Y[:-1] - kw["alpha"] * grads, rtol=0, atol=1e-13)
    # Drop the 1/kappa and the cancellation fails: the identity is not vacuous.
    assert np.max(np.abs((p.W + p.Z)[1:] - (p.W + p.Z)[:-1] + kw["alpha"] * grads)) > 1e-3


def test_nu_to_zero_tends_to_lbi_with_half_the_damping():
    kappa, T, r = 4.0, 6.0, 0.5
    errors, naive = [], []
    for nu in (0.1, 0.01):
        alpha = r * nu / kappa
        K = int(round(T / alpha))
        p = simulators.split_lbi(quad, np.zeros(4), kappa=kappa, alpha=alpha, nu=nu, iters=K)
        errors.append(np.max(np.abs(p.Gamma - lbi(kappa / 2, alpha, K))))
        naive.append(np.max(np.abs(p.Gamma - lbi(kappa, alpha, K))))
        assert np.max(np.abs(p.W - p.Gamma)) < 10 * nu  # Gamma tracks W
    assert errors[1] < errors[0] / 4  # measured 0.29 -> 0.05
    assert min(naive) > 0.2  # damping kappa is not the limit


def test_kappa_to_infinity_entry_times_tend_to_the_inverse_scale_space():
    h = np.array([1.0, 2.0, 0.5])
    c = np.array([2.0, -1.0, 0.8])
    nu, eta = 1.0, 0.2

    def sq(w):
        r = w - c
        return 0.5 * float(h @ r**2), h * r

    t_iss = (1 + h * nu) / (h * np.abs(c))  # eq. (K17): [1, 1.5, 3.75]
    errs = []
    for kappa in (10.0, 100.0):
        alpha = eta / kappa
        K = int(np.ceil(1.2 * t_iss.max() / alpha))
        p = simulators.split_lbi(
            sq, np.zeros(3), kappa=kappa, alpha=alpha, nu=nu, iters=K, record_every=K
        )
        assert np.all(p.entry > 0)
        errs.append(np.max(np.abs(p.entry * alpha - t_iss)))
        assert errs[-1] < 1.0 / kappa
    assert errs[1] < errs[0] / 5  # rate 1/kappa (measured 0.07 -> 0.008)
