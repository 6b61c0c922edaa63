"""Classic nonconvex rates with explicit constants: GD/SGD, tight GD, FedSGD, local SGD.

These are the anchors of the toolkit: bounds without free constants (``sgd_nonconvex``,
``gd_tight``, ``fedsgd_partial``) can be checked strictly against simulation (measured <=
bound), which validates the measurement harness before any FedAlt/FedSim comparison.

Notation follows ``theory.symbols``: ``gamma`` step size, ``L`` smoothness, ``sigma^2`` variance
bound of the stochastic gradient, ``Delta_F0 = f(x_0) - f*``, ``T`` iterations (rounds), ``n``
clients, ``m`` sampled per round (without replacement), ``zeta^2`` uniform gradient
dissimilarity, ``tau`` local steps.
"""

from __future__ import annotations

import sympy as sp

from partialfed.theory.bound import Bound, Condition, Measured, Term, Uses, Where
from partialfed.theory.settings import declare
from partialfed.theory.symbols import (
    Delta_F0,
    Delta_FT,
    L,
    T,
    c_1,
    c_2,
    c_3,
    c_4,
    gamma,
    m,
    n,
    sigma,
    tau,
    zeta,
)

__all__ = [
    "SGD_NONCONVEX",
    "GD_TIGHT",
    "GD_DESCENT_LEMMA",
    "FEDSGD_PARTIAL",
    "LOCAL_SGD_CANONICAL",
    "sampling_variance_factor",
    "BOUNDS",
]

_ITER = Where.ITERATES
_SEGMENT = "descent lemma on the segment [x_t, x_{t+1}] of consecutive iterates"
_F_LOW = Uses("F_low", _ITER, "f(x_T) >= inf f when the descent inequalities are telescoped")

_MEAN_GRAD = Measured(
    (Term("grad_sq", sp.Integer(1), "(x_t)"),),
    aggregate="mean",
    over="t = 0..T-1",
    description="average over t = 0..T-1 of E||grad f(x_t)||^2",
)

SGD_NONCONVEX = Bound(
    name="sgd_nonconvex",
    rhs=2 * Delta_F0 / (gamma * T) + L * gamma * sigma**2,
    lhs=_MEAN_GRAD,
    conditions=(Condition("gamma <= 1/L", sp.Le(gamma, 1 / L)),),
    source=(
        "Standard nonconvex SGD rate (cf. Ghadimi & Lan, SIAM J. Optim. 2013; "
        "docs/references.md#ghadimi2013); constant "
        "re-derived in theory/classic.py and docs/theory.md"
    ),
    provenance="derived",
    algorithm="sgd",
    notes=(
        "SGD x_{t+1} = x_t - gamma g_t, E[g_t] = grad f(x_t), E||g_t - grad f(x_t)||^2 <= "
        "sigma^2, f L-smooth, Delta_F0 = f(x_0) - inf f. sigma = 0 gives gradient descent."
    ),
    uses=(
        Uses("L", _ITER, _SEGMENT + " (derivation below)"),
        Uses("sigma", _ITER, "E||g_t - grad f(x_t)||^2 <= sigma^2 at the query point x_t"),
        _F_LOW,
    ),
)
"""Nonconvex SGD: ``(1/T) sum_{t<T} E||grad f(x_t)||^2 <= 2 Delta_F0/(gamma T) + L gamma sigma^2``.

Derivation (``gamma <= 1/L``). L-smoothness gives the descent lemma
``f(x_{t+1}) <= f(x_t) - gamma <grad f(x_t), g_t> + (L gamma^2/2) ||g_t||^2``. Taking the
conditional expectation, ``E<grad f, g_t> = ||grad f||^2`` and ``E||g_t||^2 = ||grad f||^2 +
E||g_t - grad f||^2 <= ||grad f||^2 + sigma^2``, so
``E f(x_{t+1}) <= f(x_t) - gamma (1 - L gamma/2) ||grad f(x_t)||^2 + L gamma^2 sigma^2/2``.
For ``gamma <= 1/L``, ``1 - L gamma/2 >= 1/2``. Summing over ``t = 0..T-1`` and using
``f(x_T) >= inf f`` gives ``(gamma/2) sum_t E||grad f(x_t)||^2 <= Delta_F0 + T L gamma^2
sigma^2/2``; divide by ``gamma T/2``.
"""

GD_DESCENT_LEMMA = Bound(
    name="gd_descent_lemma",
    rhs=2 * L * Delta_FT / T,
    lhs=Measured(
        (Term("grad_sq", sp.Integer(1), "(x_t)"),),
        aggregate="min",
        over="t = 0..T-1",
        expectation=False,
        description="min over t = 0..T-1 of ||grad f(x_t)||^2 along gradient descent",
    ),
    conditions=(Condition("gamma = 1/L", sp.Eq(gamma, 1 / L)),),
    source=(
        "Descent lemma for gradient descent with step 1/L (textbook; re-derived here; "
        "docs/references.md#descent-lemma)"
    ),
    provenance="derived",
    algorithm="gd",
    notes="Delta_FT = f(x_0) - f(x_T) is measured on the run. Weaker than gd_tight.",
    uses=(Uses("L", _ITER, _SEGMENT),),
)
"""Textbook GD bound ``min_{t<T} ||grad f(x_t)||^2 <= 2 L (f(x_0) - f(x_T))/T`` (step 1/L).

From ``f(x_{t+1}) <= f(x_t) - ||grad f(x_t)||^2/(2L)`` summed over ``t = 0..T-1``.
"""

GD_TIGHT = Bound(
    name="gd_tight",
    rhs=sp.Rational(4, 3) * L * Delta_FT / T,
    lhs=Measured(
        (Term("grad_sq", sp.Integer(1), "(x_t)"),),
        aggregate="min",
        over="t = 0..T",
        expectation=False,
        description="min over t = 0..T of ||grad f(x_t)||^2 along gradient descent",
    ),
    conditions=(Condition("gamma = 1/L", sp.Eq(gamma, 1 / L)),),
    source=(
        "Performance-estimation (PEP) literature: Drori & Teboulle, Math. Program. 2014; "
        "Taylor, Hendrickx & Glineur, Math. Program. 2017 (smooth interpolation); "
        "Abbaszadehpeivasti, de Klerk & Zamani, exact worst-case rate of the gradient method "
        "with fixed step lengths for L-smooth functions (citations not checked here); "
        "constant re-derived in theory/classic.py (docs/references.md#pep-gradient-descent)"
    ),
    provenance="derived",
    algorithm="gd",
    notes=(
        "Delta_FT = f(x_0) - f(x_T) is measured on the run; T steps, T+1 iterates. The PEP "
        "literature reports 4/3 as the exact worst case for step 1/L (not checked here)."
    ),
    uses=(
        Uses(
            "L",
            Where.EVERYWHERE,
            "interpolation inequality of the convex, 2L-smooth h = f + (L/2)||x||^2 at "
            "(x_t, x_{t+1}): its proof evaluates grad h off the segment, so it needs L-smoothness "
            "of f everywhere (derivation below)",
        ),
    ),
)
"""Tight GD constant: ``min_{0<=t<=T} ||grad f(x_t)||^2 <= (4/3) (L/T) (f(x_0) - f(x_T))``.

Gradient descent ``x_{t+1} = x_t - g_t/L`` (``g_t = grad f(x_t)``) on an L-smooth, possibly
nonconvex f.

Derivation (re-derived here). ``h(x) = f(x) + (L/2)||x||^2`` is convex and ``2L``-smooth
(its Hessian, where it exists, lies between 0 and 2L), so for all x, y
``h(x) >= h(y) + <grad h(y), x - y> + ||grad h(x) - grad h(y)||^2/(4L)``. Written for f this is
the smooth-nonconvex interpolation inequality of Taylor, Hendrickx & Glineur:

``f(x) >= f(y) + <g_y, x - y> + ||g_x - g_y||^2/(4L) - (L/4)||x - y||^2 + <g_x - g_y, x - y>/2``.

Take ``x = x_t``, ``y = x_{t+1}``, so ``x - y = g_t/L``. Then
``<g_{t+1}, g_t>/L + ||g_t - g_{t+1}||^2/(4L) - ||g_t||^2/(4L) + <g_t - g_{t+1}, g_t>/(2L)``
simplifies to ``(||g_t||^2/2 + ||g_{t+1}||^2/4)/L``, i.e.

``f(x_t) - f(x_{t+1}) >= (||g_t||^2/2 + ||g_{t+1}||^2/4)/L``.

Summing over ``t = 0..T-1``: ``f(x_0) - f(x_T) >= (1/L)[(1/2) sum_{t<T} ||g_t||^2 + (1/4)
sum_{1<=t<=T} ||g_t||^2] >= (3T/(4L)) min_{0<=t<=T} ||g_t||^2``. The descent lemma alone gives
2 instead of 4/3 (:data:`GD_DESCENT_LEMMA`). On a linear function (any L) the ratio of the
left side to the bound is 3/4, so halving the bound makes it false.
"""


def sampling_variance_factor(n_clients, m_sampled):
    """Without-replacement variance factor ``(n - m)/(m (n - 1))`` (exact; 0 when ``m = n``).

    The variance of the mean of ``m`` of ``n`` vectors ``a_i`` drawn uniformly without
    replacement is ``(n - m)/(m (n - 1)) * (1/n) sum_i ||a_i - a_bar||^2``.

    Parameters
    ----------
    n_clients, m_sampled : int or array-like

    Returns
    -------
    float or numpy.ndarray
    """
    import numpy as np

    nn = np.asarray(n_clients, dtype=float)
    mm = np.asarray(m_sampled, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(mm >= nn, 0.0, (nn - mm) / (mm * (nn - 1)))
    return out if out.ndim else float(out)


FEDSGD_PARTIAL = Bound(
    name="fedsgd_partial",
    rhs=2 * Delta_F0 / (gamma * T) + L * gamma * (sigma**2 / m + (n - m) / (m * (n - 1)) * zeta**2),
    lhs=_MEAN_GRAD,
    conditions=(
        Condition("gamma <= 1/L", sp.Le(gamma, 1 / L)),
        Condition("m <= n", sp.Le(m, n)),
        Condition("n >= 2", sp.Ge(n, 2)),
    ),
    source=(
        "FedSGD anchor, K = 1, partial participation (docs/references.md#fedsgd-anchor); "
        "re-derived in docs/theory.md and theory/classic.py"
    ),
    provenance="derived",
    algorithm="fedsgd",
    notes=(
        "x_{t+1} = x_t - gamma (1/m) sum_{i in S_t} g_i, S_t uniform without replacement, "
        "client noise independent with E||g_i - grad f_i||^2 <= sigma^2, "
        "(1/n) sum_i ||grad f_i - grad f||^2 <= zeta^2. m = n removes the sampling term."
    ),
    uses=(
        Uses("L", _ITER, _SEGMENT + " (docs/theory.md)"),
        Uses("sigma", _ITER, "client noise at the query point x_t, averaged over S_t (P4)"),
        Uses(
            "zeta",
            _ITER,
            "(1/n) sum_i ||grad f_i(x_t) - grad f(x_t)||^2 <= zeta^2 at x_t: the "
            "without-replacement variance of the sampled mean (P3)",
        ),
        _F_LOW,
    ),
)
"""FedSGD with partial participation (one local step; docs/references.md#fedsgd-anchor), re-derived:

``(1/T) sum_{t<T} E||grad f(x_t)||^2 <= 2 Delta_F0/(gamma T) + L gamma [sigma^2/m +
(n - m)/(m (n - 1)) zeta^2]`` for ``gamma <= 1/L``.

Derivation: the update direction ``G_t = (1/m) sum_{i in S_t} g_i`` is unbiased (uniform
sampling, unbiased noise), and ``E||G_t - grad f||^2 = E||(1/m) sum_{S_t}(grad f_i - grad f)||^2
+ E||(1/m) sum_{S_t} xi_i||^2`` (cross term zero: the noise has mean zero given ``S_t``). The
first is the without-replacement variance ``(n - m)/(m (n - 1)) (1/n) sum_i ||grad f_i -
grad f||^2 <= (n - m)/(m (n - 1)) zeta^2``; the second is at most ``sigma^2/m`` (independent
noise). Then the :data:`SGD_NONCONVEX` argument with this variance. See docs/theory.md.
"""

LOCAL_SGD_CANONICAL = Bound(
    name="local_sgd_canonical",
    rhs=c_1 * sp.sqrt(L * Delta_F0 * sigma**2 / (n * tau * T))
    + c_2 * (L * Delta_F0 * zeta / T) ** sp.Rational(2, 3)
    + c_3 * (L * Delta_F0 * sigma / (sp.sqrt(tau) * T)) ** sp.Rational(2, 3)
    + c_4 * L * Delta_F0 / T,
    lhs=Measured(
        (Term("grad_sq", sp.Integer(1), "(xbar_{t,k})"),),
        aggregate="mean",
        over="t = 0..T-1, k = 0..tau-1",
        description="average over rounds and local steps of E||grad f(x_bar)||^2 (mean iterate)",
    ),
    conditions=(
        Condition("full participation (all n clients every round)"),
        Condition("step size tuned to T (not stated)"),
    ),
    source=(
        "Koloskova et al., ICML 2020 (arXiv 2003.10422), nonconvex rate inverted for local SGD, "
        "as recalled, unverified (docs/references.md#koloskova2020)"
    ),
    provenance="reconstructed",
    algorithm="local_sgd",
    notes=(
        "Exponent template only: tau local steps, T rounds (K and R in "
        "docs/references.md#fedavg-theory). Recalled, "
        "not checked against the paper; c_1..c_4 unknown. Exponents in T: -1/2, -2/3, -2/3, -1."
    ),
    uses=tuple(
        Uses(c, Where.EVERYWHERE, "recalled theorem; its assumptions are stated for all x")
        for c in ("L", "sigma", "zeta", "F_low")
    ),
)
"""Canonical local-SGD nonconvex rate (exponent template with free constants ``c_1..c_4``).

``c_1 sqrt(L D sigma^2/(n tau T)) + c_2 (L D zeta/T)^{2/3} + c_3 (L D sigma/(sqrt(tau) T))^{2/3}
+ c_4 L D/T`` with ``D = Delta_F0`` (recalled, unverified; docs/references.md#koloskova2020).
"""

BOUNDS: dict[str, Bound] = declare(
    {
        b.name: b
        for b in (SGD_NONCONVEX, GD_DESCENT_LEMMA, GD_TIGHT, FEDSGD_PARTIAL, LOCAL_SGD_CANONICAL)
    }
)
# the module's names are the registered bounds, with their settings (theory/settings.py)
SGD_NONCONVEX, GD_DESCENT_LEMMA, GD_TIGHT, FEDSGD_PARTIAL, LOCAL_SGD_CANONICAL = (
    BOUNDS[b.name]
    for b in (SGD_NONCONVEX, GD_DESCENT_LEMMA, GD_TIGHT, FEDSGD_PARTIAL, LOCAL_SGD_CANONICAL)
)
"""Bounds of this module, by name."""
