"""Numbers the store keeps exactly: doubles, as in JavaScript and HarperDB.

Keys and index entries encode numbers as IEEE-754 doubles (:mod:`gateway.storage.keys`),
so two integers beyond ±2**53 can encode alike (``2**53`` and ``2**53 + 1`` would be
one key) and a literal below the smallest double (``1e-400``) reads as ``0``. The
write paths refuse such numbers instead of changing them silently: the request body
of ``POST /`` and SQL literals (a 400 naming where the number is), while a CSV cell
that holds such an integer stays the string it is (as ``007`` does).

Numbers with a fraction or an exponent are doubles: rounded to the nearest one, as
JavaScript's ``JSON.parse`` does, unless a non-zero literal would become zero.
"""

from __future__ import annotations

import math
import re
from typing import Final

MAX_EXACT_INTEGER: Final = 2**53
"""Every integer from ``-MAX_EXACT_INTEGER`` to ``MAX_EXACT_INTEGER`` is a double exactly."""
INTEGER_RANGE: Final = f"from -{MAX_EXACT_INTEGER} to {MAX_EXACT_INTEGER}"
INTEGER_REASON: Final = f"integers must be {INTEGER_RANGE} (send larger ones as strings)"
UNDERFLOW_REASON: Final = "it is too small for a double and would become 0"
OVERFLOW_REASON: Final = "it is too large for a double"
_NONZERO_MANTISSA = re.compile(r"[+-]?0*\.?0*[1-9]")
_SHOWN_CHARS = 40


def exact_integer(value: int) -> bool:
    """Whether ``value`` is stored (and keyed) exactly."""
    return -MAX_EXACT_INTEGER <= value <= MAX_EXACT_INTEGER


def underflows(literal: str, value: float) -> bool:
    """Whether a non-zero number literal reads as the double zero (``1e-400``)."""
    return value == 0 and _NONZERO_MANTISSA.match(literal) is not None


def shown_literal(literal: str) -> str:
    """A number literal as an error message shows it (long ones shortened)."""
    if len(literal) <= _SHOWN_CHARS:
        return literal
    return f"{literal[:_SHOWN_CHARS]}… ({len(literal)} characters)"


def inexact_reason(literal: str, value: float | int) -> str | None:
    """Why the number ``literal`` (read as ``value``) cannot be stored exactly, or None if it can."""
    if isinstance(value, int):
        if exact_integer(value):
            return None
        return INTEGER_REASON
    if underflows(literal, value):
        return UNDERFLOW_REASON
    if math.isinf(value):
        return OVERFLOW_REASON
    return None
