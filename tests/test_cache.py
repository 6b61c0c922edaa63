"""Where compiled kernels are cached (partialfed/_cache.py), in fresh processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def _launches(entry) -> bool:
    return any(getattr(fn, "__name__", "") == "_reload_parfors" for fn in entry[_RELOAD_INIT])


def _reload_init_index() -> int:
    """Where ``reload_init`` sits in an entry: the order of ``CompileResult._rebuild``'s
    arguments, which ``CompileResult._reduce`` makes the entry of (less ``target_context``)."""
    import inspect

    from numba.core.compiler import CompileResult

    names = list(inspect.signature(CompileResult._rebuild).parameters)
    return names.index("reload_init") - names.index("libdata")


_RELOAD_INIT = _reload_init_index()

PROBE = """from numba import njit, prange


@njit(cache=True, parallel=True)
def total(x):
    s = 0.0
    for i in prange(x.size):
        s += x[i]
    return s


@njit(cache=True)
def twice(x):
    return 2.0 * x
"""


def _real_entries(tmp_path, monkeypatch) -> dict:
    """The cache entries numba itself writes (``CompileResult._reduce``, through partialfed's
    locator) for a ``parallel=True`` function and a thread-free one, compiled in this process."""
    import importlib.util
    import pickle

    import numpy as np
    from numba.core import config

    from partialfed import _cache

    monkeypatch.setattr(_cache, "_ROOT", tmp_path / "root")
    monkeypatch.setattr(_cache, "_DIRS", set(_cache._DIRS))
    monkeypatch.setattr(_cache, "_LOCKED", set(_cache._LOCKED))
    path = _cache.kernel_dir() / "partialfed_kernels_probe_threads.py"
    path.write_text(PROBE)
    spec = importlib.util.spec_from_file_location("partialfed_kernels_probe_threads", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.total(np.ones(64)) == 64.0 and module.twice(1.5) == 3.0
    root = Path(config.CACHE_DIR) if config.CACHE_DIR else tmp_path / "root" / "numba"
    out = {}
    for name in ("total", "twice"):
        (data,) = root.rglob(f"*probe_threads.{name}-*.nbc")
        out[name] = pickle.loads(data.read_bytes())
    return out


def test_entries_that_enter_the_threading_layer_launch_it(tmp_path, monkeypatch):
    """Numba issue #8578: an entry compiled after its parallel callee was loaded from the cache
    lacks the threading-layer launcher; loading it first in a fresh process was a SIGSEGV.
    Saved entries get it, and entries saved without it (older caches) get it on load.

    The entries are numba's own (a ``parallel=True`` function and a thread-free one, compiled
    and cached here). Only the entry *without* the launcher is made by hand, by emptying the
    real entry's ``reload_init`` (its position read from numba's ``CompileResult._rebuild``):
    getting numba to write one takes the three processes of the slow test below."""
    import pickle

    from numba.core import caching

    from partialfed import _cache

    real = _real_entries(tmp_path, monkeypatch)
    assert _launches(real["total"]), "the parallel entry was cached without the launcher"
    assert not _launches(real["twice"])
    stripped = list(real["total"])
    stripped[_RELOAD_INIT] = [
        f for f in stripped[_RELOAD_INIT] if getattr(f, "__name__", "") != "_reload_parfors"
    ]
    stripped = tuple(stripped)
    _cache._lock_cache_entries(caching)
    folder = str(tmp_path / "entries")
    os.makedirs(folder)
    files = caching.IndexDataCacheFile(folder, "f-1.py311", ("stamp",))
    # Written as an unpatched numba writes them (the folder is not partialfed's yet).
    files.save(("old",), stripped)
    files.save(("plain",), real["twice"])
    monkeypatch.setattr(_cache, "_LOCKED", _cache._LOCKED | {folder})
    assert _launches(files.load(("old",))), "an old entry was loaded without the launcher"
    assert not _launches(files.load(("plain",))), "thread-free code got the launcher"
    files.save(("new",), stripped)
    with open(os.path.join(folder, files._load_index()[("new",)]), "rb") as fh:
        on_disk = pickle.loads(fh.read())
    assert _launches(on_disk), "a new entry was saved without the launcher"
    launchers = [f for f in files.load(("new",))[_RELOAD_INIT] if f.__name__ == "_reload_parfors"]
    assert len(launchers) == 1  # not added twice
    # Anything that is not such an entry passes through untouched.
    for other in (None, ("code", 1), (("a", "bitcode", b"x"),) * 9):
        assert _cache._with_parallel_reload(other) is other


STEP = """
import sys
from partialfed import simulators, synthetic
p = synthetic.make("quadratic", n=6, d_u=2, d_v=2, delta=1.0, seed=0)
c = simulators.RunConfig(sys.argv[1], T=3, m=3, tau_u=2, tau_v=2, gamma_u=0.05, gamma_v=0.05)
print(simulators.run(p, c).loss[-1])
"""


@pytest.mark.slow
def test_meta_kernel_cached_after_loading_its_parallel_callee_loads_in_a_new_process(tmp_path):
    """The cache of two steps that crashed: a FedAlt run caches the (parallel) population
    metrics; a Per-FedAvg run in a new process loads them and compiles ``run_meta_rounds``; a
    third process, whose first kernel is that entry, died with SIGSEGV (numba issue #8578)."""
    import pickle

    from numba.core.serialize import dumps

    env = {**os.environ, "PARTIALFED_CACHE_DIR": str(tmp_path), "NUMBA_NUM_THREADS": "2"}
    env.pop("NUMBA_CACHE_DIR", None)

    def step(algorithm):
        done = subprocess.run(
            [sys.executable, "-c", STEP, algorithm],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (algorithm, done.returncode, done.stderr[-3000:])

    step("fedalt")
    step("perfedavg")
    meta = list(tmp_path.rglob("_meta_rounds.run_meta_rounds-*.nbc"))
    assert meta, "the Per-FedAvg kernel was not cached"
    for path in meta:
        entry = pickle.loads(path.read_bytes())
        assert _launches(entry), f"{path.name} was cached without the threading-layer launcher"
        # As a partialfed without the fix wrote it: the next process must still load it safely.
        path.write_bytes(dumps((*entry[:_RELOAD_INIT], [], *entry[_RELOAD_INIT + 1 :])))
    step("perfedavg")
    step("ditto")


def test_generated_kernels_are_cached_like_partialfeds_own(tmp_path, monkeypatch):
    """The modules ``partialfed._codegen`` writes for user objectives get partialfed's locator:
    their entries go under the ``numba`` folder, stamped, saved and loaded under the lock (and
    with the threading-layer fix), not into ``kernels/__pycache__`` with numba's defaults."""
    import importlib.util

    from numba.core import config

    from partialfed import _cache

    monkeypatch.setattr(_cache, "_ROOT", tmp_path)
    monkeypatch.setattr(_cache, "_DIRS", set(_cache._DIRS))
    monkeypatch.setattr(_cache, "_LOCKED", set(_cache._LOCKED))
    folder = _cache.kernel_dir()
    path = folder / "partialfed_kernels_probe_cachefix.py"
    path.write_text(
        "from numba import njit\n\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n"
    )
    spec = importlib.util.spec_from_file_location("partialfed_kernels_probe_cachefix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.twice(3) == 6
    root = Path(config.CACHE_DIR) if config.CACHE_DIR else tmp_path / "numba"
    index = list(root.rglob("*probe_cachefix.twice-*.nbi"))
    assert index, "the generated kernel was not cached under partialfed's numba folder"
    assert not list(folder.rglob("*.nbi")), "the generated kernel was cached beside its source"
    assert Path(str(index[0]) + ".lock").exists(), "the entry was not saved under the lock"
