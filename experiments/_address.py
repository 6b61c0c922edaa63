"""Scheduler names and addresses, checked without importing anything heavy.

``check_scheduler_text`` is what ``executors.check_scheduler`` and the command line's
``--scheduler`` share: a named scheduler, or ``SCHEME://HOST:PORT`` with a scheme Dask speaks, a
host name or IP address and a port in 1..65535 (``inproc://`` takes any address).
"""

from __future__ import annotations

import re

__all__ = ["SCHEDULERS", "SCHEMES", "check_scheduler_text"]

#: Scheduler names (besides addresses and ``distributed.Client`` objects).
SCHEDULERS = ("auto", "serial", "local", "dask-local")

#: URL schemes of a Dask scheduler address.
SCHEMES = ("tcp", "tls", "inproc")

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$")


def check_scheduler_text(scheduler, name: str = "'scheduler' parameter of run_sweep") -> None:
    """Raise a one-line ``ValueError`` naming ``name`` unless ``scheduler`` is a scheduler name
    or a well-formed ``SCHEME://HOST:PORT`` address.

    Parameters
    ----------
    scheduler : object
        The value to check.
    name : str
        How the message names the parameter (``"'--scheduler' option"`` on the command line).
    """
    allowed = f"one of {', '.join(SCHEDULERS)} or tcp://HOST:PORT (a port in 1..65535)"
    if isinstance(scheduler, str) and scheduler in SCHEDULERS:
        return
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise ValueError(f"The {name} must be {allowed}. Got {scheduler!r}.")
    scheme, _, rest = scheduler.partition("://")
    if scheme not in SCHEMES:
        raise ValueError(
            f"The {name} must be {allowed}; the scheme must be one of {', '.join(SCHEMES)}. "
            f"Got {scheduler!r}."
        )
    if scheme == "inproc":
        return
    host, sep, port = rest.rpartition(":")
    if not sep or not _HOST.match(host) or not (port.isascii() and port.isdigit()):
        raise ValueError(f"The {name} must be {allowed}. Got {scheduler!r}.")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"The {name} must be {allowed}; port {port} is outside it.")
