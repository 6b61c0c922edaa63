"""``partialfed bench --threads``: its rows with one and two threads, the one-thread case, its
report and its command line (small sizes; nothing here asserts a speed)."""

from __future__ import annotations

import json

import numba
import pytest

from partialfed.experiments import bench_threads as bt
from partialfed.experiments import cli

TINY = dict(sizes=((40, 40), (80, 20)), d_u=3, d_v=2, tau=2, rounds=1, repeats=1)


def _keys(result):
    return {(r["algorithm"], r["n"], r["m"]) for r in result["results"]}


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")
def test_threads_rows_time_one_and_two_threads_and_restore_the_count():
    before = numba.get_num_threads()
    result = bt.threads_benchmark(**TINY)
    assert numba.get_num_threads() == before
    assert _keys(result) == {(a, n, m) for a in ("fedalt", "fedsim") for n, m in TINY["sizes"]}
    s = result["setup"]
    assert s["threads"] == [1, 2] and s["clock"] == "wall" and s["target"] == bt.TARGET == 1.7
    assert s["threading_layer"] in ("tbb", "omp", "workqueue") and s["load_before"] >= 0
    assert s["available_threads"] == numba.config.NUMBA_NUM_THREADS
    for r in result["results"]:
        one, two = r["ms_per_round_1_thread"], r["ms_per_round_2_threads"]
        assert two is not None and r["speedup"] == pytest.approx(one / two)
        assert r["met"] == (r["speedup"] >= bt.TARGET) and r["run_speedup"] > 0
    text = bt.threads_report(result)
    assert text.count("target >= 1.7x:") == 4 and "only 1 numba thread" not in text


def test_with_one_thread_available_only_one_thread_is_timed_and_the_report_says_so(
    monkeypatch,
):
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    assert bt.available_threads() == 1
    result = bt.threads_benchmark(**{**TINY, "sizes": ((30, 10),)})
    assert result["setup"]["threads"] == [1]
    assert _keys(result) == {("fedalt", 30, 10), ("fedsim", 30, 10)}
    for r in result["results"]:
        assert r["ms_per_round_2_threads"] is None and r["speedup"] is None and r["met"] is None
    text = bt.threads_report(result)
    assert "only 1 numba thread available (NUMBA_NUM_THREADS=1)" in text
    assert "not measured" in text and "target >= 1.7x:" not in text


def _fake(speedup):
    row = dict(algorithm="fedalt", n=10**4, m=10**4, ms_per_round_1_thread=6.0)
    row.update(ms_per_round_2_threads=6.0 / speedup, speedup=speedup, run_speedup=speedup - 0.1)
    row["met"] = speedup >= bt.TARGET
    setup = dict(d_u=40, d_v=10, tau_u=10, rounds=10, repeats=4, cpu_count=2, target=1.7)
    setup.update(threads=[1, 2], available_threads=2, load_before=0.1, load_after=0.2)
    return {"setup": setup, "results": [row]}


def test_report_verdict_follows_the_speedup():
    assert "1.80x     1.70x  target >= 1.7x: met" in bt.threads_report(_fake(1.8))
    assert "1.50x     1.40x  target >= 1.7x: NO" in bt.threads_report(_fake(1.5))
    assert "load average 0.10 before, 0.20 after" in bt.threads_report(_fake(1.5))
    assert "busy machine" not in bt.threads_report(_fake(1.5))
    busy = _fake(0.4)
    busy["setup"]["load_before"] = 4.5
    assert "busy machine (load average 4.50 before the run, on 2 cores)" in bt.threads_report(busy)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(sizes=((10, 20),)), "sizes"),
        (dict(rounds=0), "rounds"),
        (dict(repeats=1.5), "repeats"),
    ],
)
def test_bad_inputs_name_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}' parameter of threads_benchmark"):
        bt.threads_benchmark(**kwargs)


def test_cli_threads_runs_the_benchmark_and_refuses_the_cpu_clock(capsys, monkeypatch):
    calls, real = [], bt.threads_benchmark

    def small(**kwargs):
        calls.append(kwargs)
        return real(**{**TINY, "sizes": ((30, 10),)})

    monkeypatch.setattr(bt, "threads_benchmark", small)
    assert cli.main(["bench", "--threads", "--quick", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["n"] for r in out["results"]} == {30} and calls[0]["rounds"] == 10
    assert calls[0]["sizes"] == ((2000, 2000), (10**4, 2000))
    assert cli.main(["bench", "--threads", "--clock", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "'--clock' option must be 'wall' with --threads" in err and len(calls) == 1
