"""One transaction's changes to gateway tables, planned in Python and sent as a few statements.

The rules of a write (keys, modes, metadata times, index changes) are
:mod:`gateway.storage.writeplan`'s; here they become SQL:

- :func:`begin`: the tables' relations are locked for writing (in id order), so a
  drop or a schema change waits for the write rather than meeting it half-way;
- :func:`register`: attributes first seen in the written records join the catalog
  in the same transaction (the table's version is bumped at the end);
- :func:`read_stored`: the stored records under the written keys, locked
  (``FOR UPDATE``, in key order) so concurrent writers of a key serialize;
- :func:`stage`: one ``write``'s records merged by mode against what is stored
  (or written earlier in the transaction);
- :func:`finish`: records inserted, updated and deleted, the index entries that
  changed between each key's stored and final record, and the table's record
  count, which fails the transaction (to be planned again) if another process
  changed the table's attributes since this one read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from itertools import chain
from typing import Any

import orjson
from psycopg import pq, sql

from gateway.storage import keys as K
from gateway.storage.postgres.arrays import BinaryArray, ByteaArray, Int4Array, TextArray
from gateway.storage.postgres.copyrows import copy_in, records_payload, unique_sorted
from gateway.storage.postgres.database import Connection, PgDatabase, PgTable, Stale
from gateway.storage.records import WriteMode, WriteResult
from gateway.storage.writeplan import check_new_attributes, index_changes, merged

COPY_ROWS = 2_000
"""New records from which a transaction that may COPY does (fewer: one INSERT of arrays)."""


class Plan:
    """One table's part of a transaction: stored records read for update, and the final ones."""

    __slots__ = ("table", "indexed", "registered", "stored", "final", "raw")

    def __init__(self, table: PgTable) -> None:
        self.table = table
        self.indexed = dict(table.indexed)
        """Indexed attributes → ids, those registered in this transaction included."""
        self.registered = False
        self.stored: dict[bytes, dict[str, Any]] = {}
        """Records stored under the keys read (expired ones included), by encoded key."""
        self.final: dict[bytes, dict[str, Any] | None] = {}
        """What each written key holds at the end (None: deleted)."""
        self.raw: dict[bytes, bytes] = {}
        """The JSON of final records that arrived encoded."""

    def current(self, ekey: bytes) -> dict[str, Any] | None:
        """The record under ``ekey`` as this transaction sees it so far."""
        if ekey in self.final:
            return self.final[ekey]
        return self.stored.get(ekey)


def begin(conn: Connection, tables: Iterable[PgTable], deferred: bool = False) -> None:
    """Lock the tables' relations for writing, in id order (an undefined one: dropped meanwhile).

    ``deferred``: the commit does not wait for the disk (``synchronous_commit`` off for this
    transaction); a later synchronous commit (``Records.sync``) makes it durable, and a crash
    before loses it whole, never part of it.
    """
    ordered = sorted(tables, key=lambda t: t.id)
    lock = sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(
        sql.SQL(", ").join(r for t in ordered for r in (t.records, t.index))
    )
    if not deferred:
        conn.execute(lock)
    elif conn.pgconn.pipeline_status == pq.PipelineStatus.OFF:
        conn.execute(sql.SQL("SET LOCAL synchronous_commit TO off; ") + lock)  # one round trip
    else:  # pipeline mode: one statement a call (they go out together anyway)
        conn.execute("SET LOCAL synchronous_commit TO off")
        conn.execute(lock)


def register(conn: Connection, db: PgDatabase, plan: Plan, names: Iterable[str]) -> None:
    """Add the attributes of ``names`` the table does not know (indexed unless it has a schema).

    Stale when another process registered some of them first (this one reloads and plans again).
    """
    info = plan.table.info
    missing = sorted(set(names).difference(info.attributes))
    if not missing:
        return
    check_new_attributes(info, missing)
    indexed = not info.schema_defined
    rows = conn.execute(
        db.q(
            "INSERT INTO {schema}.attributes (table_id, name, indexed) "
            "SELECT %s, n, %s FROM unnest(%s::text[]) WITH ORDINALITY AS u(n, o) ORDER BY o "
            "ON CONFLICT (table_id, name) DO NOTHING RETURNING id, name"
        ),
        [plan.table.id, indexed, missing],
    ).fetchall()
    if len(rows) != len(missing):
        raise Stale(f"attributes of table {plan.table.id} registered by another process")
    if indexed:
        plan.indexed.update({name: attribute_id for attribute_id, name in rows})
    plan.registered = True


def read_stored(conn: Connection, plan: Plan, ekeys: Iterable[bytes]) -> None:
    """Read (and lock) the stored records under ``ekeys`` into ``plan.stored``."""
    wanted = sorted(set(ekeys).difference(plan.stored))
    if not wanted:
        return
    rows = conn.execute(
        plan.table.sql("SELECT k, r FROM {records} WHERE k = ANY(%b) ORDER BY k FOR UPDATE"),
        [wanted],
        binary=True,
    ).fetchall()
    for key, raw in rows:
        plan.stored[key] = orjson.loads(raw)


def range_empty(conn: Connection, table: PgTable, low: bytes, high: bytes) -> bool:
    """Whether no key between ``low`` and ``high`` (inclusive) is stored."""
    row = conn.execute(
        table.sql("SELECT EXISTS (SELECT 1 FROM {records} WHERE k >= %b AND k <= %b)"),
        [low, high],
        binary=True,
    ).fetchone()
    return not (row and row[0])


def stage(
    plan: Plan,
    records: Sequence[dict[str, Any]],
    keys: Sequence[Any],
    ekeys: Sequence[bytes],
    mode: WriteMode,
    stamp: float,
) -> WriteResult:
    """Merge one write's records into ``plan.final`` (the stored ones read first); keys written and skipped."""
    info = plan.table.info
    result = WriteResult()
    for record, key, ekey in zip(records, keys, ekeys, strict=True):
        new = merged(info, mode, record, key, plan.current(ekey), stamp)
        if new is None:
            result.skipped.append(key)
            continue
        plan.final[ekey] = new
        plan.raw.pop(ekey, None)
        result.written.append(key)
    return result


def finish(conn: Connection, db: PgDatabase, plans: Iterable[Plan], copy: bool = False) -> None:
    """Write every plan's changes, then its record count and catalog version (tables in id order).

    The statements go out in one pipeline (one round trip; the caller's, if it has one:
    entering a nested pipeline costs a round trip); ``copy``: large inserts are COPYed first
    instead.
    """
    ordered = sorted(plans, key=lambda p: p.table.id)
    changes = [_changes(plan) for plan in ordered]
    if copy:
        for plan, change in zip(ordered, changes, strict=True):
            if len(change.insert_keys) >= COPY_ROWS:
                _copy_inserts(conn, plan.table, change)
    with nullcontext() if conn.pgconn.pipeline_status != pq.PipelineStatus.OFF else conn.pipeline():
        for plan, change in zip(ordered, changes, strict=True):
            _send(conn, plan.table, change)
        for plan, change in zip(ordered, changes, strict=True):
            count_records(conn, db, plan.table, change.delta)
        registered = [plan.table.id for plan in ordered if plan.registered]
        if registered:
            bump_versions(conn, db, registered)


def count_records(conn: Connection, db: PgDatabase, table: PgTable, delta: int) -> None:
    """Change a table's record count; fails (SQLSTATE GW001) if its attributes changed since it was read."""
    conn.execute(db.q("SELECT {schema}.count_records(%s, %s, %s)"), [table.id, table.version, delta])


def bump_versions(conn: Connection, db: PgDatabase, table_ids: Sequence[int]) -> None:
    """Mark a catalog change (the last statements of its transaction): tables' versions, then the catalog's."""
    if table_ids:
        conn.execute(
            db.q("UPDATE {schema}.tables SET version = version + 1 WHERE id = ANY(%s)"), [list(table_ids)]
        )
    conn.execute(db.q("UPDATE {schema}.catalog SET version = version + 1"))


class _Changes:
    """The statements' arguments for one plan: records to insert, update and delete, index entries."""

    def __init__(self) -> None:
        self.insert_keys: list[bytes] = []
        self.insert_rows: list[bytes] = []
        self.update_keys: list[bytes] = []
        self.update_rows: list[bytes] = []
        self.delete_keys: list[bytes] = []
        self.gone: dict[int, list[bytes]] = {}
        """Index entries to delete, by attribute id."""
        self.added: dict[int, list[bytes]] = {}
        """Index entries to add, by attribute id (entries a stored record may share: ``ON CONFLICT``)."""
        self.new_entries: dict[int, list[bytes]] = {}
        """Index entries of records not stored before, by attribute id: none can be stored already
        (a record's entries end with its key), so they are inserted without a conflict check."""
        self.copied = 0
        """New records already COPYed (no longer in ``insert_keys``)."""

    @property
    def delta(self) -> int:
        """How the table's record count changes."""
        return len(self.insert_keys) + self.copied - len(self.delete_keys)


def _changes(plan: Plan) -> _Changes:
    """Each written key's record change, and the index entries that differ between its stored and
    final record (``writeplan.index_changes``; a new record's entries are all its values', encoded
    a column at a time: ``keys.index_entries``)."""
    stored, indexed = plan.stored, plan.indexed
    out = _Changes()
    fresh: list[dict[str, Any]] = []
    for ekey, new in plan.final.items():
        old = stored.get(ekey)
        if new is None:
            if old is None:
                continue
            out.delete_keys.append(ekey)
        else:
            raw = plan.raw.get(ekey) or orjson.dumps(new)
            if old is None:
                out.insert_keys.append(ekey)
                out.insert_rows.append(raw)
                fresh.append(new)
                continue
            out.update_keys.append(ekey)
            out.update_rows.append(raw)
        names = old.keys() | new.keys() if new is not None else old.keys()
        for attribute in names:
            attribute_id = indexed.get(attribute)
            if attribute_id is None:
                continue
            after = new.get(attribute, K.MISSING) if new is not None else K.MISSING
            lost, gained = index_changes(old.get(attribute, K.MISSING), after)
            if lost:
                out.gone.setdefault(attribute_id, []).extend(vk + ekey for vk in lost)
            if gained:
                out.added.setdefault(attribute_id, []).extend(vk + ekey for vk in gained)
    if fresh:
        for attribute, attribute_id in indexed.items():
            values = [record.get(attribute, K.MISSING) for record in fresh]
            if all(value is K.MISSING for value in values):
                continue
            entries = K.index_entries(values, out.insert_keys)
            if entries:
                out.new_entries[attribute_id] = entries
    return out


def _copy_inserts(conn: Connection, table: PgTable, change: _Changes) -> None:
    """COPY the new records (in key order), leaving none for ``_send``."""
    order = sorted(range(len(change.insert_keys)), key=change.insert_keys.__getitem__)
    payload = records_payload([change.insert_keys[i] for i in order], [change.insert_rows[i] for i in order])
    copy_in(conn, table.sql("COPY {records} (k, r) FROM STDIN (FORMAT BINARY)"), payload)
    change.copied = len(order)
    change.insert_keys, change.insert_rows = [], []


def _send(conn: Connection, table: PgTable, change: _Changes) -> None:
    """Queue one table's statements (inside the caller's pipeline): records, then index entries.

    Array parameters are built whole (:mod:`arrays`); index entries go in (attribute, entry) order.
    """
    if change.delete_keys:
        conn.execute(
            table.sql("DELETE FROM {records} WHERE k = ANY(%b)"), [ByteaArray.of(change.delete_keys)]
        )
    if change.update_keys:
        conn.execute(
            table.sql(
                "UPDATE {records} AS t SET r = u.r FROM unnest(%b::bytea[], %b::text[]) AS u(k, r) "
                "WHERE t.k = u.k"
            ),
            [ByteaArray.of(change.update_keys), TextArray.of(change.update_rows)],
        )
    if change.insert_keys:
        conn.execute(
            table.sql(
                "INSERT INTO {records} (k, r) SELECT k, r FROM unnest(%b::bytea[], %b::text[]) AS u(k, r)"
            ),
            [ByteaArray.of(change.insert_keys), TextArray.of(change.insert_rows)],
        )
    if change.gone:
        conn.execute(
            table.sql(
                "DELETE FROM {index} AS x USING unnest(%b::int4[], %b::bytea[]) AS u(a, e) "
                "WHERE x.a = u.a AND x.e = u.e"
            ),
            _entries(change.gone),
        )
    if change.added:
        conn.execute(
            table.sql(
                "INSERT INTO {index} (a, e) SELECT a, e FROM unnest(%b::int4[], %b::bytea[]) AS u(a, e) "
                "ON CONFLICT DO NOTHING"
            ),
            _entries(change.added),
        )
    if change.new_entries:
        conn.execute(
            table.sql(
                "INSERT INTO {index} (a, e) SELECT a, e FROM unnest(%b::int4[], %b::bytea[]) AS u(a, e)"
            ),
            _entries(change.new_entries),
        )


def _entries(by_attribute: dict[int, list[bytes]]) -> list[BinaryArray]:
    """The ``(a, e)`` arrays of index entries by attribute id: sorted, each entry once."""
    ids = sorted(by_attribute)
    entries = [unique_sorted(by_attribute[a]) for a in ids]
    return [
        Int4Array.repeated([(a, len(e)) for a, e in zip(ids, entries, strict=True)]),
        ByteaArray.of(list(chain.from_iterable(entries))),
    ]
