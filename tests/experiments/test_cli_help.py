"""``partialfed VERB --help`` builds its parser without importing a heavy library.

The check runs in a fresh interpreter (this test process has imported everything already): it
calls ``main([verb, "--help"])`` for every verb and prints the names in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

from partialfed.experiments import cli, sweep

HEAVY = ("numba", "pandas", "pyarrow", "matplotlib", "sympy", "scipy", "dask")
PROJECT = ("partialfed.synthetic", "partialfed.simulators", "partialfed.theory")

_SCRIPT = """
import contextlib, io, json, sys
from partialfed.experiments.cli import VERBS, main
codes = {}
for verb in [None, *VERBS]:
    argv = ["--help"] if verb is None else [verb, "--help"]
    with contextlib.redirect_stdout(io.StringIO()) as text:
        try:
            codes[str(verb)] = main(argv)
        except SystemExit as exc:
            codes[str(verb)] = exc.code
    codes[str(verb) + ":chars"] = len(text.getvalue())
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def test_help_of_every_verb_imports_no_heavy_module():
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for verb in [None, *cli.VERBS]:
        assert result["codes"][str(verb)] == 0, verb
        assert result["codes"][f"{verb}:chars"] > 100, verb
    loaded = [
        name
        for name in result["modules"]
        if name.split(".")[0] in HEAVY or any(name.startswith(p) for p in PROJECT)
    ]
    assert loaded == [], loaded
    # the parser module list is what the handlers import lazily: none of them was loaded
    assert "partialfed.experiments.sweep" not in result["modules"]


def test_the_parser_names_the_schedulers_of_the_sweep_module():
    from partialfed.experiments.cli import _common

    assert _common.SCHEDULERS == sweep.SCHEDULERS


def test_shipped_configs_are_found_outside_the_repository(tmp_path):
    """The console script has no repository folder on ``sys.path``: names resolve by package."""
    script = (
        "import sys\nfrom partialfed.experiments.cli import main\n"
        "assert 'experiments' not in sys.modules\nsys.exit(main(['run', 'quik']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Did you mean 'quick'" in done.stderr and "Traceback" not in done.stderr
