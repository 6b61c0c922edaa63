"""One experiment cell: a problem (family and knobs), a ``simulators.RunConfig``, an initial point.

A :class:`Cell` is what the application passes around, from the configuration reader to the
store and the checks: building one validates the run (``RunConfig``), ``cell.problem()``
builds its problem through the one problem cache, :func:`execute` runs it, ``cell.hash`` names
its result file and :meth:`Cell.values` names the theory symbols its run determines.

Names flow unchanged from the TOML file to the kernel and to theory: a bound's ``gamma_u`` is the
run's ``gamma_u``, its ``L_u`` the problem's ``L_u``. The only exceptions are the symbols of
single-block theorems (SGD, GD, FedSGD, local SGD), which the u-block stands for; they are the
table :data:`SINGLE_BLOCK`.

Examples
--------
>>> from partialfed.experiments.cell import Cell
>>> cell = Cell.of("quadratic", {"n": 8}, {"algorithm": "fedalt", "T": 5, "m": 2, "seed": 1})
>>> cell.run.T, cell.seed, dict(cell.knobs)["n"], len(cell.hash)
(5, 1, 8, 32)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from partialfed import simulators
from partialfed._constraints import Interval, check_names, validate
from partialfed.experiments import store
from partialfed.experiments.store_frame import by_round

__all__ = [
    "Cell",
    "CellError",
    "SINGLE_BLOCK",
    "RUN_FIELDS",
    "constants_of",
    "execute",
    "problem_of",
]

#: The fields of ``simulators.RunConfig``, with their defaults.
RUN_FIELDS = {f.name: f.default for f in dataclasses.fields(simulators.RunConfig)}

#: Symbols of single-block theorems -> the u-block name whose value they take. Every other
#: symbol of a bound is named as in the configuration (run fields, knobs, problem constants).
SINGLE_BLOCK = {"gamma": "gamma_u", "L": "L_u", "sigma": "sigma_u", "zeta": "delta", "tau": "tau_u"}

#: The run fields that are theory symbols (``Cell.values``).
RUN_SYMBOLS = ("m", "T", "tau_u", "tau_v", "gamma_u", "gamma_v", "alpha")

#: Keys of a stored spec (``Cell.spec``); ``init_seed`` is optional.
SPEC_KEYS = frozenset({"family", "seed", "problem", "run", "init_seed"})

#: Problems kept by the cache (per process).
CACHE_SIZE = 16


class CellError(ValueError):
    """A cell that cannot be built or run; ``section`` says where: ``"problem"`` or ``"run"``."""

    def __init__(self, section: str, message: str):
        super().__init__(message)
        self.section = section


def _coerce(value, default):
    """Ints where the default is a float become floats, so ``delta = 1`` and ``1.0`` hash alike;
    numpy scalars become Python numbers (the spec is JSON, and ``np.int64(5)`` hashes as ``5``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # too large for a float: the knob's own check reports it
            return value
    return value


def _defaults(family: str) -> dict:
    """The family's knobs with their defaults (cached per factory)."""
    from partialfed import synthetic

    return _factory_defaults(synthetic.factory_of(family))


@lru_cache(maxsize=64)
def _factory_defaults(factory) -> dict:
    from partialfed import synthetic

    return synthetic.knobs_of_factory(factory)


@lru_cache(maxsize=CACHE_SIZE)
def _problem(family: str, factory, key: tuple):
    from partialfed import synthetic

    return synthetic.make(family, **{k: v for k, _, v in key})


def _key(family: str, knobs: Mapping | tuple) -> tuple:
    """The cache key of a problem: the family's factory (a name registered again is another
    family) and each knob with its value's type (``d_v = 2.0`` must not be served the problem
    of ``d_v = 2``, since ``synthetic.make`` rejects the one and accepts the other)."""
    from partialfed import synthetic

    items = knobs.items() if isinstance(knobs, Mapping) else knobs
    key = tuple((k, type(v), v) for k, v in sorted(items, key=lambda kv: kv[0]))
    return family, synthetic.factory_of(family), key


def problem_of(family: str, knobs: Mapping | tuple):
    """The problem of ``family`` with ``knobs``, built once per process (the one problem cache,
    :data:`CACHE_SIZE` problems)."""
    return _problem(*_key(family, knobs))


#: Constants kept by :func:`constants_of` (a few numbers each, so many more than problems).
CONSTANTS_CACHE_SIZE = 4096


@lru_cache(maxsize=CONSTANTS_CACHE_SIZE)
def _constants(family: str, factory, key: tuple) -> tuple:
    problem = _problem(family, factory, key)
    return tuple(problem.constants.as_dict().items()), problem.n


def constants_of(family: str, knobs: Mapping | tuple) -> dict:
    """The problem's constants (``Constants.as_dict()``) and ``n``, as a new dict.

    Cached apart from the problems themselves: a report reads the constants of a cell long after
    its problem has left the problem cache (the strict figure reads 24 problems' constants at
    the end), and building a problem again costs a factorisation.

    Parameters
    ----------
    family : str
        A key of ``synthetic.FAMILIES``.
    knobs : mapping or tuple of (name, value)

    Returns
    -------
    dict
        The constants and ``n``; the caller's to change.
    """
    items, n = _constants(*_key(family, knobs))
    return dict(items, n=n)


@dataclass(frozen=True)
class Cell:
    """One run of the application: problem, run settings and initial point.

    Build cells with :meth:`Cell.of` (which fills in and validates); the fields are then
    canonical.

    Attributes
    ----------
    family : str
        A key of ``synthetic.FAMILIES``.
    knobs : tuple of (str, value)
        Every knob of ``synthetic.make(family, ...)``, sorted by name (``dict(cell.knobs)``).
    run : simulators.RunConfig
        The run; ``run.seed`` seeds the initial point, the device sampling and the noise.
    init_seed : int or None
        When set, the run starts from ``problem.init(init_seed)`` instead of
        ``problem.init(run.seed)``.
    """

    family: str
    knobs: tuple
    run: simulators.RunConfig
    init_seed: int | None = None

    @classmethod
    def of(
        cls,
        family: str,
        knobs: Mapping | None = None,
        run: simulators.RunConfig | Mapping | None = None,
        init_seed: int | None = None,
    ) -> Cell:
        """Build a cell: fill in the family's default knobs and validate the run.

        Parameters
        ----------
        family : str
            A key of ``synthetic.FAMILIES``.
        knobs : mapping, optional
            Knobs of the problem; the others take the family's defaults. Ints given for
            float knobs become floats. Their values are checked when the problem is built
            (:meth:`problem`, :meth:`validate`).
        run : RunConfig or mapping, optional
            A ``RunConfig`` or its fields (``seed`` included; missing ones take defaults); either
            way made canonical: ints of float fields become floats, numpy scalars Python numbers.
        init_seed : int, optional
            Start every run from ``problem.init(init_seed)``.

        Raises
        ------
        CellError
            When the family is unknown (section ``"problem"``) or the run's fields are not
            valid (section ``"run"``, with ``RunConfig``'s message).
        """
        try:
            defaults = _defaults(family)
        except (TypeError, ValueError) as exc:
            raise CellError("problem", str(exc)) from None
        given = dict(knobs or {})
        full = {k: _coerce(given.pop(k, d), d) for k, d in defaults.items()}
        full.update(given)  # unknown knobs: synthetic.make names them
        if isinstance(run, simulators.RunConfig):
            run = run.as_dict()  # rebuilt from canonical values (1 -> 1.0, np.int64 -> int)
        fields = {k: _coerce(v, RUN_FIELDS.get(k)) for k, v in dict(run or {}).items()}
        try:
            check_names(fields, RUN_FIELDS, "RunConfig", noun="run field")
            run = simulators.RunConfig(**fields)
        except (TypeError, ValueError) as exc:
            raise CellError("run", " ".join(str(exc).split())) from None
        return cls(family, tuple(sorted(full.items())), run, init_seed)

    @classmethod
    def from_spec(cls, spec: Mapping) -> Cell:
        """The cell of a stored spec (the inverse of :meth:`spec`)."""
        unknown = set(spec) - SPEC_KEYS
        if unknown:
            raise CellError(
                "run",
                f"Unknown spec key(s) {', '.join(sorted(map(repr, unknown)))}; "
                f"allowed: {', '.join(sorted(SPEC_KEYS))}.",
            )
        run = {**spec.get("run", {}), "seed": spec["seed"]}
        return cls.of(spec["family"], spec.get("problem", {}), run, spec.get("init_seed"))

    # -- identity ---------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        """The run's seed (``run.seed``)."""
        return self.run.seed

    def spec(self) -> dict:
        """The canonical JSON-able spec, as stored with the result.

        ``{"family", "seed", "problem": {knobs}, "run": {RunConfig fields except seed}}``, and
        ``"init_seed"`` when set.
        """
        run = self.run.as_dict()
        seed = run.pop("seed")
        out = {"family": self.family, "seed": seed, "problem": dict(self.knobs), "run": run}
        if self.init_seed is not None:
            out["init_seed"] = self.init_seed
        return out

    @cached_property
    def hash(self) -> str:
        """The content hash naming the cell's result file (``store.spec_hash`` of its spec)."""
        return store.spec_hash(self.spec())

    # -- variants ---------------------------------------------------------------------------
    def with_run(self, **fields) -> Cell:
        """This cell with some ``RunConfig`` fields replaced (validated again)."""
        fields = {k: _coerce(v, RUN_FIELDS.get(k)) for k, v in fields.items()}
        try:
            run = dataclasses.replace(self.run, **fields)
        except (TypeError, ValueError) as exc:
            raise CellError("run", " ".join(str(exc).split())) from None
        return dataclasses.replace(self, run=run)

    def with_knobs(self, **knobs) -> Cell:
        """This cell with some knobs replaced."""
        return Cell.of(self.family, {**dict(self.knobs), **knobs}, self.run, self.init_seed)

    # -- the problem ------------------------------------------------------------------------
    def problem(self):
        """The cell's ``synthetic.Problem`` (built once per process, see :func:`problem_of`)."""
        return problem_of(self.family, self.knobs)

    def validate(self):
        """Build the problem and check ``m <= n``; returns the problem.

        Raises
        ------
        CellError
            Section ``"problem"`` with ``synthetic.make``'s message, or ``"run"`` when ``m``
            exceeds the problem's ``n``.
        """
        try:
            problem = self.problem()
        except (TypeError, ValueError) as exc:
            raise CellError("problem", " ".join(str(exc).split())) from None
        try:
            validate(self.run.m, "m", "RunConfig (n of the problem)", Interval(int, 1, problem.n))
        except ValueError as exc:
            raise CellError("run", str(exc)) from None
        return problem

    # -- theory -----------------------------------------------------------------------------
    def values(self, frame=None) -> dict:
        """Values of every theory symbol the cell determines (with its run, when given).

        The problem's constants (``L_u, ..., F_low, chi``) and ``n``, the run's fields (``m, T,
        tau_u, tau_v, gamma_u, gamma_v``, and ``alpha`` for ``perfedavg``), the symbols of
        :data:`SINGLE_BLOCK`, and with a run's ``frame`` (rows ordered by ``round``)
        ``Delta_F0 = max(F(u^0, V^0) - F_low, 0)`` and ``Delta_FT = F(u^0, V^0) - F(u^T, V^T)``.
        """
        values = constants_of(self.family, self.knobs)
        run = self.run.as_dict()  # alpha only for the algorithm that reads it (perfedavg)
        values.update({k: run[k] for k in RUN_SYMBOLS if k in run})
        if frame is not None:
            loss = by_round(frame)["loss"].to_numpy()
            values["Delta_F0"] = max(float(loss[0]) - values["F_low"], 0.0)
            values["Delta_FT"] = float(loss[0]) - float(loss[-1])
        return single_block(values)


def single_block(values: Mapping) -> dict:
    """``values`` with the single-block symbols (:data:`SINGLE_BLOCK`) added."""
    out = dict(values)
    out.update({s: out[name] for s, name in SINGLE_BLOCK.items() if name in out})
    return out


def execute(cell: Cell) -> store.RunResult:
    """Simulate one cell; never raises for a failing run.

    Returns
    -------
    store.RunResult
        ``frame`` holds ``round`` and ``simulators.METRICS`` (and ``region`` for a family that
        records one), one row per recorded round;
        ``status`` is the simulator's (``ok``/``diverged``, with its message), or ``error`` with
        the exception as a one-line message when building or running raised.
    """
    import pandas as pd

    start = time.perf_counter()
    constants: dict = {}
    try:
        problem = cell.problem()
        constants = problem.constants.as_dict()
        u0 = V0 = None
        if cell.init_seed is not None:
            u0, V0 = problem.init(cell.init_seed)
        history = simulators.run(problem, cell.run, u0=u0, V0=V0)
        names = (*store.METRICS, *simulators.PERSONAL_METRICS)
        frame = pd.DataFrame({"round": history.rounds, **{m: getattr(history, m) for m in names}})
        if history.region is not None:  # families with a region (simulators.REGION)
            frame["region"] = history.region
        status, message = history.status, history.message
        if status == "diverged" and not message:
            message = f"diverged at round {history.diverged_at}"
    except Exception as exc:  # noqa: BLE001 - one failing run never stops the others
        frame = pd.DataFrame(columns=["round", *store.METRICS])
        status, message = "error", one_line(exc)
    return store.RunResult(
        spec=cell.spec(),
        frame=frame,
        status=status,
        message=message,
        constants=constants,
        elapsed_s=time.perf_counter() - start,
    )


def one_line(exc: BaseException) -> str:
    """``"Type: message"`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
