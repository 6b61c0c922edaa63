"""``bench --scale`` (``experiments.bench_metrics``): its rows, and verdicts from its numbers."""

from __future__ import annotations

from partialfed.experiments import bench_metrics


def _result(inc_top):
    rows = []
    for n, inc in ((10**4, 1.2), (10**6, inc_top)):
        rows += [
            {"n": n, "mode": "incremental", "ms_per_round": inc},
            {"n": n, "mode": "full", "ms_per_round": 240.0},
            {"n": n, "mode": "thinned", "ms_per_round": 1.1},
        ]
    setup = dict(m=1000, d_u=40, d_v=10, tau_u=10, rounds=4, cheap=25, repeats=2, threads=1)
    return {"setup": {**setup, "clock": "cpu"}, "results": rows}


def test_scale_times_every_mode_at_every_n():
    out = bench_metrics.metrics_scale(ns=(30, 60), m=4, d_u=3, d_v=2, tau=1, rounds=1, cheap=2)
    got = {(r["n"], r["mode"]) for r in out["results"]}
    assert got == {(n, name) for n in (30, 60) for name, _, _ in bench_metrics.MODES}
    assert out["setup"]["m"] == 4 and out["setup"]["cheap"] == 2


def test_scale_report_verdicts_follow_the_numbers():
    memory = dict(n=10**6, m=1000, rounds=10, peak_rss_gb=0.6, seconds=1.5)
    met = bench_metrics.scale_report(_result(2.5), memory)
    assert "2.500 ms/round (target <= 10), met: yes" in met and "200.0" in met  # at n = 10^4
    assert "240.000" in met and "96.0" in met  # full / incremental at n = 10^6
    assert "0.600 GB (target <= 2 GB), 1.50 s, met: yes" in met
    missed = bench_metrics.scale_report(_result(12.0), {**memory, "peak_rss_gb": 2.5})
    assert "12.000 ms/round (target <= 10), met: NO" in missed
    assert "2.500 GB (target <= 2 GB), 1.50 s, met: NO" in missed


def test_memory_runs_report_their_peak_in_a_subprocess():
    """Both memory runs (thinned metrics; incremental metrics every round) share one script."""
    from partialfed.experiments.bench import memory_benchmark
    from partialfed.experiments.bench_metrics import scale_memory

    for res in (memory_benchmark(n=500, m=20, rounds=2), scale_memory(n=500, m=20, rounds=2)):
        assert res["status"] == "ok", res
        # no upper bound: with a cold kernel cache the peak is the compiler's (2.09 GB seen)
        assert res["peak_rss_gb"] > 0 and res["n"] == 500 and res["rounds"] == 2
