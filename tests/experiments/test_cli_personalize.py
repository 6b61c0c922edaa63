"""``partialfed personalize``: the planted family's recovery and FedAlt comparison on the
command line (``experiments.cli.personalize``), its output agreeing with the library's."""

from __future__ import annotations

import json

import pytest

from partialfed.experiments import cli
from partialfed.experiments import personalize as P
from partialfed.experiments.personalize_family import planted_family

SMALL = ["--set", "n=8", "--set", "d=8", "--set", "planted=2", "--set", "draws=6"]
SMALL += ["--set", "seeds=[0, 1]", "--set", "T=60"]


def test_json_output_is_the_library_result(capsys):
    assert cli.main(["personalize", *SMALL, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    family = planted_family(n=8, d=8, planted=2)
    rec = P.recover(family)
    cmp = P.compare_blocks(family, rec, draws=6, seeds=[0, 1], T=60)
    assert out["support"] == family.support.tolist() and out["block"] == rec.block().tolist()
    assert (out["precision"], out["recall"]) == rec.at_planted_size()
    assert out["gap"]["random"]["mean"] == pytest.approx(cmp.gap["random"].mean, rel=1e-12)
    assert out["beats_random"] is cmp.beats_random()
    assert len(out["path"]["time"]) == len(rec.steps)
    assert out["fedalt"]["draws"] == 6 and out["fedalt"]["seeds"] == [0, 1]


def test_automatic_size(capsys):
    """``--set size=auto``: the compared block is the library's eq. (R3) choice, and the random
    blocks take its size."""
    assert cli.main(["personalize", *SMALL, "--set", "size=auto", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    family = planted_family(n=8, d=8, planted=2)
    auto = P.stable_block(P.recover(family))
    assert out["block"] == auto.block.tolist() and out["auto"]["size"] == auto.block.size
    assert out["auto"]["log_length"] == pytest.approx(auto.length, rel=1e-12)
    assert out["fedalt"]["size"] == auto.block.size
    assert cli.main(["personalize", *SMALL, "--set", "iters=50"]) == 0
    assert "block chosen without the planted size" in capsys.readouterr().out


def test_text_output_names_the_sets_and_the_verdict(capsys):
    assert cli.main(["personalize", *SMALL, "--set", "jitter=0.05"]) == 0
    text = capsys.readouterr().out
    family = planted_family(n=8, d=8, planted=2, jitter=0.05)
    assert f"planted set S: {family.support.tolist()}" in text
    assert "recovered block beats random blocks: yes" in text


def test_keys_go_to_their_function(capsys):
    """A recover key changes the path, a compare key the runs, a family key the family."""
    assert cli.main(["personalize", *SMALL, "--set", "iters=50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["path"]["time"][-1] == pytest.approx(50 * 0.02)
    assert out["path"]["voted"][-1] == 0  # too short a path: nothing voted yet


@pytest.mark.parametrize(
    "text, words",
    [
        ("jiter=0.1", ["'jiter'", "Did you mean 'jitter'"]),
        ("jitter=[0.1,0.2]", ["'jitter'"]),
        ("shared=0", ["'shared'"]),  # an array argument of recover, not a command-line key
        ("quorum=2", ["'quorum'"]),
        ("size=automatic", ["'size'", "'auto'"]),
        ("size=0", ["'size'"]),
    ],
)
def test_bad_set_is_one_line_exit_2(capsys, text, words):
    assert cli.main(["personalize", *SMALL, "--set", text]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    for word in words:
        assert word in err, err
