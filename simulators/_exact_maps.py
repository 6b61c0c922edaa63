"""Affine local maps of the quadratic family and the moment recursion they drive.

Helpers of ``simulators.exact`` (docs/derivations/exact_quadratic_dynamics.md): a device's
local update on a quadratic is an affine map of ``x_i = (u, v_i, 1)`` plus Gaussian noise
(eqs. (X2)-(X4)); :class:`RoundMap` holds the round's coefficients, one ``(d_u + d_v) x k``
block per device (``k = d_u + d_v + 1``), and :meth:`RoundMap.step` pushes the mean and
covariance of the state through one round with the inclusion probabilities (eq. (X7)).

State layout: ``z = (u, v_1, ..., v_{n_v}, 1)`` of size ``D = d_u + n_v d_v + 1``, with
``n_v = n`` (personal ``v_i``) or ``1`` (FedAvg's global ``v``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Device", "RoundMap", "local_maps"]


@dataclass(frozen=True)
class Device:
    """The devices' objectives: ``grad F_i(x) = H_i x - b_i`` on ``x = (u, v)`` (eq. (X1)).

    Attributes
    ----------
    H : (n, d, d) array
        Device Hessians ``[[A_i, C], [C^T, B]]``.
    b : (n, d) array
        Linear terms ``(b_{u,i}, b_{v,i})``.
    d_u : int
    shared : bool
        Every ``H_i`` is the same (the shared-Hessian quadratic): linear parts computed once.
    """

    H: np.ndarray
    b: np.ndarray
    d_u: int
    shared: bool = False

    @property
    def n(self) -> int:
        return self.H.shape[0]

    @property
    def d(self) -> int:
        return self.H.shape[1]


def _step_matrices(dev: Device, rows, gamma, var):
    """Linear parts ``E_d = I - Gamma H_i`` (shared: one; else one per device), the added
    constant ``Gamma b_i`` and the added noise variance of a step on ``rows`` (eq. (X2))."""
    d = dev.d
    g = np.zeros(d)
    g[rows] = gamma[rows] if np.ndim(gamma) else gamma
    H = dev.H[:1] if dev.shared else dev.H
    E = np.eye(d)[None] - g[None, :, None] * H
    w = np.zeros(d)
    w[rows] = (g * g * (var[rows] if np.ndim(var) else var))[rows]
    return E, g[None, :] * dev.b, w


def local_maps(dev: Device, kind: str, tau_u, tau_v, gamma_u, gamma_v, var_u, var_v):
    """Affine maps of the local update of every device (eqs. (X3), (X4)).

    Parameters
    ----------
    dev : Device
    kind : {"alternating", "simultaneous"}
        FedAlt's ``tau_v`` v-steps then ``tau_u`` u-steps, or ``tau_u`` joint steps.
    tau_u, tau_v : int
    gamma_u, gamma_v : float
    var_u, var_v : float
        Per-coordinate noise variances ``noise_u^2 / d_u`` and ``noise_v^2 / d_v``.

    Returns
    -------
    G : (n, d, k) array
        Rows ``x`` of ``x_i^+ = G_i x_i + noise`` (on the columns of ``(x_i, 1)``).
    N : (n, d, d) array
        Covariance of the noise of ``x_i^+``.
    G_mid, N_mid : arrays or None
        For ``"alternating"``, the same after the v-phase only (FedAlt's ``(u^t, V^{t+1})``).

    With a shared Hessian the linear part is composed once (``O(tau d^3)``) and the constants
    per device (``O(tau n d^2)``); otherwise per device (``O(n tau d^3)``).
    """
    d, du = dev.d, dev.d_u
    urows, vrows, both = np.arange(du), np.arange(du, d), np.arange(d)
    if kind == "alternating":
        phases = [(vrows, gamma_v, var_v, tau_v), (urows, gamma_u, var_u, tau_u)]
    else:
        gam = np.where(both < du, gamma_u, gamma_v)
        var = np.where(both < du, var_u, var_v)
        phases = [(both, gam, var, tau_u)]
    lin = np.eye(d)[None].copy() if dev.shared else np.broadcast_to(np.eye(d), dev.H.shape).copy()
    cst = np.zeros((dev.n, d))
    N = np.zeros(lin.shape)
    mid = None
    for rows, gamma, var, tau in phases:
        E, add, w = _step_matrices(dev, rows, gamma, var)
        for _ in range(tau):
            lin = E @ lin
            cst = np.einsum("iab,ib->ia", np.broadcast_to(E, (dev.n, d, d)), cst) + add
            N = E @ N @ np.swapaxes(E, 1, 2)
            N[:, both, both] += w
        if kind == "alternating" and mid is None:
            mid = _assemble(lin, cst, N, dev.n)
    G, N = _assemble(lin, cst, N, dev.n)
    return (G, N, *mid) if kind == "alternating" else (G, N, None, None)


def _assemble(lin, cst, N, n):
    d = lin.shape[1]
    G = np.empty((n, d, d + 1))
    G[:, :, :d] = lin
    G[:, :, d] = cst
    return G, np.broadcast_to(N, (n, d, d)).copy()


@dataclass(frozen=True)
class RoundMap:
    """One round ``z' = (A_0 + sum_i s_i A_i) z + sum_i s_i eta_i`` (eq. (X5)), ``s_i = 1[i in S]``.

    Attributes
    ----------
    R : (n, d, k) array
        Rows ``(u, v_{v(i)})`` of ``A_i`` on the columns ``x_i = (u, v_{v(i)}, 1)``.
    Nr : (n, d, d) array
        Covariance of ``eta_i`` on the same rows.
    keep_u, keep_v : bool
        ``A_0`` keeps the u rows / the v rows (it always keeps the constant).
    global_v : bool
        One v block (FedAvg) instead of one per device.
    d_u, d_v : int
    p, q : float
        ``P(i in S) = m/n`` and ``P(i, j in S) = m(m-1)/(n(n-1))`` (eq. (X6)).
    shared : bool
        The ``A_i`` differ only in their constant column (shared Hessian).
    """

    R: np.ndarray
    Nr: np.ndarray
    keep_u: bool
    keep_v: bool
    global_v: bool
    d_u: int
    d_v: int
    p: float
    q: float
    shared: bool = False

    @property
    def n(self) -> int:
        return self.R.shape[0]

    @property
    def n_v(self) -> int:
        return 1 if self.global_v else self.n

    @property
    def D(self) -> int:
        return self.d_u + self.n_v * self.d_v + 1

    def split(self, X):
        du, dv = self.d_u, self.d_v
        return X[:du], X[du:-1].reshape(self.n_v, dv, X.shape[1]), X[-1:]

    def index(self) -> np.ndarray:
        """(n, k) state indices of ``x_i = (u, v_{v(i)}, 1)`` (computed once, read-only)."""
        return self._index

    @cached_property
    def _index(self) -> np.ndarray:
        du, dv, n = self.d_u, self.d_v, self.n
        blocks = np.zeros(n, dtype=np.int64) if self.global_v else np.arange(n)
        v = du + blocks[:, None] * dv + np.arange(dv)[None, :]
        u = np.broadcast_to(np.arange(du), (n, du))
        idx = np.concatenate([u, v, np.full((n, 1), self.D - 1)], axis=1)
        idx.flags.writeable = False
        return idx

    @cached_property
    def _v_flat(self) -> np.ndarray:
        """Flat indices into a (D, D) array of the blocks ``(v_{v(i)}, v_{v(i)})``, (n, dv, dv)."""
        iv = self._index[:, self.d_u : -1]
        return iv[:, :, None] * self.D + iv[:, None, :]

    @cached_property
    def _sums(self):
        """Device sums of the blocks of ``R`` (computed once per map)."""
        du = self.d_u
        Ru, Rv = self.R[:, :du, :], self.R[:, du:, :]
        return Ru.sum(axis=0), Rv.sum(axis=0), bool(np.any(Ru))

    @cached_property
    def mask(self) -> np.ndarray:
        """The rows ``A_0`` keeps (a 0/1 diagonal)."""
        m = np.zeros(self.D)
        m[-1] = 1.0
        if self.keep_u:
            m[: self.d_u] = 1.0
        if self.keep_v:
            m[self.d_u : -1] = 1.0
        return m

    @cached_property
    def _blocks(self):
        """The views of ``R`` and of its device sums that :meth:`apply_sum` multiplies by."""
        du, dv, n = self.d_u, self.d_v, self.n
        Su, Sv, _ = self._sums
        Ru, Rv = self.R[:, :du, :], self.R[:, du:, :]
        return (
            (Su[:, :du], Su[:, du:-1], Su[:, -1:]),
            (Sv[:, :du], Sv[:, du:-1], Sv[:, -1:]),
            Ru[:, :, du:-1],
            (Rv[:, :, :du].reshape(n * dv, du), Rv[:, :, du:-1], Rv[:, :, -1:]),
        )

    def apply_sum(self, X):
        """``(sum_i A_i) X`` for ``X`` of shape (D, K) (u rows skipped when they are zero)."""
        dv = self.d_v
        X = np.ascontiguousarray(X)
        Xu, XV, X1 = self.split(X)
        u_rows = self._sums[2]
        (Suu, SuV, Su1), (Svu, SvV, Sv1), RuV, (Rvu, RvV, Rv1) = self._blocks
        out = np.zeros(X.shape)
        ou, oV, _ = self.split(out)
        if self.global_v:
            ou += Suu @ Xu + SuV @ XV[0] + Su1 * X1
            oV[0] += Svu @ Xu + SvV @ XV[0] + Sv1 * X1
            return out
        if u_rows:
            ou += Suu @ Xu + Su1 * X1
            if dv:
                ou += np.einsum("iab,ibK->aK", RuV, XV)
        if dv:
            oV += (Rvu @ Xu).reshape(self.n, dv, -1)
            oV += RvV @ XV + Rv1 * X1[None]
        return out

    def apply_mean(self, X):
        """``(A_0 + p sum_i A_i) X``: the mean round map (eq. (X7), first term)."""
        return self.p * self.apply_sum(X) + self.mask[:, None] * X

    def _scatter(self, M, out):
        """Add the per-device (n, d, d) blocks ``M_i`` on rows and columns ``(u, v_{v(i)})``."""
        du, n, dv = self.d_u, self.n, self.d_v
        out[:du, :du] += M[:, :du, :du].sum(axis=0)
        if self.global_v:
            out[du:-1, :du] += M[:, du:, :du].sum(axis=0)
            out[:du, du:-1] += M[:, :du, du:].sum(axis=0)
            out[du:-1, du:-1] += M[:, du:, du:].sum(axis=0)
            return
        uv = M[:, :du, du:].transpose(1, 0, 2).reshape(du, n * dv)
        out[:du, du:-1] += uv
        out[du:-1, :du] += uv.T
        self._add_vv(out, M[:, du:, du:])

    def _add_vv(self, out, M):
        """``out[(v_i, v_i) blocks] += M_i`` (distinct devices: no repeated index)."""
        if out.flags.c_contiguous:
            out.reshape(-1)[self._v_flat] += M
        else:
            iv = self._index[:, self.d_u : -1]
            out[iv[:, :, None], iv[:, None, :]] += M

    @cached_property
    def noise(self) -> np.ndarray:
        """``p sum_i Cov(eta_i')`` on the state (the last term of eq. (X7)), built once."""
        out = np.zeros((self.D, self.D))
        self._scatter(self.p * self.Nr, out)
        return out

    def step(self, mu, Sigma):
        """Mean and covariance of ``z'`` from those of ``z`` (eq. (X7)).

        ``Sigma' = Abar Sigma Abar^T + (q - p^2) A_S P A_S^T + (p - q) sum_i A_i P A_i^T
        + p sum_i Cov(eta_i)`` with ``P = Sigma + mu mu^T`` and ``A_S = sum_i A_i``, computed
        with two products by ``A_S``: ``Y = A_S Sigma``, ``Z = A_S Y^T``, ``a = A_S mu`` and
        ``Abar Sigma Abar^T = M Sigma M + p (Y M + M Y^T) + p^2 Z`` (``M`` the rows ``A_0``
        keeps), so the first two terms are ``M Sigma M + p (Y M + M Y^T) + q Z + (q - p^2) a a^T``.
        """
        p, q, M = self.p, self.q, self.mask
        a = self.apply_sum(mu[:, None])[:, 0]
        mu_next = M * mu + p * a
        Y = self.apply_sum(Sigma)
        Z = self.apply_sum(Y.T)
        YM = Y * M[None, :]
        S = (M[:, None] * Sigma * M[None, :]) + p * (YM + YM.T) + q * Z + self.noise
        if q - p * p != 0.0:
            S += (q - p * p) * np.outer(a, a)
        if p - q != 0.0:
            P = Sigma + np.outer(mu, mu)
            if self.shared:
                self._shared_blocks(P, p - q, S)
            else:
                self._scatter((p - q) * self.per_device(P), S)
        return mu_next, 0.5 * (S + S.T)

    def per_device(self, P):
        """The blocks ``A_i P A_i^T`` on rows ``(u, v_{v(i)})``, shape (n, d, d)."""
        idx = self._index
        Pii = P[idx[:, :, None], idx[:, None, :]]
        return self.R @ Pii @ np.swapaxes(self.R, 1, 2)

    def _shared_blocks(self, P, coef, out):
        """``out += coef sum_i A_i P A_i^T`` (scattered) for a shared linear part.

        With ``A_i x_i = Rc_u u + F_i (v_i, 1)``, ``F_i = [Rc_v, r_i]``:
        ``A_i P A_i^T = K + G_i F_i^T + F_i G_i^T + F_i W_i F_i^T`` where ``K = Rc_u P_uu
        Rc_u^T`` (one product), ``G_i = Rc_u P_{u,(v_i,1)}`` and ``W_i = P_{(v_i,1),(v_i,1)}``:
        rank ``d_v + 1`` per device, so no ``(n, d, d)`` array is formed (``O(d^2 d_u + n d^2
        d_v)``). Rows of ``R`` that are zero (the u rows of FedAlt's v-phase map) are skipped.
        """
        du, dv, n = self.d_u, self.d_v, self.n
        d = du + dv
        lo, Rcu, iw, F, FvT, Fu, pair_F = self._shared_plan
        Q = P[:du][:, iw.ravel()].reshape(du, n, dv + 1)
        G = (Rcu @ Q.reshape(du, -1)).reshape(d - lo, n, dv + 1).transpose(1, 0, 2)
        W = P[iw[:, :, None], iw[:, None, :]]
        FW = F @ W
        K = Rcu @ P[:du, :du] @ Rcu.T
        # rows/columns of the live block in the state: u rows (if live), then v_{v(i)} rows
        nu = du - lo  # live u rows
        u_part = slice(0, nu)
        v_part = slice(nu, d - lo)

        def rows(X):  # X_i restricted to the u rows, devices side by side: (nu, n * (dv + 1))
            return X[:, u_part].transpose(1, 0, 2).reshape(nu, -1)

        if nu:
            GF = rows(G) @ pair_F
            out[:du, :du] += coef * (n * K[u_part, u_part] + GF + GF.T + rows(FW) @ pair_F)
        # per device: the (u, v_i) and (v_i, v_i) blocks
        Gv, FWv = G[:, v_part], FW[:, v_part]
        VV = K[v_part, v_part][None] + Gv @ FvT
        VV = VV + np.swapaxes(VV - K[v_part, v_part][None], 1, 2) + FWv @ FvT
        if nu:
            Gu, FWu = G[:, u_part], FW[:, u_part]
            UV = K[u_part, v_part][None] + Gu @ FvT + Fu @ np.swapaxes(Gv, 1, 2) + FWu @ FvT
            if self.global_v:
                out[:du, du:-1] += coef * UV.sum(axis=0)
                out[du:-1, :du] += coef * UV.sum(axis=0).T
            else:
                uv = UV.transpose(1, 0, 2).reshape(du, n * dv)
                out[:du, du:-1] += coef * uv
                out[du:-1, :du] += coef * uv.T
        if self.global_v:
            out[du:-1, du:-1] += coef * VV.sum(axis=0)
        else:
            self._add_vv(out, coef * VV)

    @cached_property
    def _shared_plan(self):
        """What :meth:`_shared_blocks` needs of ``R`` alone, built once per map: the first live
        row ``lo``, ``Rc_u``, the indices of ``(v_i, 1)``, ``F_i = [Rc_v, r_i]`` and the
        transposes and u-row layout of ``F`` that its products use."""
        du, dv, n = self.d_u, self.d_v, self.n
        d = du + dv
        lo = 0 if self._sums[2] else du  # first live row
        Rl, r = self.R[0, lo:, :-1], self.R[:, lo:, -1]
        Rcu, Rcv = Rl[:, :du], Rl[:, du:]
        iw = self._index[:, du:]  # (n, dv + 1): (v_i, 1)
        F = np.concatenate([np.broadcast_to(Rcv, (n, d - lo, dv)), r[:, :, None]], axis=2)
        nu = du - lo
        v_part = slice(nu, d - lo)
        Fv = F[:, v_part]
        pair_F = F[:, :nu].transpose(1, 0, 2).reshape(nu, -1).T if nu else None
        return lo, Rcu, iw, F, np.swapaxes(Fv, 1, 2), F[:, :nu], pair_F
