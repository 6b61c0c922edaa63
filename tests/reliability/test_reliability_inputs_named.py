"""Issue 16, items 9, 10, 12 and 13: each reported bad message or silent accept, as reported.

Every test here failed on the code before the fix (a foreign message, a wrong name, a traceback
or nothing at all), except the item 10 and seed-range tests, which prove that what already held
keeps holding: NumPy and ``Fraction`` scalars reach the kernels as Python ``int``/``float`` (one
compiled variant), seeds beyond 2^63 - 1 are refused at load naming the key.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import warnings
from fractions import Fraction

import numpy as np
import pytest
from reliability_helpers import FOREIGN, assert_cli_usage_error, assert_one_line, tiny_problem

from partialfed import simulators, synthetic
from partialfed.experiments import cli, config, executors, sweep
from partialfed.experiments.cli._common import Verb
from partialfed.simulators._records import Steps
from partialfed.synthetic import _memory


def _main(capsys, argv) -> tuple[int, str]:
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    return rc, capsys.readouterr().err


_CHECK = ["check", "fedsgd_partial", "--seeds", "2", "--scheduler", "serial"]
_BASE = {"family": "quadratic", "problem": {"n": 6, "d_u": 3, "d_v": 2}, "run": {"T": 2}}


# -- item 13: the reported messages ---------------------------------------------------------------
def test_check_step_word_names_the_key_and_max(capsys):
    rc, err = _main(capsys, [*_CHECK, "--set", "gamma_u=maxx"])
    line = assert_cli_usage_error(rc, err, "gamma_u")
    assert "or max" in line and "'maxx'" in line, line


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "2e6"])
def test_check_step_number_names_the_key(capsys, value):
    rc, err = _main(capsys, [*_CHECK, "--set", f"gamma_u={value}"])
    assert_cli_usage_error(rc, err, "gamma_u")


@pytest.mark.parametrize("key", ["n", "delta", "T", "gamma_u"])
def test_check_refuses_a_grid_naming_the_key(capsys, key):
    rc, err = _main(capsys, [*_CHECK, "--set", f"{key}=[1,2]"])
    line = assert_cli_usage_error(rc, err, key)
    assert "one value per key" in line and "partialfed run" in line, line


def test_regime_refuses_a_grid_off_its_axes(capsys):
    rc, err = _main(capsys, ["regime", "--set", "n=[4,5]", "--seeds", "1"])
    line = assert_cli_usage_error(rc, err, "n")
    assert "noise_v" in line and "delta" in line, line  # says which keys take lists


@pytest.mark.parametrize("verb", ["check", "regime"])
def test_no_personal_block_names_d_v(capsys, verb):
    argv = ["check", "fedalt_tau1_full"] if verb == "check" else ["regime"]
    argv += ["--set", "d_v=0", "--set", "chi=0", "--set", "T=2", "--seeds", "2"]
    rc, err = _main(capsys, argv)
    assert_cli_usage_error(rc, err, "d_v")


@pytest.mark.parametrize(
    "address",
    ["tcp://localhost:notaport", "tcp://localhost", "tcp://:8786", "tcp://h:0", "tcp://h:65536"],
)
@pytest.mark.parametrize("verb", ["check", "run"])
def test_scheduler_address_is_checked(capsys, tmp_path, verb, address):
    if verb == "check":
        argv = [*_CHECK[:-2], "--scheduler", address]
    else:
        argv = ["run", "quick", "--out", tmp_path / "o", "--scheduler", address]
    rc, err = _main(capsys, argv)
    line = assert_cli_usage_error(rc, err, "--scheduler")
    assert "HOST:PORT" in line, line


@pytest.mark.parametrize("address", ["tcp://10.0.0.1:8786", "tls://host.example:1", "inproc://x"])
def test_scheduler_addresses_that_stay_accepted(address):
    executors.check_scheduler(address)


@pytest.mark.parametrize("metric", ["status", "hash", "delta", "message"])
def test_plot_refuses_non_numeric_metrics(capsys, tmp_path, metric):
    rc, err = _main(capsys, ["plot", tmp_path, "--metric", metric])
    line = assert_cli_usage_error(rc, err, "--metric")
    assert "grad_u_sq" in line, line


def test_plot_metrics_are_the_simulators_metrics():
    from partialfed.experiments.cli.sweeps import PLOT_METRICS

    assert PLOT_METRICS == ("gap", *simulators.METRICS, *simulators.PERSONAL_METRICS)


@pytest.mark.parametrize("chi", [1e-200, 1e-300, 5e-324])
def test_separable_tiny_coupling_names_chi(capsys, tmp_path, chi):
    with pytest.raises(ValueError) as info:
        synthetic.make("separable", n=6, d_u=3, d_v=2, chi=chi)
    assert_one_line(info.value, "chi")
    path = tmp_path / "sep.toml"
    path.write_text(f'family = "separable"\n[problem]\nn = 6\nchi = {chi!r}\n[run]\nT = 2\n')
    rc, err = _main(capsys, ["run", path, "--out", tmp_path / "o", "--scheduler", "serial"])
    assert_cli_usage_error(rc, err, "chi")


def test_separable_small_coupling_still_builds():
    assert synthetic.make("separable", n=6, d_u=3, d_v=2, chi=1e-100).n == 6


@pytest.mark.parametrize("eta", ["1e308", "1e7"])
def test_regime_eta_too_large_names_eta(capsys, eta):
    rc, err = _main(capsys, ["regime", "--eta", eta, "--set", "T=2", "--seeds", "1"])
    line = assert_cli_usage_error(rc, err, "--eta")
    assert "gamma_u" in line, line  # and says which step it gave


@pytest.mark.parametrize("family", ["", " ", "nosuch", "../x"])
def test_check_family_is_validated(capsys, family):
    rc, err = _main(capsys, [*_CHECK, "--family", family])
    assert_cli_usage_error(rc, err, "--family")


@pytest.mark.parametrize("which", ["u0", "V0"])
def test_masked_initial_points_are_refused(which):
    p = tiny_problem("quadratic")
    u0, V0 = p.init(0)
    value = u0 if which == "u0" else V0
    mask = np.zeros(value.shape, bool)
    mask.flat[0] = True
    with pytest.raises(ValueError) as info:
        simulators.run(
            p, simulators.RunConfig(T=2, m=2), **{which: np.ma.masked_array(value, mask)}
        )
    assert "masked" in assert_one_line(info.value, which)


@pytest.mark.parametrize(
    ("section", "key", "values"),
    [
        ("problem", "delta", [1, 1.0]),
        ("problem", "delta", [0.5, 0.25, 0.5]),
        ("problem", "start", ["random", "random"]),
        ("run", "gamma_u", [0.1, 0.1]),
        ("run", "T", [2, 2]),
    ],
)
def test_duplicated_grid_values_are_refused(section, key, values):
    data = {**_BASE, section: {**_BASE[section], key: values}}
    with pytest.raises(config.ConfigError) as info:
        config.from_dict(data)
    assert "twice" in assert_one_line(info.value, key)


def test_distinct_grid_values_of_mixed_types_stay_accepted():
    data = {**_BASE, "problem": {**_BASE["problem"], "delta": [0, 0.5, 1]}}
    assert len(config.from_dict(data)) == 3


def test_workers_are_capped_at_the_runs_and_warned_above_the_cores(monkeypatch):
    monkeypatch.setattr(executors, "_cores", lambda: 2)
    with pytest.warns(UserWarning, match="above the 2 cores"):
        assert executors.fit_workers(1000, 16) == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert executors.fit_workers(2, 1) == 1
        assert executors.fit_workers(None, 5) is None


def test_run_sweep_starts_no_more_workers_than_runs(monkeypatch, tmp_path):
    """The pool is asked for at most one process per run to compute (issue: 17 for 16)."""
    asked = []

    class Stop(Exception):
        pass

    def fake(scheduler, workers=None):
        asked.append((scheduler, workers))
        raise Stop

    monkeypatch.setattr(sweep, "make_executor", fake)
    s = config.from_dict({**_BASE, "seeds": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Stop):
            sweep.run_sweep(s, tmp_path / "o", scheduler="local", workers=1000, progress=False)
    assert asked == [("local", 3)]


def test_cli_warnings_are_one_line(capsys, monkeypatch):
    def handler(args: argparse.Namespace) -> int:
        warnings.warn("first line\nsecond line", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setitem(cli.VERBS, "bench", Verb("h", "examples:\n  x", lambda p: None, handler))
    rc, err = _main(capsys, ["bench"])
    assert rc == 0 and err == "partialfed bench: warning: first line second line\n", err


def test_cli_memory_error_is_one_line(capsys, monkeypatch):
    def handler(args):
        raise MemoryError

    monkeypatch.delenv("PARTIALFED_DEBUG", raising=False)
    monkeypatch.setitem(cli.VERBS, "bench", Verb("h", "examples:\n  x", lambda p: None, handler))
    rc, err = _main(capsys, ["bench"])
    assert rc == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "out of memory" in err


# -- item 12: memory estimated from the knobs, before the problem is built ------------------------
@pytest.mark.parametrize(
    ("family", "knobs", "names"),
    [
        ("logistic", dict(n=10**7), ("n", "samples")),
        ("quadratic", dict(n=10, d_u=10**4), ("d_u",)),
        ("separable", dict(n=10**7, d_u=10, d_v=10), ("n", "d_u")),
        ("representation", dict(n=10**6, d=40, k=2, samples=10), ("n", "samples")),
        ("sawtooth", dict(n=10**7, d_u=10, d_v=10), ("n",)),
    ],
)
def test_make_refuses_what_does_not_fit_naming_the_knobs(monkeypatch, family, knobs, names):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**28)  # 256 MB left
    with pytest.raises(ValueError) as info:
        synthetic.make(family, **knobs)
    message = assert_one_line(info.value, *names)
    assert "memory" in message and "GB" in message


def test_memory_check_comes_after_the_ranges(monkeypatch):
    """An out-of-range knob still gets its range message (what is allowed), not a memory one."""
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**28)
    with pytest.raises(ValueError) as info:
        synthetic.make("quadratic", n=10**8)
    assert "[1, 10000000]" in assert_one_line(info.value, "n")


def test_config_load_refuses_what_does_not_fit(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**28)
    data = {"family": "logistic", "problem": {"n": 10**7}, "run": {"T": 1}}
    with pytest.raises(config.ConfigError) as info:
        config.from_dict(data, source="big.toml")
    assert_one_line(info.value, "n", "big.toml")


def test_estimates_grow_with_the_size_knobs():
    small = _memory.estimated_bytes("logistic", dict(n=100))
    assert _memory.estimated_bytes("logistic", dict(n=200)) > small
    assert _memory.estimated_bytes("logistic", dict(n="x")) is None  # left to validation
    assert _memory.estimated_bytes("no-such-family", {}) is None


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys
    from partialfed.experiments import cli
    limit = 4 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def test_logistic_ten_million_devices_is_refused_in_a_process(tmp_path):
    """Issue 16 item 12 as reported: logistic n = 10^7 inside the documented limits (n samples
    (d_u + d_v) <= 4e8) ended in a MemoryError traceback; now one line naming the knobs."""
    path = tmp_path / "big.toml"
    path.write_text('family = "logistic"\n[problem]\nn = 10000000\nsamples = 5\n[run]\nT = 1\n')
    argv = ["run", str(path), "--out", str(tmp_path / "o"), "--scheduler", "serial"]
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PARTIALFED_DEBUG": ""},
    )
    line = assert_cli_usage_error(proc.returncode, proc.stderr, "n", "samples")
    assert "memory" in line and not any(lib in line.lower() for lib in FOREIGN), line


# -- item 9: seeds beyond 2^63 - 1 ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [("seeds", [2**63]), ("seeds", [0, 2**64]), ("init_seed", 2**63), ("init_seed", [1, 2**70])],
)
def test_seeds_beyond_int64_are_refused_at_load(key, value):
    with pytest.raises(config.ConfigError) as info:
        config.from_dict({**_BASE, key: value})
    assert "9223372036854775807" in assert_one_line(info.value, key)


def test_largest_seed_still_runs():
    (cell,) = config.from_dict({**_BASE, "seeds": [2**63 - 1]}).cells
    assert cell.run.seed == 2**63 - 1


# -- item 10: scalar types at the kernel boundary -------------------------------------------------
_SCALARS = [
    Fraction(1, 2),
    np.longdouble(0.5),
    np.float16(0.5),
    np.float32(0.5),
    np.int8(1),
    np.uint64(1),
]
_INTS = [np.int8(2), np.int16(2), np.int32(2), np.uint8(2), np.uint64(2), np.int64(2)]


@pytest.mark.parametrize("gamma", _SCALARS, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("rounds", _INTS, ids=lambda v: type(v).__name__)
def test_scalars_reach_the_kernel_as_python_numbers(gamma, rounds):
    cfg = simulators.RunConfig(
        "fedalt", T=rounds, m=rounds, tau_u=rounds, gamma_u=gamma, gamma_v=gamma, seed=rounds
    )
    steps = Steps.of(cfg)
    for name, kind in (("T", int), ("m", int), ("tau_u", int), ("seed", int)):
        assert type(getattr(steps, name)) is kind, name
    assert type(steps.gamma_u) is float and steps.gamma_u == float(gamma)


def test_scalar_types_compile_no_new_kernel_variant():
    p = tiny_problem("quadratic")
    kernels = p.kernels(simulators._api.KERNEL_MODULES)
    reference = simulators.run(p, simulators.RunConfig(T=3, m=2, gamma_u=0.1, gamma_v=0.1))
    before = len(kernels.run_rounds.signatures)
    for gamma, rounds in zip(_SCALARS, _INTS, strict=True):
        cfg = simulators.RunConfig(T=rounds + 1, m=rounds, gamma_u=gamma, gamma_v=gamma)
        assert simulators.run(p, cfg).status == "ok"
    cfg = simulators.RunConfig(
        T=np.int32(3), m=np.int8(2), gamma_u=Fraction(1, 10), gamma_v=np.longdouble("0.1")
    )
    again = simulators.run(p, cfg)
    assert len(kernels.run_rounds.signatures) == before
    # float(np.longdouble("0.1")) is not 0.1 exactly: compare gamma_u's effect only loosely
    np.testing.assert_allclose(again.loss, reference.loss, rtol=1e-12)
