"""Limits of a ``POST /`` body: how deep it nests and which numbers it may carry.

Both are checked once the body has parsed (``operations_endpoint.parse_body``), before
any operation sees it, and refused with a HarperDB-style 400 ``{"error": ...}``:

- **Nesting**: at most :data:`MAX_BODY_DEPTH` levels of arrays and objects (the body
  itself is level 1, a record of ``records`` level 3). The store encodes a record of
  at most 254 levels (orjson's limit) and answers wrap records in one more array, so
  the limit is comfortably below what can be stored and answered.
- **Numbers** (:mod:`gateway.storage.numbers`): an integer beyond ±2**53 would be
  rounded (and two such keys could collide) and a non-zero literal below the smallest
  double would become 0; the error names where in the body the number is
  (``records[1].id``).

Both checks are cheap on the common body: the nesting check counts the brackets of a
small body, else is one ``orjson.dumps`` of the parsed body (about a quarter of the
parse), the number check one ``translate`` of the raw bytes and two substring
searches (about a third); only a body holding a run of 16 digits or a three-digit
negative exponent is parsed again, by the standard library, to look at its number
literals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final

import orjson

from gateway.errors import OperationError
from gateway.storage.numbers import INTEGER_REASON, inexact_reason, shown_literal

MAX_BODY_DEPTH: Final = 128
"""The most levels of arrays and objects a request body may nest (the body is level 1)."""
TOO_DEEP: Final = f"Request body nests arrays and objects more than {MAX_BODY_DEPTH} levels deep"
_ENCODER_DEPTH = 254  # the deepest value orjson.dumps writes
_WRAPPING = _ENCODER_DEPTH - MAX_BODY_DEPTH
_COUNT_BELOW = 1 << 16  # bodies this small: count their brackets before anything else


def _number_shapes() -> bytes:
    """A ``bytes.translate`` table: digits → ``0``, ``e``/``E`` → ``e``, ``-`` kept, all else → space.

    In the translated body an integer of 16 digits or more (beyond 2**53 needs 16) shows
    as 16 zeros, and an exponent of -100 or below (needed to get under the smallest
    double, 5e-324, without a long run of digits) as ``e-000``.
    """
    table = bytearray(b" " * 256)
    table[ord("0") : ord("9") + 1] = b"0" * 10
    table[ord("e")] = table[ord("E")] = ord("e")
    table[ord("-")] = ord("-")
    return bytes(table)


_NUMBER_SHAPES = _number_shapes()
_DIGIT_RUN = b"0" * 16
_LONG_EXPONENT = b"e-000"
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def check_body(raw: bytes, body: Any) -> None:
    """OperationError (400) when the parsed ``body`` nests too deeply or ``raw`` holds an inexact number."""
    check_depth(body, raw)
    check_numbers(raw)


def check_depth(body: Any, raw: bytes | None = None) -> None:
    """400 :data:`TOO_DEEP` when ``body`` nests more than :data:`MAX_BODY_DEPTH` levels.

    A small ``raw`` body with too few brackets to nest that deep is let through at once.
    """
    if raw is not None and len(raw) < _COUNT_BELOW and raw.count(b"[") + raw.count(b"{") <= MAX_BODY_DEPTH:
        return
    wrapped = body
    for _ in range(_WRAPPING):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except TypeError as exc:  # a parsed body is always writable, but for its depth
        if "Recursion limit" in str(exc):
            raise OperationError(TOO_DEEP) from None


def check_numbers(raw: bytes) -> None:
    """400 naming the first number of the body that cannot be stored exactly."""
    shapes = raw.translate(_NUMBER_SHAPES)
    if _DIGIT_RUN not in shapes and _LONG_EXPONENT not in shapes:
        return
    found = _first_inexact(raw)
    if found is not None:
        literal, path, reason = found
        raise OperationError(f"Value {shown_literal(literal)} at {path} cannot be stored exactly: {reason}")


class _Inexact:
    """A number literal of the body that cannot be stored exactly (stands in for it when parsing again)."""

    __slots__ = ("literal", "reason")

    def __init__(self, literal: str, reason: str) -> None:
        self.literal = literal
        self.reason = reason


def _integer(literal: str) -> Any:
    if len(literal) > 20:  # beyond 2**64 (and int() refuses over 4,300 digits)
        return _Inexact(literal, INTEGER_REASON)
    value = int(literal)
    reason = inexact_reason(literal, value)
    return value if reason is None else _Inexact(literal, reason)


def _float(literal: str) -> Any:
    value = float(literal)
    reason = inexact_reason(literal, value)
    return value if reason is None else _Inexact(literal, reason)


def _first_inexact(raw: bytes) -> tuple[str, str, str] | None:
    """``(literal, path, reason)`` of the first inexact number of the body, in document order."""
    parsed = json.loads(raw, parse_int=_integer, parse_float=_float)
    for path, value in _walk(parsed, ""):
        if isinstance(value, _Inexact):
            return value.literal, path or "the body", value.reason
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every value of a parsed body with its path (``records[1].id``), in document order."""
    stack = [(path, value)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed([(_member(path, key), item) for key, item in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}[{index}]", item) for index, item in enumerate(value)]))
        else:
            yield path, value


def _member(path: str, key: str) -> str:
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"
