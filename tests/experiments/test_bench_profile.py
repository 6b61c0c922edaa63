"""The sampling profiler of ``partialfed bench --profile-quick`` and ``store_frame.by_round``."""

import time

import numpy as np
import pandas as pd
import pytest
from numba import njit

from partialfed.experiments.bench_profile import CATEGORIES, Sampler, profile_report
from partialfed.experiments.store_frame import by_round


@njit(nogil=True)
def _spin(n):
    s = 0.0
    for i in range(n):
        s += np.sin(i * 1e-3)
    return s


def _python_spin(seconds):
    t = time.perf_counter()
    s = 0.0
    while time.perf_counter() - t < seconds:
        s += 1.0
    return s


class _Holder:
    pass


def test_sampler_charges_nogil_kernel_calls_to_kernels_and_python_to_python():
    _spin(10)  # compiled before sampling
    holder = _Holder()
    holder.kernel = _spin
    with Sampler(0.002) as sampler:
        t = time.perf_counter()
        _spin(20_000_000)
        holder.kernel(  # a call spanning lines, through an attribute
            20_000_000
        )
        kernel_s = time.perf_counter() - t
        _python_spin(kernel_s)
    assert sampler.samples > 20
    total = sum(sampler.seconds.values())
    assert total == pytest.approx(sampler.wall, rel=0.2)
    share = sampler.seconds["kernels"] / total
    assert 0.3 < share < 0.7, sampler.seconds
    assert sampler.seconds["python"] > 0.2 * total
    kernels = [w for (c, w) in sampler.where if c == "kernels"]
    assert any(w.endswith(": _spin") for w in kernels)
    assert any(w.endswith(": holder.kernel") for w in kernels)


def test_sampler_refuses_a_bad_interval():
    with pytest.raises(ValueError, match="'interval'"):
        Sampler(0)


def test_profile_report_says_whether_the_target_is_met():
    seconds = dict.fromkeys(CATEGORIES, 1.0)
    seconds["kernels"] = 9.0
    total = sum(seconds.values())
    result = {
        "command": "partialfed reproduce --quick",
        "wall_s": total,
        "samples": 100,
        "interval_s": 0.002,
        "kernel_cache": "/tmp/x",
        "seconds": seconds,
        "share": {k: v / total for k, v in seconds.items()},
        "top": [["sympy", "core/basic.py:subs", 1.0]],
        "target": 0.5,
        "load": [1.0, 1.0, 1.0],
    }
    text = profile_report(result)
    assert "kernels 52.9% (target >= 50%: met)" in text
    assert "phases" not in text
    result["phases"] = {"strict": 12.25, "figures": 3.0}
    assert "the report's phases (wall s): strict 12.2, figures 3.0" in profile_report(result)
    result["share"]["kernels"] = 0.4
    assert "not met" in profile_report(result)


def test_by_round_keeps_an_ordered_frame_and_sorts_another():
    ordered = pd.DataFrame({"round": [0, 1, 5], "loss": [3.0, 2.0, 1.0]})
    assert by_round(ordered) is ordered
    shuffled = ordered.iloc[[2, 0, 1]]
    out = by_round(shuffled)
    assert out["round"].tolist() == [0, 1, 5]
    assert out["loss"].tolist() == [3.0, 2.0, 1.0]
    pd.testing.assert_frame_equal(out, shuffled.sort_values("round"))


def test_bench_profile_quick_runs_the_profiler_in_a_fresh_interpreter(monkeypatch):
    import argparse
    import subprocess
    import sys

    from partialfed.experiments.cli.bench import add_bench, bench

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    p = argparse.ArgumentParser()
    add_bench(p)
    assert bench(p.parse_args(["--profile-quick", "--json"])) == 0
    assert calls == [[sys.executable, "-m", "partialfed.experiments.bench_profile", "--json"]]
