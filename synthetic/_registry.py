"""Family names: the built-in families, the ones a user registers, and import references.

A *family* is a factory ``f(**knobs) -> Problem`` whose knobs are its keyword parameters, each with
a default (``synthetic.knobs_of`` reads them from the signature). Three kinds of name resolve to
one:

- a built-in family (``FAMILIES``: ``quadratic``, ``separable``, ``logistic``, ``representation``,
  ``sawtooth``, ``logcosh``, ``teacher``);
- a name given to ``register(name, factory)`` in this process;
- an import reference ``"package.module:function"``, imported (``importlib.import_module`` plus
  attribute lookup) in whichever process asks for it. Configurations that name families this way
  run unchanged on a process pool or a Dask cluster, since every worker imports the factory
  itself; nothing but the string travels.

A registered name reaches fresh processes too: ``register`` records ``name=module:function`` in
the environment variable ``PARTIALFED_FAMILIES`` (comma-separated), which worker processes
started afterwards inherit and resolve by import. That needs a factory importable by name (a
module-level function of an importable module, not one defined in ``__main__`` or a notebook);
other factories work in this process only. For workers started elsewhere (a remote Dask
cluster), set ``PARTIALFED_FAMILIES`` in their environment or use the import reference.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Callable

from partialfed._constraints import suggest
from partialfed.synthetic.logcosh import logcosh
from partialfed.synthetic.logistic import logistic
from partialfed.synthetic.quadratic import quadratic
from partialfed.synthetic.representation import representation
from partialfed.synthetic.sawtooth import sawtooth
from partialfed.synthetic.separable import separable
from partialfed.synthetic.teacher import teacher

__all__ = [
    "FAMILIES",
    "ENV_VAR",
    "register",
    "unregister",
    "family_names",
    "factory_of",
    "family_error",
    "knobs_of_factory",
]

#: Built-in families: name -> factory taking keyword knobs.
FAMILIES = {
    "quadratic": quadratic,
    "separable": separable,
    "logistic": logistic,
    "representation": representation,
    "sawtooth": sawtooth,
    "logcosh": logcosh,
    "teacher": teacher,
}

#: Environment variable through which registered names reach worker processes.
ENV_VAR = "PARTIALFED_FAMILIES"

_REGISTERED: dict[str, Callable] = {}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_REF = re.compile(rf"^{_DOTTED}:{_DOTTED}$")
_KNOB_TYPES = (bool, int, float, str, type(None))
_REGISTER = "synthetic.register"


def _fmt(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _exported() -> dict[str, str]:
    """``name -> 'module:function'`` pairs of ``PARTIALFED_FAMILIES`` (malformed ones skipped)."""
    out = {}
    for item in os.environ.get(ENV_VAR, "").split(","):
        name, sep, ref = item.strip().partition("=")
        if sep and _NAME.match(name) and _REF.match(ref) and name not in FAMILIES:
            out[name] = ref
    return out


def _export(name: str, ref: str | None) -> None:
    pairs = _exported()
    pairs.pop(name, None)
    if ref is not None:
        pairs[name] = ref
    if pairs:
        os.environ[ENV_VAR] = ",".join(f"{k}={v}" for k, v in pairs.items())
    else:
        os.environ.pop(ENV_VAR, None)


def family_names() -> tuple[str, ...]:
    """Names of every family known here: the built-in ones, then the registered ones."""
    names = list(FAMILIES) + list(_REGISTERED)
    names += [n for n in _exported() if n not in names]
    return tuple(names)


def _allowed() -> str:
    names = ", ".join(repr(n) for n in family_names())
    return f"a registered family ({names}) or an import reference 'module:function'"


def knobs_of_factory(factory: Callable) -> dict:
    """The knobs of ``factory`` (its keyword parameters) with their defaults.

    Raises
    ------
    ValueError
        When a parameter cannot be a knob: ``*args``, ``**kwargs``, positional-only, no default,
        or a default that is not a bool, int, float, str or None.
    """
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"its signature cannot be read ({_first_line(exc)})") from None
    knobs = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise ValueError(f"its parameter {p.name!r} is not a keyword knob")
        if p.default is p.empty:
            raise ValueError(f"its knob {p.name!r} has no default")
        if not isinstance(p.default, _KNOB_TYPES):
            raise ValueError(
                f"the default of its knob {p.name!r} is a {type(p.default).__name__}, not a "
                "bool, int, float, str or None"
            )
        knobs[p.name] = p.default
    return knobs


def _import(ref: str) -> Callable:
    """The object named by ``'module:attr.attr'``; ``ValueError`` with the reason otherwise."""
    module_name, _, attr = ref.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - the user's module, any failure
        raise ValueError(f"cannot import module {module_name!r}: {_first_line(exc)}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ValueError(f"{ref!r} is a {type(obj).__name__}, not a callable")
    knobs_of_factory(obj)
    return obj


def _lookup(name) -> Callable:
    """The factory of ``name``; ``ValueError`` with a phrase saying what is allowed otherwise."""
    if isinstance(name, str):
        if name in FAMILIES:
            return FAMILIES[name]
        if name in _REGISTERED:
            return _REGISTERED[name]
        ref = _exported().get(name)
        if ref is None and _REF.match(name):
            ref = name
        if ref is not None:
            try:
                factory = _import(ref)
            except ValueError as exc:
                raise ValueError(f"must be {_allowed()}. Got {_fmt(name)} ({exc}).") from None
            if ref is not name:  # an exported name: register it in this process too
                _REGISTERED[name] = factory
            return factory
    hint = suggest(name, family_names()) if isinstance(name, str) else ""
    if not hint and isinstance(name, str) and _NAME.match(name) and _in_worker():
        hint = (
            " A name registered in the parent process reaches workers only when its factory is "
            "importable by name (see docs/families.md)."
        )
    raise ValueError(f"must be {_allowed()}. Got {_fmt(name)}.{hint}")


def _in_worker() -> bool:
    import multiprocessing

    return multiprocessing.parent_process() is not None


def family_error(name) -> str | None:
    """``None`` if ``name`` resolves to a family, else the reason (``'must be ... Got ...'``)."""
    try:
        _lookup(name)
    except ValueError as exc:
        return str(exc)
    return None


def factory_of(name, param: str = "name", owner: str = "synthetic.make") -> Callable:
    """The factory of family ``name`` (built-in, registered or ``'module:function'``).

    Raises
    ------
    ValueError
        One line naming ``param`` of ``owner`` and what is allowed.
    """
    try:
        return _lookup(name)
    except ValueError as exc:
        raise ValueError(f"The '{param}' parameter of {owner} {exc}") from None


def _reference(factory) -> str | None:
    """``'module:qualname'`` when importing that gives back ``factory`` itself, else ``None``."""
    module = getattr(factory, "__module__", None)
    qual = getattr(factory, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qual, str) or module == "__main__":
        return None
    ref = f"{module}:{qual}"
    if not _REF.match(ref):  # '<locals>', '<lambda>'
        return None
    try:
        return ref if _import(ref) is factory else None
    except ValueError:
        return None


def register(name: str, factory: Callable) -> None:
    """Make ``factory`` the family ``name`` for ``make``, ``knobs_of`` and configurations.

    Parameters
    ----------
    name : str
        Letters, digits, ``_`` and ``-``, starting with a letter; not a built-in family's name.
        Registering a name again replaces its factory.
    factory : callable
        ``factory(**knobs) -> Problem`` (typically built on ``synthetic.custom``). Its keyword
        parameters are the family's knobs and each needs a default (a bool, int, float, str or
        None), as for the built-in families.

    Notes
    -----
    A factory importable by name (module level, importable module) is also exported to worker
    processes started later, through the environment variable ``PARTIALFED_FAMILIES``.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        exc = ValueError if isinstance(name, str) else TypeError
        raise exc(
            f"The 'name' parameter of {_REGISTER} must be a str of letters, digits, '_' and '-' "
            f"starting with a letter (an import reference 'module:function' needs no "
            f"registration). Got {_fmt(name)}."
        )
    if name in FAMILIES:
        raise ValueError(
            f"The 'name' parameter of {_REGISTER} must not be a built-in family "
            f"({', '.join(map(repr, FAMILIES))}). Got {name!r}."
        )
    if not callable(factory):
        raise TypeError(
            f"The 'factory' parameter of {_REGISTER} must be a callable taking keyword knobs "
            f"and returning a synthetic.Problem. Got {type(factory).__name__}."
        )
    try:
        knobs_of_factory(factory)
    except ValueError as exc:
        raise ValueError(
            f"The 'factory' parameter of {_REGISTER} must take keyword knobs with scalar "
            f"defaults, but {exc}."
        ) from None
    _REGISTERED[name] = factory
    _export(name, _reference(factory))


def unregister(name: str) -> None:
    """Forget the registered family ``name`` (here and for workers started afterwards)."""
    if not isinstance(name, str) or (name not in _REGISTERED and name not in _exported()):
        listed = ", ".join(repr(n) for n in family_names() if n not in FAMILIES) or "none"
        raise ValueError(
            f"The 'name' parameter of synthetic.unregister must be a registered "
            f"family (registered: {listed}). Got {_fmt(name)}."
        )
    _REGISTERED.pop(name, None)
    _export(name, None)
