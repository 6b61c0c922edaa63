"""Where compiled kernels are cached (partialfed/_cache.py), in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys

SNIPPET = """
from partialfed import synthetic
from partialfed.synthetic import _kernels
p = synthetic.make("quadratic", n=4, d_u=2, d_v=2, delta=1.0, seed=0)
u, V = p.init(0)
print(p.F(u, V))
"""


def _run(env):
    done = subprocess.run(
        [sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_numba_cache_dir_is_respected_and_partialfed_stamp_still_applies(tmp_path):
    numba_dir, own = tmp_path / "numba-cache", tmp_path / "partialfed-cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_dir), "PARTIALFED_CACHE_DIR": str(own)}
    _run(env)
    assert any(numba_dir.rglob("*.nbi")), "nothing cached under NUMBA_CACHE_DIR"
    assert not list(own.rglob("*.nbi")), "NUMBA_CACHE_DIR was set but entries went elsewhere"
    # The entries were written by partialfed's locator (its stamp covers the kernel sources).
    probe = (
        "from numba.core import caching\n"
        "impl = getattr(caching, 'CacheImpl', None) or caching._CacheImpl\n"
        "import partialfed.synthetic\n"
        "print(impl._locator_classes[0].__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "PartialfedCacheLocator", done.stderr


def test_private_cache_folder_is_created_0700(tmp_path):
    own = tmp_path / "partialfed-cache"
    env = {**os.environ, "PARTIALFED_CACHE_DIR": str(own)}
    env.pop("NUMBA_CACHE_DIR", None)
    _run(env)
    assert oct(own.stat().st_mode & 0o777) == "0o700"
    assert any((own / "numba").rglob("*.nbi"))


def test_a_folder_writable_by_others_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    env = {**os.environ, "PARTIALFED_CACHE_DIR": str(shared)}
    env.pop("NUMBA_CACHE_DIR", None)
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", SNIPPET],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "writable by group or others" in done.stderr
    assert not list(shared.rglob("*.nbi")), "kernels were cached in a folder others can write"


def test_cache_entries_are_saved_and_loaded_under_a_lock(tmp_path, monkeypatch):
    """An index entry and its data file change together: partialfed's cache folders save and
    load numba entries holding an exclusive flock beside the index (two pool workers that
    compiled at once once left an index naming one signature with another's code: SIGSEGV)."""
    import fcntl

    from numba.core import caching

    from partialfed import _cache

    code = (
        "from partialfed import simulators\n"
        "from numba.core import caching\n"
        "assert caching.IndexDataCacheFile._partialfed_locked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)  # on import
    _cache._lock_cache_entries(caching)  # idempotent (other tests here reload modules)
    folder = str(tmp_path)
    held = []
    real = fcntl.flock

    def spy(fd, op):
        held.append(op)
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", spy)
    monkeypatch.setattr(_cache, "_LOCKED", _cache._LOCKED | {folder})
    files = caching.IndexDataCacheFile(folder, "f-1.py311", ("stamp",))
    files.save(("sig", 1), ("code", 1))
    files.save(("sig", 2), ("code", 2))
    assert files.load(("sig", 1)) == ("code", 1) and files.load(("sig", 2)) == ("code", 2)
    assert held == [fcntl.LOCK_EX, fcntl.LOCK_UN] * 4  # two saves, two loads, each locked
    other = caching.IndexDataCacheFile(str(tmp_path / "elsewhere"), "g-1.py311", ("s",))
    os.makedirs(tmp_path / "elsewhere")
    other.save(("sig",), ("code",))
    assert len(held) == 8  # folders of other locators keep numba's behaviour
