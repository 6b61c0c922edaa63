"""Symbolic convergence bounds of partially personalized federated learning (sympy + numpy)."""

from theory.bound import PROVENANCES, Bound, Condition, Measured, Term, validate_values
from theory.symbols import DESCRIPTIONS, FREE_CONSTANTS, SYMBOLS, symbol

__all__ = [
    "Bound",
    "Condition",
    "Measured",
    "Term",
    "PROVENANCES",
    "validate_values",
    "SYMBOLS",
    "DESCRIPTIONS",
    "FREE_CONSTANTS",
    "symbol",
]
