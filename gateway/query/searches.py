"""The ``search_operation`` of export_local and export_to_s3, as a stream of rows.

``run_search(storage, user, body)`` answers the columns of the export and an iterator of
rows, reading the table lazily so an export of any size keeps memory flat
(unless the search sorts, which needs its matches in memory). Searches are
those of the operations (same validation, same index planning); ``*`` exports
every attribute of the table in HarperDB's export order: primary key,
``__createdtime__``, ``__updatedtime__``, then alphabetical.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from gateway import fields
from gateway.auth.permissions import require_table_permission
from gateway.auth.users import User
from gateway.errors import OperationError
from gateway.query import sqlexec
from gateway.query.conditions import Group, parse_group, parse_operator, wildcard_condition
from gateway.query.matching import check_attributes, matching_records, parse_sort, run_query
from gateway.query.sqlplan import SelectPlan, SqlError, parse
from gateway.storage.ports import Storage
from gateway.storage.records import TableInfo

EXPORT_SEARCHES = ("search_by_value", "search_by_hash", "sql", "search_by_conditions")


class SearchFailed(Exception):
    """The export's search cannot run (the job ends with ERROR and this message)."""


@dataclass
class SearchRows:
    """What an export writes: its column names and its rows (dicts keyed by those names)."""

    columns: list[str]
    rows: Iterator[dict[str, Any]]


def search_operation_name(body: Any) -> str:
    """The search's operation name, checked as HarperDB checks it (SearchFailed otherwise)."""
    if not isinstance(body, dict):
        raise SearchFailed("search_operation.operation missing")
    name = body.get("operation")
    if name in (None, ""):
        raise SearchFailed("search_operation.operation missing")
    if name == "search_by_id":
        return "search_by_hash"
    if name not in EXPORT_SEARCHES:
        raise SearchFailed(
            f"search_operation.operation must be one of the following values: {', '.join(EXPORT_SEARCHES)}"
        )
    return str(name)


def search_table(body: dict[str, Any]) -> tuple[str, str] | None:
    """The ``(database, table)`` a search reads, when it can be told without running it."""
    try:
        if body.get("operation") == "sql":
            plan = parse(body.get("sql"))
            return (plan.table.database, plan.table.table)
        return fields.table_ref(fields.with_aliases(body))
    except (SqlError, OperationError):
        return None


def export_columns(info: TableInfo, get_attributes: list[str]) -> list[str]:
    """The columns of an export of ``get_attributes`` (``*``: every attribute, export order)."""
    if "*" in get_attributes:
        return sqlexec.star_columns(info)
    for name in get_attributes:
        if name not in info.attributes:
            raise OperationError(f"unknown attribute '{name}'")
    return list(dict.fromkeys(get_attributes))


def _project(records: Iterator[dict[str, Any]], columns: list[str]) -> Iterator[dict[str, Any]]:
    for record in records:
        yield {name: record.get(name) for name in columns}


def run_search(storage: Storage, user: User, body: Any) -> SearchRows:
    """Run an export's ``search_operation`` as ``user``; SearchFailed (or OperationError) explains a refusal."""
    name = search_operation_name(body)
    if name == "sql":
        return _sql(storage, user, body)
    request = fields.with_aliases(body)
    database, table = fields.table_ref(request)
    require_table_permission(user, database, table, "read")
    get_attributes = fields.attribute_names(request)
    info = fields.existing_table(storage.catalog, database, table, 404)
    columns = export_columns(info, get_attributes)
    if name == "search_by_hash":
        ids = fields.array(request, "ids")
        found = (r for r in storage.records.get_many(database, table, ids) if r is not None)
        return SearchRows(columns, _project(found, columns))
    offset = fields.integer(request, "offset", 0) or 0
    limit = fields.integer(request, "limit", None)
    if name == "search_by_value":
        attribute = fields.string(request, "attribute")
        if "value" not in request:
            fields.required(request, "value")
        group = Group("and", [wildcard_condition(attribute, request["value"])])
        sorts = None
    else:
        group = parse_group(fields.array(request, "conditions"), parse_operator(request.get("operator")))
        sorts = parse_sort(request.get("sort"))
    check_attributes(info, group, sorts)
    if sorts:
        records: Iterator[dict[str, Any]] = iter(run_query(storage, info, group, sorts, offset, limit))
    else:
        stop = None if limit is None else offset + limit
        records = islice(matching_records(storage, info, group), offset, stop)
    return SearchRows(columns, _project(records, columns))


def _sql(storage: Storage, user: User, body: dict[str, Any]) -> SearchRows:
    try:
        plan = parse(body.get("sql"))
    except SqlError as exc:
        raise SearchFailed(str(exc)) from exc
    if not isinstance(plan, SelectPlan):
        raise SearchFailed("an export's sql search_operation must be a SELECT")
    fields.refuse_system(plan.table.database)
    require_table_permission(user, plan.table.database, plan.table.table, "read")
    fields.existing_table(storage.catalog, plan.table.database, plan.table.table, 404)
    columns, rows = sqlexec.select(storage, plan)
    return SearchRows(columns, rows)
