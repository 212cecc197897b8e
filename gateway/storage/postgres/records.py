"""The Records port on PostgreSQL: reads by key, scans and index ranges in pages, and writes
as single transactions (the four write modes, atomic groups, deletes).

Scans and index ranges read a page at a time (keyset pagination on the btree, each
page its own statement), so an unfinished iterator holds no connection, no
transaction and no lock: a table can be dropped while one is read, and the pages
already fetched are still delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, LiteralString

import orjson

from gateway.storage import keys as K
from gateway.storage.errors import InvalidRecord, StoreError
from gateway.storage.postgres.database import Connection, PgDatabase, PgTable
from gateway.storage.postgres.ranges import bounds
from gateway.storage.postgres.staging import Plan, begin, finish, read_stored, register, stage
from gateway.storage.postgres.txlog import append, logs
from gateway.storage.records import KeyRange, WriteMode, WriteResult
from gateway.storage.txlog import delete_entry, write_entry
from gateway.storage.writeplan import keys_for_write

FIRST_PAGE = 500
LAST_PAGE = 20_000
"""Rows per page of a scan: the first page is small (a caller may want one), later ones grow to this."""
SCAN_PAGE: LiteralString = "SELECT k, r FROM {records} WHERE k >= %b ORDER BY k LIMIT %b"
"""A page of records from a key on (bound: lowest key, page size)."""
KEY_PAGE: LiteralString = "SELECT k, NULL FROM {records} WHERE k >= %b AND k < %b ORDER BY k LIMIT %b"
"""A page of primary keys in a range (bound: lowest key, upper bound, page size)."""
INDEX_PAGE: LiteralString = (
    "SELECT e, NULL FROM {index} WHERE a = %b AND e >= %b AND e < %b ORDER BY e LIMIT %b"
)
"""A page of an attribute's index entries in a range (bound: attribute id, lowest entry, upper bound, size)."""


class PgRecords:
    """Records of every table; each write is one transaction."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database

    # -- reads ------------------------------------------------------------------------

    def get(self, database: str, table: str, key: Any) -> dict[str, Any] | None:
        return self.get_many(database, table, [key])[0]

    def get_many(self, database: str, table: str, keys: Sequence[Any]) -> list[dict[str, Any] | None]:
        encoded: list[bytes | None] = []
        for key in keys:
            try:
                encoded.append(K.encode_key(key))
            except K.UnencodableKey:
                encoded.append(None)
        present = sorted({e for e in encoded if e is not None})

        def work(conn: Connection, handle: PgTable) -> dict[bytes, str]:
            if not present:
                return {}
            if len(present) == 1:
                rows = conn.execute(
                    handle.sql("SELECT k, r FROM {records} WHERE k = %b"), present, binary=True
                ).fetchall()
            else:
                rows = conn.execute(
                    handle.sql("SELECT k, r FROM {records} WHERE k = ANY(%b)"), [present], binary=True
                ).fetchall()
            return dict(rows)

        handle = self._db.table(database, table)
        found = self._db.on_table(database, table, work)
        return [self._live(handle, found.get(e)) if e is not None else None for e in encoded]

    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        handle = self._db.table(database, table)
        expiring = bool(handle.info.expiration)
        for _, raw in self._pages(database, table, SCAN_PAGE, lambda low: [low]):
            if expiring:
                record = self._live(handle, raw)
                if record is not None:
                    yield record
            else:
                yield orjson.loads(raw)

    def index_keys(self, database: str, table: str, attribute: str, key_range: KeyRange) -> Iterator[Any]:
        for _, key in self.index_items(database, table, attribute, key_range):
            yield key

    def index_items(
        self, database: str, table: str, attribute: str, key_range: KeyRange | None = None
    ) -> Iterator[tuple[Any, Any]]:
        """Expired records are not filtered here (their ids are, when read)."""
        handle = self._db.table(database, table)
        primary = attribute == handle.info.primary_key
        attribute_id = handle.indexed.get(attribute)
        if not primary and attribute_id is None:
            self._db.refresh()  # indexed by another process since this one last looked?
            attribute_id = self._db.table(database, table).indexed.get(attribute)
            if attribute_id is None:
                raise StoreError(f"attribute '{attribute}' is not indexed")
        low, high = bounds(key_range or KeyRange())
        decode = K.decode_key
        if primary:
            for key, _ in self._pages(database, table, KEY_PAGE, lambda after: [after, high], low):
                value = decode(key)
                yield value, value
            return
        length = K.key_length
        pages = self._pages(database, table, INDEX_PAGE, lambda after: [attribute_id, after, high], low)
        for entry, _ in pages:
            yield decode(entry), decode(entry, length(entry))

    def _pages(
        self,
        database: str,
        table: str,
        query: LiteralString,
        params: Callable[[bytes], list[Any]],
        low: bytes = b"",
    ) -> Iterator[tuple[bytes, Any]]:
        """Rows of ``query`` (keyed by its first column) a page at a time, from the key ``low`` on.

        ``params(low)`` binds the page's lowest key; the page size comes last.
        """
        size = FIRST_PAGE

        def fetch(conn: Connection, handle: PgTable, bound: list[Any]) -> list[tuple[bytes, Any]]:
            return conn.execute(handle.sql(query), bound, binary=True).fetchall()

        first = [*params(low), size]  # the first page finds the table by name; later pages stay on it
        handle, rows = self._db.on_table(database, table, lambda conn, h: (h, fetch(conn, h, first)))
        while True:
            yield from rows
            if len(rows) < size:
                return
            low = rows[-1][0] + b"\x00"  # the next key up
            size = min(size * 4, LAST_PAGE)
            rows = self._db.read(handle, partial(fetch, handle=handle, bound=[*params(low), size]))

    def _live(self, handle: PgTable, raw: str | None) -> dict[str, Any] | None:
        """The decoded record, or None when absent or past the table's expiration."""
        if raw is None:
            return None
        record: dict[str, Any] = orjson.loads(raw)
        if handle.info.expiration and handle.info.expired(record, self._db.now_ms()):
            return None
        return record

    # -- writes -------------------------------------------------------------------------

    def write(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> WriteResult:
        """Every record is checked (key, declared types) before anything is written."""
        return self.write_many([(database, table, records, mode)])[0]

    def write_many(
        self,
        operations: Sequence[tuple[str, str, Sequence[dict[str, Any]], WriteMode]],
        strict: bool = False,
    ) -> list[WriteResult]:
        """``operations`` is ``[(database, table, records, mode), ...]``; one transaction for all."""
        db = self._db
        writes = []
        for database, table, records, mode in operations:
            keys = keys_for_write(db.table(database, table).info, records, mode)
            writes.append(_Write((database, table), records, mode, keys, [K.encode_key(k) for k in keys]))
        if not any(w.records for w in writes):
            return [WriteResult() for _ in writes]
        stamp = db.now_ms()

        def work(conn: Connection) -> tuple[list[WriteResult], bool]:
            plans = {w.table: Plan(db.table(*w.table)) for w in writes}
            begin(conn, [plan.table for plan in plans.values()])
            for name, plan in sorted(plans.items(), key=lambda item: item[1].table.id):
                mine = [w for w in writes if w.table == name]
                register(conn, db, plan, {n for w in mine for record in w.records for n in record})
                read_stored(conn, plan, [e for w in mine for e in w.ekeys])
            results = []
            for w in writes:
                plan = plans[w.table]
                result = stage(plan, w.records, w.keys, w.ekeys, w.mode, stamp)
                if strict and result.skipped:
                    problem = "already exists" if w.mode == "insert" else "does not exist"
                    info = plan.table.info
                    raise InvalidRecord(
                        f"a record with {info.primary_key} "
                        f"{orjson.dumps(result.skipped[0]).decode()} {problem} in '{info.name}'"
                    )
                results.append(result)
            finish(conn, db, plans.values())
            for w, result in zip(writes, results, strict=True):
                plan = plans[w.table]
                if logs(db, plan.table):
                    packed = write_entry(
                        stamp, w.mode, w.records, w.keys, result.written, plan.stored, db.txlog.audit
                    )
                    append(conn, db, plan.table, stamp, packed)
            return results, any(plan.registered for plan in plans.values())

        results, registered = db.transact(work)
        if registered:
            db.refresh()
        return results

    def delete(self, database: str, table: str, keys: Iterable[Any]) -> WriteResult:
        db = self._db
        db.table(database, table)
        wanted: list[tuple[Any, bytes | None]] = []
        for key in keys:
            try:
                wanted.append((key, K.encode_key(key)))
            except K.UnencodableKey:
                wanted.append((key, None))

        def work(conn: Connection) -> WriteResult:
            plan = Plan(db.table(database, table))
            begin(conn, [plan.table])
            read_stored(conn, plan, [e for _, e in wanted if e is not None])
            result = WriteResult()
            for key, ekey in wanted:
                if ekey is None or plan.current(ekey) is None:
                    result.skipped.append(key)
                    continue
                plan.final[ekey] = None
                result.written.append(key)
            if result.written:
                finish(conn, db, [plan])
                if logs(db, plan.table):
                    stamp = db.now_ms()
                    ekeys = list(dict.fromkeys(e for _, e in wanted if e is not None and e in plan.final))
                    append(
                        conn, db, plan.table, stamp, delete_entry(stamp, ekeys, plan.stored, db.txlog.audit)
                    )
            return result

        return db.transact(work)

    def sync(self) -> None:
        """Wait until every commit so far is on disk (bulk chunks commit without waiting)."""
        self._db.flush()


@dataclass(frozen=True)
class _Write:
    """One ``write`` of a ``write_many``, its keys checked and encoded."""

    table: tuple[str, str]
    records: Sequence[dict[str, Any]]
    mode: WriteMode
    keys: list[Any]
    ekeys: list[bytes]
