"""Whole-column helpers of the bulk-load write path (``RocksRecordStore.load_chunk``).

They do per chunk what ``gateway.storage.keys`` and ``gateway.storage.types``
do per value, with the per-value work pushed into C (``map``, ``struct``, big
integer arithmetic) wherever the column is uniform, and fall back to the
per-value functions otherwise, so results are identical:

- ``encode_keys``: order-preserving keys of a column of scalar values;
- ``is_date_only_column``: whether a column of strings is all ``YYYY-MM-DD`` dates;
- ``types_ok``: whether a chunk certainly satisfies the declared attribute types
  (False means "check record by record").
"""

from __future__ import annotations

import math
import operator
import re
import struct
from collections.abc import Sequence
from functools import partial
from itertools import chain, repeat
from typing import Any

import orjson

from gateway.storage import keys as K
from gateway.storage import types as T
from gateway.storage.records import CREATED, UPDATED

_NUMBER_TAG = K.NUMBER
_MASKS: dict[int, int] = {}
_NOT_NONE = partial(operator.is_not, None)
_BOOLEANS = {True: b"true", False: b"false"}
# The store's Date string rule (types._ISO_DATE, anchored) repeated over a column joined by "\n".
_DATE = T._ISO_DATE.pattern.removeprefix("^").removesuffix("$")  # noqa: SLF001
_DATE_COLUMN = re.compile(f"(?:{_DATE}\\n)*{_DATE}")


def is_date_only_column(joined: str, cells: Sequence[str]) -> bool:
    """Whether every cell is ``YYYY-MM-DD`` (ASCII digits); ``joined`` is the cells joined by "\\n"."""
    if len(joined) != 11 * len(cells) - 1 or min(map(len, cells)) != 10:
        return False
    if joined[4::11].strip("-") or joined[7::11].strip("-"):
        return False
    digits = joined.replace("-", "").replace("\n", "")
    return len(digits) == 8 * len(cells) and digits.isascii() and digits.isdigit()


def _sign_mask(count: int) -> int:
    """Sets the top bit of the double in every 9-byte (tag + double) key."""
    mask = _MASKS.get(count)
    if mask is None:
        mask = int.from_bytes(b"\x00\x80\x00\x00\x00\x00\x00\x00\x00" * count, "big")
        if len(_MASKS) > 64:
            _MASKS.clear()
        _MASKS[count] = mask
    return mask


def _number_keys(values: Sequence[int | float]) -> list[bytes]:
    """Keys of non-negative finite numbers, all at once."""
    count = len(values)
    packed = struct.pack(">" + "Bd" * count, *chain.from_iterable(zip(repeat(_NUMBER_TAG), values)))
    packed = (int.from_bytes(packed, "big") | _sign_mask(count)).to_bytes(9 * count, "big")
    return list(map(packed.__getitem__, map(slice, range(0, 9 * count, 9), range(9, 9 * count + 9, 9))))


def _string_keys(values: Sequence[str]) -> list[bytes]:
    if len(values) > 2048 and len(set(values[:1024])) <= 256:  # few distinct values (a city column)
        distinct = list(set(values))
        if 4 * len(distinct) <= len(values):
            table = dict(zip(distinct, _encode_strings(distinct), strict=True))
            return list(map(table.__getitem__, values))
    return _encode_strings(values)


def _encode_strings(values: Sequence[str]) -> list[bytes]:
    raw = list(map(str.encode, values))
    return list(map(bytes.__add__, map(K.STRING_PREFIX.__add__, raw), repeat(K.STRING_TERMINATOR)))


def encode_keys(values: Sequence[Any]) -> list[bytes]:
    """``keys.encode_key`` of every value (raises UnencodableKey like it)."""
    if not values:
        return []
    kinds = set(map(type, values))
    if kinds <= {int, float}:
        try:
            if min(values) >= 0 and (float not in kinds or all(map(math.isfinite, values))):
                return _number_keys(values)
        except (OverflowError, struct.error):
            pass
    elif kinds == {str} and "\x00" not in "".join(values):
        return _string_keys(values)
    return list(map(K.encode_key, values))


def _in_bounds(values: Sequence[Any], bounds: tuple[int, int]) -> bool:
    return bounds[0] <= min(values) and max(values) <= bounds[1]


def _integral(values: Sequence[Any], kinds: set[type], bounds: tuple[int, int]) -> bool:
    if kinds <= {int}:
        return _in_bounds(values, bounds)
    if kinds <= {int, float}:
        return all(v == v and float(v).is_integer() for v in values) and _in_bounds(values, bounds)
    return False


def _column_ok(type_name: str, values: Sequence[Any], kinds: set[type] | None = None) -> bool:
    """Whether every non-null value of a column matches the type (False: unknown)."""
    if not values:
        return True
    if kinds is None:
        kinds = set(map(type, values))
    if type_name == "String":
        return kinds <= {str}
    if type_name in ("Float", "Number"):
        return kinds <= {int, float}
    if type_name == "Boolean":
        return kinds <= {bool}
    if type_name == "Int":
        return _integral(values, kinds, T.INT32)
    if type_name == "Long":
        return _integral(values, kinds, T.LONG)
    if type_name == "BigInt":
        return _integral(values, kinds, (-(2**63), 2**63 - 1))
    if type_name == "ID":
        return kinds <= {str} or (
            kinds <= {str, int} and _in_bounds([v for v in values if type(v) is int], T.LONG)
        )
    if type_name == "Date":
        if kinds <= {int, float}:
            return True
        if not kinds <= {str}:
            return False
        joined = "\n".join(values)
        if is_date_only_column(joined, values):
            return True
        if joined.count("\n") == len(values) - 1 and _DATE_COLUMN.fullmatch(joined):
            return True
        pattern = T._ISO_DATE  # noqa: SLF001 (the store's own rule for Date strings)
        return all(map(pattern.match, values))
    if type_name == "Any":
        return True
    if type_name == "Object":
        return kinds <= {dict}
    if type_name == "Array":
        return kinds <= {list}
    return False  # unknown types: record by record


def types_ok(records: Sequence[dict[str, Any]], types: dict[str, str]) -> bool:
    """True when every record certainly conforms to ``types`` (checked column by column)."""
    for name, type_name in types.items():
        values = list(filter(_NOT_NONE, map(dict.get, records, repeat(name))))
        if not _column_ok(type_name, values):
            return False
    return True


def json_fragments(values: Sequence[Any]) -> tuple[list[bytes], bool]:
    """JSON text of every value of a column, and whether they are strings given without quotes.

    Uniform columns are encoded with one ``orjson.dumps`` of the whole column and
    split: strings on the ``","`` that separates them (inside a JSON string every
    ``"`` is escaped, so the split is exact), numbers on ``,``.
    """
    if not values:
        return [], False
    kinds = set(map(type, values))
    if kinds == {str}:
        return orjson.dumps(values)[2:-2].split(b'","'), True
    if kinds <= {int, float}:
        return orjson.dumps(values)[1:-1].split(b","), False
    if kinds == {bool}:
        return list(map(_BOOLEANS.__getitem__, values)), False
    return list(map(orjson.dumps, values)), False


def row_separators(names: Sequence[str], quoted: Sequence[bool], suffix: bytes = b"") -> list[bytes]:
    """The JSON text around a record's column fragments: one more piece than there are columns.

    Joining them with each column's fragment in between gives the record's JSON
    (``quoted`` fragments are string bodies, so the separators carry their quotes);
    ``suffix`` goes after the last attribute.
    """
    separators = []
    text = b"{"
    for position, (name, is_quoted) in enumerate(zip(names, quoted, strict=True)):
        text += (b"," if position else b"") + orjson.dumps(name) + b":" + (b'"' if is_quoted else b"")
        separators.append(text)
        text = b'"' if is_quoted else b""
    separators.append(text + suffix + b"}")
    return separators


def row_template(names: Sequence[str], quoted: Sequence[bool], suffix: bytes = b"") -> bytes:
    """A ``bytes % tuple`` template writing one record's JSON from its column fragments."""
    return b"%b".join(part.replace(b"%", b"%%") for part in row_separators(names, quoted, suffix))


def stamp_suffix(stamp: float) -> bytes:
    """The JSON of a new record's ``__createdtime__`` and ``__updatedtime__`` (after its attributes)."""
    text = orjson.dumps(stamp)
    return b',"' + CREATED.encode() + b'":' + text + b',"' + UPDATED.encode() + b'":' + text


def columns_types_ok(names: Sequence[str], columns: Sequence[Sequence[Any]], types: dict[str, str]) -> bool:
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
        if not _column_ok(type_name, column, kinds):
            return False
    return True
