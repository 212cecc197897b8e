"""Order-preserving encoding of typed values into byte keys (primary keys and index entries).

Order: null < false < true < numbers < strings, matching HarperDB (numbers sort
before strings). Numbers are IEEE-754 doubles with the sign bit flipped so that
byte order equals numeric order. Strings are UTF-8 with 0x00 escaped as 0x00 0xFF
and terminated by 0x00 0x01, so an encoded value can be followed by another one
(index keys are ``encode(value) + encode(primary_key)``) and still sort correctly.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from itertools import chain, compress, repeat
from typing import Any

NULL = b"\x01"
FALSE = b"\x02"
TRUE = b"\x03"
NUMBER = 0x10
STRING = 0x20
STRING_PREFIX = b"\x20"  # a string key: this, the escaped UTF-8, then STRING_TERMINATOR
STRING_TERMINATOR = b"\x00\x01"
_DOUBLE = struct.Struct(">d")
_UINT = struct.Struct(">Q")
_SIGN = 1 << 63
_ALL = (1 << 64) - 1
_NUMBER_PREFIX = bytes((NUMBER,))
_INFINITIES = (float("inf"), float("-inf"))
# Encoded numbers seen recently (timestamps of one batch, small categorical values).
# int and float keys that compare equal encode identically, so sharing entries is safe.
_NUMBER_CACHE: dict[float, bytes] = {}
_NUMBER_CACHE_SIZE = 65_536
_MASKS: dict[int, int] = {}


class UnencodableKey(ValueError):
    """The value cannot be used as a key (objects, arrays, non-finite numbers)."""


def encode_number(value: float) -> bytes:
    """Encode a number so that byte order is numeric order."""
    if value == 0:
        value = 0.0  # -0.0 and 0 are the same key
    try:
        (bits,) = _UINT.unpack(_DOUBLE.pack(value))
    except (OverflowError, struct.error) as exc:
        raise UnencodableKey(f"cannot use {value!r} as a key") from exc
    bits = bits ^ _ALL if bits & _SIGN else bits | _SIGN
    return _NUMBER_PREFIX + _UINT.pack(bits)


def encode_string_body(value: str) -> bytes:
    """The escaped UTF-8 bytes of a string, without type tag or terminator."""
    raw = value.encode("utf-8")
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"\x00\xff")
    return raw


def encode_key(value: Any) -> bytes:
    """Encode a scalar JSON value as an order-preserving key."""
    kind = type(value)
    if kind is str:
        raw: bytes = value.encode("utf-8")
        if b"\x00" in raw:
            raw = raw.replace(b"\x00", b"\x00\xff")
        return STRING_PREFIX + raw + STRING_TERMINATOR
    if kind is int or kind is float:
        cached = _NUMBER_CACHE.get(value)
        if cached is not None:
            return cached
        if kind is float and (value != value or value in _INFINITIES):
            raise UnencodableKey(f"cannot use {value!r} as a key")
        encoded = encode_number(value)
        if len(_NUMBER_CACHE) >= _NUMBER_CACHE_SIZE:
            _NUMBER_CACHE.clear()
        _NUMBER_CACHE[value] = encoded
        return encoded
    if value is None:
        return NULL
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if isinstance(value, str):
        return encode_key(str(value))
    if isinstance(value, int | float):
        return encode_key(float(value) if isinstance(value, float) else int(value))
    raise UnencodableKey(f"cannot use a value of type {type(value).__name__} as a key")


def encode_key_or_none(value: Any) -> bytes | None:
    """:func:`encode_key` of ``value``, or None where it cannot be a key."""
    try:
        return encode_key(value)
    except UnencodableKey:
        return None


def string_prefix(prefix: str) -> bytes:
    """Key prefix matching every string that starts with ``prefix``."""
    return STRING_PREFIX + encode_string_body(prefix)


def key_length(data: bytes, offset: int = 0) -> int:
    """Length of the encoded value starting at ``offset``."""
    tag = data[offset]
    if tag == NUMBER:
        return 9
    if tag == STRING:
        end = offset + 1
        while True:
            end = data.index(b"\x00", end)
            if data[end + 1] == 0x01:
                return end + 2 - offset
            end += 2
    return 1


def decode_key(data: bytes, offset: int = 0) -> Any:
    """Decode the value encoded at ``offset``."""
    tag = data[offset]
    if tag == NUMBER:
        (bits,) = _UINT.unpack_from(data, offset + 1)
        bits = bits ^ _SIGN if bits & _SIGN else bits ^ _ALL
        (number,) = _DOUBLE.unpack(_UINT.pack(bits))
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if tag == STRING:
        length = key_length(data, offset)
        body = data[offset + 1 : offset + length - 2]
        return body.replace(b"\x00\xff", b"\x00").decode("utf-8")
    return {0x01: None, 0x02: False, 0x03: True}[tag]


def index_values(value: Any) -> list[Any]:
    """The scalar values under which an attribute value is indexed (array elements too)."""
    if isinstance(value, list):
        out = []
        for item in value:
            if item is None or isinstance(item, str | bool | int | float):
                out.append(item)
        return out
    if value is None or isinstance(value, str | bool | int | float):
        return [value]
    return []


_SCALARS = (str, int, float, bool, type(None))
MISSING: Any = object()
"""An attribute a record does not have: it has no index keys."""
_UNKEYED = frozenset((type(MISSING), dict))
"""The kinds of values that have no index keys whatever they hold: a missing attribute, an object."""


def value_keys(value: Any) -> tuple[bytes, ...]:
    """The index keys of an attribute value: its own, or one per scalar element of an array.

    Objects (and anything else that is not a scalar) have none, nor have values
    that cannot be keys (non-finite numbers).
    """
    if type(value) is list:
        out = []
        for item in value:
            if isinstance(item, _SCALARS):
                try:
                    out.append(encode_key(item))
                except UnencodableKey:
                    continue
        return tuple(out)
    if not isinstance(value, _SCALARS):
        return ()
    try:
        return (encode_key(value),)
    except UnencodableKey:
        return ()


# -- whole columns: the same keys, with the per-value work pushed into C where the column is uniform


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
    packed = struct.pack(">" + "Bd" * count, *chain.from_iterable(zip(repeat(NUMBER), values)))
    packed = (int.from_bytes(packed, "big") | _sign_mask(count)).to_bytes(9 * count, "big")
    return list(map(packed.__getitem__, map(slice, range(0, 9 * count, 9), range(9, 9 * count + 9, 9))))


def _string_keys(values: Sequence[str]) -> list[bytes]:
    if len(values) > 2048 and len(set(values[:1024])) <= 256:  # few distinct values (a city column)
        distinct = list(set(values))
        if 4 * len(distinct) <= len(values):
            table = dict(zip(distinct, _encode_strings(distinct), strict=True))
            return list(map(table.__getitem__, values))
    return _encode_strings(values)


_STRING_KEY = STRING_PREFIX + b"%b" + STRING_TERMINATOR
"""The key of a string without NUL."""


def _encode_strings(values: Sequence[str]) -> list[bytes]:
    return list(map(_STRING_KEY.__mod__, map(str.encode, values)))


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
    return list(map(encode_key, values))


_STRING_ENTRY = STRING_PREFIX + b"%b" + STRING_TERMINATOR + b"%b"
"""An index entry of a string value without NUL: its key, then the owner's encoded key."""


def index_entries(values: Sequence[Any], owners: Sequence[bytes]) -> list[bytes]:
    """Index keys (``value_keys`` of each value + its record's encoded primary key), unsorted.

    ``values`` is one attribute over several records (``MISSING`` where a record
    lacks it), aligned with ``owners``. Uniform columns of strings or numbers, and
    columns of arrays of them, are encoded at once; values that have no keys
    (``MISSING``, objects) are dropped first.
    """
    kinds = set(map(type, values))
    if not kinds.isdisjoint(_UNKEYED):  # some values have no keys
        kept = [type(value) not in _UNKEYED for value in values]
        values, owners = list(compress(values, kept)), list(compress(owners, kept))
        kinds.difference_update(_UNKEYED)
        if not values:
            return []
    column, column_owners = values, owners  # for the value-by-value way
    if kinds == {list}:  # arrays: index every element
        if set(map(len, values)) != {1}:  # else one element each: the owners stay aligned
            owners = list(chain.from_iterable(map(repeat, owners, map(len, values))))
        values = list(chain.from_iterable(values))
        kinds = set(map(type, values))
    if values and (kinds <= {str} or kinds <= {int, float}):
        if kinds == {str} and len(values) <= 2048 and "\x00" not in "".join(values):
            return list(map(_STRING_ENTRY.__mod__, zip(map(str.encode, values), owners, strict=True)))
        try:
            return list(map(bytes.__add__, encode_keys(values), owners))
        except UnencodableKey:
            pass
    return [
        vk + owner for value, owner in zip(column, column_owners, strict=True) for vk in value_keys(value)
    ]
