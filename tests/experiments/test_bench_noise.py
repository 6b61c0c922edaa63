"""``partialfed bench --noise``: what it times is the kernels' noise, and its report."""

from __future__ import annotations

import numpy as np

from partialfed.experiments import bench_noise
from partialfed.simulators import _rng


def test_timed_generators_draw_the_kernel_normals_and_libm_box_muller():
    buf, ref = np.empty(64), np.empty(64)
    bench_noise.draw_blocks(buf, 1, 3)
    bench_noise.draw_blocks_libm(ref, 1, 3)
    kk = np.uint64(_rng.noise_key(3, _rng.STREAM_NOISE_U, 0, 0) % 2**64)
    assert np.array_equal(buf, _rng.normals(kk, 0, 64))
    # the same counters through libm: equal up to rounding (not bit for bit)
    assert np.max(np.abs(buf - ref)) < 1e-13
    assert not np.array_equal(buf, ref)


def test_report_states_the_target_and_whether_it_is_met():
    row = dict(
        algorithm="fedalt",
        noisy_ms_per_round=2.0,
        deterministic_ms_per_round=0.5,
        noisy_coord_steps_per_s=2.5e8,
        noise_share=0.75,
    )
    result = {
        "setup": dict(n=10, d_u=4, d_v=2, tau=2, rounds=3, block=8, repeats=1, clock="cpu"),
        "generator": {"new": 2e8, "libm": 5e7},
        "kernels": [row, {**row, "algorithm": "fedsim", "noisy_coord_steps_per_s": 1e8}],
    }
    result["setup"]["threads"] = 1
    text = bench_noise.noise_report(result)
    assert "200 M normals/s" in text and "(x4.00)" in text
    assert "NOT met" in text  # fedsim at 100 M is below 150 M
    result["kernels"][1]["noisy_coord_steps_per_s"] = 1.6e8
    assert "NOT met" not in bench_noise.noise_report(result)
