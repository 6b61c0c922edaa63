"""The block chosen from the voted path without knowing its size (eq. (R3) of
experiments.personalize): it is the planted set on the planted family, wrong rules are caught by
the same assertion, and bad input is named."""

from __future__ import annotations

import math

import numpy as np
import pytest

from partialfed.experiments import personalize as P
from partialfed.experiments.personalize_compare import compare_blocks
from partialfed.experiments.personalize_family import planted_family

# (family knobs, recover knobs): the default family and two others (another draw of S; more
# devices, another d and |S| = 3).
CASES = {
    "default": (dict(), dict()),
    "seed1": (dict(seed=1), dict(iters=1500, record_every=10)),
    "n30-d25-K3": (dict(n=30, d=25, planted=3, seed=3), dict(iters=1500, record_every=10)),
}
# Paths on which a wrong rule shows: long enough that the full set lasts longer in log time than
# S; and one where the set before the full one lasts longer than S in linear time.
LONG = (dict(), dict(iters=16000, record_every=50))
LINEAR_TRAP = (dict(seed=1, jitter=0.2), dict(iters=4000, record_every=20))


def _recovery(case):
    family_knobs, recover_knobs = case
    family = planted_family(**family_knobs)
    return family, P.recover(family, **recover_knobs)


def _finds_S(family, recovery) -> bool:
    """The assertion: the automatic block is exactly S (so its size is |S|)."""
    chosen = recovery.block("auto")
    return chosen.size == family.planted and np.array_equal(chosen, family.support)


@pytest.fixture(scope="module")
def recoveries():
    return {name: _recovery(case) for name, case in CASES.items()}


@pytest.fixture(scope="module")
def long_path():
    return _recovery(LONG)


@pytest.fixture(scope="module")
def linear_trap():
    return _recovery(LINEAR_TRAP)


@pytest.mark.parametrize("name", list(CASES))
def test_automatic_block_is_the_planted_set(recoveries, name):
    family, rec = recoveries[name]
    assert _finds_S(family, rec)
    st = P.stable_block(rec)
    assert np.array_equal(st.block, rec.block("auto"))
    # The stretch is where the voted set is exactly S, and it is clearly the longest.
    exact = np.flatnonzero((rec.voted == rec.truth).all(axis=1))
    assert st.start == rec.time[exact[0]] and st.length == pytest.approx(
        math.log(st.end / st.start)
    )
    others = [c.length for c in P.stretches(rec) if not np.array_equal(c.block, st.block)]
    assert st.margin == pytest.approx(st.length / max(others)) and st.margin > 1.0


def test_candidates_exclude_the_empty_and_the_full_set(long_path):
    family, rec = long_path
    runs = P._runs(rec.voted, rec.time)
    sizes = [r.block.size for r in runs]
    assert sizes[0] == 0 and sizes[-1] == family.d and runs[-1].censored
    kept = [c.block.size for c in P.stretches(rec)]
    assert kept == [s for s in sizes if 0 < s < family.d]
    assert _finds_S(family, rec)  # the correct rule on the path the mutants fail on


# -- mutants: each is caught by the same assertion ----------------------------------------------


def _shortest(candidates):
    return int(np.argmin([c.length for c in candidates]))


def _linear_time(candidates):
    return int(np.argmax([c.end - c.start for c in candidates]))


def _last(candidates):  # the latest (sparsest-last) stretch: the path's end read as the answer
    return len(candidates) - 1


def _with_full(recovery):
    return [r for r in P._runs(recovery.voted, recovery.time) if r.block.size > 0]


def _with_empty(recovery):
    d = recovery.truth.size
    return [r for r in P._runs(recovery.voted, recovery.time) if r.block.size < d]


@pytest.mark.parametrize("pick", [_shortest, _linear_time, _last])
def test_wrong_choice_among_stretches_is_caught(long_path, linear_trap, monkeypatch, pick):
    for family, rec in (long_path, linear_trap):
        assert _finds_S(family, rec)
    monkeypatch.setattr(P, "_longest", pick)
    assert not all(_finds_S(family, rec) for family, rec in (long_path, linear_trap))


@pytest.mark.parametrize("candidates", [_with_full, _with_empty])
def test_wrong_candidates_are_caught(long_path, monkeypatch, candidates):
    family, rec = long_path
    monkeypatch.setattr(P, "stretches", candidates)
    assert not _finds_S(family, rec)


# -- the comparison and the harder settings -----------------------------------------------------


def test_compare_blocks_with_the_automatic_size(recoveries):
    family, rec = recoveries["default"]
    cmp = compare_blocks(family, rec, size="auto", draws=4, seeds=(0, 1), T=120)
    assert cmp.blocks["recovered"].tolist() == family.support.tolist()
    assert cmp.config["size"] == family.planted and cmp.beats_random()
    # Where the rule picks another size, the random blocks are drawn at that size.
    noisy = planted_family(jitter=0.4)
    rec_noisy = P.recover(noisy, iters=1500, record_every=10)
    k = rec_noisy.block("auto").size
    cmp = compare_blocks(noisy, rec_noisy, size="auto", draws=2, seeds=(0,), T=20)
    assert k != noisy.planted and cmp.blocks["random"].shape == (2, k)
    assert cmp.config["size"] == k


def test_the_rule_fails_where_the_offsets_drown_the_planting():
    """Not a mutant: with offsets three times the shift the chosen set is not S, and its margin
    is small next to the planted family's (printed in docs/theory.md)."""
    heavy = planted_family(jitter=3.0)
    rec = P.recover(heavy)
    assert not _finds_S(heavy, rec)
    assert P.stable_block(rec).margin < P.stable_block(P.recover(planted_family())).margin


# -- validation -------------------------------------------------------------------------------


def test_bad_input_is_named(recoveries):
    family, rec = recoveries["default"]
    for bad in ("autom", 0, family.d, 2.5):
        with pytest.raises((ValueError, TypeError), match="'size' parameter of Recovery.block"):
            rec.block(bad)
    with pytest.raises(TypeError, match="'recovery' parameter"):
        P.stable_block(family)
    short = P.recover(family, iters=50)  # nothing voted yet
    with pytest.raises(ValueError, match="'recovery' parameter.*'iters'"):
        P.stable_block(short)
    with pytest.raises(TypeError, match="'size' parameter of personalize.compare_blocks"):
        compare_blocks(family, family.support, size="auto")
    for bad in ("autom", 0, family.d):
        with pytest.raises((ValueError, TypeError), match="'size' parameter"):
            compare_blocks(family, rec, size=bad)
    with pytest.raises(ValueError, match="'recovered' parameter"):
        compare_blocks(family, [0, 1, 2], size=2)


# -- the censored last stretch (eq. (R3)'s rule) ------------------------------------------------


def _path(times, sets, d=4):
    """A hand-made Recovery whose voted set at ``times[r]`` is ``sets[r]`` (only ``voted``,
    ``time`` and ``truth`` are read by the stretches)."""
    voted = np.zeros((len(times), d), dtype=bool)
    for r, s in enumerate(sets):
        voted[r, list(s)] = True
    none = np.zeros(0)
    return P.Recovery(
        none, np.asarray(times, float), none, none, voted, none, none, none,
        np.zeros(d, bool), None, none, 0.5,
    )  # fmt: skip


def test_a_censored_stretch_wins_when_its_observed_length_beats_every_complete_one():
    # {0} from 1 to 2 (complete, log 2); {0, 1} from 2 to the path end 20 (censored, >= log 10)
    rec = _path([0.5, 1, 2, 20], [(), (0,), (0, 1), (0, 1)])
    st = P.stable_block(rec)
    assert st.block.tolist() == [0, 1] and st.censored and st.decided
    assert st.length == pytest.approx(math.log(10)) and st.margin == pytest.approx(
        math.log(10) / math.log(2)
    )


@pytest.mark.parametrize("end", [4.0, 2.5], ids=["tie", "shorter"])
def test_a_censored_stretch_not_beating_the_longest_complete_one_leaves_it_undecided(end):
    # {0} from 1 to 2 (complete, log 2); {0, 1} from 2 to the path end (>= log(end / 2))
    rec = _path([0.5, 1, 2, end], [(), (0,), (0, 1), (0, 1)])
    st = P.stable_block(rec)
    assert st.block.tolist() == [0] and not st.censored and not st.decided
    assert st.length == pytest.approx(math.log(2))


def test_the_censored_rule_against_its_wrong_variants(monkeypatch):
    wins = _path([0.5, 1, 2, 20], [(), (0,), (0, 1), (0, 1)])
    ties = _path([0.5, 1, 2, 4], [(), (0,), (0, 1), (0, 1)])

    def chosen():
        return [P.stable_block(r).block.tolist() for r in (wins, ties)]

    assert chosen() == [[0, 1], [0]]
    excluded = [i for i, c in enumerate(P.stretches(wins)) if not c.censored]
    monkeypatch.setattr(P, "_longest", lambda cs: max(excluded, key=lambda i: cs[i].length))
    assert chosen() != [[0, 1], [0]]  # censored stretches excluded: the first path's choice
    monkeypatch.setattr(P, "_longest", lambda cs: max(range(len(cs)), key=lambda i: cs[i].censored))
    assert chosen() != [[0, 1], [0]]  # a censored stretch always wins: the tie's choice
