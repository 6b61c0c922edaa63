"""Vectorised per-device linear algebra for the finite-sum families (chunked, O(n) memory)."""

from __future__ import annotations

import numpy as np

_CHUNK = 8192


def gram_top(X: np.ndarray) -> np.ndarray:
    """``lambda_max(X_i^T X_i / N)`` for every device: ``X`` has shape ``(n, N, d)``."""
    n, N, d = X.shape
    out = np.zeros(n)
    if d == 0:
        return out
    for lo in range(0, n, _CHUNK):
        Xc = X[lo : lo + _CHUNK].astype(np.float64)
        G = np.einsum("nsa,nsb->nab", Xc, Xc) / N
        out[lo : lo + _CHUNK] = np.linalg.eigvalsh(G)[:, -1]
    return np.maximum(out, 0.0)


def row_norms(X: np.ndarray) -> np.ndarray:
    """``||x_ij||`` of shape ``(n, N)`` for ``X`` of shape ``(n, N, d)`` (float64)."""
    out = np.empty(X.shape[:2])
    for lo in range(0, X.shape[0], _CHUNK):
        Xc = X[lo : lo + _CHUNK].astype(np.float64)
        out[lo : lo + _CHUNK] = np.sqrt(np.einsum("nsa,nsa->ns", Xc, Xc))
    return out
