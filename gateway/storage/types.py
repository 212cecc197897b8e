"""Attribute types of schema-defined tables and the check of record values against them.

A table created with an ``attributes`` list enforces the declared types on every
write, as HarperDB does (``Value "x" in property age must be an integer (from
-2147483648 to 2147483647)``). Null is accepted for every type; values of
undeclared attributes are stored as given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

INT32 = (-(2**31), 2**31 - 1)
LONG = (-(2**53), 2**53)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any, bounds: tuple[int, int]) -> bool:
    if not _is_number(value):
        return False
    if isinstance(value, float) and not value.is_integer():
        return False
    return bounds[0] <= value <= bounds[1]


def _is_date(value: Any) -> bool:
    return _is_number(value) or (isinstance(value, str) and bool(_ISO_DATE.match(value)))


def _is_id(value: Any) -> bool:
    return isinstance(value, str) or _is_integer(value, LONG)


# type name → (check, what the value must be)
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "Int": (lambda v: _is_integer(v, INT32), "an integer (from -2147483648 to 2147483647)"),
    "Long": (lambda v: _is_integer(v, LONG), "an integer (from -9007199254740992 to 9007199254740992)"),
    "BigInt": (lambda v: _is_integer(v, (-(2**63), 2**63 - 1)), "an integer"),
    "Float": (_is_number, "a number"),
    "Number": (_is_number, "a number"),
    "String": (lambda v: isinstance(v, str), "a string"),
    "Boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "Date": (_is_date, "a Date (an ISO 8601 string or epoch milliseconds)"),
    "ID": (_is_id, "a string or an integer"),
    "Any": (lambda v: True, "anything"),
    "Object": (lambda v: isinstance(v, dict), "an object"),
    "Array": (lambda v: isinstance(v, list), "an array"),
}
_CANONICAL = {name.lower(): name for name in _TYPES}
_CANONICAL.update({"integer": "Int", "double": "Float", "bool": "Boolean", "text": "String"})

KNOWN_TYPES: tuple[str, ...] = tuple(_TYPES)


def canonical_type(name: str) -> str | None:
    """HarperDB's spelling of a type name (case-insensitive), or None if unknown."""
    return _CANONICAL.get(name.lower())


def type_errors(record: Mapping[str, Any], types: Mapping[str, str]) -> list[str]:
    """Messages for the values of ``record`` that do not match their declared type."""
    errors = []
    for name, type_name in types.items():
        value = record.get(name)
        if value is None:
            continue
        check, must_be = _TYPES.get(type_name, _TYPES["Any"])
        if not check(value):
            shown = orjson.dumps(value).decode()
            errors.append(f"Value {shown} in property {name} must be {must_be}")
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
