"""``bench``'s roofline micro-kernel: the shipped kernel's iterates bit for bit, and its report."""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest

from partialfed import simulators, synthetic
from partialfed.experiments import bench_roofline as br
from partialfed.experiments import cli

N, D_U, D_V, TAU, T, GAMMA = 37, 6, 3, 4, 3, 0.2
THREADS = [1] + ([2] if numba.config.NUMBA_NUM_THREADS >= 2 else [])


@pytest.fixture(scope="module")
def problem():
    return synthetic.make("separable", n=N, d_u=D_U, d_v=D_V, seed=4)


def _shipped(p, alg, tau=TAU, rounds=T, parallel=None):
    return simulators.run(p, br._config(alg, rounds, tau, GAMMA, p.n), parallel=parallel)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("alg", ["fedalt", "fedsim"])
def test_micro_kernel_iterates_equal_the_shipped_kernel_bit_for_bit(problem, alg, threads):
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        u, V = br.roofline_rounds(problem, alg, T, TAU, GAMMA, *problem.init(0))
        for parallel in (False, True):
            h = _shipped(problem, alg, parallel=parallel)
            assert br.mismatch(h, u, V) == 0.0
            assert np.array_equal(u, h.u) and np.array_equal(V, h.V)
    finally:
        numba.set_num_threads(before)
    u0, V0 = problem.init(0)
    assert not np.array_equal(u, u0) and not np.array_equal(V, V0)  # the rounds moved them
    br.check_roofline(problem, alg, TAU, GAMMA)


def test_wrong_micro_kernels_are_caught(problem):
    """Mutants: the server mean summed in decreasing device index, one local step fewer, a step
    size one ulp off, one round fewer. Each differs from the shipped kernel and is caught."""
    h = _shipped(problem, "fedalt")
    u0, V0 = problem.init(0)
    scratch = np.empty((N, D_U))
    u, V = br.roofline_rounds(problem, "fedalt", T, TAU, GAMMA, u0, V0, scratch)
    assert br.mismatch(h, u, V) == 0.0
    u_rev = np.zeros(D_U)
    for j in range(N - 1, -1, -1):  # the last round's local models, in the opposite order
        u_rev += scratch[j]
    u_rev /= N
    mutants = {
        "reversed mean": (u_rev, V),
        "tau - 1": br.roofline_rounds(problem, "fedalt", T, TAU - 1, GAMMA, u0, V0),
        "gamma + 1 ulp": br.roofline_rounds(
            problem, "fedalt", T, TAU, np.nextafter(GAMMA, 1.0), u0, V0
        ),
        "T - 1": br.roofline_rounds(problem, "fedalt", T - 1, TAU, GAMMA, u0, V0),
    }
    for name, (mu, mV) in mutants.items():
        assert br.mismatch(h, mu, mV) > 0.0, name
    assert br.mismatch(h, u_rev, V) < 1e-14  # a summation order changes rounding only
    assert br.mismatch(h, u[:-1], V) == np.inf


def test_check_roofline_raises_on_a_different_run(problem, monkeypatch):
    real = br.roofline_rounds

    def one_step_short(p, alg, T_, tau, gamma, u0, V0, out=None):
        return real(p, alg, T_, tau - 1, gamma, u0, V0, out)

    monkeypatch.setattr(br, "roofline_rounds", one_step_short)
    with pytest.raises(AssertionError, match="roofline micro-kernel's fedsim iterates differ"):
        br.check_roofline(problem, "fedsim", TAU, GAMMA)


def test_micro_kernel_refuses_problems_it_does_not_compute(problem):
    coupled = synthetic.make("separable", n=8, d_u=3, d_v=2, chi=0.3, seed=0)
    noisy = synthetic.make("separable", n=8, d_u=3, d_v=2, noise_u=0.5, seed=0)
    for p, match in ((coupled, "chi=0"), (noisy, "deterministic")):
        with pytest.raises(ValueError, match=match):
            br.roofline_rounds(p, "fedalt", 1, 1, GAMMA, *p.init(0))
    with pytest.raises(ValueError, match="'algorithm' parameter of roofline_rounds"):
        br.roofline_rounds(problem, "fedavg", 1, 1, GAMMA, *problem.init(0))


def test_benchmark_rows_and_report_state_the_target(problem):
    res = br.roofline_benchmark(n=20, d_u=4, d_v=2, tau=2, rounds=3, repeats=3, clock="cpu")
    rows = res["results"]
    assert [(r["algorithm"], r["threads"]) for r in rows] == [
        (a, t) for t in THREADS for a in ("fedalt", "fedsim")
    ]
    for r in rows:
        assert r["ratio"] == pytest.approx(r["roofline_ms_per_round"] / r["kernel_ms_per_round"])
        assert r["met"] == (r["ratio"] >= br.TARGET)
        q1, q2, q3 = r["paired_ratio"]
        assert 0.0 < q1 <= q2 <= q3
        assert r["kernel_spread"] >= 0.0 and r["roofline_spread"] >= 0.0
    text = br.roofline_report(res)
    assert text.count("target >= 0.8x:") == len(rows)
    rows[0].update(ratio=0.5, met=False)
    rows[1].update(ratio=0.9, met=True)
    text = br.roofline_report(res)
    assert "0.50  target >= 0.8x: NO" in text and "0.90  target >= 0.8x: met" in text
    rows[0].update(paired_ratio=[0.7, 0.75, 0.8], kernel_spread=0.04, roofline_spread=0.12)
    assert "paired 0.75 [0.70, 0.80]  spread 4%, 12%" in br.roofline_report(res)


def test_cli_roofline_prints_json_rows(capsys, monkeypatch):
    seen = {}
    real = br.roofline_benchmark

    def small(**kw):
        seen.update(kw)
        return real(n=12, d_u=3, d_v=2, tau=2, rounds=2, repeats=1, clock=kw["clock"])

    monkeypatch.setattr(br, "roofline_benchmark", small)
    assert cli.main(["bench", "--roofline", "--quick", "--clock", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert seen == {"n": 200, "rounds": 20, "clock": "cpu"}
    assert out["setup"]["clock"] == "cpu" and len(out["results"]) == len(THREADS) * 2
    assert cli.main(["bench", "--roofline", "--quick"]) == 0
    assert "target >= 0.8x:" in capsys.readouterr().out
