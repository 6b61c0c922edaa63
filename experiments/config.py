"""Sweep configurations: TOML files (and ``--set key=value`` overrides) expanded into cells.

A configuration is data (``tomllib``, never ``eval`` or ``pickle``); its format is documented in
``docs/configs.md``. In short::

    name = "delta-sweep"
    family = "quadratic"          # synthetic.family_names() or "module:function" (a list: axis)
    seeds = 3                     # range(3), or an explicit list [0, 1, 2]
    init_seed = 0                 # optional: every run starts from problem.init(0)
    [problem]                     # knobs of synthetic.make(family, **knobs)
    delta = [0.0, 1.0, 4.0]       # any list value is a grid axis (Cartesian product)
    [run]                         # simulators.RunConfig fields, except seed
    algorithm = ["fedalt", "fedsim"]
    T = 200

Every grid point becomes one :class:`experiments.cell.Cell` (its ``family``, every knob of the
family with defaults filled in, a ``simulators.RunConfig`` and the optional ``init_seed``);
building the cells validates them, once, before anything runs.

The cell's seed is ``RunConfig.seed`` (initial point, device sampling, gradient noise) and,
unless ``[problem]`` sets ``seed`` itself, also the problem's instance seed. With a top-level
``init_seed`` every run starts from ``problem.init(init_seed)`` instead of
``problem.init(seed)``.

Examples
--------
>>> from partialfed.experiments.config import parse_assignment
>>> parse_assignment("delta=[0, 1, 2]")
('delta', [0, 1, 2])
>>> parse_assignment("algorithm=[fedalt,fedsim]")
('algorithm', ['fedalt', 'fedsim'])
"""

from __future__ import annotations

import itertools
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from partialfed._constraints import Interval, check_names, suggest, validate
from partialfed.experiments.cell import RUN_FIELDS, Cell, CellError

__all__ = [
    "ConfigError",
    "Sweep",
    "load",
    "from_dict",
    "parse_assignment",
    "resolve",
    "shipped",
    "TOP_LEVEL_KEYS",
]

#: Keys allowed at the top level of a configuration file.
TOP_LEVEL_KEYS = ("name", "description", "family", "seeds", "init_seed", "problem", "run")
_SECTIONS = ("problem", "run")
_SCALARS = (bool, int, float, str)


#: Largest number of seeds, and of runs, one configuration may expand to.
MAX_SEEDS = 100_000
MAX_CELLS = 1_000_000
#: Grids of this many runs or more show a progress bar while they expand (``progress=True``):
#: expansion costs about 45 us per run (2 cores, load 3: 1e5 runs in 4.2 s).
EXPAND_BAR = 50_000
_COUNT = Interval(int, 1, MAX_SEEDS)
_SEED = Interval(int, 0, 2**63 - 1)


class ConfigError(ValueError):
    """A configuration that cannot be run; the message is one line naming key, file and allowed."""


# -- the parts of the configuration that live elsewhere ----------------------------------------
def _families() -> tuple:
    from partialfed import synthetic

    return synthetic.family_names()


def _family_error(family) -> str | None:
    """``None`` if ``family`` names a family (registered or ``'module:function'``), else why."""
    from partialfed.synthetic._registry import family_error

    return family_error(family)


def _knobs_of(family: str) -> dict:
    from partialfed import synthetic

    return dict(synthetic.knobs_of(family))


# -- parsing -----------------------------------------------------------------------------------
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+\-:]*$")  # ":" for family=mod:make


def _parse_item(text: str):
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    for convert in (int, float):
        try:
            value = convert(text)
        except ValueError:
            continue
        return value
    if _BARE.match(text):
        return text
    raise ValueError(text)


def parse_assignment(text: str) -> tuple[str, object]:
    """Parse one ``--set`` argument ``key=value`` into ``(key, value)``.

    The value is read as a TOML value (``1``, ``0.5``, ``"fedalt"``, ``[0, 1, 2]``, ``true``).
    For convenience a bare word is a string (``algorithm=fedalt``, ``family=mypkg.mod:make``),
    a list of bare words is a list
    of strings (``algorithm=[fedalt,fedsim]``) and ``.5`` is a float. Nothing is evaluated.

    Parameters
    ----------
    text : str
        ``key=value``; the key may be dotted (``problem.delta``, ``run.T``).

    Returns
    -------
    tuple
        ``(key, value)``.

    Raises
    ------
    ConfigError
        When there is no ``=``, the key is empty, or the value is not a TOML value.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"--set expects key=value (for example delta=[0,1,2]). Got {text!r}.")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", key):
        raise ConfigError(f"--set {text}: {key!r} is not a key (letters, digits, _, one dot).")
    raw = raw.strip()
    try:
        return key, _parse_item(raw)
    except ValueError:
        pass
    inner = re.match(r"^\[(.*)\]$", raw, re.S)
    if inner:
        items = [s for s in inner.group(1).split(",") if s.strip()]
        try:
            return key, [_parse_item(s) for s in items]
        except ValueError:
            pass
    raise ConfigError(
        f"--set {text}: the value {raw!r} is not a TOML value "
        '(use numbers, true/false, "strings" or [lists]).'
    )


# -- the sweep ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sweep:
    """An expanded, validated configuration.

    Attributes
    ----------
    name : str
        The configuration's name (the file stem unless the file sets ``name``).
    source : str
        Where it came from (a path, or ``"<dict>"``), used in error messages.
    cells : list of Cell
        One cell per grid point, in grid order.
    axes : dict
        The swept keys (``"problem.delta"``, ``"run.algorithm"``, ``"seed"``, ...) -> values.
    description : str
        Free text from the file.
    """

    name: str
    source: str
    cells: list = field(repr=False)
    axes: dict
    description: str = ""

    def __len__(self) -> int:
        return len(self.cells)


def shipped() -> dict[str, Path]:
    """The configurations shipped with the package: name -> path."""
    root = resources.files("partialfed.experiments") / "configs"
    out = {}
    for entry in root.iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name[: -len(".toml")]] = Path(str(entry))
    return dict(sorted(out.items()))


def resolve(name_or_path: str | Path) -> Path:
    """Find a configuration: an existing file, or the name of a shipped one (``quick``).

    Raises
    ------
    ConfigError
        When it is neither, naming the shipped configurations.
    """
    if not isinstance(name_or_path, str | os.PathLike):
        raise ConfigError(
            "The 'name_or_path' parameter of experiments.config.load must be a file path or the "
            f"name of a shipped configuration. Got {type(name_or_path).__name__}."
        )
    path = Path(name_or_path)
    if path.is_file():
        return path
    known = shipped()
    stem = path.name[: -len(".toml")] if path.name.endswith(".toml") else path.name
    if str(path.parent) in ("", ".") and stem in known:
        return known[stem]
    raise ConfigError(
        f"No configuration file {str(name_or_path)!r} and no shipped configuration of that name; "
        f"shipped: {', '.join(known)}.{suggest(stem, known)}"
    )


def load(name_or_path: str | Path, overrides: Iterable[str] = (), progress: bool = False) -> Sweep:
    """Read a TOML configuration, apply ``--set`` overrides, expand and validate the grid.

    Parameters
    ----------
    name_or_path : str or Path
        A TOML file, or the name of a shipped configuration (see ``shipped()``).
    overrides : iterable of str
        ``key=value`` assignments as given to ``--set``.
    progress : bool
        A progress bar on stderr while a large grid (``EXPAND_BAR`` runs or more) expands.

    Returns
    -------
    Sweep

    Raises
    ------
    ConfigError
        For any problem with the file, an override or a value; the message is one line.
    """
    path = resolve(name_or_path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8 text.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}.") from None
    data.setdefault("name", path.stem)
    return from_dict(data, source=str(path), overrides=overrides, progress=progress)


def from_dict(
    data: Mapping, source: str = "<dict>", overrides: Iterable[str] = (), progress: bool = False
) -> Sweep:
    """Expand and validate a configuration already read into a dict (as ``tomllib`` gives it).

    Parameters
    ----------
    data : mapping
        Top-level keys ``name``, ``description``, ``family``, ``seeds`` and tables ``problem``,
        ``run``.
    source : str
        Named in error messages.
    overrides : iterable of str
        ``key=value`` assignments, applied after the file.
    progress : bool
        A progress bar on stderr while a large grid (``EXPAND_BAR`` runs or more) expands.

    Returns
    -------
    Sweep
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: the 'data' parameter of from_dict must be a table (a mapping of keys "
            f"to values). Got {type(data).__name__}."
        )
    data = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    _check_names(data, TOP_LEVEL_KEYS, source, "the top level")
    for section in _SECTIONS:
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(f"{source}: {section!r} must be a table ([{section}]).")
    families = _families()
    fields = {k: v for k, v in RUN_FIELDS.items() if k != "seed"}
    for text in overrides:
        _apply_override(data, text, source, families, fields)
    if "family" not in data:
        raise ConfigError(f"{source}: the key 'family' is missing; allowed: {_fam_list()}.")

    name = data.get("name", "sweep")
    # The name becomes a folder (partialfed-results/<name>): at least one letter or digit, so
    # that "." and ".." (the current and the parent folder) are refused.
    if not isinstance(name, str) or not re.fullmatch(r"(?=.*[A-Za-z0-9])[A-Za-z0-9_.\-]+", name):
        raise ConfigError(
            f"{source}: 'name' must be a string of letters, digits, _.- with at least one letter "
            f"or digit (it names the output folder). Got {name!r}."
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{source}: 'description' must be a string. Got {description!r}.")

    family_values = _axis(data["family"], "family", source)
    for fam in family_values:
        why = _family_error(fam)
        if why is not None:
            raise ConfigError(f"{source}: 'family' {why}")
    seeds = _seeds(data.get("seeds", [0]), source)
    init_seeds = [None]
    if "init_seed" in data:
        init_seeds = _axis(data["init_seed"], "init_seed", source)
        for v in init_seeds:
            try:
                validate(v, "init_seed", "the configuration (or a list of them)", _SEED)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: {exc}") from None

    axes: dict[str, list] = {}
    if len(family_values) > 1:
        axes["family"] = family_values
    problem_axes = {k: _axis(v, f"problem.{k}", source) for k, v in data["problem"].items()}
    run_axes = {k: _axis(v, f"run.{k}", source) for k, v in data["run"].items()}
    for section, section_axes in (("problem", problem_axes), ("run", run_axes)):
        axes.update({f"{section}.{k}": v for k, v in section_axes.items() if len(v) > 1})
    if len(seeds) > 1:
        axes["seed"] = seeds
    if len(init_seeds) > 1:
        axes["init_seed"] = init_seeds

    # Names first, for every family, before any value is checked.
    for fam in family_values:
        knobs = _knobs_of(fam)
        _check_names(problem_axes, knobs, source, f"[problem] for family {fam!r}")
    for k in run_axes:
        if k == "seed":
            raise ConfigError(
                f"{source}: [run] seed is not allowed; set the top-level 'seeds' "
                "(for example seeds = 3 or seeds = [0, 1, 2])."
            )
        _check_names([k], fields, source, "[run]")
    sizes = (family_values, init_seeds, seeds, *problem_axes.values(), *run_axes.values())
    cells = math.prod(map(len, sizes))
    if cells > MAX_CELLS:
        raise ConfigError(
            f"{source}: the grid has {cells} runs, more than {MAX_CELLS}; split it into "
            "several configurations."
        )
    from tqdm.auto import tqdm

    bar = tqdm(
        total=cells,
        desc="expanding the grid",
        unit="run",
        disable=not progress or cells < EXPAND_BAR,
        leave=False,
        mininterval=1.0,
    )
    cells = []
    problem_keys = list(problem_axes)
    run_keys = list(run_axes)
    n_of: dict[str, int] = {}
    for fam in family_values:
        has_seed = "seed" in _knobs_of(fam)
        grid = itertools.product(
            *(problem_axes[k] for k in problem_keys),
            *(run_axes[k] for k in run_keys),
            init_seeds,
            seeds,
        )
        for combo in grid:
            knobs = dict(zip(problem_keys, combo[: len(problem_keys)], strict=True))
            run = dict(zip(run_keys, combo[len(problem_keys) : -2], strict=True))
            init_seed, seed = combo[-2], combo[-1]
            # one problem check per knob setting (not per instance seed)
            problem_key = repr((fam, sorted((k, v) for k, v in knobs.items() if k != "seed")))
            if has_seed and "seed" not in knobs:
                knobs["seed"] = seed
            try:
                cell = Cell.of(fam, knobs, {**run, "seed": seed}, init_seed)
                if problem_key not in n_of or cell.run.m > n_of[problem_key]:
                    n_of[problem_key] = cell.validate().n
            except CellError as exc:
                bar.close()
                raise ConfigError(_where(source, exc.section, exc)) from None
            cells.append(cell)
            bar.update(1)
    bar.close()
    return Sweep(name=name, source=source, cells=cells, axes=axes, description=description)


def _fam_list() -> str:
    return ", ".join(repr(f) for f in _families()) + " or an import reference 'module:function'"


def _axis(value, key: str, source: str) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ConfigError(f"{source}: {key} is an empty list; a grid axis needs a value.")
    for v in values:
        if not isinstance(v, _SCALARS) or (isinstance(v, float) and not math.isfinite(v)):
            raise ConfigError(
                f"{source}: {key} must be a number, string or boolean, or a list of them. "
                f"Got {v!r}."
            )
    # Numbers compare by value (1 and 1.0 give the same run); booleans and strings apart.
    kinds = [(type(v) if isinstance(v, bool | str) else float, v) for v in values]
    if len(set(kinds)) != len(values):
        raise ConfigError(
            f"{source}: {key} lists a value twice (a grid axis needs distinct values): {values!r}."
        )
    return values


def _seeds(value, source: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            validate(value, "seeds", "the configuration (a count, or a list of ints)", _COUNT)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        return list(range(value))
    if isinstance(value, list) and len(value) > MAX_SEEDS:
        raise ConfigError(f"{source}: 'seeds' lists more than {MAX_SEEDS} seeds.")
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _SEED.right for v in values
    ):
        raise ConfigError(
            f"{source}: 'seeds' must be a count in [1, {MAX_SEEDS}] or a list of ints in "
            f"[0, {_SEED.right}] (2^63 - 1). Got {value!r}."
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"{source}: 'seeds' lists a seed twice: {values!r}.")
    return list(values)


def _apply_override(data: dict, text: str, source: str, families, fields) -> None:
    key, value = parse_assignment(text)
    where = f"{source} (--set {text})"
    if "." in key:
        section, sub = key.split(".", 1)
        _check_names([section], _SECTIONS, where, "the configuration", noun="section")
        data[section][sub] = value
        return
    if key in ("name", "description", "family", "seeds", "init_seed"):
        data[key] = value
        return
    fams = data.get("family")
    fams = fams if isinstance(fams, list) else [fams]
    knob_names: set[str] = set()
    for fam in fams:
        if _family_error(fam) is None:
            knob_names.update(_knobs_of(fam))
    in_problem = key in knob_names or key in data["problem"]
    in_run = key in fields and key != "seed"
    if in_problem and in_run:
        raise ConfigError(
            f"{where}: {key!r} is both a problem knob and a run field; "
            f"write problem.{key}=... or run.{key}=...."
        )
    if key == "seed":
        raise ConfigError(
            f"{where}: 'seed' is ambiguous; write seeds=... for the run seeds or "
            "problem.seed=... to fix the problem instance."
        )
    if in_problem:
        data["problem"][key] = value
    elif in_run:
        data["run"][key] = value
    else:
        top = {"family", "seeds", "init_seed", "name", "description"}
        allowed = sorted((top | knob_names | set(fields)) - {"seed"})
        _check_names([key], allowed, where, "the configuration")


def _check_names(given, allowed, source: str, owner: str, noun: str = "key") -> None:
    """``check_names`` with the configuration's source in front of the message."""
    try:
        check_names(given, allowed, owner, noun=noun)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


_PARAM = re.compile(r"The '([A-Za-z_0-9]+)' parameter")


def _where(source: str, section: str, exc: Exception) -> str:
    message = " ".join(str(exc).split())
    match = _PARAM.search(message)
    key = f" {match.group(1)}" if match else ""
    return f"{source}: [{section}]{key}: {message}"
