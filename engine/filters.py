"""Value filters (spec §6.3): a registry of per-batch filter factories.

A filter maps a value to a value, or to ``UNDEFINED`` for "no value". Each filter
is created once per batch from a :class:`FilterContext`, so it may keep state
(e.g. a cache) for the batch without module globals.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import BatchError
from engine.jsvalues import UNDEFINED, Ref, js_string
from engine.lookups import find_by_code
from engine.models import Model
from engine.ports import TargetStore

Filter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a filter may use: the batch's model and its store."""

    model: Model
    store: TargetStore


FilterFactory = Callable[[FilterContext], Filter]

DOCS_URL: Final = "https://docs.haplo.org/import/control/filter"


def string_to_ref(ctx: FilterContext) -> Filter:
    """A non-empty string without whitespace becomes a reference to the record with that primary key."""

    def run(value: Any) -> Any:
        if type(value) is str:
            if value and not _WHITESPACE.search(value):
                return Ref(value)
            return UNDEFINED
        if isinstance(value, Ref):
            return value
        return UNDEFINED

    return run


def code_to_ref(ctx: FilterContext) -> Filter:
    """A string becomes a reference to the oldest record whose ``code`` attribute is (or contains) it."""
    cache: dict[str, Any] = {}
    destinations = ctx.model.stored_destinations

    def run(value: Any) -> Any:
        if isinstance(value, Ref):
            return value
        if type(value) is not str:
            return UNDEFINED
        key = cache.get(value)
        if key is None:
            key = find_by_code(ctx.store, destinations, value)
            if key is None:
                return UNDEFINED
            cache[value] = key
        return Ref(key)

    return run


def fix_up_url(ctx: FilterContext) -> Filter:
    """Prefix ``https://`` to strings that look like a host and path but have no scheme."""

    def run(value: Any) -> Any:
        if type(value) is not str:
            return UNDEFINED
        # no ":", a letter, then one or more of letters, "+", ".", "-", "/"
        if ":" not in value and len(value) > 1 and value[0] in _LETTERS and value[1] in _HOST_CHARS:
            return "https://" + value
        return value

    return run


def to_lower_case(ctx: FilterContext) -> Filter:
    """Lower-case strings; other values pass through."""

    def run(value: Any) -> Any:
        return value.lower() if type(value) is str else value

    return run


def to_upper_case(ctx: FilterContext) -> Filter:
    """Upper-case strings; other values pass through."""

    def run(value: Any) -> Any:
        return value.upper() if type(value) is str else value

    return run


def to_string(ctx: FilterContext) -> Filter:
    """Convert any value to its JavaScript string form; null fails the batch."""

    def run(value: Any) -> Any:
        if value is None or value is UNDEFINED:
            raise BatchError("Cannot convert undefined or null to string")
        return js_string(value)

    return run


_WHITESPACE = re.compile(r"\s")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HOST_CHARS = _LETTERS | frozenset("+.-/")

FILTERS: dict[str, FilterFactory] = {
    "haplo:string-to-ref": string_to_ref,
    "haplo:code-to-ref": code_to_ref,
    "haplo:fix-up-url": fix_up_url,
    "haplo:to-lower-case": to_lower_case,
    "haplo:to-upper-case": to_upper_case,
    "haplo:to-string": to_string,
}
"""Registered filters by name; validation accepts exactly these names."""


def describe_filters() -> list[dict[str, str]]:
    """Name, description and documentation link of every registered filter (admin UI)."""
    out = []
    for name, factory in FILTERS.items():
        doc = (factory.__doc__ or "").strip().splitlines()
        out.append({"name": name, "description": doc[0] if doc else "", "documentation": DOCS_URL})
    return out


class FilterSet:
    """The filters of one batch: each named filter is created once, on first use."""

    __slots__ = ("_ctx", "_made")

    def __init__(self, ctx: FilterContext) -> None:
        self._ctx = ctx
        self._made: dict[str, Filter] = {}

    def get(self, name: Any) -> Filter:
        """The batch's instance of filter ``name``; unknown names fail the batch."""
        key = js_string(name)
        made = self._made.get(key)
        if made is None:
            factory = FILTERS.get(key)
            if factory is None:
                raise BatchError(f"no filter defined for name: {key}")
            made = self._made[key] = factory(self._ctx)
        return made
