"""NoSQL reads: search_by_id (alias search_by_hash), search_by_value, search_by_conditions.

Answers are JSON arrays of records carrying the requested ``get_attributes``.
A missing table is 404. Where HarperDB answers 500 to a client mistake (no
``get_attributes``, no ``attribute``, an unknown attribute) the gateway answers
400 with HarperDB's message.
"""

from __future__ import annotations

from typing import Any

from gateway import fields
from gateway.operations.registry import OperationContext, few_ids, operation
from gateway.query.conditions import Group, parse_group, parse_operator, wildcard_condition
from gateway.query.matching import parse_sort, projector, run_query
from gateway.storage.records import TableInfo


def _read_target(ctx: OperationContext, database: str, table: str) -> TableInfo:
    """The table to read (404 when missing), looked up after the body's required fields are checked."""
    return fields.existing_table(ctx.gateway.storage.catalog, database, table, 404)


def _paging(body: dict[str, Any]) -> tuple[int, int | None]:
    offset = fields.integer(body, "offset", 0)
    limit = fields.integer(body, "limit", None)
    return offset or 0, limit


@operation("search_by_id", permission="read", aliases=("search_by_hash",), inline=few_ids)
def search_by_id(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Records by primary key (``ids``, alias ``hash_values``); unknown ids are left out."""
    database, table = fields.table_ref(body)
    get_attributes = fields.attribute_names(body)
    ids = fields.array(body, "ids")
    info = _read_target(ctx, database, table)
    project = projector(info, get_attributes)
    records = ctx.gateway.storage.records.get_many(info.database, info.name, ids)
    return [project(r) for r in records if r is not None]


@operation("search_by_value", permission="read")
def search_by_value(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Records whose ``attribute`` equals ``value``; ``*`` wildcards: ``*``, ``Pe*``, ``*er``, ``P*y``."""
    database, table = fields.table_ref(body)
    attribute = fields.string(body, "attribute")
    if "value" not in body:
        fields.required(body, "value")
    get_attributes = fields.attribute_names(body)
    offset, limit = _paging(body)
    condition = wildcard_condition(attribute, body["value"])
    info = _read_target(ctx, database, table)
    project = projector(info, get_attributes)
    records = run_query(ctx.gateway.storage, info, Group("and", [condition]), None, offset, limit)
    return [project(r) for r in records]


@operation("search_by_conditions", permission="read")
def search_by_conditions(ctx: OperationContext, body: dict[str, Any]) -> Any:
    """Records matching ``conditions`` joined by ``operator``, sorted, paged and projected."""
    database, table = fields.table_ref(body)
    get_attributes = fields.attribute_names(body)
    group = parse_group(fields.array(body, "conditions"), parse_operator(body.get("operator")))
    sorts = parse_sort(body.get("sort"))
    offset, limit = _paging(body)
    info = _read_target(ctx, database, table)
    project = projector(info, get_attributes)
    records = run_query(ctx.gateway.storage, info, group, sorts, offset, limit)
    return [project(r) for r in records]
