"""Memory a built-in family's problem needs, estimated from its knobs before it is built.

``synthetic.make`` calls :func:`check_memory` first: a problem whose estimated peak exceeds the
memory available to this process is refused with a one-line ``ValueError`` naming its size
knobs, instead of a ``MemoryError`` traceback half-way through the build (or a run).

The estimates are peak bytes of the build (NumPy allocations, measured with ``tracemalloc`` on
2026-12-02 at several sizes per family, rounded up) plus the arrays of one run (the iterates
``V``, their start copy and, under ``local``, one ``u`` per device): per family a coefficient
per ``n (d_u + d_v)`` (per-device arrays), per ``n samples d`` (finite-sum features) and per
``d^2`` (dense matrices and their decompositions). A family registered by a user has no
estimate and is not checked.
"""

from __future__ import annotations

import os

__all__ = ["available_bytes", "check_memory", "estimated_bytes"]

#: Bytes of one run's arrays per device coordinate: V, V_start, U (local), rec and noise.
_RUN_PER_COORD = 32


def _ints(knobs: dict, names) -> dict | None:
    """The named knobs as ints, or None when one is not a plain int >= 0 (the family's own
    validation then refuses it with its message)."""
    out = {}
    for name in names:
        v = knobs.get(name)
        if type(v) is not int or v < 0:
            return None
        out[name] = v
    return out


def _quadratic(k):
    d = k["d_u"] + k["d_v"]
    return 32 * k["n"] * d + 65 * (k["d_u"] ** 2 + k["d_v"] ** 2), d


def _separable(k):
    d = k["d_u"] + k["d_v"]
    return 10 * k["n"] * d + 16 * (k["d_u"] ** 2 + k["d_v"] ** 2), d


def _sawtooth(k):
    d = k["d_u"] + k["d_v"]
    return 13 * k["n"] * d, d


def _logistic(k):
    d = k["d_u"] + k["d_v"]
    return 18 * k["n"] * k["samples"] * d + 80 * d * d, d


def _teacher(k):
    # logistic's coefficient on the training plus test features; tracemalloc peaks measured
    # 2026-12-03: 12.3-13.4 bytes per feature (n = 200..5000, d = 10..40).
    d = k["d_u"] + k["d_v"]
    return 18 * k["n"] * (k["samples"] + k["test_samples"]) * d + 80 * d * d, d


def _representation(k):
    d, r = k["d"], k["k"]
    return 20 * k["n"] * k["samples"] * d + 82 * d * d, d * r + r


#: family -> (size knobs, f(knobs) -> (build bytes, coordinates per device)).
_ESTIMATES = {
    "quadratic": (("n", "d_u", "d_v"), _quadratic),
    "separable": (("n", "d_u", "d_v"), _separable),
    "sawtooth": (("n", "d_u", "d_v"), _sawtooth),
    "logcosh": (("n", "d_u", "d_v"), _sawtooth),
    "logistic": (("n", "d_u", "d_v", "samples"), _logistic),
    "representation": (("n", "d", "k", "samples"), _representation),
    "teacher": (("n", "d_u", "d_v", "samples", "test_samples"), _teacher),
}


def _sizes(family: str, knobs: dict) -> dict | None:
    """The size knobs of ``family`` (defaults filled in), or None (see ``estimated_bytes``)."""
    if family not in _ESTIMATES:
        return None
    from partialfed.synthetic import knobs_of

    full = {**knobs_of(family), **knobs}
    if family == "representation":
        from partialfed.synthetic.representation import _dims

        try:
            full["d"], full["k"] = _dims(full["d"], full["k"], full["d_u"], full["d_v"])
        except (TypeError, ValueError):
            return None
    return _ints(full, _ESTIMATES[family][0])


def estimated_bytes(family: str, knobs: dict) -> int | None:
    """Estimated peak bytes of building ``family`` with ``knobs`` and running it once, or None
    (a family without an estimate, or size knobs that are not valid ints).

    Parameters
    ----------
    family : str
        A family name.
    knobs : dict
        The knobs given to ``synthetic.make`` (defaults filled in here).
    """
    sizes = _sizes(family, knobs)
    if sizes is None:
        return None
    build, coords = _ESTIMATES[family][1](sizes)
    return int(build + _RUN_PER_COORD * sizes["n"] * coords)


def available_bytes() -> int | None:
    """Memory this process may still allocate: the system's available memory (MemAvailable),
    lowered by an address-space limit (``RLIMIT_AS``) net of what is mapped already; None when
    neither is known."""
    limits = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            used = 0
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmSize:"):
                        used = int(line.split()[1]) * 1024
            limits.append(max(soft - used, 0))
    except (ImportError, OSError, ValueError):
        pass
    if not limits:
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(limits)


def check_memory(family: str, knobs: dict) -> None:
    """Refuse, with a one-line ``ValueError`` naming the size knobs, a problem whose estimated
    memory (``estimated_bytes``) exceeds ``available_bytes()``."""
    need = estimated_bytes(family, knobs)
    if need is None or need < 2**28:  # below 256 MB: not worth reading /proc
        return
    have = available_bytes()
    if have is None or need <= have:
        return
    sizes = _sizes(family, knobs)
    names = list(sizes)
    shown = ", ".join(f"{k}={v}" for k, v in sizes.items())
    raise ValueError(
        f"The knobs {shown} of synthetic.make({family!r}) must fit in the {have / 1e9:.3g} GB "
        f"of memory available; they need about {need / 1e9:.3g} GB (estimated: building the "
        f"problem and one run): lower {' or '.join(names)}."
    )
