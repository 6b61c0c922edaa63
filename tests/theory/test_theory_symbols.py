"""Symbols: one per name, with the declared assumptions."""

import pytest

from partialfed.theory import symbols as S

POSITIVE = "n m T tau tau_u tau_v gamma gamma_u gamma_v eta L L_u L_v Delta_F0 w_v".split()
# The cross constants may be zero: an uncoupled problem (chi = 0) has L_uv = L_vu = 0.
NONNEGATIVE = "chi sigma sigma_u sigma_v delta rho L_uv L_vu".split()


@pytest.mark.parametrize("name", POSITIVE)
def test_positive(name):
    assert S.SYMBOLS[name].is_positive is True


@pytest.mark.parametrize("name", NONNEGATIVE)
def test_nonnegative_but_may_be_zero(name):
    s = S.SYMBOLS[name]
    assert s.is_nonnegative is True and s.is_positive is None


def test_F_low_has_no_sign_and_constants_are_positive():
    assert S.F_low.is_real and S.F_low.is_positive is None
    for k in range(1, 7):
        c = S.SYMBOLS[f"c_{k}"]
        assert c.is_positive and c in S.FREE_CONSTANTS
    assert S.SYMBOLS["sigma_u"] not in S.FREE_CONSTANTS


def test_names_match_and_module_attributes_are_the_same_objects():
    for name, s in S.SYMBOLS.items():
        assert s.name == name
        assert getattr(S, name) is s
        assert name in S.DESCRIPTIONS and S.DESCRIPTIONS[name]


def test_symbol_lookup_suggests():
    assert S.symbol("sigma_u") is S.sigma_u
    with pytest.raises(ValueError, match="Did you mean 'sigma_u'"):
        S.symbol("sigmau")
