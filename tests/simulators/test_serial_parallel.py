"""The threaded and the thread-free kernels are the same code: they must give the same bits."""

from __future__ import annotations

import numpy as np
import pytest

from partialfed import simulators, synthetic

FIELDS = ("loss", "grad_u_sq", "grad_v_sq", "grad_u_sq_at_V_next", "u", "V", "clients")


@pytest.mark.parametrize("algorithm", sorted(simulators.ALGORITHMS))
def test_parallel_and_serial_kernels_agree_bitwise(algorithm):
    p = synthetic.make("quadratic", n=12, d_u=3, d_v=2, chi=0.4, noise_u=0.3, noise_v=0.2, seed=1)
    cfg = simulators.RunConfig(
        algorithm, T=30, m=5, tau_u=2, tau_v=2, gamma_u=0.3, gamma_v=0.3, seed=3
    )
    a = simulators.run(p, cfg, parallel=False)
    b = simulators.run(p, cfg, parallel=True)
    for name in FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


def test_default_uses_threads_only_for_large_rounds():
    small = synthetic.make("quadratic", n=10, seed=0)
    cfg = simulators.RunConfig("fedalt", T=2, m=2)
    assert simulators._api.work_per_round(small, cfg) < simulators._api.PARALLEL_WORK
    big = simulators.RunConfig("fedalt", T=2, m=10, tau_u=10**4, tau_v=10**4)
    assert simulators._api.work_per_round(small, big) > simulators._api.PARALLEL_WORK
