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
from engine.lookups import TITLE_ATTRIBUTE, DatabaseTable, KeyedTable, find_by_code, title_keys
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


def _tables(ctx: TypeContext, types: Any) -> tuple[list[KeyedTable], list[Any]]:
    """The tables named in ``types`` (a destination's table or name, or any table of the model
    database, spec §6.6), and the entries that name none."""
    found: list[KeyedTable] = []
    unknown: list[Any] = []
    others: Mapping[str, str] | None = None
    for entry in types:
        table: KeyedTable | None = next(
            (d for d in ctx.model.stored_destinations if entry in (d.table, d.name)),
            None,
        )
        if table is None and isinstance(entry, str):
            others = others if others is not None else ctx.store.tables()
            key = others.get(entry)
            table = DatabaseTable(entry, key) if key is not None else None
        if table is None:
            unknown.append(entry)
        elif all(t.table != table.table for t in found):
            found.append(table)
    return found, unknown


def _database_tables(ctx: TypeContext) -> list[KeyedTable]:
    """The stored destinations' tables first (model order), then every other table of the database."""
    tables: list[KeyedTable] = list(ctx.model.stored_destinations)
    named = {t.table for t in tables}
    tables.extend(DatabaseTable(t, key) for t, key in ctx.store.tables().items() if t not in named)
    return tables


def _behaviour(ctx: TypeContext, spec: Mapping[str, Any], values: Mapping[str, Any]) -> Converter:
    types = spec.get("types")
    destinations = _tables(ctx, types)[0] if isinstance(types, list) else _database_tables(ctx)
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
    destinations, unknown = _tables(ctx, types)
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
