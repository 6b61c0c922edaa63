"""``bench --compile``: the compile-event recorder, its aggregation and report (no workload)."""

from numba import njit

from partialfed.experiments import bench_compile as bc
from partialfed.experiments.cli import build_parser


def test_recording_nests_and_self_times_add_up():
    @njit
    def inner(x):
        return x + 1

    @njit
    def outer(x):
        return inner(x) * 2

    with bc.recording() as rows:
        assert outer(1) == 4
        assert outer(1.5) == 5.0  # a second signature of both
    names = [r["name"].rsplit(".", 1)[-1] for r in rows]
    assert names.count("outer") == 2 and names.count("inner") == 2
    for r in rows:
        assert r["inclusive"] >= r["self"] > 0
        assert r["depth"] == (0 if r["name"].endswith("outer") else 1)
    top = sum(r["inclusive"] for r in rows if r["depth"] == 0)
    assert abs(sum(r["self"] for r in rows) - top) < 1e-9
    funcs = bc.by_function(rows)
    assert [f["signatures"] for f in funcs] == [2, 2]
    assert funcs[0]["self"] >= funcs[1]["self"]


def test_nothing_recorded_outside_the_block():
    @njit
    def f(x):
        return x

    with bc.recording() as rows:
        pass
    f(1)
    assert rows == []


def test_compare_and_report():
    a = [dict(name="m.f", args="int64", parallel=False, inclusive=2.0, self=2.0, depth=0)]
    b = a + [dict(name="m.g", args="float64", parallel=True, inclusive=1.0, self=1.0, depth=0)]
    assert bc.compare(a, b) == dict(missing=[], extra=[("m.g", "float64")])
    assert bc.compare(b, a)["missing"] == [("m.g", "float64")]
    run = dict(rows=b, functions=bc.by_function(b), total_s=3.0, workload_s=4.0, import_s=1.0)
    warm = dict(rows=[], functions=[], total_s=0.0, workload_s=0.5, import_s=1.0)
    result = dict(cold=run, warm=warm, target_s=20.0, meets_target=True, load=[[1.0] * 3] * 2)
    text = bc.compile_report(result)
    assert "m.g (parallel)" in text and "meets" in text and "0 compilations" in text


def test_cli_flag():
    args = build_parser().parse_args(["bench", "--compile"])
    assert args.compile and not args.cli
