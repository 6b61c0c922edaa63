"""Bad input is refused with one-line messages naming the parameter and what is allowed; a
diverging run is a result (status "diverged"), never an exception from a kernel."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from sim_helpers import config, tiny_problem

from partialfed import simulators
from partialfed.simulators import RunConfig

ALGORITHMS = sorted(simulators.ALGORITHMS)


@pytest.fixture(scope="module")
def quad():
    return tiny_problem("quadratic")


def raises_one_line(exc, pattern, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert re.search(pattern, msg), msg
    return msg


# (field, bad value, exception, pattern)
BAD_FIELDS = [
    (
        "algorithm",
        "fedalf",
        ValueError,
        r"^The 'algorithm' parameter of RunConfig must be one of 'fedalt', .*Did you mean 'fedalt'",
    ),
    ("algorithm", 0, ValueError, r"'algorithm' parameter of RunConfig must be one of"),
    (
        "T",
        0,
        ValueError,
        r"^The 'T' parameter of RunConfig must be an int in \[1, 10000000\]\. "
        r"Got 0\.$",
    ),
    ("T", -3, ValueError, r"'T' parameter .* in \[1, 10000000\]\. Got -3\."),
    ("T", 10**8, ValueError, r"'T' parameter .* Got 100000000\."),
    ("T", 2.0, TypeError, r"'T' parameter of RunConfig must be an int .* Got 2\.0\."),
    ("T", "5", TypeError, r"'T' parameter of RunConfig must be an int"),
    ("T", True, TypeError, r"'T' parameter of RunConfig must be an int .* Got True\."),
    (
        "m",
        0,
        ValueError,
        r"^The 'm' parameter of RunConfig must be an int in \[1, 10000000\]\. "
        r"Got 0\.$",
    ),
    ("m", 1.5, TypeError, r"'m' parameter of RunConfig must be an int"),
    ("tau_u", 0, ValueError, r"'tau_u' parameter of RunConfig must be an int in \[1, 10000\]"),
    ("tau_u", 10**4 + 1, ValueError, r"'tau_u' .* Got 10001\."),
    ("tau_v", 0, ValueError, r"'tau_v' parameter of RunConfig must be an int in \[1, 10000\]"),
    ("tau_v", None, TypeError, r"'tau_v' parameter of RunConfig must be an int .* Got None\."),
    (
        "gamma_u",
        -0.1,
        ValueError,
        r"^The 'gamma_u' parameter of RunConfig must be a finite real number in \[0, 1e\+06\]\. "
        r"Got -0\.1\.$",
    ),
    ("gamma_u", math.nan, ValueError, r"'gamma_u' parameter .* finite real .* Got nan\."),
    ("gamma_u", math.inf, ValueError, r"'gamma_u' parameter .* finite real .* Got inf\."),
    ("gamma_u", -math.inf, ValueError, r"'gamma_u' parameter .* Got -inf\."),
    ("gamma_u", 1e7, ValueError, r"'gamma_u' parameter .* \[0, 1e\+06\]\. Got 10000000\.0\."),
    ("gamma_u", "0.1", TypeError, r"'gamma_u' parameter of RunConfig must be a finite real"),
    ("gamma_v", np.nan, ValueError, r"'gamma_v' parameter .* Got nan\."),
    ("gamma_v", np.float64(np.inf), ValueError, r"'gamma_v' parameter .* finite real"),
    ("gamma_v", None, TypeError, r"'gamma_v' parameter of RunConfig must be a finite real"),
    (
        "seed",
        -1,
        ValueError,
        r"'seed' parameter of RunConfig must be an int in "
        r"\[0, 9223372036854775807\]\. Got -1\.",
    ),
    ("seed", 2**63, ValueError, r"'seed' parameter .* Got 9223372036854775808\."),
    ("seed", 0.5, TypeError, r"'seed' parameter of RunConfig must be an int"),
    (
        "eval_every",
        0,
        ValueError,
        r"'eval_every' parameter of RunConfig must be an int in "
        r"\[1, 100\]\. Got 0\.",
    ),
    ("eval_every", 101, ValueError, r"'eval_every' parameter .* \[1, 100\]\. Got 101\."),
    ("alpha", -0.01, ValueError, r"'alpha' parameter of RunConfig must be a finite real number"),
    ("alpha", math.nan, ValueError, r"'alpha' parameter .* Got nan\."),
    ("variant", "sgd", ValueError, r"'variant' parameter of RunConfig must be .*'maml'.* Got"),
    ("variant", 0, ValueError, r"'variant' parameter of RunConfig must be"),
    ("hf_delta", 0.0, ValueError, r"'hf_delta' parameter of RunConfig must be .*\(0, 1e\+06\]"),
    ("hf_delta", math.inf, ValueError, r"'hf_delta' parameter .* Got inf\."),
    ("ditto_lam", -1.0, ValueError, r"'ditto_lam' parameter of RunConfig must be a finite real"),
]


@pytest.mark.parametrize(
    "field,value,exc,pattern", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v, _, _ in BAD_FIELDS]
)
def test_runconfig_rejects(field, value, exc, pattern):
    raises_one_line(exc, pattern, RunConfig, **{"algorithm": "fedalt", "T": 100, field: value})


def test_every_field_is_validated():
    """Each RunConfig field has at least one rejection case above."""
    covered = {f for f, *_ in BAD_FIELDS}
    assert covered == set(RunConfig.__dataclass_fields__)


def test_numpy_integers_and_floats_accepted(quad):
    cfg = RunConfig(
        "fedalt", T=np.int64(3), m=np.int32(2), gamma_u=np.float32(0.1), seed=np.uint8(1)
    )
    assert simulators.run(quad, cfg).status == "ok"


@pytest.mark.parametrize("algorithm", ["fedsim", "fedavg"])
def test_joint_algorithms_need_equal_taus(algorithm):
    raises_one_line(
        ValueError,
        rf"^The 'tau_v' parameter of RunConfig must equal tau_u \(=2\) for algorithm "
        rf"'{algorithm}', which takes joint steps\. Got 3\.$",
        RunConfig,
        algorithm,
        tau_u=2,
        tau_v=3,
    )
    RunConfig(algorithm, tau_u=3, tau_v=3)
    RunConfig("fedalt", tau_u=2, tau_v=3)  # alternating algorithms take any pair


def test_m_larger_than_n(quad):
    raises_one_line(
        ValueError,
        r"^The 'm' parameter of RunConfig must be an int in \[1, 6\]\. Got 7\.$",
        simulators.run,
        quad,
        RunConfig("fedalt", T=2, m=7),
    )


def test_run_rejects_wrong_objects(quad):
    raises_one_line(
        TypeError,
        r"'problem' parameter of run must be a synthetic\.Problem\. "
        r"Got str\.",
        simulators.run,
        "quadratic",
        RunConfig(),
    )
    raises_one_line(
        TypeError,
        r"'config' parameter of run must be a simulators\.RunConfig\. "
        r"Got dict\.",
        simulators.run,
        quad,
        {"algorithm": "fedalt"},
    )


@pytest.mark.parametrize(
    "kw,pattern",
    [
        (
            dict(u0=np.zeros(4)),
            r"'u0' parameter of run must be a finite float array of shape 3\. "
            r"Got shape 4\.",
        ),
        (dict(u0=np.zeros((3, 1))), r"'u0' .* shape 3\. Got shape 3x1\."),
        (
            dict(u0=[0.0, np.nan, 0.0]),
            r"'u0' parameter of run must be a finite float array .* "
            r"NaN or inf",
        ),
        (dict(u0=np.array([0.0, np.inf, 0.0])), r"'u0' .* NaN or inf"),
        (dict(u0=["a", "b", "c"]), r"'u0' parameter of run must be a finite float array"),
        (
            dict(V0=np.zeros((6, 3))),
            r"'V0' parameter of run must be a finite float array of shape "
            r"6x2\. Got shape 6x3\.",
        ),
        (dict(V0=np.zeros(12)), r"'V0' .* shape 6x2\. Got shape 12\."),
        (dict(V0=np.full((6, 2), np.nan)), r"'V0' .* NaN or inf"),
    ],
)
def test_initial_point_validated(quad, kw, pattern):
    raises_one_line(ValueError, pattern, simulators.run, quad, RunConfig("fedalt", T=2, m=2), **kw)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_diverging_run_is_a_result(quad, algorithm):
    """gamma = 50/L on a quadratic blows up geometrically: status "diverged", no exception."""
    cfg = config(quad, algorithm, T=300, m=3, gamma_u=50.0, gamma_v=50.0)
    h = simulators.run(quad, cfg)
    assert h.status == "diverged"
    assert isinstance(h.diverged_at, int) and 1 <= h.diverged_at <= cfg.T
    assert str(h.diverged_at) in h.message
    before = h.rounds < h.diverged_at
    for name in ("loss", "grad_u_sq", "grad_v_sq"):
        metric = getattr(h, name)
        assert metric.shape == h.rounds.shape
        assert np.all(np.isfinite(metric[before])), name  # last finite metrics kept
        assert np.all(np.isnan(metric[~before])), name  # NaN afterwards
    assert before.sum() >= 2 and (~before).sum() >= 1
    assert h.clients.shape == (h.diverged_at, cfg.m)
    assert h.to_frame()["status"].eq("diverged").all()
    assert "diverged" in repr(h)


def test_largest_allowed_step_does_not_raise(quad):
    h = simulators.run(quad, RunConfig("fedsim", T=50, m=2, gamma_u=1e6, gamma_v=1e6))
    assert h.status == "diverged" and h.diverged_at <= 50


def test_zero_dimensional_personal_block_with_noise():
    """d_v = 0 with noise_v > 0: no noise on an empty block (used to divide by zero)."""
    p = tiny_problem("quadratic", noisy=True, d_v=0, chi=0.0)
    assert p.d_v == 0 and p.noise_v > 0
    for alg in ALGORITHMS:
        h = simulators.run(p, config(p, alg))
        assert h.status == "ok" and h.V.shape == (p.n, 0)
        assert np.all(h.grad_v_sq == 0)
