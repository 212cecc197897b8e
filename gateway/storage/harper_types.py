"""HarperDB's attribute types: one table that serves validation and every column encoder.

A table created with an ``attributes`` list enforces the declared types on every
write, as HarperDB does (``Value "x" in property age must be an integer (from
-2147483648 to 2147483647)``). Null is accepted for every type; values of
undeclared attributes are stored as given.

Each :class:`HarperType` says which Python value types it accepts, whether
numbers must be whole and within bounds, and whether strings must be ISO 8601
dates. From that one entry come the check of a single value
(:func:`type_errors`), of a whole column of Python values (:func:`types_ok`,
:func:`columns_types_ok`, used by the bulk write paths) and of an Arrow column
(the bulk loader's encoder reads the same entry). Adding a type is one entry.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from typing import Any

import orjson

INT32 = (-(2**31), 2**31 - 1)
LONG = (-(2**53), 2**53)
INT64 = (-(2**63), 2**63 - 1)
_DATE_TEXT = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
ISO_DATE = re.compile(f"^{_DATE_TEXT}$")
"""A Date string (checked value by value)."""
ASCII_ISO_DATE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
"""``ISO_DATE`` with ASCII digits only, for regex engines (RE2, Arrow) whose ``\\d`` differs."""
_DATE_COLUMN = re.compile(f"(?:{_DATE_TEXT}\\n)*{_DATE_TEXT}")
_NOT_NONE = partial(operator.is_not, None)
_NUMBERS = frozenset({int, float})


@dataclass(frozen=True)
class HarperType:
    """One attribute type: what a non-null value of it may be."""

    name: str
    must_be: str
    """The end of the error message: ``Value … in property … must be <must_be>``."""
    kinds: frozenset[type] | None
    """The Python types a value may have (``bool`` is never a number); None: anything."""
    integer_bounds: tuple[int, int] | None = None
    """Numbers must be whole and within these bounds."""
    date_strings: bool = False
    """Strings must be ISO 8601 dates."""

    def accepts(self, value: Any) -> bool:
        """Whether one non-null value is of this type."""
        kinds = self.kinds
        if kinds is None:
            return True
        kind = type(value)
        if kind is bool or not isinstance(value, tuple(kinds)):
            return kind is bool and bool in kinds
        if isinstance(value, int | float):
            return self.integer_bounds is None or _whole_within(value, self.integer_bounds)
        if isinstance(value, str) and self.date_strings:
            return bool(ISO_DATE.match(value))
        return True

    def column_ok(self, values: Sequence[Any], kinds: set[type] | None = None) -> bool:
        """Whether every value of a column of non-null values is of this type (False: check one by one)."""
        if not values or self.kinds is None:
            return True
        if kinds is None:
            kinds = set(map(type, values))
        if not kinds <= self.kinds:
            return False
        if self.integer_bounds is not None and kinds & _NUMBERS:
            numbers = values if kinds <= _NUMBERS else [v for v in values if type(v) in _NUMBERS]
            if float in kinds and not all(type(v) is int or v.is_integer() for v in numbers):
                return False
            low, high = self.integer_bounds
            if not (low <= min(numbers) and max(numbers) <= high):
                return False
        if self.date_strings and str in kinds:
            strings = values if kinds == {str} else [v for v in values if type(v) is str]
            return date_column_ok(strings)
        return True


def _whole_within(value: int | float, bounds: tuple[int, int]) -> bool:
    if isinstance(value, float) and not value.is_integer():
        return False
    return bounds[0] <= value <= bounds[1]


def _types(*kinds: type) -> frozenset[type]:
    return frozenset(kinds)


HARPER_TYPES: dict[str, HarperType] = {
    t.name: t
    for t in (
        HarperType("Int", "an integer (from -2147483648 to 2147483647)", _types(int, float), INT32),
        HarperType(
            "Long", "an integer (from -9007199254740992 to 9007199254740992)", _types(int, float), LONG
        ),
        HarperType("BigInt", "an integer", _types(int, float), INT64),
        HarperType("Float", "a number", _types(int, float)),
        HarperType("Number", "a number", _types(int, float)),
        HarperType("String", "a string", _types(str)),
        HarperType("Boolean", "a boolean", _types(bool)),
        HarperType(
            "Date",
            "a Date (an ISO 8601 string or epoch milliseconds)",
            _types(int, float, str),
            date_strings=True,
        ),
        HarperType("ID", "a string or an integer", _types(str, int, float), LONG),
        HarperType("Any", "anything", None),
        HarperType("Object", "an object", _types(dict)),
        HarperType("Array", "an array", _types(list)),
    )
}
"""Every attribute type by HarperDB's spelling."""

_ALIASES = {"integer": "Int", "double": "Float", "bool": "Boolean", "text": "String"}
_CANONICAL = {name.lower(): name for name in HARPER_TYPES} | _ALIASES

KNOWN_TYPES: tuple[str, ...] = tuple(HARPER_TYPES)


def canonical_type(name: str) -> str | None:
    """HarperDB's spelling of a type name (case-insensitive), or None if unknown."""
    return _CANONICAL.get(name.lower())


def harper_type(name: str) -> HarperType:
    """The entry of a declared type (an unknown name is checked as ``Any``)."""
    return HARPER_TYPES.get(name, HARPER_TYPES["Any"])


def type_errors(record: Mapping[str, Any], types: Mapping[str, str]) -> list[str]:
    """Messages for the values of ``record`` that do not match their declared type."""
    errors = []
    for name, type_name in types.items():
        value = record.get(name)
        if value is None:
            continue
        entry = harper_type(type_name)
        if not entry.accepts(value):
            shown = orjson.dumps(value).decode()
            errors.append(f"Value {shown} in property {name} must be {entry.must_be}")
    return errors


def check_records(records: Sequence[Mapping[str, Any]], types: Mapping[str, str]) -> str | None:
    """The first offending record's messages joined with '. ', or None if all records conform."""
    if not types:
        return None
    for record in records:
        errors = type_errors(record, types)
        if errors:
            return ". ".join(errors)
    return None


def is_date_only_column(joined: str, cells: Sequence[str]) -> bool:
    """Whether every cell is ``YYYY-MM-DD`` (ASCII digits); ``joined`` is the cells joined by "\\n"."""
    if len(joined) != 11 * len(cells) - 1 or min(map(len, cells)) != 10:
        return False
    if joined[4::11].strip("-") or joined[7::11].strip("-"):
        return False
    digits = joined.replace("-", "").replace("\n", "")
    return len(digits) == 8 * len(cells) and digits.isascii() and digits.isdigit()


def date_column_ok(strings: Sequence[str]) -> bool:
    """Whether every string is a Date (``ISO_DATE``), tried on the whole column first."""
    if not strings:
        return True
    joined = "\n".join(strings)
    if is_date_only_column(joined, strings):
        return True
    if joined.count("\n") == len(strings) - 1 and _DATE_COLUMN.fullmatch(joined):
        return True
    return all(map(ISO_DATE.match, strings))


def types_ok(records: Sequence[dict[str, Any]], types: Mapping[str, str]) -> bool:
    """True when every record certainly conforms to ``types`` (checked column by column)."""
    for name, type_name in types.items():
        values = list(filter(_NOT_NONE, map(dict.get, records, repeat(name))))
        if not _known(type_name).column_ok(values):
            return False
    return True


def columns_types_ok(
    names: Sequence[str], columns: Sequence[Sequence[Any]], types: Mapping[str, str]
) -> bool:
    """``types_ok`` for records given as columns (an attribute without a column is absent)."""
    positions = {name: i for i, name in enumerate(names)}
    for name, type_name in types.items():
        if name not in positions:
            continue
        column = columns[positions[name]]
        kinds = set(map(type, column))
        if type(None) in kinds:
            column = list(filter(_NOT_NONE, column))
            kinds.discard(type(None))
        if not _known(type_name).column_ok(column, kinds):
            return False
    return True


_NOTHING = HarperType("(unknown)", "", frozenset())


def _known(type_name: str) -> HarperType:
    """The entry of a type name for column checks: an unknown name accepts nothing (check one by one)."""
    return HARPER_TYPES.get(type_name, _NOTHING)
