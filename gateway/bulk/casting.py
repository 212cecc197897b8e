"""Per-cell casting of CSV values, as HarperDB's csv loads do it.

Rules (harper-answers.md "How csv_data_load casts values"):
- ``true``/``TRUE`` → true, ``false``/``FALSE`` → false; ``null``/``NULL``/``undefined``/``NaN`` → null.
- A plain decimal number, optionally signed and surrounded by whitespace, is a number: ``42``,
  `` 5 ``, ``+3``, ``.5``, ``-0.5``, ``1.0`` (→ 1). Leading zeros (``007``), hex (``0x10``) and
  exponents (``1e3``) stay strings. Numbers are JavaScript doubles and integral values are stored
  as integers; a cell a double cannot hold exactly stays the string it is (deviation: HarperDB
  rounds ``9007199254740993`` to ``9007199254740992``): an integral value beyond ±2**53
  (``12345678901234567890``, ``9007199254740993.0``), a non-zero decimal that would become 0 or
  one too large for a double (:mod:`gateway.storage.numbers`).
- An ISO datetime with a time part becomes ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC); a date alone stays.
- Everything else, the empty cell included, stays the string it is.

``cast_column`` casts a whole column of a chunk at once: one regular-expression pass over the
joined column decides whether every cell is an int, a float, a boolean or an uncastable string,
so the common columns are converted without Python work per cell.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gateway.storage.harper_types import is_date_only_column
from gateway.storage.numbers import exact_integer, inexact_reason

_MISSING = object()
SPECIAL_VALUES: dict[str, Any] = {
    "true": True,
    "TRUE": True,
    "false": False,
    "FALSE": False,
    "null": None,
    "NULL": None,
    "undefined": None,
    "NaN": None,
}
_MAX_SAFE = 2**53

_NUMBER = re.compile(r"\s*[+-]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|\.[0-9]+)\s*")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_NUMBER_START = frozenset("+-.0123456789")
_DIGITS = frozenset("0123456789")
SPECIAL_FIRST = frozenset(word[0] for word in SPECIAL_VALUES)  # a column without them holds no special word
_LEADING_ZERO = re.compile(r"\n0[0-9]")
_first = operator.itemgetter(0)

# Whole-column patterns over cells joined by "\n" (used only when no cell contains "\n").
_INT_COLUMN = re.compile(r"(?:-?(?:0|[1-9][0-9]{0,14})\n)*-?(?:0|[1-9][0-9]{0,14})")
# A fraction of at most 300 digits: with more, a cell may be below the smallest double (per cell).
_FLOAT_COLUMN = re.compile(
    r"(?:-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,300}\n)*-?(?:0|[1-9][0-9]{0,14})\.[0-9]{1,300}"
)
_INTEGRAL_FRACTION = re.compile(r"\.0+$", re.MULTILINE)
_BOOL_COLUMN = re.compile(r"(?:(?:true|false)\n)*(?:true|false)")
_DATE_ONLY_COLUMN = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}\n)*[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _number(text: str) -> int | float | str:
    """The value of a cell ``_NUMBER`` matches; the cell itself when a double cannot hold it exactly."""
    stripped = text.strip()
    whole, _, fraction = stripped.partition(".")
    digits = len(whole) - (whole[:1] in ("+", "-"))
    if not fraction.strip("0"):  # an integer, or a decimal with a fraction of zeros
        if digits <= 15:
            return int(whole) if digits else 0
        if digits > 20 or not exact_integer(int(whole)):
            return text  # beyond ±2**53: kept as written, as "007" is
        return int(whole)
    value = float(stripped)
    if inexact_reason(stripped, value) is not None:  # non-zero yet 0, or infinite
        return text
    if value.is_integer() and abs(value) <= _MAX_SAFE:
        return int(value)
    return value


def _datetime(match: re.Match[str]) -> str | None:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0")[:3].ljust(3, "0")) * 1000,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        moment = moment.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def cast_cell(text: str) -> Any:
    """The stored value of one CSV cell."""
    special = SPECIAL_VALUES.get(text, _MISSING)
    if special is not _MISSING:
        return special
    if not text:
        return text
    first = text[0]
    if first in _NUMBER_START or first.isspace():
        if _NUMBER.fullmatch(text):
            return _number(text)
        if first.isdigit():
            match = _DATETIME.fullmatch(text)
            if match:
                converted = _datetime(match)
                if converted is not None:
                    return converted
    return text


def cast_cells(cells: Sequence[str]) -> list[Any]:
    """Cast cells one by one, remembering repeated values."""
    memo: dict[str, Any] = {}
    out = []
    for cell in cells:
        value = memo.get(cell, _MISSING)
        if value is _MISSING:
            value = cast_cell(cell)
            if len(memo) < 4096:
                memo[cell] = value
        out.append(value)
    return out


def cast_column(cells: Sequence[str]) -> Sequence[Any]:
    """Cast a column of cells; whole-column fast paths for uniform columns."""
    if not cells:
        return cells
    joined = "\n".join(cells)
    if joined.count("\n") != len(cells) - 1:
        return cast_cells(cells)  # some cell holds a newline: per-cell rules
    firsts = set(map(_first, filter(None, cells)))
    if firsts.isdisjoint(_NUMBER_START) and not any(c.isspace() for c in firsts):
        if firsts.isdisjoint(SPECIAL_FIRST) or SPECIAL_VALUES.keys().isdisjoint(cells):
            return cells  # no number, no special word: every cell stays as it is
        if _BOOL_COLUMN.fullmatch(joined):
            return list(map("true".__eq__, cells))
        return cast_cells(cells)
    if firsts <= _DIGITS and is_date_only_column(joined, cells):
        return cells
    if firsts <= _DIGITS and _plain_integers(joined, cells):
        return list(map(int, cells))
    if _INT_COLUMN.fullmatch(joined):
        return list(map(int, cells))
    if (firsts <= _DIGITS and _plain_decimals(joined, cells)) or _FLOAT_COLUMN.fullmatch(joined):
        floats: list[Any] = list(map(float, cells))
        for match in _INTEGRAL_FRACTION.finditer(joined):  # "2.0" is stored as 2
            index = joined.count("\n", 0, match.start())
            floats[index] = int(floats[index])
        return floats
    if _BOOL_COLUMN.fullmatch(joined):
        return list(map("true".__eq__, cells))
    if _DATE_ONLY_COLUMN.fullmatch(joined):
        return cells
    return cast_cells(cells)


def _plain_decimals(joined: str, cells: Sequence[str]) -> bool:
    """Whether every cell is ASCII digits, one ".", digits, with at most 15 digits before the point."""
    if joined.count(".") != len(cells) or ".\n" in joined or joined.endswith("."):
        return False
    flat = joined.replace("\n", "").replace(".", "")
    if not (flat.isascii() and flat.isdigit()) or max(map(len, cells)) > 16:
        return False
    return _LEADING_ZERO.search("\n" + joined) is None


def _plain_integers(joined: str, cells: Sequence[str]) -> bool:
    """Whether every cell is 1 to 15 ASCII digits without a leading zero (or exactly "0")."""
    flat = joined.replace("\n", "")
    if not (flat.isascii() and flat.isdigit()):
        return False
    if "" in cells or max(map(len, cells)) > 15:
        return False
    return _LEADING_ZERO.search("\n" + joined) is None
