"""The teaching notebooks: each runs top to bottom at smoke size, and its .py and .ipynb agree.

``notebooks/NN_*.py`` (jupytext percent format) are the source; ``notebooks/NN_*.ipynb`` are
generated with ``jupytext --to ipynb`` and committed without outputs (``notebooks/_sliders.py``
is a helper module, not a notebook). Each notebook is executed by a child process in a fresh
kernel of this interpreter, headless (``PARTIALFED_NOTEBOOK_STATIC=1``: sliders fall back to
their default values); the child is killed after ``TIMEOUT`` seconds and the kernel then exits
too (ipykernel stops when its parent process is gone). Every exercise has a solution: a folded
``<details>`` block in markdown followed by a code cell tagged ``solution`` (source hidden),
which the run executes and must print something.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
IPYNB = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
EXPECTED = (
    "01_fedalt_vs_fedsim",
    "02_constants_and_bounds",
    "03_regimes",
    "04_rates_you_can_see",
    "05_heterogeneity_and_participation",
    "06_what_to_personalize",
)
EXERCISES = "## Exercises for students"
SOLUTION = re.compile(r"<summary>Solution to exercise (\d+)</summary>")
TIMEOUT = 300  # seconds per notebook (the first numba compile of a family can take ~40 s)
KERNEL = "partialfed-notebook-test"

# Executed in a child process: run every cell, stop at the first error and print it.
RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

path, kernel, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(path, as_version=4)
client = NotebookClient(
    nb, timeout=timeout, kernel_name=kernel, resources={"metadata": {"path": sys.argv[4]}}
)
try:
    client.execute()
except CellExecutionError as err:
    print(err, file=sys.stderr)
    sys.exit(1)
nbformat.write(nb, sys.argv[5])
"""


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_notebooks_exist():
    assert tuple(p.stem for p in IPYNB) == EXPECTED, f"expected {EXPECTED} in {NOTEBOOKS}"
    assert tuple(p.stem for p in SOURCES) == EXPECTED


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory) -> dict:
    """Environment whose kernel ``KERNEL`` is this interpreter, whatever else is installed."""
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "partialfed notebook test",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(spec_dir.parent.parent), *filter(None, [env.get("JUPYTER_PATH")])]
    )
    env["PARTIALFED_NOTEBOOK_SIZE"] = "smoke"
    env["PARTIALFED_NOTEBOOK_STATIC"] = "1"  # no widget frontend: sliders draw their defaults
    return env


@pytest.mark.parametrize("path", IPYNB, ids=[p.stem for p in IPYNB])
def test_notebook_runs_at_smoke_size(path: Path, kernel_env: dict, tmp_path: Path):
    executed = tmp_path / path.name
    cmd = [sys.executable, "-c", RUNNER, str(path), KERNEL, str(TIMEOUT), str(NOTEBOOKS)]
    cmd.append(str(executed))
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        env=kernel_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{path.name} did not finish within {TIMEOUT} s at smoke size")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, f"{path.name} failed after {elapsed:.0f} s:\n{err[-6000:]}"
    # The solutions ran, and each printed or displayed something.
    nb = nbformat.read(executed, as_version=4)
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert solutions, f"{path.name} has no solution cells"
    silent = [i for i, c in enumerate(solutions, 1) if not c.get("outputs")]
    assert not silent, f"{path.name}: solution cells {silent} printed nothing"


@pytest.mark.parametrize("path", IPYNB, ids=[p.stem for p in IPYNB])
def test_notebook_paired_with_py(path: Path):
    source = path.with_suffix(".py")
    assert source.exists(), f"{path.name} has no jupytext source {source.name}"
    from_py = jupytext.read(source)
    committed = nbformat.read(path, as_version=4)
    assert _cells(committed) == _cells(from_py), (
        f"{path.name} is out of sync with {source.name}; run: jupytext --to ipynb {source.name}"
    )


@pytest.mark.parametrize("path", IPYNB, ids=[p.stem for p in IPYNB])
def test_notebook_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not dirty, f"{path.name} has outputs in cells {dirty}; regenerate it from the .py"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_py_has_notebook(source: Path):
    assert source.with_suffix(".ipynb").exists(), f"run: jupytext --to ipynb {source.name}"


def _exercise_numbers(text: str) -> list[int]:
    """The numbers of the exercises listed as ``N. **Title.**`` in an exercises cell."""
    return [int(n) for n in re.findall(r"^(\d+)\. \*\*", text, flags=re.MULTILINE)]


@pytest.mark.parametrize("path", IPYNB, ids=[p.stem for p in IPYNB])
def test_notebook_has_size_switch_and_exercises(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'os.environ.get("PARTIALFED_NOTEBOOK_SIZE", "smoke") == "smoke"' in code
    where = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and EXERCISES in c.source
    ]
    assert len(where) == 1, f"{path.name} needs one '{EXERCISES}' cell"
    exercises = _exercise_numbers(nb.cells[where[0]].source)
    assert exercises == list(range(1, len(exercises) + 1)) and exercises, exercises


@pytest.mark.parametrize("path", IPYNB, ids=[p.stem for p in IPYNB])
def test_every_exercise_has_a_folded_solution(path: Path):
    """One ``<details>`` solution per exercise, after the exercises, each followed by a code
    cell tagged ``solution`` whose source is hidden (collapsed in Jupyter)."""
    nb = nbformat.read(path, as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if EXERCISES in c.source)
    exercises = _exercise_numbers(nb.cells[start].source)
    found = []
    for i, cell in enumerate(nb.cells):
        numbers = [int(n) for n in SOLUTION.findall(cell.source)]
        if cell.cell_type != "markdown" or not numbers:
            continue
        assert i > start, f"{path.name}: solution {numbers} comes before the exercises"
        assert "<details>" in cell.source and "</details>" in cell.source, numbers
        follow = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        assert follow is not None and follow.cell_type == "code", f"solution {numbers}: no code"
        assert "solution" in follow.metadata.get("tags", []), f"solution {numbers}: untagged"
        assert follow.metadata.get("jupyter", {}).get("source_hidden") is True, numbers
        found += numbers
    assert sorted(found) == exercises, f"{path.name}: exercises {exercises}, solutions {found}"
