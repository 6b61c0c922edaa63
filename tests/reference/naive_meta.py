"""Plain-NumPy reference implementations of Per-FedAvg (MAML, FO, HF) and Ditto.

Written from the update rules of Fallah et al. (2020) (docs/references.md#fallah2020-algorithm)
and Li et al. (2021) (docs/references.md#li2021-ditto) as docs/architecture.md#the-algorithms
states them, one device and one local step at a time. ``simulators.run`` must agree with it to
1e-12 (tests/reference/test_reference_meta.py).

Shared with the kernels: the problem's oracle (loss and gradients, as in ``naive_fl``) and its
exact Hessian-vector product where the family registers one (``synthetic._objective``); the
finite-difference HVP of the other families is written here. Everything else (local loops,
counters, server, metrics) is NumPy.

Counters (``naive_fl`` conventions; local step ``k`` of ``tau``): Per-FedAvg's outer gradient
``D'`` and Ditto's global steps use ``k``, the inner gradient ``D`` uses ``tau + k``, the
Hessian sample ``D''`` (both gradients of the HF difference) and Ditto's personal steps use
``2 tau + k``.
"""

from __future__ import annotations

import math

import numpy as np
from naive_accuracy import with_accuracy
from naive_fl import _NO_IDX, Oracle, initial_state, population_metrics, recorded_rounds

from partialfed.synthetic import _objective

#: The kernels' relative finite-difference step (simulators._meta_kernels.FD_EPS).
FD_EPS = 6.0e-6


class MetaOracle(Oracle):
    """``Oracle`` with joint gradients of ``w = (u, v)`` and Hessian-vector products."""

    def joint(self, i, u, v, t, k):
        """Both stochastic partial gradients on the minibatch of counter ``k`` (+ noise)."""
        idx = self.batch(t, i, k)
        return self.stoch_u(i, u, v, t, k, idx), self.stoch_v(i, u, v, t, k, idx)

    def grads(self, i, u, v, idx):
        gu, gv = np.empty(self.p.d_u), np.empty(self.p.d_v)
        self.p.grad_u_fn(self.p.data, i, u, v, gu, idx)
        self.p.grad_v_fn(self.p.data, i, u, v, gv, idx)
        return gu, gv

    def hvp(self, i, u, v, pu, pv, idx=_NO_IDX):
        """``hess F_i(u, v) (pu, pv)``: the family's exact HVP, else the central difference
        with the relative step ``FD_EPS (1 + ||w||) / ||p||`` (sums in the kernels' order)."""
        exact = _objective._HVPS.get(type(self.p.data))
        if exact is not None:
            ou, ov = np.empty(self.p.d_u), np.empty(self.p.d_v)
            exact(self.p.data, i, u, v, pu, pv, ou, ov, idx)
            return ou, ov
        pp = ww = 0.0
        for a, b in zip(pu, u, strict=True):
            pp += a * a
            ww += b * b
        for a, b in zip(pv, v, strict=True):
            pp += a * a
            ww += b * b
        if pp == 0.0:
            return np.zeros(self.p.d_u), np.zeros(self.p.d_v)
        return self.fd_hvp(i, u, v, pu, pv, FD_EPS * (1.0 + math.sqrt(ww)) / math.sqrt(pp), idx)

    def fd_hvp(self, i, u, v, pu, pv, s, idx=_NO_IDX):
        """``[grad F_i(w + s p) - grad F_i(w - s p)] / (2 s)``."""
        plus = self.grads(i, u + s * pu, v + s * pv, idx)
        minus = self.grads(i, u - s * pu, v - s * pv, idx)
        return (plus[0] - minus[0]) / (2.0 * s), (plus[1] - minus[1]) / (2.0 * s)


def perfedavg_update(oracle, i, u, v, t, cfg):
    """Per-FedAvg's ``tau`` local steps on device ``i`` (variant ``cfg.variant``)."""
    tau, a = cfg.tau_u, cfg.alpha
    for k in range(tau):
        gu, gv = oracle.joint(i, u, v, t, tau + k)  # D
        wu, wv = u - a * gu, v - a * gv
        hu, hv = oracle.joint(i, wu, wv, t, k)  # D'
        if cfg.variant == "fo":
            du, dv = hu, hv
        elif cfg.variant == "maml":
            qu, qv = oracle.hvp(i, u, v, hu, hv, oracle.batch(t, i, 2 * tau + k))  # D''
            du, dv = hu - a * qu, hv - a * qv
        else:  # hf: both gradients on the same D'' (same minibatch and noise)
            d = cfg.hf_delta
            pu, pv = oracle.joint(i, u + d * hu, v + d * hv, t, 2 * tau + k)
            mu, mv = oracle.joint(i, u - d * hu, v - d * hv, t, 2 * tau + k)
            du, dv = hu - a * ((pu - mu) / (2.0 * d)), hv - a * ((pv - mv) / (2.0 * d))
        u, v = u - cfg.gamma_u * du, v - cfg.gamma_v * dv
    return u, v


def ditto_update(oracle, i, u, v, pu, pv, t, cfg):
    """Ditto on device ``i``: ``tau`` FedAvg steps of the global model from ``(u, v)``, and
    ``tau`` steps of the personal model on ``F_i(w_i) + ditto_lam/2 ||w_i - (u, v)||^2``."""
    tau, lam = cfg.tau_u, cfg.ditto_lam
    gl_u, gl_v = u.copy(), v.copy()
    for k in range(tau):
        gu, gv = oracle.joint(i, gl_u, gl_v, t, k)
        gl_u, gl_v = gl_u - cfg.gamma_u * gu, gl_v - cfg.gamma_v * gv
    for k in range(tau):
        gu, gv = oracle.joint(i, pu, pv, t, 2 * tau + k)
        pu = pu - cfg.gamma_u * (gu + lam * (pu - u))
        pv = pv - cfg.gamma_v * (gv + lam * (pv - v))
    return gl_u, gl_v, pu, pv


def meta_gradient(oracle, i, u, v, alpha):
    """Exact ``grad F~_i(w) = (I - alpha H_i(w)) grad F_i(w - alpha grad F_i(w))`` and
    ``F_i(w - alpha grad F_i(w))``."""
    gu, gv = oracle.grads(i, u, v, _NO_IDX)
    wu, wv = u - alpha * gu, v - alpha * gv
    hu, hv = oracle.grads(i, wu, wv, _NO_IDX)
    qu, qv = oracle.hvp(i, u, v, hu, hv)
    return hu - alpha * qu, hv - alpha * qv, oracle.loss(i, wu, wv)


def meta_metrics(oracle, u, v, alpha):
    """``(||(1/n) sum_i grad F~_i(w)||^2, (1/n) sum_i F_i(w - alpha grad F_i(w)))``."""
    parts = [meta_gradient(oracle, i, u, v, alpha) for i in range(oracle.p.n)]
    mu = np.mean([p[0] for p in parts], axis=0)
    mv = np.mean([p[1] for p in parts], axis=0)
    return float(np.sum(mu**2) + np.sum(mv**2)), float(np.mean([p[2] for p in parts]))


def reference_meta_run(problem, cfg, clients, u0=None, V0=None):
    """Run ``perfedavg`` or ``ditto`` in NumPy, replaying ``clients`` (as ``naive_fl``).

    Returns the dict of ``naive_fl.reference_run`` plus ``meta_grad_sq``, ``personal_loss``
    and, for Ditto, ``personal_U``, ``personal_V``.
    """
    clients = np.asarray(clients)
    assert clients.shape == (cfg.T, cfg.m)
    oracle = MetaOracle(problem, cfg.seed)
    u, V = initial_state(problem, cfg.__class__(**{**cfg.as_dict(), "algorithm": "fedavg"}), u0, V0)
    ditto = cfg.algorithm == "ditto"
    PU, PV = np.tile(u, (problem.n, 1)), V.copy()
    rounds = recorded_rounds(cfg.T, cfg.eval_every)
    names = ("loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next", "meta_grad_sq")
    out = {k: [] for k in (*names, "personal_loss")}
    for t in range(cfg.T + 1):
        if t in rounds:
            f, du, dv = population_metrics(oracle, u, V)
            if ditto:
                meta = (
                    np.nan,
                    float(np.mean([oracle.loss(i, PU[i], PV[i]) for i in range(len(V))])),
                )
            else:
                meta = meta_metrics(oracle, u, V[0], cfg.alpha)
            for name, value in zip(out, (f, du, dv, np.nan, *meta), strict=True):
                out[name].append(value)
        if t == cfg.T:
            break
        new = {}
        for i in (int(i) for i in clients[t]):
            if ditto:
                new[i] = ditto_update(oracle, i, u, V[0], PU[i], PV[i], t, cfg)
            else:
                new[i] = perfedavg_update(oracle, i, u, V[0], t, cfg)
        u = np.mean([w[0] for w in new.values()], axis=0)
        V = np.tile(np.mean([w[1] for w in new.values()], axis=0), (problem.n, 1))
        if ditto:
            PU, PV = PU.copy(), PV.copy()
            for i, w in new.items():
                PU[i], PV[i] = w[2], w[3]
    result = {k: np.array(v) for k, v in out.items()}
    result.update(rounds=np.array(rounds), u=u, V=V)
    if ditto:
        result.update(personal_U=PU, personal_V=PV)
    return with_accuracy(oracle, cfg, result)
