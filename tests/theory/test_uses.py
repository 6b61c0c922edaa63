"""Every bound declares the constants its proof uses, and where (``Bound.uses``)."""

from __future__ import annotations

import pytest

from partialfed import synthetic, theory
from partialfed.experiments.cell import SINGLE_BLOCK


def test_assumption_constants_are_the_problem_constants():
    assert theory.ASSUMPTION_CONSTANTS == synthetic.CONSTANT_NAMES


@pytest.mark.parametrize("name", sorted(theory.BOUNDS))
def test_every_bound_declares_its_uses(name):
    b = theory.BOUNDS[name]
    if not b.has_free_constants:
        assert b.uses, f"{name} declares no uses"
    documented = set(synthetic.CONSTANT_NAMES) | set(theory.CLASSIC_CONSTANTS)
    for u in b.uses:
        assert u.constant in documented, (name, u.constant)
        assert isinstance(u.where, theory.Where) and u.at, (name, u)
    # one declaration per constant
    assert len({u.constant for u in b.uses}) == len(b.uses), name


def test_single_block_constants_map_to_problem_constants():
    for name in ("L", "sigma", "zeta"):
        assert SINGLE_BLOCK[name] in synthetic.CONSTANT_NAMES


def test_uses_read_from_the_proofs():
    """Spot checks against docs/derivations: A3 at the iterate for FedSim, at the virtual
    full-participation point for FedAlt; the tight GD constant needs smoothness everywhere."""
    where = {n: {u.constant: u.where for u in b.uses} for n, b in theory.BOUNDS.items()}
    assert where["fedsim_tau1_partial"]["delta"] is theory.Where.ITERATES
    assert where["fedalt_tau1_partial"]["delta"] is theory.Where.EVERYWHERE
    assert where["fedalt_tau1_partial"]["L_uv"] is theory.Where.EVERYWHERE
    assert "delta" not in where["fedsim_tau1_full"] and "L_uv" not in where["fedalt_tau1_full"]
    assert where["gd_tight"]["L"] is theory.Where.EVERYWHERE
    assert where["sgd_nonconvex"]["L"] is theory.Where.ITERATES


def test_uses_refuses_an_unknown_constant():
    with pytest.raises(ValueError, match="'constant' parameter of Uses"):
        theory.Uses("L_w")


def test_describe_lists_the_uses():
    text = theory.get_bound("fedalt_tau1_partial").describe()
    assert "uses:        L_v (everywhere), L_uv (everywhere), L_u (iterates)" in text
