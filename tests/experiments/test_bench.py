"""``partialfed bench``'s main table: the references' check, its columns with and without
PyTorch, and verdicts from its numbers (small sizes; nothing here asserts a speed)."""

from __future__ import annotations

import sys
from functools import partial

import numba
import numpy as np
import pytest

from partialfed import synthetic
from partialfed.experiments import bench, bench_torch

SMALL = dict(n=12, d_u=3, d_v=2, tau=2, rounds=2, repeats=1, loop_rounds_=1)


@pytest.fixture(params=[0.0, 0.3], ids=["chi0", "chi0.3"])
def problem(request):
    return synthetic.make("separable", n=9, d_u=4, d_v=3, chi=request.param, seed=2)


@pytest.mark.parametrize("alg", ["fedalt", "fedsim"])
def test_numpy_references_reproduce_the_kernel_and_wrong_ones_are_caught(problem, alg):
    bench._check_references(problem, alg, 3, 0.2, bench.references(None))
    wrong = {
        "one step fewer": lambda p, a, T, tau, *rest: bench.loop_rounds(p, a, T, tau - 1, *rest),
        "one round fewer": lambda p, a, T, *rest: bench.vectorised_rounds(p, a, T - 1, *rest),
        "step 1e-6 off": lambda p, a, T, tau, g, *rest: bench.loop_rounds(
            p, a, T, tau, g * (1 + 1e-6), *rest
        ),
        "nan": lambda p, *rest: tuple(np.full_like(x, np.nan) for x in bench.loop_rounds(p, *rest)),
    }
    for name, fn in wrong.items():
        with pytest.raises(AssertionError, match=f"{name} reference disagrees with the {alg}"):
            bench._check_references(problem, alg, 3, 0.2, {name: fn})


def _columns_present(result, torch):
    rows = result["results"]
    assert {(r["algorithm"], r["noise"]) for r in rows} == {
        (a, noisy) for a in ("fedalt", "fedsim") for noisy in (False, True)
    }
    for r in rows:
        assert r["kernel_ms_per_round"] > 0 and r["kernel_every_ms_per_round"] > 0
        assert r["metrics_every"] == "auto (incremental)"  # separable, chi = 0: exact
        assert r["speedup_loop"] == pytest.approx(r["loop_ms_per_round"] / r["kernel_ms_per_round"])
        assert (r["torch_ms_per_round"] is not None) == torch
        assert (r["speedup_torch"] is not None) == torch
    text = bench.report(result)
    assert "every round (eval_every=1, metrics auto (incremental))" in text
    assert "thinned (eval_every=2)" in text
    assert ("torch ms" in text and "x torch" in text) == torch
    return text


def test_bench_without_torch_omits_its_column(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" raises ImportError
    assert bench_torch.load_torch() is None
    result = bench.run_benchmark(**SMALL)
    assert result["setup"]["torch"] is None and result["setup"]["torch_note"] == "not installed"
    text = _columns_present(result, torch=False)
    assert "torch: not installed, no PyTorch reference" in text
    skipped = bench.run_benchmark(**SMALL, torch=False, check=False)
    assert "torch: not requested" in bench.report(skipped)


def test_metrics_mode_names_the_full_evaluation_where_incremental_is_not_exact():
    p = synthetic.make("separable", n=9, d_u=4, d_v=3, seed=2)
    assert bench.metrics_mode(p, "fedalt") == "auto (incremental)"
    assert bench.metrics_mode(p, "fedalt", "full") == "full (full)"
    assert bench.metrics_mode(p, "fedavg") == "auto (full)"  # one global v: no split


@pytest.mark.parametrize("alg", ["fedalt", "fedsim"])
def test_torch_loop_reproduces_the_numpy_loop_and_the_kernel(problem, alg):
    torch = pytest.importorskip("torch")
    u0, V0 = problem.init(0)
    rng = np.random.default_rng(0)
    u, V = bench_torch.torch_loop_rounds(problem, alg, 3, 3, 0.2, u0, V0, rng, torch=torch)
    u_np, V_np = bench.loop_rounds(problem, alg, 3, 3, 0.2, u0, V0, rng)
    assert u.dtype == np.float64 and V.shape == V0.shape
    assert np.allclose(u, u_np, rtol=1e-12, atol=0) and np.allclose(V, V_np, rtol=1e-12, atol=0)
    assert not np.array_equal(V, V0)
    refs = bench.references(torch)
    assert set(refs) == {"vectorised", "loop", "torch"}
    bench._check_references(problem, alg, 3, 0.2, refs)

    def fewer_steps(p, a, T, tau, *rest):
        return bench_torch.torch_loop_rounds(p, a, T, tau - 1, *rest, torch=torch)

    with pytest.raises(AssertionError, match="torch reference disagrees"):
        bench._check_references(problem, alg, 4, 0.2, {"torch": fewer_steps})


def test_torch_noise_is_drawn_and_seeded_by_the_numpy_generator():
    torch = pytest.importorskip("torch")
    p = bench.make_problem(6, 3, 2, noisy=True)
    u0, V0 = p.init(0)
    run = partial(bench_torch.torch_loop_rounds, p, "fedsim", 2, 2, 0.2, u0, V0, torch=torch)
    a, b, c = (
        run(np.random.default_rng(5)),
        run(np.random.default_rng(5)),
        run(np.random.default_rng(6)),
    )
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
    assert np.all(np.isfinite(a[0])) and np.all(np.isfinite(a[1]))


def test_bench_with_torch_adds_its_column_at_numbas_thread_count():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    result = bench.run_benchmark(**SMALL)
    s = result["setup"]
    assert s["torch"] == str(torch.__version__) and s["torch_threads"] == numba.get_num_threads()
    assert torch.get_num_threads() == before  # restored
    text = _columns_present(result, torch=True)
    assert f"torch.set_num_threads({numba.get_num_threads()}) = numba's" in text


def _result(ms, vec=3.0, loop=150.0):
    row = dict(
        algorithm="fedalt",
        noise=False,
        kernel_ms_per_round=ms,
        kernel_every_ms_per_round=2 * ms,
        metrics_every="auto (incremental)",
        vectorised_ms_per_round=vec * ms,
        loop_ms_per_round=loop * ms,
        torch_ms_per_round=None,
        speedup_vectorised=vec,
        speedup_loop=loop,
        speedup_torch=None,
    )
    setup = dict(n=1000, d_u=40, d_v=10, tau_u=10, rounds=100, ref_rounds=20, loop_rounds=2)
    setup.update(repeats=3, threads=1, clock="cpu", torch=None, torch_note="not installed")
    return {"setup": setup, "results": [row, {**row, "noise": True, "kernel_ms_per_round": 9.0}]}


def test_report_verdicts_follow_the_targets_of_issue_12():
    memory = dict(n=10**6, d_v=10, m=1000, rounds=10, peak_rss_gb=0.6, seconds=1.5)
    met = bench.report(_result(0.5), memory)
    assert "<= 1 ms per deterministic round, thinned (0.500): met" in met  # noisy 9 ms not used
    assert "roofline micro-kernel" in met and "superseded" in met
    assert ">= 20x vectorised not met, >= 200x loop not met" in met
    assert "(target <= 2 GB: met)" in met
    missed = bench.report(_result(1.5, vec=25.0, loop=250.0), {**memory, "peak_rss_gb": 2.5})
    assert "thinned (1.500): NOT met" in missed and "(target <= 2 GB: NOT met)" in missed
    assert ">= 20x vectorised met, >= 200x loop met" in missed
    assert set(bench.TARGETS) == {"ms_per_round", "peak_rss_gb", "roofline"}
