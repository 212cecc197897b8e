"""Running SQL plans against the record store.

SELECT reads through an index when a top-level AND term of the WHERE clause is
an equality, range, BETWEEN or IN on the primary key or an indexed attribute,
and scans the table otherwise; the full predicate is applied to every candidate.
Without ORDER BY, GROUP BY, aggregates or DISTINCT rows stream (exports stay flat
in memory). ``SELECT *`` answers columns in HarperDB's order: the primary key,
``__createdtime__``, ``__updatedtime__``, then the other attributes alphabetically.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from gateway.query.sqlplan import (
    Aggregate,
    DeletePlan,
    Filter,
    InsertPlan,
    Output,
    Plan,
    SelectPlan,
    SqlError,
    TableRef,
    UpdatePlan,
    comparable,
)
from gateway.storage import keys as K
from gateway.storage.errors import DatabaseNotFound
from gateway.storage.ports import Storage
from gateway.storage.records import CREATED, UPDATED, TableInfo
from gateway.storage.system import SYSTEM_DB

_BATCH = 1000


def table_info(storage: Storage, ref: TableRef) -> TableInfo:
    """The table a statement names (the system database is not reachable from SQL)."""
    if ref.database == SYSTEM_DB:
        raise DatabaseNotFound(ref.database)
    return storage.catalog.table(ref.database, ref.table)


def star_columns(info: TableInfo) -> list[str]:
    """HarperDB's column order for ``*``: key, created, updated, then alphabetical."""
    head = [info.primary_key] + [m for m in (CREATED, UPDATED) if m in info.attributes]
    rest = sorted(a for a in info.attributes if a not in head)
    return head + rest


def _sort_key(value: Any) -> bytes:
    try:
        return K.encode_key(value)
    except K.UnencodableKey:
        return b"\xff" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def matching(storage: Storage, ref: TableRef, info: TableInfo, where: Filter) -> Iterator[dict[str, Any]]:
    """Records of the table that satisfy ``where`` (through an index when one applies)."""
    predicate = where.predicate
    term = _best_term(storage, ref, info, where)
    if term is None:
        records: Iterable[dict[str, Any]] = storage.records.scan(ref.database, ref.table)
    else:
        records = _by_index(storage, ref, *term)
    if predicate is None:
        yield from records
    else:
        for record in records:
            if predicate(record):
                yield record


def _best_term(storage: Storage, ref: TableRef, info: TableInfo, where: Filter) -> Any:
    usable = [t for t in where.index_terms if storage.catalog.is_indexed(ref.database, ref.table, t[0])]
    if not usable:
        return None

    def rank(term: Any) -> tuple[int, int]:
        exact = all(r.has_equals for r in term[1])
        return (0 if term[0] == info.primary_key else 1, 0 if exact else 1)

    return min(usable, key=rank)


def _by_index(storage: Storage, ref: TableRef, attribute: str, ranges: list[Any]) -> Iterator[dict[str, Any]]:
    seen: set[bytes] = set()
    keys = itertools.chain.from_iterable(
        storage.records.index_keys(ref.database, ref.table, attribute, r) for r in ranges
    )
    while True:
        batch = []
        for key in itertools.islice(keys, _BATCH):
            encoded = K.encode_key(key)
            if encoded not in seen:
                seen.add(encoded)
                batch.append(key)
        if not batch:
            return
        for record in storage.records.get_many(ref.database, ref.table, batch):
            if record is not None:
                yield record


# -- SELECT -------------------------------------------------------------------------------


def select(storage: Storage, plan: SelectPlan) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """The answer's column names and its rows (a stream when nothing needs the whole result)."""
    info = table_info(storage, plan.table)
    records = matching(storage, plan.table, info, plan.where)
    if plan.aggregated:
        rows: Iterator[dict[str, Any]] = iter(_aggregate(plan, records))
        columns = [o.name for o in plan.outputs]
        if plan.order:
            rows = iter(_ordered(list(rows), plan.order))
    else:
        columns = star_columns(info) if plan.star else [o.name for o in plan.outputs]
        attributes = columns if plan.star else [o.attribute or o.name for o in plan.outputs]
        if plan.order:
            aliases = {o.name: o.attribute for o in plan.outputs if o.attribute}
            order = [(aliases.get(name, name), desc) for name, desc in plan.order]
            records = iter(_ordered(list(records), order))
        rows = _project(records, columns, attributes)
    if plan.distinct:
        rows = _distinct(rows)
    if plan.offset or plan.limit is not None:
        stop = None if plan.limit is None else plan.offset + plan.limit
        rows = itertools.islice(rows, plan.offset, stop)
    return columns, rows


def _project(
    records: Iterable[dict[str, Any]], columns: list[str], attributes: list[str]
) -> Iterator[dict[str, Any]]:
    for record in records:
        yield {column: record.get(attribute) for column, attribute in zip(columns, attributes, strict=True)}


def _ordered(rows: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    for name, descending in reversed(order):

        def key(row: dict[str, Any], name: str = name) -> bytes:
            return _sort_key(row.get(name))

        rows.sort(key=key, reverse=descending)
    return rows


def _distinct(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    seen: set[bytes] = set()
    for row in rows:
        token = orjson.dumps(list(row.values()))
        if token not in seen:
            seen.add(token)
            yield row


class _State:
    __slots__ = ("count", "total", "numbers", "low", "high")

    def __init__(self) -> None:
        self.count = 0
        self.total: float = 0
        self.numbers = 0
        self.low: Any = None
        self.high: Any = None

    def add(self, aggregate: Aggregate, record: dict[str, Any]) -> None:
        if aggregate.attribute is None:
            self.count += 1
            return
        value = record.get(aggregate.attribute)
        if value is None:
            return
        self.count += 1
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.total += value
            self.numbers += 1
        if self.low is None or (comparable(value, self.low) and value < self.low):
            self.low = value
        if self.high is None or (comparable(value, self.high) and value > self.high):
            self.high = value

    def result(self, function: str) -> Any:
        if function == "count":
            return self.count
        if function == "sum":
            return self.total if self.numbers else None
        if function == "avg":
            return self.total / self.numbers if self.numbers else None
        return self.low if function == "min" else self.high


def _aggregate(plan: SelectPlan, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[bytes, tuple[dict[str, Any], list[_State]]] = {}
    aggregates = [o.aggregate for o in plan.outputs]
    for record in records:
        token = orjson.dumps([record.get(g) for g in plan.group_by]) if plan.group_by else b""
        group = groups.get(token)
        if group is None:
            group = groups[token] = (record, [_State() for _ in aggregates])
        for aggregate, state in zip(aggregates, group[1], strict=True):
            if aggregate is not None:
                state.add(aggregate, record)
    if not groups and not plan.group_by:
        groups[b""] = ({}, [_State() for _ in aggregates])
    out = []
    for first, states in groups.values():
        row: dict[str, Any] = {}
        for output, state in zip(plan.outputs, states, strict=True):
            row[output.name] = _value(output, first, state)
        out.append(row)
    return out


def _value(output: Output, first: dict[str, Any], state: _State) -> Any:
    if output.aggregate is not None:
        return state.result(output.aggregate.function)
    return first.get(output.attribute or output.name)


# -- INSERT / UPDATE / DELETE -----------------------------------------------------------------


def insert(storage: Storage, plan: InsertPlan) -> dict[str, Any]:
    table_info(storage, plan.table)
    records = [dict(zip(plan.columns, row, strict=True)) for row in plan.rows]
    result = storage.records.write(plan.table.database, plan.table.table, records, "insert")
    return {
        "message": f"inserted {len(result.written)} of {len(records)} records",
        "inserted_hashes": result.written,
        "skipped_hashes": result.skipped,
    }


def update(storage: Storage, plan: UpdatePlan) -> dict[str, Any]:
    info = table_info(storage, plan.table)
    if info.primary_key in plan.assignments:
        raise SqlError(f"UPDATE cannot change the primary key '{info.primary_key}'")
    keys = [r[info.primary_key] for r in matching(storage, plan.table, info, plan.where)]
    written: list[Any] = []
    skipped: list[Any] = []
    for start in range(0, len(keys), 10_000):
        records = [{info.primary_key: key, **plan.assignments} for key in keys[start : start + 10_000]]
        result = storage.records.write(plan.table.database, plan.table.table, records, "update")
        written.extend(result.written)
        skipped.extend(result.skipped)
    return {
        "message": f"updated {len(written)} of {len(keys)} records",
        "update_hashes": written,
        "skipped_hashes": skipped,
    }


def delete(storage: Storage, plan: DeletePlan) -> dict[str, Any]:
    info = table_info(storage, plan.table)
    keys = [r[info.primary_key] for r in matching(storage, plan.table, info, plan.where)]
    written: list[Any] = []
    skipped: list[Any] = []
    for start in range(0, len(keys), 10_000):
        result = storage.records.delete(plan.table.database, plan.table.table, keys[start : start + 10_000])
        written.extend(result.written)
        skipped.extend(result.skipped)
    return {
        "message": deleted_message(len(written), len(keys)),
        "deleted_hashes": written,
        "skipped_hashes": skipped,
    }


def deleted_message(deleted: int, total: int) -> str:
    """HarperDB's delete summary (``record`` when one was asked for)."""
    noun = "record" if total == 1 else "records"
    return f"{deleted} of {total} {noun} successfully deleted"


def execute(storage: Storage, plan: Plan) -> Any:
    """Run a plan as the ``sql`` operation answers it (SELECT rows as a list)."""
    if isinstance(plan, SelectPlan):
        return list(select(storage, plan)[1])
    if isinstance(plan, InsertPlan):
        return insert(storage, plan)
    if isinstance(plan, UpdatePlan):
        return update(storage, plan)
    return delete(storage, plan)
