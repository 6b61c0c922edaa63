"""The README's two commands in one environment: install, run, uninstall, editable install, run.

A regular install once left numba's cache (``__pycache__/*.nbi``) inside site-packages; a plain
``pip uninstall`` kept those folders, and they then shadowed the editable install as empty
namespace packages (``AttributeError: module 'synthetic' has no attribute 'FAMILIES'``). Here a
fresh virtual environment (its dependencies borrowed from this one through a ``.pth`` line, so
nothing is downloaded but the build backend) goes through that sequence in subprocesses.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SNIPPET = """
from partialfed import synthetic, simulators
p = synthetic.make("quadratic", n=4, d_u=2, d_v=2, delta=1.0, seed=0)
h = simulators.run(p, simulators.RunConfig("fedalt", T=2, m=2))
print(sorted(synthetic.FAMILIES), h.status, synthetic.__file__)
"""


def _sh(cmd, env, cwd):
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _venv(tmp: Path) -> tuple[Path, Path]:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True)
    py = tmp / "venv" / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # This environment's packages (numpy, numba, pip, ...) become visible to the new one, after
    # its own site-packages; .pth files in them are not processed, so this environment's own
    # (editable) partialfed stays invisible there.
    here = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    (purelib / "borrowed.pth").write_text("\n".join(dict.fromkeys(here)) + "\n")
    return py, purelib


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths")
def test_install_run_uninstall_editable_run(tmp_path):
    # Build from a copy: an in-tree build leaves build/ and *.egg-info in the checkout.
    src = tmp_path / "src"
    junk = (".git", ".venv", ".ci-venv", "build", "*.egg-info", "__pycache__", ".*_cache")
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*junk))
    py, purelib = _venv(tmp_path)
    cache = tmp_path / "cache"
    env = {**os.environ, "PARTIALFED_CACHE_DIR": str(cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("PYTHONPATH", None)
    work = tmp_path / "elsewhere"  # not the repository, whose partialfed/ would be found first
    work.mkdir()
    pip = [str(py), "-m", "pip", "install", "--quiet", "--no-deps"]

    _sh([*pip, str(src)], env, work)
    out = _sh([str(py), "-c", SNIPPET], env, work)
    assert "'quadratic'" in out and str(purelib) in out, out
    installed = purelib / "partialfed"
    left = sorted(p.relative_to(installed) for p in installed.rglob("*.nb[ic]"))
    assert left == [], f"numba wrote its cache into site-packages: {left[:5]}"
    assert any(cache.rglob("*.nbi")), "the kernels were not cached in PARTIALFED_CACHE_DIR"

    _sh([str(py), "-m", "pip", "uninstall", "--yes", "--quiet", "partialfed"], env, work)
    assert not installed.exists(), sorted(str(p) for p in installed.rglob("*"))[:10]

    _sh([*pip, "--editable", str(src)], env, work)
    out = _sh([str(py), "-c", SNIPPET], env, work)
    assert "'quadratic'" in out and str(src / "synthetic") in out, out
    exe = str(tmp_path / "venv" / "bin" / "partialfed")
    listed = _sh([exe, "bound"], env, work)
    assert "fedalt_tau1_full" in listed
    tiny = src / "tests" / "experiments" / "tiny.toml"
    ran = _sh(
        [exe, "run", str(tiny), "--out", str(tmp_path / "res"), "--scheduler", "serial"], env, work
    )
    assert len(list((tmp_path / "res").glob("*.parquet"))) == 8, ran
