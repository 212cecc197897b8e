"""The TransactionLog port on PostgreSQL: entries in ``txlog``, written in the writes' transactions.

``txlog`` (migration 2): ``table_id`` (the gateway table's id; its entries go with it when it is
dropped), ``ts`` (the store's clock at the write, epoch milliseconds), ``seq`` (the order of
entries of one instant) and ``entry`` (:func:`gateway.storage.txlog.pack_entry`'s bytes). The write
paths call :func:`append` on the connection of their own transaction, so a write and its entry
commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gateway.storage.postgres.database import Connection, PgDatabase, PgTable
from gateway.storage.records import EncodedChunk
from gateway.storage.txlog import LogEntry, TxLogSettings, chunk_entry, unpack_entry

PAGE = 500
"""Entries read per query."""


def logs(db: PgDatabase, table: PgTable) -> bool:
    """Whether writes to ``table`` are logged."""
    return db.txlog.logs(table.info.database)


def append(conn: Connection, db: PgDatabase, table: PgTable, stamp: float, packed: bytes | None) -> None:
    """Add a packed entry of ``table`` in the transaction of ``conn`` (None: nothing to log)."""
    if packed is not None:
        conn.execute(
            db.q("INSERT INTO {schema}.txlog (table_id, ts, entry) VALUES (%s, %s, %s)"),
            [table.id, stamp, packed],
        )


def log_chunk_keys(
    conn: Connection, db: PgDatabase, table: PgTable, stamp: float, mode: str, ekeys: Iterable[bytes]
) -> None:
    """Add the entry of a bulk-load chunk (its written keys, encoded; read only when logged) in the
    transaction that writes it."""
    if logs(db, table):
        append(conn, db, table, stamp, chunk_entry(stamp, mode, ekeys))


def log_chunk(conn: Connection, db: PgDatabase, table: PgTable, chunk: EncodedChunk, mode: str) -> None:
    """The same for an encoded bulk-load chunk, stamped now."""
    log_chunk_keys(conn, db, table, db.now_ms(), mode, chunk.keys)


class PgTransactionLog:
    """Reads and trims the entries the PostgreSQL write paths append."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database
        self.settings: TxLogSettings = database.txlog

    def read(
        self,
        database: str,
        table: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
    ) -> Iterator[LogEntry]:
        db = self._db
        handle = db.table(database, table)
        remaining = limit
        after: tuple[float, int] = (float("-inf") if start is None else start, -1)
        upper = float("inf") if end is None else end
        while remaining is None or remaining > 0:
            size = PAGE if remaining is None else min(PAGE, remaining)
            bound = after

            def page(
                conn: Connection, bound: tuple[float, int] = bound, size: int = size
            ) -> list[tuple[float, int, bytes]]:
                return conn.execute(
                    db.q(
                        "SELECT ts, seq, entry FROM {schema}.txlog WHERE table_id = %s "
                        "AND (ts, seq) > (%s, %s) AND ts <= %s ORDER BY ts, seq LIMIT %s"
                    ),
                    [handle.id, bound[0], bound[1], upper, size],
                ).fetchall()

            rows = db.read(handle, page)
            for _, _, raw in rows:
                yield unpack_entry(bytes(raw))
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < size:
                return
            after = (rows[-1][0], rows[-1][1])

    def delete_before(self, database: str, table: str, timestamp: float) -> int:
        db = self._db
        handle = db.table(database, table)

        def work(conn: Connection) -> int:
            cursor = conn.execute(
                db.q("DELETE FROM {schema}.txlog WHERE table_id = %s AND ts < %s"), [handle.id, timestamp]
            )
            return cursor.rowcount

        return db.transact(work)

    def prune(self, timestamp: float) -> int:
        db = self._db

        def work(conn: Connection) -> int:
            return conn.execute(db.q("DELETE FROM {schema}.txlog WHERE ts < %s"), [timestamp]).rowcount

        return db.transact(work)
