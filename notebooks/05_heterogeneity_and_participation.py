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
# # Heterogeneity and participation
#
# Devices differ, and only some of them take part in a round. This notebook
#
# 1. separates two kinds of heterogeneity of the block quadratic: how different the devices'
#    **shared** gradients are ($\delta$) and how different their **personal** optima are,
# 2. reads the price of partial participation ($m$ of $n$ devices per round) off a bound
#    proved in this project, and measures it,
# 3. runs partial personalization (FedAlt, FedSim) against the two extremes, one global
#    model (**FedAvg**) and no communication at all (**local training**), on the same seeds.
#
# Per-FedAvg, a meta-learning approach to personalization, is not in the simulators yet (it
# is planned, issue 13), so it does not appear here; only its bound is stored
# (`theory.get_bound("perfedavg_thm45")`).
#
# **Size.** Set `PARTIALFED_NOTEBOOK_SIZE=full` before starting Jupyter for longer runs and
# more seeds. **Sliders** (section 4) need `pip install -e ".[notebooks]"`; without
# ipywidgets the notebook draws the default values only.

# %%
import functools
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from _sliders import Choice, show
from IPython.display import Math, display

from partialfed import simulators, synthetic, theory
from partialfed.experiments.plots import COLORS, STYLE

# %matplotlib inline
plt.rcParams.update(STYLE)

SMOKE = os.environ.get("PARTIALFED_NOTEBOOK_SIZE", "smoke") == "smoke"
SIZE = (
    dict(n=20, T=300, seeds=(0, 1, 2), ms=(2, 5, 10, 20), deltas=(0.0, 1.0, 3.0))
    if SMOKE
    else dict(
        n=20, T=2000, seeds=tuple(range(8)), ms=(1, 2, 4, 5, 10, 20), deltas=(0.0, 0.3, 1.0, 3.0)
    )
)
print(SIZE)
ALGS = ("fedalt", "fedsim", "fedavg", "local")
for name in ALGS:
    print(f"{name:7s} {simulators.ALGORITHMS[name].description}")

# %% [markdown]
# ## 1. Two kinds of heterogeneity
#
# The block quadratic has $F_i(u, v) = \frac12 u^\top A u + u^\top C v + \frac12 v^\top B v -
# b_{u,i}^\top u - b_{v,i}^\top v$: every device has the same curvature and its own linear
# terms. Two knobs set how the devices differ:
#
# * `personal`: the spread of the personal targets $b_{v,i}$, so how far apart the devices'
#   best personal parameters $v_i^\star(u)$ are. This is what a personal block is *for*: a
#   single global $v$ cannot fit them all.
# * `delta`: the gradient diversity of assumption A3, $\frac1n \sum_i \|\nabla_u F_i -
#   \nabla_u F\|^2 \le \delta^2$ (exact at the personal optima), so how much the devices
#   disagree about the **shared** block once each has its best $v_i$. This is what makes
#   sampling only $m$ of them costly.
#
# Both leave the smoothness constants alone:

# %%
base = dict(n=SIZE["n"], d_u=5, d_v=3, chi=0.5, noise_u=0.3, noise_v=0.3, seed=0)
rows = {}
for delta in (0.0, 3.0):
    for personal in (0.0, 1.0):
        p = synthetic.make("quadratic", **base, delta=delta, personal=personal)
        rows[f"delta={delta}, personal={personal}"] = p.constants.as_dict()
pd.DataFrame(rows).T[["L_u", "L_v", "chi", "sigma_u", "sigma_v", "delta", "rho", "F_low"]].round(3)

# %% [markdown]
# ## 2. The price of partial participation, in theory
#
# `fedalt_tau1_partial` is FedAlt with one local step per block and $m \le n$ devices per
# round, proved in this project (`docs/derivations/`). It has no free constants:

# %%
partial = theory.get_bound("fedalt_tau1_partial")
display(Math(partial.latex()))

# %% [markdown]
# Its term with $\delta^2$ is the sampling noise of the shared update: it carries the factor
# $(n - m)$ and vanishes at $m = n$. Evaluate the whole bound as a function of $m/n$ for a few
# $\delta$, at one fixed pair of steps and the problem's own initial gap $\Delta F_0$:

# %%
gammas = dict(gamma_u=0.2, gamma_v=0.2, tau_v=1)
ms_all = np.arange(1, SIZE["n"] + 1)
bound_rows = []
for delta in SIZE["deltas"]:
    p = synthetic.make("quadratic", **base, delta=delta)
    u0, V0 = p.init(0)
    gap0 = p.F(u0, V0) - p.constants.F_low
    values = partial.evaluate(
        p.constants.as_dict(),
        n=p.n,
        m=ms_all,
        T=SIZE["T"],
        Delta_F0=gap0,
        **gammas,
        ignore_extra=True,
    )
    for m, v in zip(ms_all, values, strict=True):
        bound_rows.append(dict(delta=delta, m=int(m), bound=float(v)))
bounds = pd.DataFrame(bound_rows)
price = bounds.pivot(index="m", columns="delta", values="bound")
price = price / price.loc[SIZE["n"]]
print("bound at m divided by the bound at m = n (the price of partial participation):")
display(price.loc[list(SIZE["ms"])].round(3))

# %% [markdown]
# ## 3. The price, measured
#
# Now run FedAlt with those steps (one local step per block) for each $m$ and $\delta$, the same
# seeds for every $m$, and compare the loss gap $F(u^T, V^T) - F_{\mathrm{low}}$ after $T$
# rounds with its value at $m = n$.


# %%
@functools.cache
def final_gaps(alg, delta, m, personal=1.0, tau=1):
    """Loss gap F(u^T, V^T) - F_low after T rounds, one per seed (u^T: for local training, the
    mean of the devices' own u_i)."""
    p = synthetic.make("quadratic", **base, delta=delta, personal=personal)
    c = p.constants
    steps = dict(gamma_u=0.2 / c.L_u, gamma_v=0.2 / c.L_v, tau_u=tau, tau_v=tau)
    u0, V0 = p.init(0)
    out = []
    for s in SIZE["seeds"]:
        h = simulators.run(p, simulators.RunConfig(alg, T=SIZE["T"], m=m, seed=s, **steps), u0, V0)
        out.append(p.F(h.u, h.V) - c.F_low)
    return tuple(out)


measured = pd.DataFrame(
    [
        dict(delta=d, m=m, gap=np.mean(final_gaps("fedalt", d, m)))
        for d in SIZE["deltas"]
        for m in SIZE["ms"]
    ]
).pivot(index="m", columns="delta", values="gap")
print("measured gap at m divided by the gap at m = n:")
display((measured / measured.loc[SIZE["n"]]).round(3))

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for delta in SIZE["deltas"]:
    b = bounds[bounds["delta"] == delta]
    axes[0].plot(b["m"] / SIZE["n"], b["bound"], label=f"$\\delta$ = {delta}")
    axes[1].plot(
        np.array(SIZE["ms"]) / SIZE["n"], measured[delta], "o-", label=f"$\\delta$ = {delta}"
    )
axes[0].set_title("theory: fedalt_tau1_partial")
axes[0].set_ylabel("bound on the left-hand side")
axes[1].set_title(f"simulation: FedAlt after T = {SIZE['T']} rounds")
axes[1].set_ylabel("loss gap $F(u^T, V^T) - F_{low}$")
for ax in axes:
    ax.set_yscale("log")
    ax.set_xlabel("fraction of devices per round $m/n$")
    ax.legend()
fig.tight_layout()

# %% [markdown]
# The two panels measure different things (the bound is about a running average of gradient
# norms, the simulation shows the loss at the end), so compare their *shapes*: how much each
# grows as $m/n$ shrinks, and how that growth depends on $\delta$.
#
# Compare the two tables (the next cell prints both prices at the smallest $m$ and
# $\delta = 0$). The loss gap counts the personal block in full, and a personal $v_i$ moves
# only in the rounds where its device is sampled: after $T$ rounds about $mT/n$ updates per
# device. So the measurement can pay a price for partial participation even at $\delta = 0$,
# most of all at short horizons. The bound's left-hand side weights $\Delta_v$ by (about)
# $\gamma_v\, m/n$, printed below: at small $m$ it promises little about the personal block,
# so a small price in the bound does not contradict a larger measured one. The $\delta$ term
# is the part of the price that the shared block pays.

# %%
m_min = SIZE["ms"][0]
measured_price = measured.loc[m_min, 0.0] / measured.loc[SIZE["n"], 0.0]
print(f"m = {m_min}, delta = 0: measured price {measured_price:.3f}, the bound's ", end="")
print(f"{price.loc[m_min, 0.0]:.3f}")
print("weight of Delta_v in the bound's left-hand side at m = 2 and m = n:")
for m in (2, SIZE["n"]):
    p = synthetic.make("quadratic", **base, delta=1.0)
    w = partial.weights(dict(p.constants.as_dict(), n=p.n, m=m, T=SIZE["T"], **gammas))
    print(f"  m = {m:2d}: {float(w['Delta_v']):.4f}")

# %% [markdown]
#
# ## 4. Partial personalization against FedAvg and local training
#
# Same problem, same seeds (the same devices sampled in the same rounds, the same noise), the
# same start and steps, two local steps per round, four algorithms:
#
# * **FedAlt**, **FedSim**: shared $u$, personal $v_i$;
# * **FedAvg**: one global model, $u$ *and* $v$ averaged by the server;
# * **local**: every device trains its own $(u_i, v_i)$ and never communicates. Its
#   $u$ below is the mean of the devices' $u_i$, the model a server would get by averaging once
#   at the end.
#
# Move the sliders: $\delta$ (how much devices disagree on the shared block) and $m$ (how many
# take part per round).


# %%
def curves(alg, delta, m, personal=1.0):
    """Loss gap per round (mean over seeds) for the three algorithms with one u, else None."""
    if alg == "local":
        return None
    p = synthetic.make("quadratic", **base, delta=delta, personal=personal)
    c = p.constants
    steps = dict(gamma_u=0.2 / c.L_u, gamma_v=0.2 / c.L_v, tau_u=2, tau_v=2)
    u0, V0 = p.init(0)
    runs = [
        simulators.run(p, simulators.RunConfig(alg, T=SIZE["T"], m=m, seed=s, **steps), u0, V0)
        for s in SIZE["seeds"]
    ]
    return runs[0].rounds, np.mean([h.loss - c.F_low for h in runs], axis=0)


def draw_algorithms(delta, m):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for alg in ALGS:
        got = curves(alg, delta, m)
        if got is not None:
            axes[0].loglog(got[0][1:], got[1][1:], color=COLORS.get(alg), label=alg)
    axes[0].set_xlabel("round $t$")
    axes[0].set_ylabel("loss gap $F(u^t, V^t) - F_{low}$")
    axes[0].set_title(f"$\\delta$ = {delta}, m = {m} of n = {SIZE['n']}")
    axes[0].legend()
    finals = [np.mean(final_gaps(a, delta, m, tau=2)) for a in ALGS]
    axes[1].bar(ALGS, finals, color=[COLORS.get(a, "0.5") for a in ALGS])
    axes[1].set_yscale("log")
    axes[1].set_ylabel(f"loss gap after T = {SIZE['T']} rounds")
    axes[1].set_title("local: at the mean of the devices' $u_i$")
    fig.tight_layout()
    plt.show()
    print({a: round(float(g), 4) for a, g in zip(ALGS, finals, strict=True)})


show(
    draw_algorithms,
    delta=Choice(SIZE["deltas"], SIZE["deltas"][1], "delta"),
    m=Choice(SIZE["ms"], SIZE["ms"][1], "m devices / round"),
)

# %% [markdown]
# The same comparison over $\delta$ and the `personal` spread, as a table (mean over seeds of
# the final loss gap, $m$ fixed):

# %%
m_table = SIZE["ms"][1]
summary = pd.DataFrame(
    [
        {"delta": d, "personal": pe, **{a: np.mean(final_gaps(a, d, m_table, pe, 2)) for a in ALGS}}
        for d in SIZE["deltas"]
        for pe in (0.0, 1.0)
    ]
).set_index(["delta", "personal"])
print(f"m = {m_table} of n = {SIZE['n']}, T = {SIZE['T']}")
display(summary.round(4))
print("best algorithm per row:", summary.idxmin(axis=1).to_dict())
behind = summary["local"] / summary["fedalt"]
print("local training's gap over FedAlt's at delta = 0:", behind.loc[0.0].round(2).to_dict())

# %% [markdown]
# **Reading the table.** FedAvg has one $v$ for all devices, so when the personal optima are
# spread out (`personal` > 0) it cannot reach $F_{\mathrm{low}}$ at any number of rounds: that
# floor is the price of not personalizing. Local training never shares $u$, so averaging its
# $u_i$ at the end gives a model whose error grows with $\delta$, the devices' disagreement on
# the shared block. Partial personalization pays neither price: where the personal optima
# are spread out and the devices disagree on the shared block ($\delta > 0$), it does best.
# With $\delta = 0$ the devices agree on $u$, so averaging local training's $u_i$ once at the
# end costs nothing in the limit: what is left is speed (each device learns $u$ from its own
# gradients, in the rounds it is sampled), so the last line printed above, local training's
# gap as a multiple of FedAlt's, falls towards 1 as $T$ grows (at the larger size it is
# about 1; at the default size local training is still behind). Where the personal optima
# coincide (`personal = 0`), a global $v$ suffices, and FedAvg, whose single $v$ learns from
# every sampled device in every round, can come out ahead (exercise 1).
#
# One caveat: these problems have no held-out data, so everything here is *training* loss on
# the partially personalized objective. Each device's own loss under local training is even
# below $F_{\mathrm{low}}$ (exercise 3): with its own $u_i$ it solves an easier problem. What
# sharing buys on data a device has not seen is not something these exact objectives can show.

# %% [markdown]
# ## Exercises for students
#
# 1. **No personal spread.** With `personal=0.0` every device has the same personal target.
#    Predict FedAvg's final gap against FedAlt's, then check it in the table. Why does a global
#    $v$ suffice here?
# 2. **Sampling without diversity.** Switch the noise off (`noise_u=noise_v=0`) and take
#    $\delta = 0$. Does the measured price of partial participation (section 3) vanish? Which
#    factor of the bound's $\Delta_v$ weight explains what you see?
# 3. **Local training's own loss.** `History.loss` of a `local` run is the mean of the devices'
#    own losses $F_i(u_i, v_i)$. Compare it with $F_{\mathrm{low}}$. How can it be smaller than
#    the minimum of $F$?

# %% [markdown]
# ## Solutions
#
# <details><summary>Solution to exercise 1</summary>
#
# With `personal=0` the devices' personal optima coincide, so one global $v$ loses nothing
# and FedAvg's floor disappears (the rows with `personal = 0.0` of the table, printed again
# below). FedAvg may even beat FedAlt there: its one $v$ is updated from the sampled devices in
# every round, while FedAlt's $v_i$ moves only when device $i$ is sampled.
#
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
display(summary.xs(0.0, level="personal")[["fedalt", "fedavg"]].round(4))

# %% [markdown]
# <details><summary>Solution to exercise 2</summary>
#
# Without noise and with $\delta = 0$ the sampled devices agree on the shared block, so the
# $\delta^2$ term of the bound is zero. Partial participation still slows the personal block:
# the weight of $\Delta_v$ in the left-hand side carries the factor $m/n$, the fraction of
# rounds in which a device is sampled and its $v_i$ moves. So the price does not vanish: the
# gaps printed below, after the same number of rounds, are larger the fewer devices take part.
# (Without noise the run at $m = n$ converges to rounding level at the larger size, so compare
# the gaps themselves, not their ratios.)
#
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
quiet = dict(base, noise_u=0.0, noise_v=0.0)
q = synthetic.make("quadratic", **quiet, delta=0.0)
qc = q.constants
qsteps = dict(gamma_u=0.2 / qc.L_u, gamma_v=0.2 / qc.L_v, tau_u=1, tau_v=1)
qu0, qV0 = q.init(0)
qgap = {}
for m in SIZE["ms"]:
    h = simulators.run(
        q, simulators.RunConfig("fedalt", T=SIZE["T"], m=m, seed=0, **qsteps), qu0, qV0
    )
    qgap[m] = q.F(h.u, h.V) - qc.F_low
print({m: float(f"{g:.3g}") for m, g in qgap.items()})

# %% [markdown]
# <details><summary>Solution to exercise 3</summary>
#
# $F_{\mathrm{low}}$ is the minimum over one shared $u$ and personal $v_i$. Local training gives
# every device its own $u_i$ as well, a larger set of models, whose best average loss is lower.
# Its own loss is therefore no evidence that it is better: the averaged model is what it can
# share, and that one is worse (section 4).
#
# </details>

# %% tags=["solution"] jupyter={"source_hidden": true}
p = synthetic.make("quadratic", **base, delta=SIZE["deltas"][1])
c = p.constants
u0, V0 = p.init(0)
cfg = simulators.RunConfig(
    "local", T=SIZE["T"], m=SIZE["ms"][1], gamma_u=0.2 / c.L_u, gamma_v=0.2 / c.L_v, seed=0
)
h = simulators.run(p, cfg, u0, V0)
print(f"own losses minus F_low:        {h.loss[-1] - c.F_low:.4f}")
print(f"F at the mean u_i minus F_low: {p.F(h.u, h.V) - c.F_low:.4f}")
