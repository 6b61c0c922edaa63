"""The optional PyTorch reference of ``partialfed bench``: a per-device loop of float64 tensors.

PyTorch is **not** a dependency of partialfed: :func:`load_torch` returns ``None`` when it is not
installed, and ``bench`` then leaves its column out. When it is installed, :func:`torch_loop_rounds`
runs the benchmark rounds as ``experiments.bench_numpy.loop_rounds`` does (a Python loop over the
devices, one device's coordinates per tensor operation), with ``torch.float64`` tensors under
``torch.inference_mode``: FedAlt's ``tau_v`` steps on v_i then ``tau_u`` steps on u
(docs/references.md#pillutla2022-fedalt), or FedSim's ``tau_u`` joint steps
(docs/references.md#pillutla2022-fedsim), then the server's plain mean of u. Its deterministic
iterates are checked against the kernel's to 1e-9 relative before timing
(``experiments.bench._check_references``).

Threads: :func:`matched_threads` sets ``torch.set_num_threads`` to numba's thread count for the
timing (and restores it), so neither side has more cores. At one device per operation (tens of
coordinates) PyTorch does not split an operation over threads; its time is per-operation
overhead, as the NumPy loop's is.
"""

from __future__ import annotations

import contextlib
import importlib
from functools import partial

import numpy as np

__all__ = ["load_torch", "matched_threads", "torch_loop_rounds"]


def load_torch():
    """The ``torch`` module, or ``None`` when it cannot be imported (not installed)."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


@contextlib.contextmanager
def matched_threads(torch, threads):
    """Run the block with ``torch.set_num_threads(threads)``; restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tensors(torch, p):
    """The separable family's data as float64 (and int64) tensors; ``Q`` is ``None`` if empty."""
    a, cl, r, b, Q, par = p.data
    t = partial(_tensor, torch)
    return t(a), cl.tolist(), t(r), t(b), (t(Q) if Q.size else None), float(par[0])


def _tensor(torch, x):
    """A float64 tensor copy of ``x`` (the problem's arrays stay as they are)."""
    return torch.tensor(np.asarray(x, dtype=np.float64), dtype=torch.float64)


def torch_loop_rounds(p, alg, rounds, tau, gamma, u, V, rng, torch=None):
    """``rounds`` full-participation rounds of ``alg``: a Python loop over devices, in PyTorch.

    Same signature and result as ``experiments.bench_numpy.loop_rounds`` (``rng``, a NumPy
    ``Generator``, seeds the ``torch.Generator`` of the noise); ``torch`` defaults to
    :func:`load_torch`'s. Gradients of ``synthetic.separable``:
    ``grad_u = phi'(u - a_i) + mu u + Q v`` with ``phi'(t) = 2 t / (1 + t^2)^2`` and
    ``grad_v = R (v - b_i) + Q^T u``.

    Returns
    -------
    (u, V) : NumPy arrays
        The server's u and the personal parameters after ``rounds`` rounds.
    """
    torch = torch or load_torch()
    if torch is None:
        raise ImportError("torch_loop_rounds needs PyTorch ('pip install torch'); not installed")
    a, cl, r, b, Q, mu = _tensors(torch, p)
    su = p.noise_u / np.sqrt(p.d_u) if p.noise_u else 0.0
    sv = p.noise_v / np.sqrt(p.d_v) if p.noise_v and p.d_v else 0.0
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))

    def noise(g, s):
        if s:
            g += s * torch.randn(g.shape, generator=gen, dtype=torch.float64)
        return g

    def grad_u(k, ui, vi):
        t = ui - a[k]
        q = 1.0 + t * t
        g = 2.0 * t / (q * q) + mu * ui
        return g + torch.mv(Q, vi) if Q is not None else g

    def grad_v(k, ui, vi):
        g = r * (vi - b[k])
        return g + torch.mv(Q.T, ui) if Q is not None else g

    with torch.inference_mode():
        u_t, V_t = _tensor(torch, u), _tensor(torch, V)
        for _ in range(rounds):
            total = torch.zeros(p.d_u, dtype=torch.float64)
            for i in range(p.n):
                k = cl[i]
                ui, vi = u_t.clone(), V_t[i].clone()
                if alg == "fedalt":
                    for _ in range(tau):
                        vi -= gamma * noise(grad_v(k, ui, vi), sv)
                    for _ in range(tau):
                        ui -= gamma * noise(grad_u(k, ui, vi), su)
                else:
                    for _ in range(tau):
                        gu = noise(grad_u(k, ui, vi), su)
                        gv = noise(grad_v(k, ui, vi), sv)
                        ui -= gamma * gu
                        vi -= gamma * gv
                total += ui
                V_t[i] = vi
            u_t = total / p.n
        return u_t.numpy().copy(), V_t.numpy().copy()
