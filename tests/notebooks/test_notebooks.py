"""The teaching notebooks: each runs top to bottom at smoke size, and its .py and .ipynb agree.

``notebooks/*.py`` (jupytext percent format) are the source; ``notebooks/*.ipynb`` are generated
with ``jupytext --to ipynb`` and committed without outputs. Each notebook is executed by a child
process in a fresh kernel of this interpreter; the child is killed after ``TIMEOUT`` seconds and
the kernel then exits too (ipykernel stops when its parent process is gone).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
IPYNB = sorted(NOTEBOOKS.glob("*.ipynb"))
SOURCES = sorted(NOTEBOOKS.glob("*.py"))
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
"""


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_notebooks_exist():
    assert len(IPYNB) >= 3, f"expected the teaching notebooks in {NOTEBOOKS}"


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
    return env


@pytest.mark.parametrize("path", IPYNB, ids=[p.stem for p in IPYNB])
def test_notebook_runs_at_smoke_size(path: Path, kernel_env: dict):
    cmd = [sys.executable, "-c", RUNNER, str(path), KERNEL, str(TIMEOUT), str(NOTEBOOKS)]
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


@pytest.mark.parametrize("path", IPYNB, ids=[p.stem for p in IPYNB])
def test_notebook_has_size_switch_and_exercises(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'os.environ.get("PARTIALFED_NOTEBOOK_SIZE", "smoke") == "smoke"' in code
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and "Exercises for students" in last.source
