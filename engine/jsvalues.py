"""JavaScript value semantics the import framework depends on (spec §5.1, §6).

Haplo runs on JavaScript, so value presence, truthiness, string forms and strict
equality follow JS rules. Records carry JSON-compatible Python values; this module
is the one place that interprets them the JavaScript way.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final


class _Undefined:
    """The JavaScript ``undefined``: "no value" in the conversion pipeline (§6.1)."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()
"""Sentinel for "no value"; distinct from ``None``, which is JSON ``null``."""


class Ref:
    """A reference to a stored record: the primary key of the record (§7.3)."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and other.key == self.key

    def __hash__(self) -> int:
        return hash(("Ref", self.key))

    def __repr__(self) -> str:
        return f"Ref({self.key!r})"

    def __str__(self) -> str:
        return str(self.key)


EMPTY_CONTEXT: Final[dict[str, Any]] = {}
"""Shared read-only context for values that have no properties (§11 #19)."""

_MAX_SAFE = 2**53


def js_number_str(value: float | int) -> str:
    """``Number.prototype.toString()`` of a JSON number (``2.0`` → ``"2"``, ``1e21`` → ``"1e+21"``)."""
    if type(value) is int:
        if -_MAX_SAFE <= value <= _MAX_SAFE:
            return str(value)
        value = float(value)
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) <= _MAX_SAFE:
        return str(int(f))
    sign = "-" if f < 0 else ""
    text = repr(abs(f))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + exponent  # value = 0.digits * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    e = point - 1
    exp_str = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return sign + digits + "e" + exp_str
    return sign + digits[0] + "." + digits[1:] + "e" + exp_str


def js_string(value: Any) -> str:
    """``String(value)`` in JavaScript for JSON-compatible values (and Refs)."""
    t = type(value)
    if t is str:
        text: str = value
        return text
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int or t is float:
        return js_number_str(value)
    if t is list or t is tuple:
        return ",".join("" if v is None or v is UNDEFINED else js_string(v) for v in value)
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, Ref):
        return str(value.key)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness: objects and arrays are truthy even when empty."""
    if value is None or value is False or value is UNDEFINED:
        return False
    t = type(value)
    if t is str or t is int or t is float:
        return bool(value)
    return True


def is_present(value: Any) -> bool:
    """The value presence rule of §5.1: truthy, or the number 0."""
    return not (value is None or value is False or value == "" or value is UNDEFINED)


def js_stringify(value: Any) -> str:
    """Compact ``JSON.stringify`` (keys in insertion order, JS number forms)."""
    t = type(value)
    if t is str:
        return json.dumps(value, ensure_ascii=False)
    if value is None or value is UNDEFINED:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int or t is float:
        if t is float and not math.isfinite(value):
            return "null"
        return js_number_str(value)
    if isinstance(value, Ref):
        return json.dumps(str(value.key), ensure_ascii=False)
    if isinstance(value, dict):
        parts = [
            json.dumps(str(k), ensure_ascii=False) + ":" + js_stringify(v)
            for k, v in value.items()
            if v is not UNDEFINED
        ]
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_stringify(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def strict_key(value: Any) -> tuple[str, Any] | None:
    """A hashable key such that equal keys means ``===`` in JavaScript.

    Objects and arrays compare by identity in JavaScript, so two parsed values are
    never strictly equal: they get ``None`` (no key).
    """
    t = type(value)
    if t is str:
        return ("s", value)
    if t is bool:
        return ("b", value)
    if t is int or t is float:
        return ("n", value)
    if value is None:
        return ("null", None)
    return None


def copy_json(value: Any) -> Any:
    """A deep copy of nested dicts and lists (other values are shared)."""
    t = type(value)
    if t is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if t is list:
        return [copy_json(v) for v in value]
    return value
