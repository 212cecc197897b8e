"""The value conversion pipeline of one instruction (spec §6.1–§6.2).

``input → mapInputValue → filters (in order) → data type → stored value | UNDEFINED``.
The pipeline is assembled once at batch setup into a single callable; the common
case of no mapping and no filters is the type converter itself.

Ours: a filter that yields ``UNDEFINED`` ends the pipeline (later filters do not
see it); Haplo would pass ``undefined`` on, which can only fail or stay undefined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.filters import Filter
from engine.jsvalues import UNDEFINED, js_string

Converter = Callable[[Any], Any]
MISSING: Any = object()
"""Marker for "no such key" in mapping look-ups."""


def value_mapper(instruction: Mapping[str, Any]) -> Converter | None:
    """The ``mapInputValue``/``mapInputValueDefault`` step, or None if the instruction has none.

    The input's JavaScript string form is looked up among the mapping's own keys (§11 #18).
    """
    table = instruction.get("mapInputValue")
    if not isinstance(table, dict):
        return None
    has_default = "mapInputValueDefault" in instruction
    default = instruction.get("mapInputValueDefault")

    def mapper(value: Any) -> Any:
        key = value if type(value) is str else js_string(value)
        found = table.get(key, MISSING)
        if found is not MISSING:
            return found
        return default if has_default else value

    return mapper


def build_pipeline(mapper: Converter | None, filters: Sequence[Filter], convert: Converter) -> Converter:
    """Compose mapping, filters and the type converter into one converter."""
    steps = ([mapper] if mapper is not None else []) + list(filters)
    if not steps:
        return convert
    if len(steps) == 1:
        (first,) = steps

        def one_step(value: Any) -> Any:
            value = first(value)
            return UNDEFINED if value is UNDEFINED else convert(value)

        return one_step
    all_steps = tuple(steps)

    def pipeline(value: Any) -> Any:
        for step in all_steps:
            value = step(value)
            if value is UNDEFINED:
                return UNDEFINED
        return convert(value)

    return pipeline
