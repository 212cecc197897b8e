"""``refMapping`` for ``ref`` Names (spec §6.6): control-file mappings to stored records.

``using: "behaviour"`` maps an input value to a code, then to the record whose
``code`` attribute matches (looked up when first needed, cached per input value).
``using: "title"`` snapshots ``title → primary key`` of the listed tables at batch
setup. Setup problems are reported and fall back to the Ref-only converter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.jsvalues import UNDEFINED, js_string
from engine.lookups import TITLE_ATTRIBUTE, find_by_code, title_keys
from engine.models import Destination, Model
from engine.typecontext import TypeContext
from engine.values import Converter

TITLE_MAPPING_LIMIT: Final = 4096


def ref_mapping(ctx: TypeContext) -> Converter | None:
    """The mapping converter for the instruction's ``refMapping``, or None for the Ref-only one."""
    if "refMapping" not in ctx.instruction:
        return None
    name = js_string(ctx.instruction["refMapping"])
    spec = ctx.mappings.get(name) if isinstance(ctx.mappings, Mapping) else None
    if not isinstance(spec, dict):
        ctx.report(f"Unknown mapping: {name}")
        return None
    values = spec.get("values")
    if not isinstance(values, dict):
        values = {}
    using = spec.get("using")
    if using == "behaviour":
        return _behaviour(ctx, spec, values)
    if using == "title":
        return _title(ctx, name, spec, values)
    return None


def _tables(model: Model, types: Any) -> tuple[list[Destination], list[Any]]:
    """Stored destinations named (by table or destination name) in ``types``, and the unknown entries."""
    found: list[Destination] = []
    unknown: list[Any] = []
    for entry in types:
        dest = next(
            (d for d in model.stored_destinations if entry in (d.table, d.name)),
            None,
        )
        if dest is None:
            unknown.append(entry)
        elif dest not in found:
            found.append(dest)
    return found, unknown


def _behaviour(ctx: TypeContext, spec: Mapping[str, Any], values: Mapping[str, Any]) -> Converter:
    types = spec.get("types")
    if isinstance(types, list):
        destinations, _ = _tables(ctx.model, types)
    else:
        destinations = list(ctx.model.stored_destinations)
    store, report, src = ctx.store, ctx.report, ctx.source_details
    cache: dict[str, Any] = {}

    def convert(value: Any) -> Any:
        key = js_string(value)
        hit = cache.get(key)
        if hit is not None:
            return hit
        if key in values:
            found = find_by_code(store, destinations, values[key])
            if found is not None:
                cache[key] = found
                return found
        report(f"Value in input data cannot be mapped for {src}: {key}")
        return UNDEFINED

    return convert


def _title(
    ctx: TypeContext, name: str, spec: Mapping[str, Any], values: Mapping[str, Any]
) -> Converter | None:
    types = spec.get("types")
    if not isinstance(types, list):
        ctx.report(f"Mapping {name} does not specify types")
        return None
    destinations, unknown = _tables(ctx.model, types)
    for entry in unknown:
        ctx.report(f"Mapping {name} refers to unknown type {js_string(entry)}")
    if not destinations:
        ctx.report(f"No types for mapping {name}")
        return None
    lookup: dict[str, Any] = {}
    count = 0
    for dest in destinations:
        assert dest.table is not None
        for record in ctx.store.scan(dest.table):
            count += 1
            if count > TITLE_MAPPING_LIMIT:
                ctx.report(
                    f"Mapping {name} uses title mapping, but too many objects in store to use this method."
                )
                return None
            for title in title_keys(record.get(TITLE_ATTRIBUTE)):
                lookup.setdefault(title, record.get(dest.primary_key))
    report, src = ctx.report, ctx.source_details

    def convert(value: Any) -> Any:
        key = js_string(value)
        if key not in values:
            return UNDEFINED
        title = values[key]
        found = lookup.get(title) if isinstance(title, str) else None
        if found is None:
            report(f"Value in input data cannot be mapped for {src}: {key}")
            return UNDEFINED
        return found

    return convert
