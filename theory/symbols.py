"""Every sympy symbol of the ``theory`` package, defined once, with its assumptions.

The ASCII names follow the papers' notation (docs/architecture.md#names), so that values flow
between configs, simulators and bounds as ``**kwargs`` without translation tables. Each symbol
carries the sympy assumptions that hold for it:

* ``positive=True`` for counts, step sizes, smoothness constants, gaps and absolute constants;
* ``nonnegative=True`` for the noise/heterogeneity levels ``sigma``, ``sigma_u``, ``sigma_v``,
  ``delta``, ``rho``, ``chi``, ``delta_prime``, ``rho_prime``, ``kappa`` (and the peers'
  analogues), which may be zero;
* no sign for ``F_low`` (a lower bound on the objective may be negative).

Counts (``n, m, T, tau, tau_u, tau_v, ...``) are declared ``integer=True`` as well; numeric
evaluation still accepts real (even array-valued) ``T`` for plotting.

``SYMBOLS`` maps each name to its symbol; ``DESCRIPTIONS`` gives a one-line meaning per name;
``FREE_CONSTANTS`` is the set of unknown absolute constants (``c_0 .. c_9``) and unrecovered
linear-combination coefficients (``a_alt_u`` ...).
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "SYMBOLS",
    "DESCRIPTIONS",
    "FREE_CONSTANTS",
    "POSITIVE",
    "NONNEGATIVE",
    "symbol",
]

_SPECS: list[tuple[str, dict, str]] = []


def _sym(name: str, description: str, **assumptions) -> sp.Symbol:
    _SPECS.append((name, assumptions, description))
    return sp.Symbol(name, **assumptions)


_POS = {"positive": True}
_POS_INT = {"positive": True, "integer": True}
_NONNEG = {"nonnegative": True}
_REAL = {"real": True}

# --- Pillutla et al. 2022, setup and A0-A3 (docs/references.md#pillutla2022-setup) ---------
n = _sym("n", "number of devices (clients)", **_POS_INT)
m = _sym("m", "devices sampled per round, uniformly without replacement (1 <= m <= n)", **_POS_INT)
T = _sym("T", "number of rounds (or iterations for single-machine methods)", **_POS_INT)
tau = _sym("tau", "local steps per round (FedSim, local SGD, Per-FedAvg)", **_POS_INT)
tau_u = _sym("tau_u", "FedAlt local steps on the shared parameters u", **_POS_INT)
tau_v = _sym("tau_v", "FedAlt local steps on the personal parameters v_i", **_POS_INT)
gamma = _sym("gamma", "step size (single-block methods)", **_POS)
gamma_u = _sym("gamma_u", "step size on u", **_POS)
gamma_v = _sym("gamma_v", "step size on v_i", **_POS)
eta = _sym(
    "eta", "normalised step size: gamma_u = eta/(L_u tau_u), gamma_v = eta/(L_v tau_v)", **_POS
)
eta_max = _sym(
    "eta_max", "largest admissible eta (Pillutla et al. appendix; not recovered)", **_POS
)
L = _sym("L", "smoothness constant (single-block methods)", **_POS)
L_u = _sym("L_u", "Lipschitz constant of grad_u F_i in u", **_POS)
L_v = _sym("L_v", "Lipschitz constant of grad_v F_i in v_i", **_POS)
L_uv = _sym("L_uv", "Lipschitz constant of grad_u F_i in v_i", **_NONNEG)
L_vu = _sym("L_vu", "Lipschitz constant of grad_v F_i in u", **_NONNEG)
chi = _sym("chi", "cross-dependence max(L_uv, L_vu)/sqrt(L_u L_v)", **_NONNEG)
sigma = _sym("sigma", "stochastic-gradient standard deviation (single block)", **_NONNEG)
sigma_u = _sym("sigma_u", "stochastic-gradient standard deviation of the u-block", **_NONNEG)
sigma_v = _sym("sigma_v", "stochastic-gradient standard deviation of the v-block", **_NONNEG)
delta = _sym("delta", "gradient diversity of grad_u F_i across devices", **_NONNEG)
rho = _sym("rho", "multiplicative gradient-diversity term (Pillutla et al., unverified)", **_NONNEG)
delta_prime = _sym(
    "delta_prime",
    "additive diversity constant of A3', which also carries kappa^2 Delta_v (for all (u, V))",
    **_NONNEG,
)
rho_prime = _sym("rho_prime", "multiplicative diversity constant of A3'", **_NONNEG)
kappa = _sym(
    "kappa",
    "A3' weight of (1/n) sum_i ||grad_v F_i||^2 in the diversity bound (docs/derivations/"
    "diversity_global.md)",
    **_NONNEG,
)
F_low = _sym("F_low", "lower bound on F (F* = inf F >= F_low)", **_REAL)
Delta_F0 = _sym("Delta_F0", "initial gap F(u^0, V^0) - F* (or f(x_0) - f*)", **_POS)
w_v = _sym("w_v", "weight on the Delta_v term of the left-hand side: m/n or 1", **_POS)

# --- single-machine / FedAvg baselines (docs/references.md#fedavg-theory) ----------------------
zeta = _sym(
    "zeta",
    "uniform gradient dissimilarity: (1/n) sum_i ||grad f_i - grad f||^2 <= zeta^2",
    **_NONNEG,
)
Delta_FT = _sym("Delta_FT", "measured decrease f(x_0) - f(x_T) of a gradient-descent run", **_POS)

# --- Fallah, Mokhtari, Ozdaglar 2020, Per-FedAvg (docs/references.md#fallah2020) ---------------
alpha = _sym("alpha", "Per-FedAvg inner (adaptation) step size", **_POS)
beta = _sym("beta", "Per-FedAvg outer step size", **_POS)
B = _sym("B", "Per-FedAvg bound on the gradient norm ||grad f_i|| <= B", **_POS)
rho_H = _sym("rho_H", "Per-FedAvg Hessian Lipschitz constant (the paper's rho)", **_NONNEG)
sigma_G = _sym("sigma_G", "Per-FedAvg per-sample gradient noise standard deviation", **_NONNEG)
sigma_H = _sym("sigma_H", "Per-FedAvg per-sample Hessian noise standard deviation", **_NONNEG)
gamma_G = _sym("gamma_G", "Per-FedAvg gradient dissimilarity", **_NONNEG)
gamma_H = _sym("gamma_H", "Per-FedAvg Hessian dissimilarity", **_NONNEG)
D_in = _sym("D_in", "Per-FedAvg batch size of the inner gradient", **_POS_INT)
D_o = _sym("D_o", "Per-FedAvg batch size of the outer gradient", **_POS_INT)
D_h = _sym("D_h", "Per-FedAvg batch size of the Hessian estimate", **_POS_INT)
r = _sym("r", "Per-FedAvg participation fraction (r n agents per round)", **_POS)
K = _sym("K", "Per-FedAvg number of rounds", **_POS_INT)
L_F = _sym("L_F", "smoothness constant of the Per-FedAvg meta-objective F_i", **_POS)
sigma_F = _sym("sigma_F", "variance bound (std) of the Per-FedAvg estimator of grad F_i", **_NONNEG)
gamma_F = _sym("gamma_F", "dissimilarity of the Per-FedAvg meta-gradients grad F_i", **_NONNEG)

# --- unknown absolute constants and unrecovered coefficients ------------------------------
c_0, c_1, c_2, c_3, c_4, c_5, c_6, c_7, c_8, c_9 = (
    _sym(f"c_{k}", f"unknown absolute constant c_{k}", **_POS) for k in range(10)
)
a_alt_u = _sym(
    "a_alt_u", "coefficient of sigma_u^2/L_u in sigma^2_{alt,2} (not recovered)", **_NONNEG
)
a_alt_v = _sym(
    "a_alt_v", "coefficient of sigma_v^2/L_v in sigma^2_{alt,2} (not recovered)", **_NONNEG
)
a_alt_d = _sym(
    "a_alt_d", "coefficient of delta^2/L_u in sigma^2_{alt,2} (not recovered)", **_NONNEG
)
a_sim_u = _sym(
    "a_sim_u", "coefficient of sigma_u^2/L_u in sigma^2_{sim,2} (not recovered)", **_NONNEG
)
a_sim_v = _sym(
    "a_sim_v", "coefficient of sigma_v^2/L_v in sigma^2_{sim,2} (not recovered)", **_NONNEG
)
a_sim_d = _sym(
    "a_sim_d", "coefficient of delta^2/L_u in sigma^2_{sim,2} (not recovered)", **_NONNEG
)

SYMBOLS: dict[str, sp.Symbol] = {name: sp.Symbol(name, **a) for name, a, _ in _SPECS}
"""Name -> sympy Symbol, for every symbol of the package."""

DESCRIPTIONS: dict[str, str] = {name: d for name, _, d in _SPECS}
"""Name -> one-line meaning."""

FREE_CONSTANTS: frozenset[sp.Symbol] = frozenset(
    s for name, s in SYMBOLS.items() if name.startswith(("c_", "a_alt_", "a_sim_"))
)
"""Unknown absolute constants and unrecovered coefficients (must be given or fitted)."""

POSITIVE: frozenset[str] = frozenset(name for name, s in SYMBOLS.items() if s.is_positive)
"""Names whose values must be > 0."""

NONNEGATIVE: frozenset[str] = frozenset(
    name for name, s in SYMBOLS.items() if s.is_nonnegative and not s.is_positive
)
"""Names whose values must be >= 0 (and may be 0)."""


__all__ += list(SYMBOLS)  # every symbol is importable by its ASCII name


def symbol(name: str) -> sp.Symbol:
    """Return the symbol called ``name``.

    Parameters
    ----------
    name : str
        ASCII name, e.g. ``"sigma_u"``.

    Returns
    -------
    sympy.Symbol

    Raises
    ------
    ValueError
        If no such symbol exists; the message suggests close names.
    """
    try:
        return SYMBOLS[name]
    except KeyError:
        from partialfed._constraints import suggest

        raise ValueError(f"Unknown symbol {name!r}.{suggest(name, SYMBOLS)}") from None
