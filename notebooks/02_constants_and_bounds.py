# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Constants and bounds: what the theory knows, and how we check it
#
# A convergence theorem is a promise of the form *measured quantity $\le$ formula in some
# constants*. To check one against a simulation we need
#
# 1. problems whose constants we know (here: exactly),
# 2. the formula as data, with a record of where it comes from and of what is **not** known,
# 3. a check that can *fail*.
#
# This notebook walks through the three.
#
# **Size.** Set `PARTIALFED_NOTEBOOK_SIZE=full` before starting Jupyter for more rounds and seeds.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Math, display
from matplotlib.ticker import NullFormatter

from partialfed import synthetic, theory
from partialfed.experiments.cell import Cell
from partialfed.experiments.checks import Check, strict_check
from partialfed.experiments.plots import STYLE
from partialfed.experiments.steps import MaxStep

# %matplotlib inline
plt.rcParams.update(STYLE)

SMOKE = os.environ.get("PARTIALFED_NOTEBOOK_SIZE", "smoke") == "smoke"
SIZE = (
    dict(T=100, seeds=(0, 1, 2, 3), horizons=(5, 10, 20, 50, 100, 200))
    if SMOKE
    else dict(T=1000, seeds=tuple(range(12)), horizons=(5, 10, 20, 50, 100, 200, 500, 1000, 2000))
)
print(SIZE)

# %% [markdown]
# ## 1. The constants of the assumptions
#
# The theory of Pillutla et al. (2022) assumes, for every device $i$:
#
# * **Smoothness (A1).** $\nabla_u F_i$ is $L_u$-Lipschitz in $u$ and $L_{uv}$-Lipschitz in
#   $v_i$; $\nabla_v F_i$ is $L_v$-Lipschitz in $v_i$ and $L_{vu}$-Lipschitz in $u$. So $L_u$
#   and $L_v$ are the curvatures of each block, and $L_{uv}, L_{vu}$ say how much moving one
#   block changes the gradient of the other. Their dimensionless summary is the **coupling**
#   $$\chi = \frac{\max(L_{uv}, L_{vu})}{\sqrt{L_u L_v}}.$$
#   $\chi = 0$: the blocks do not interact; larger $\chi$: stronger interaction.
# * **Bounded variance (A2).** The stochastic gradients are unbiased with
#   $\mathbb{E}\|g_u - \nabla_u F_i\|^2 \le \sigma_u^2$ and
#   $\mathbb{E}\|g_v - \nabla_v F_i\|^2 \le \sigma_v^2$: noise *within* a device.
# * **Gradient diversity (A3).** $\frac1n \sum_i \|\nabla_u F_i(u, v_i) - \nabla_u F(u, V)\|^2
#   \le \delta^2 + \rho^2 \|\nabla_u F(u, V)\|^2$: how different the devices are, seen
#   through the shared block only (there is no such assumption on $v$: each $v_i$ is private).
# * **Lower bound (A0).** $F \ge F_{\mathrm{low}}$.
#
# The package keeps a one-line meaning for each symbol:

# %%
for name in ("L_u", "L_v", "L_uv", "L_vu", "chi", "sigma_u", "sigma_v", "delta", "rho", "F_low"):
    print(f"{name:8s} {theory.DESCRIPTIONS[name]}")

# %% [markdown]
# ## 2. Knobs move constants
#
# A synthetic family has *knobs*. For the block quadratic they are chosen so that each
# constant is set by one knob and known exactly. The knobs and their defaults:

# %%
print(synthetic.knobs_of("quadratic"))

# %% [markdown]
# Turn one knob at a time and watch the constants. Note that `chi` stays fixed when `L_u`
# grows: the cross constants $L_{uv} = L_{vu} = \chi\sqrt{L_u L_v}$ grow with it.

# %%
base = dict(n=10, d_u=3, d_v=2, chi=0.5, delta=1.0, noise_u=0.1, noise_v=0.1, seed=0)
changes = {
    "baseline": {},
    "L_u=4": dict(L_u=4.0),
    "chi=0.9": dict(chi=0.9),
    "delta=3": dict(delta=3.0),
    "noise_v=1": dict(noise_v=1.0),
}
table = {k: synthetic.make("quadratic", **{**base, **v}).constants for k, v in changes.items()}
pd.DataFrame({k: c.as_dict() for k, c in table.items()}).T.round(3)

# %% [markdown]
# Each value also says *how* it is known: `exact` (the supremum itself), `certified` (a proven
# bound), `local` (exact or certified on a documented region) or `estimate` (measured).
# For this quadratic with $\chi > 0$, $\delta$ is `local`: it is exact at the personal optima,
# and the notes say what holds elsewhere.

# %%
p = synthetic.make("quadratic", **base)
print(dict(p.constants.kind))
print(p.constants.notes.get("delta", "(no note)"))

# %% [markdown]
# ## 3. A bound is data
#
# The theorem for FedAlt, as the package stores it. Read the parts of the `repr`: the name,
# the **provenance** in brackets, the measured left-hand side, the right-hand side,
# the conditions, the **free constants** and the source.

# %%
b = theory.get_bound("fedalt_main")
print(repr(b))
display(Math(b.latex()))

# %% [markdown]
# The paper's appendix with the exact constants was not available to us. So the
# absolute constants $c_1, c_2, c_3$ and the coefficients $a_{\mathrm{alt},\cdot}$ of the
# $T^{-2/3}$ term stay **symbols**, never silently chosen numbers. A bound with free constants
# cannot be evaluated to a number, and the package refuses rather than guessing:

# %%
print("free constants:", sorted(s.name for s in b.free_constants))
try:
    b.evaluate(p.constants.as_dict(), n=10, m=5, T=100, Delta_F0=1.0, ignore_extra=True)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# What such a bound *can* be checked on is its shape: the exponents of $T$ (done by
# `experiments.checks.exponent_check`) and comparisons between algorithms (notebook 3).
# An exponent check names the term that leads (here `noise`, `drift` or `descent`); theory's
# exponent is computed from that term with the study's step size substituted, and the verdict
# is an equivalence test: *agrees* only when the whole 95% interval of the fitted slope lies
# within ±0.05 of it, *contradicts* when the interval excludes it, *inconclusive* otherwise.
# Fitting the free constants to measurements gives a *fit*, not a bound.
#
# **Provenance** says how far to trust a bound:
#
# * `verified`: stated in the paper or the authors' slides;
# * `reconstructed`: consistent with verified facts, but not the paper's text (for example,
#   the $T^{-1/2}$ variance terms of the FedAlt and FedSim theorems, rebuilt so that they
#   reproduce the verified comparison of slide 40);
# * `derived`: proved in this project (the proof is in `docs/derivations/`).
#
# All registered bounds. None of them is `verified` as a whole: what is verified about FedAlt
# and FedSim is their comparison on slide 40 (`theory.BOXED_CONDITION`, notebook 3) and the
# *shape* of their rates.

# %%
rows = [
    dict(name=k, provenance=b.provenance, algorithm=b.algorithm, free_consts=b.has_free_constants)
    for k, b in theory.BOUNDS.items()
]
pd.DataFrame(rows).set_index("name")

# %% [markdown]
# ## 4. A derived bound, evaluated
#
# `fedalt_tau1_full` is FedAlt with one local step per block ($\tau_u = \tau_v = 1$) and full
# participation ($m = n$), proved in this project. It has **no** free constants, so it
# evaluates to a number. Its left-hand side weights the two gradient norms by the step sizes.

# %%
d = theory.get_bound("fedalt_tau1_full")
print(d.describe())
display(Math(d.latex()))

# %% [markdown]
# Evaluate it on our quadratic for a few horizons $T$ (arrays broadcast). The first term,
# $\Delta F_0 / T$, is optimisation; the others are the noise floor of a fixed step.

# %%
run = dict(n=p.n, gamma_u=0.5, gamma_v=0.5, Delta_F0=5.0)
Ts = np.array([10, 100, 1000, 10000])
values = d.evaluate(p.constants.as_dict(), T=Ts, **run, ignore_extra=True)
pd.Series(values, index=pd.Index(Ts, name="T"), name="bound")

# %% [markdown]
# The conditions are checked on every evaluation; outside them the bound says nothing:

# %%
try:
    d.evaluate(p.constants.as_dict(), T=100, **{**run, "gamma_u": 2.5}, ignore_extra=True)
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 5. A strict check, and a check that fails
#
# `strict_check` runs the algorithm the bound is about, measures its left-hand side exactly as
# the bound defines it, and compares. Its cell (problem and run) is built once; the step rule
# `MaxStep(fraction)` sets both steps to `fraction` times the largest the bound's conditions
# allow. With several seeds the measured value
# is an average, so the verdict uses a one-sided 95% confidence bound:
# `holds` (upper confidence bound $\le$ bound), `violated` (lower confidence bound $>$ bound)
# or `inconclusive`. The `ratio` measured / bound is the *tightness*.

# %%
check = Check(
    bound="fedalt_tau1_full",
    cell=Cell.of(
        "quadratic",
        dict(base, noise_u=0.5, noise_v=0.5),
        dict(algorithm="fedalt", T=SIZE["T"], m=10, tau_u=1, tau_v=1),
    ),
    seeds=SIZE["seeds"],
    steps=MaxStep(fraction=0.5),
)
result = strict_check(check)
print(f"steps: gamma_u={result.cell.run.gamma_u:.3g}, gamma_v={result.cell.run.gamma_v:.3g}")
print(
    f"measured {result.measured.mean:.4g} (95% upper {result.measured.upper:.4g})"
    f" vs bound {result.bound_value:.4g}: {result.verdict}, ratio {result.ratio:.2f}"
)

# %% [markdown]
# A check that can only ever say "holds" tells us nothing. So make the bound wrong on purpose:
# halve it (`scale=0.5`). If the bound is more than twice as loose as the measurement, the
# halved bound still "holds" and the check is weak; here the tightness ratio is above one half,
# so the halved bound must be reported as violated.

# %%
halved = strict_check(check, scale=0.5)
print(
    f"measured {halved.measured.mean:.4g} vs half the bound {halved.bound_value:.4g}: "
    f"{halved.verdict}"
)

# %% [markdown]
# ## 6. The same check, drawn over $T$
#
# One verdict is one number against another. Drawn over the horizon $T$, the check becomes a
# picture: the measured left-hand side (mean over seeds, with its one-sided 95% upper
# confidence bound as an error bar), the bound, and half the bound. Where the measurement
# rises above the halved bound (with confidence) the halved bound is violated; the right panel
# shows the ratio measured/bound, and the halved bound is caught wherever it exceeds 1/2.

# %%
horizons = SIZE["horizons"]
rows = []
for T in horizons:
    at = Check(check.bound, check.cell.with_run(T=T), check.seeds, check.steps)
    r, h = strict_check(at), strict_check(at, scale=0.5)
    rows.append(
        dict(
            T=T,
            measured=r.measured.mean,
            upper=r.measured.upper,
            bound=r.bound_value,
            verdict=r.verdict,
            ratio=r.ratio,
            halved=h.verdict,
        )
    )
over_T = pd.DataFrame(rows).set_index("T")
display(over_T.round(4))

fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
ax.errorbar(
    over_T.index,
    over_T["measured"],
    yerr=[np.zeros(len(over_T)), over_T["upper"] - over_T["measured"]],
    fmt="o",
    capsize=3,
    label="measured (mean, 95% upper bound)",
)
ax.plot(over_T.index, over_T["bound"], "k-", label="bound fedalt_tau1_full")
ax.plot(over_T.index, over_T["bound"] / 2, "k--", label="half the bound (wrong on purpose)")
caught = over_T[over_T["halved"] == "violated"]
ax.plot(caught.index, caught["measured"], "rx", ms=10, mew=2, label="halved bound violated")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("rounds $T$")
ax.set_ylabel("left-hand side (step-weighted gradient norms)")
ax.legend()
ax_r.plot(over_T.index, over_T["ratio"], "o-")
ax_r.axhline(1.0, color="k", lw=1, label="bound")
ax_r.axhline(0.5, color="k", ls="--", lw=1, label="half the bound")
ax_r.set_xscale("log")
ax_r.set_xlabel("rounds $T$")
ax_r.set_ylabel("ratio measured / bound")
ax_r.set_ylim(0, 1.1)
ax_r.legend()
for a_ in (ax, ax_r):
    a_.set_xticks(list(horizons), [str(T) for T in horizons])
    a_.xaxis.set_minor_formatter(NullFormatter())
fig.tight_layout()

# %% [markdown]
# The bound's first term, $\Delta F_0 / T$, shrinks with $T$ while the measurement settles at
# its noise floor, and so does the bound's: the ratio in the right panel shows at which
# horizons this instance is tight enough for the halved bound to be caught.

# %% [markdown]
# ## Exercises for students
#
# 1. **Tightness and the step.** Rerun the strict check with `fraction=0.1` and
#    `fraction=0.9`. How does the ratio change? Look at the left-hand side weights
#    $\gamma(1 - L\gamma/2)$: what happens to them as $\gamma \to 2/L$?
# 2. **Free constants.** Call `strict_check` with `bound="fedalt_main"`. Read the error. Which
#    function would you use instead, and what exactly can it test?
# 3. **By hand.** For `L_u=4, L_v=1, chi=0.5`, compute $L_{uv}$ on paper, then check it in the
#    table of section 2. Which knob would you turn to make the devices more different from
#    each other, and which constant should move?

# %% [markdown]
# ## Solutions
#
# <details><summary>Solution to exercise 1</summary>
#
# The left-hand side weights each gradient norm by $a = \gamma(1 - L\gamma/2)$. This weight
# is largest at $\gamma = 1/L$ and falls to 0 as $\gamma \to 2/L$, while the bound's noise
# terms $L\gamma^2\sigma^2/2$ keep growing with $\gamma$. The fractions 0.1 and 0.9 give the
# same weight (printed below), but at 0.9 the noise terms are $(0.9/0.1)^2$ times larger: the
# measurement shrinks relative to the bound, and the check gets looser. Near the largest
# allowed step a strict check can hardly fail; it is sharpest at small steps on this instance.
#
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
for fraction in (0.1, 0.5, 0.9):
    r = strict_check(Check(check.bound, check.cell, check.seeds, MaxStep(fraction=fraction)))
    g, L = r.cell.run.gamma_u, p.constants.L_u
    print(
        f"fraction {fraction}: gamma_u = {g:.3g}, weight a_u = {g * (1 - L * g / 2):.3g}, "
        f"ratio {r.ratio:.2f}, {r.verdict}"
    )

# %% [markdown]
# <details><summary>Solution to exercise 2</summary>
#
# `fedalt_main` has free constants, so it cannot be evaluated to a number and a strict check
# refuses it (the message is printed below). What can be tested is its *shape*:
# `experiments.checks.exponent_check` (an `ExponentStudy`) sweeps $T$, $m$ or a noise level
# where one term leads and compares the fitted log-log slope with that term's exponent
# (notebook 4); `experiments.checks.calibrate` fits the free constants on some runs and tests
# the predictions on others, which is a fit, not a bound.
#
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
try:
    strict_check(Check("fedalt_main", check.cell, check.seeds))
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# <details><summary>Solution to exercise 3</summary>
#
# $L_{uv} = \chi \sqrt{L_u L_v} = 0.5 \cdot \sqrt{4 \cdot 1} = 1$; the table of section 2 (row
# `L_u=4`) agrees, printed below. To make the devices more different, turn up `delta`: the
# constant $\delta$ of assumption A3 follows it (row `delta=3`).
#
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
print("L_uv at L_u=4, L_v=1, chi=0.5:", table["L_u=4"].L_uv)
print("delta at the knob delta=3:", table["delta=3"].delta)
