"""NumPy references of ``partialfed bench``: the benchmark rounds vectorised over devices and as a
per-device loop.

Problem: ``synthetic.make("separable", ...)`` (``experiments.bench.make_problem``), full
participation ``m = n``, ``tau_u = tau_v = tau``. Both references perform FedAlt's rounds
(``tau_v`` steps on each device's v, then ``tau_u`` steps on its copy of u,
docs/references.md#pillutla2022-fedalt) or FedSim's (``tau_u`` joint steps,
docs/references.md#pillutla2022-fedsim), and the server's plain mean of the devices' u. The
noise, when the problem has some, is ``numpy.random.Generator.standard_normal`` scaled by
``noise / sqrt(d)`` per block (not the kernels' counter-based generator: only the deterministic
iterates are compared with the kernel's, ``experiments.bench._check_references``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SeparableNumpy", "loop_rounds", "vectorised_rounds"]


class SeparableNumpy:
    """``grad_u``/``grad_v`` of the separable family for a batch of devices, in NumPy.

    ``F_i(u, v) = sum_j phi(u_j - a_ij) + mu/2 ||u||^2 + 1/2 (v - b_i)^T R (v - b_i) + u^T Q v``
    with ``phi(t) = t^2 / (1 + t^2)`` (see ``synthetic.separable``).
    """

    def __init__(self, p):
        a, cl, r, b, Q, par = p.data
        self.a, self.cl, self.r, self.b, self.mu = a, cl, r, b, float(par[0])
        self.Q = Q if Q.size else None

    def grad_u(self, rows, U, V):
        t = U - self.a[self.cl[rows]]
        q = 1.0 + t * t
        g = 2.0 * t / (q * q) + self.mu * U
        if self.Q is not None:
            g += V @ self.Q.T
        return g

    def grad_v(self, rows, U, V):
        g = self.r * (V - self.b[self.cl[rows]])
        if self.Q is not None:
            g += U @ self.Q
        return g


def vectorised_rounds(p, alg, rounds, tau, gamma, u, V, rng):
    """``rounds`` full-participation rounds of ``alg`` vectorised over all clients."""
    g = SeparableNumpy(p)
    n = p.n
    rows = np.arange(n)
    su = p.noise_u / np.sqrt(p.d_u) if p.noise_u else 0.0
    sv = p.noise_v / np.sqrt(p.d_v) if p.noise_v and p.d_v else 0.0
    V = V.copy()
    for _ in range(rounds):
        U = np.broadcast_to(u, (n, p.d_u)).copy()
        if alg == "fedalt":
            for _ in range(tau):
                G = g.grad_v(rows, U, V)
                if sv:
                    G += sv * rng.standard_normal(G.shape)
                V -= gamma * G
            for _ in range(tau):
                G = g.grad_u(rows, U, V)
                if su:
                    G += su * rng.standard_normal(G.shape)
                U -= gamma * G
        else:
            for _ in range(tau):
                Gu = g.grad_u(rows, U, V)
                Gv = g.grad_v(rows, U, V)
                if su:
                    Gu += su * rng.standard_normal(Gu.shape)
                if sv:
                    Gv += sv * rng.standard_normal(Gv.shape)
                U -= gamma * Gu
                V -= gamma * Gv
        u = U.mean(axis=0)
    return u, V


def loop_rounds(p, alg, rounds, tau, gamma, u, V, rng):
    """``rounds`` full-participation rounds of ``alg``: a Python loop over the clients."""
    g = SeparableNumpy(p)
    su = p.noise_u / np.sqrt(p.d_u) if p.noise_u else 0.0
    sv = p.noise_v / np.sqrt(p.d_v) if p.noise_v and p.d_v else 0.0
    V = V.copy()
    for _ in range(rounds):
        total = np.zeros(p.d_u)
        for i in range(p.n):
            row = np.array([i])
            ui, vi = u[None, :].copy(), V[i][None, :].copy()
            if alg == "fedalt":
                for _ in range(tau):
                    G = g.grad_v(row, ui, vi)
                    if sv:
                        G += sv * rng.standard_normal(G.shape)
                    vi -= gamma * G
                for _ in range(tau):
                    G = g.grad_u(row, ui, vi)
                    if su:
                        G += su * rng.standard_normal(G.shape)
                    ui -= gamma * G
            else:
                for _ in range(tau):
                    Gu = g.grad_u(row, ui, vi)
                    Gv = g.grad_v(row, ui, vi)
                    if su:
                        Gu += su * rng.standard_normal(Gu.shape)
                    if sv:
                        Gv += sv * rng.standard_normal(Gv.shape)
                    ui -= gamma * Gu
                    vi -= gamma * Gv
            total += ui[0]
            V[i] = vi[0]
        u = total / p.n
    return u, V
