"""Tiny problem instances of any family, for the simulator tests."""

from __future__ import annotations

from partialfed import simulators, synthetic

N = 6


def tiny_problem(family, noisy=False, n=N, **extra):
    """A tiny instance of ``family``; only the knobs the family has are set.

    ``noisy`` turns on every stochastic-gradient source the family offers (additive noise
    ``noise_u``/``noise_v``, minibatches ``batch``). ``extra`` overrides (dropped if the family
    lacks the knob).
    """
    knobs = synthetic.knobs_of(family)
    want = {"n": n, "seed": 3, "samples": 8}
    if "d" in knobs and "k" in knobs:  # dimensions derived from (d, k), e.g. representation
        want.update(d=3, k=2)
    else:
        want.update(d_u=3, d_v=2)
    if noisy:
        want.update(noise_u=0.3, noise_v=0.2, batch=2)
    want.update(extra)
    return synthetic.make(family, **{k: v for k, v in want.items() if k in knobs})


def config(p, algorithm, **kw):
    """A stable ``RunConfig`` for ``p`` (step sizes 0.4/L per block, legal taus)."""
    c = p.constants
    joint = simulators.ALGORITHMS[algorithm].joint_steps
    base = dict(
        T=4,
        m=min(3, p.n),
        tau_u=2,
        tau_v=2 if joint else 3,
        gamma_u=0.4 / c.L_u if c.L_u > 0 else 0.1,
        gamma_v=0.4 / c.L_v if c.L_v > 0 else 0.1,
        seed=0,
    )
    base.update(kw)
    return simulators.RunConfig(algorithm, **base)
