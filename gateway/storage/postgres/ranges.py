"""A :class:`KeyRange` as one half-open bytea range ``lower <= key < upper`` over encoded keys.

Index entries are ``encode_key(value) + encode_key(primary key)`` and no encoded
value is a prefix of another, so every entry whose value lies in the range lies
in one contiguous run of the btree. The rules are the embedded store's: an
equality or a prefix is a key prefix; a lower or upper bound keeps to its own
type (a string bound stays among strings, a number bound among numbers).
"""

from __future__ import annotations

from gateway.storage import keys as K
from gateway.storage.records import KeyRange

END = b"\xff"
"""Above every encoded key (the highest type tag is a string's, 0x20)."""


def successor(prefix: bytes) -> bytes:
    """The smallest byte string above every string that starts with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return END * (len(prefix) + 1)
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))


def bounds(key_range: KeyRange) -> tuple[bytes, bytes]:
    """``(lower, upper)``: the keys in the range are those with ``lower <= key < upper``.

    Raises ``keys.UnencodableKey`` for a bound that cannot be a key.
    """
    r = key_range
    if r.has_equals or r.prefix is not None:
        prefix = K.encode_key(r.equals) if r.has_equals else K.string_prefix(r.prefix or "")
        return prefix, successor(prefix)
    lower = K.encode_key(r.lower) if r.lower is not None else None
    upper = K.encode_key(r.upper) if r.upper is not None else None
    bound = lower if lower is not None else upper
    if bound is None:
        return b"", END
    tag = bound[0]
    low, high = bytes((tag,)), bytes((tag + 1,))
    if lower is not None:
        low = lower if r.lower_inclusive else successor(lower)
    if upper is not None:
        high = min(high, successor(upper) if r.upper_inclusive else upper)
    return low, high
