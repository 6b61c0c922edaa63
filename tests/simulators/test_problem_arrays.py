"""A problem's arrays are what the kernels index with: editing them after the build is refused.

(Before, ``p.sizes[:] = 10**9`` on a finite-sum family made the next run read out of bounds and
end the process with a segmentation fault; a truncated array gave a run marked "ok" with garbage.)
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from partialfed import simulators, synthetic

CFG = simulators.RunConfig(T=3, m=2)


def _logistic():
    return synthetic.make("logistic", n=4, seed=0)


def test_an_untouched_problem_runs_and_edited_float_values_are_allowed():
    p = _logistic()
    assert simulators.run(p, CFG).status == "ok"
    floats = [a for a in p.data if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    floats[0][...] *= 1.5  # values only: no index changes, the run is merely another problem's
    assert simulators.run(p, CFG).status == "ok"


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.sizes.__setitem__(slice(None), 10**9),
        lambda p: setattr(p, "sizes", p.sizes[:2]),
        lambda p: next(a for a in p.data if a.dtype.kind == "i").__setitem__(0, 10**9),
        lambda p: setattr(p, "data", type(p.data)(*(a[:1] for a in p.data))),
    ],
    ids=["sizes edited", "sizes truncated", "integer data edited", "data truncated"],
)
def test_edited_arrays_are_refused_by_run_and_by_the_metrics(edit):
    p = _logistic()
    u, V = p.init(0)
    edit(p)
    with pytest.raises(ValueError, match="were changed after it was built"):
        simulators.run(p, CFG)
    with pytest.raises(ValueError, match="were changed after it was built"):
        p.F(u, V)


def test_the_former_segfault_is_an_error_in_a_fresh_process():
    code = (
        "from partialfed import simulators, synthetic\n"
        "p = synthetic.make('logistic', n=4, seed=0)\n"
        "p.sizes[:] = 10**9\n"
        "simulators.run(p, simulators.RunConfig(T=3, m=2))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "were changed after it was built" in done.stderr
