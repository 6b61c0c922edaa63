"""Objective-free pieces of the round kernels: constants, minibatch and noise draws, copies.

``simulators._kernels`` (and ``simulators._meta_kernels``, ``simulators._meta_rounds``) import
these; nothing here calls the objective, so ``partialfed._codegen`` need not copy this module
for a user's objective (the kernel bodies import it like ``simulators._rng``).
"""

import numpy as np
from numba import njit

from partialfed.simulators._rng import (
    STREAM_BATCH,
    add_normals,
    key,
    noise_key,
    uniform,
)
from partialfed.synthetic._logcosh_objective import LogcoshData
from partialfed.synthetic._quadratic_objective import QuadraticData
from partialfed.synthetic._separable_objective import SeparableData

__all__ = [
    "BARE_DATA",
    "BLOWUP",
    "CLIENT_BLOCKS",
    "NOISE_CHUNK",
    "PHASE_V",
    "PHASE_U",
    "PHASE_ALT",
    "PHASE_JOINT",
    "LOAD",
    "STORE_V",
    "STORE_U",
    "CHECK_V",
    "CHECK_U",
    "V_OWN",
    "noise_rows",
]

BLOWUP = 1e100
CLIENT_BLOCKS = 64  # sampled devices are updated in at most this many parallel blocks
NOISE_CHUNK = 1024  # normals drawn at once per (device, phase): whole steps, at least one

#: Data types whose per-device round code runs without reference counting (``_clients_bare`` in
#: ``simulators._kernels``): families whose gradients allocate nothing and call no function
#: that is not inlined (read in their sources: ``synthetic._separable_objective``,
#: ``_quadratic_objective``'s ``QuadraticData``, ``_logcosh_objective``). Any other objective
#: runs the same code with reference counting.
BARE_DATA = frozenset({SeparableData, QuadraticData, LogcoshData})

PHASE_V = 0  # FedAlt's v-phase only
PHASE_U = 1  # FedAlt's u-phase only
PHASE_ALT = 2  # both phases (local training; FedAlt on a round without a recording)
PHASE_JOINT = 3  # FedSim/FedAvg joint steps

# What the round kernel's ``_clients`` does for each device besides its local steps (bits).
LOAD = 1  # before: ul[j] = U[i] (or U[0]), vl[j] = V_in[i]
STORE_V = 2  # after: V[i] = vl[j]
STORE_U = 4  # after: U[i] = ul[j] (one u per device)
CHECK_V = 8  # after: fin[j] = vl[j] finite and below BLOWUP (and CHECK_U's)
CHECK_U = 16  # after: fin[j] = ul[j] finite and below BLOWUP (and CHECK_V's)
V_OWN = 32  # the local v is the row V[i] itself (no copy of v in or out)


@njit(cache=True, nogil=True, error_model="numpy")
def _draw_batch(seed, t, i, k, size, idx):
    """Fill ``idx`` with minibatch indices of device i, step k (uniform, with replacement)."""
    if idx.shape[0] == 0:
        return
    kk = key(seed, STREAM_BATCH, t, i, k)
    for j in range(idx.shape[0]):
        idx[j] = min(int(uniform(kk, j) * size), size - 1)


@njit(cache=True, nogil=True, error_model="numpy")
def _add_noise(g, sigma, seed, stream, t, i, k):
    """``g += xi`` with ``xi ~ N(0, sigma^2/d I)``, so ``E||xi||^2 = sigma^2`` (A2): the
    normals ``k d .. k d + d - 1`` of ``noise_key(seed, stream, t, i)`` (one step at a time;
    the round kernels draw whole phases, the same numbers).

    A block of dimension 0 (``d_v = 0``) gets no noise (and no division by zero)."""
    d = g.shape[0]
    if sigma == 0.0 or d == 0:
        return
    add_normals(g, sigma / np.sqrt(d), noise_key(seed, stream, t, i), k * d)


def noise_rows(sigma, d, tau):
    """Length of a (device, phase) noise buffer: ``NOISE_CHUNK`` normals rounded down to whole
    steps of dimension ``d``, at least one step, at most ``tau``; 0 without noise."""
    if sigma == 0.0 or d == 0 or tau == 0:
        return 0
    return d * max(1, min(tau, NOISE_CHUNK // d))


@njit(cache=True, nogil=True, error_model="numpy")
def _copy(dst, src):
    """``dst[:] = src`` as a plain loop. (Inside a ``parallel=True`` function numba turns a slice
    assignment into a parallel region of its own: one per device per round, which cost more
    than the local steps themselves.)"""
    for c in range(dst.shape[0]):
        dst[c] = src[c]


@njit(cache=True, nogil=True, error_model="numpy")
def _finite(x):
    """Whether every entry of ``x`` is finite and below ``BLOWUP`` in absolute value."""
    for c in range(x.shape[0]):
        if not (abs(x[c]) < BLOWUP):
            return False
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _identity(n):
    """``np.arange(n)`` without threads (see ``zeros``)."""
    return np.arange(n)
