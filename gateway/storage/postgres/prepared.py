"""Encoded chunks written ahead: COPYed on a connection of their own by ``stage_encoded``,
committed by ``write_encoded``.

A bulk load encodes chunk N+1 while it writes chunk N. Staging chunk N+1 hands it
to the store's background thread that opens a transaction, checks that none of its
keys is stored, COPYs its records and index entries, and leaves the transaction
open. Writing it then only counts the records (which fails if the table's
attributes changed meanwhile) and commits. So the server COPYs the next chunk
while the loader commits this one, instead of waiting for the loader between chunks.

Waits: the background thread prepares chunks one at a time in the order they were
staged, so a chunk waits only for keys of earlier chunks (committed by the loader
before it waits for this one), never the reverse. A prepared write holds row locks
on its new keys and a ROW EXCLUSIVE lock on its table until it is committed or
rolled back, so before the loader writes a table any other way it abandons the
writes it prepared for that table (``ChunkWrites``): its own waits never meet them.
A prepared write waits at most ``lock_timeout`` (10 s) for a lock, then gives up
(the chunk is written the ordinary way). One never written (a load that stopped
early) is rolled back when its chunk is garbage collected, when the store closes,
and at worst by the server after five minutes idle. Whenever a prepared write
cannot be committed, it is rolled back and ``write_encoded`` takes its ordinary path.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import LiteralString

import psycopg

from gateway.storage.postgres.copyrows import copy_in
from gateway.storage.postgres.database import Connection, PgDatabase, PgTable, Stale
from gateway.storage.postgres.staging import range_empty


class Prepared:
    """One encoded chunk's write, begun ahead on a connection of its own (one spare connection)."""

    def __init__(
        self, db: PgDatabase, table: PgTable, records: bytes, index: bytes | None, keys: tuple[bytes, bytes]
    ) -> None:
        self._db = db
        self.low, self.high = keys
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._closed = False
        self.future: Future[bool] = db.background(lambda: self._begin(table, records, index, keys))

    def _begin(self, table: PgTable, records: bytes, index: bytes | None, keys: tuple[bytes, bytes]) -> bool:
        """BEGIN, lock, check the key range, COPY; True with the transaction left open."""
        db = self._db
        try:
            conn = db.pool.getconn(timeout=db.timeout)
        except psycopg.Error:
            self._free(None)
            return False
        try:
            conn.execute("BEGIN")
            conn.execute(table.sql(_BEGIN))
            if not range_empty(conn, table, *keys):
                raise _Refused
            copy_in(conn, table.sql("COPY {records} (k, r) FROM STDIN (FORMAT BINARY)"), records)
            if index is not None:
                copy_in(conn, table.sql("COPY {index} (a, e) FROM STDIN (FORMAT BINARY)"), index)
        except (psycopg.Error, _Refused):
            self._free(conn)
            return False
        with self._lock:
            if not self._closed:
                self._conn = conn
                return True
        self._free(conn)  # abandoned while it was being prepared
        return False

    def commit(self, finish: Callable[[Connection], None]) -> bool:
        """Run ``finish`` (the count, new attributes) in the prepared transaction and commit.

        False (rolled back, nothing written) when it was refused or failed, or ``finish``
        met a psycopg error (a stale catalog, a lost server): the caller writes the chunk
        the ordinary way, which reports what is wrong.
        """
        ready = self.future.result()
        with self._lock:
            conn, self._conn, self._closed = self._conn, None, True
        if not ready or conn is None:
            return False
        try:
            finish(conn)
            conn.execute("COMMIT")
        except (psycopg.Error, Stale):
            return False
        finally:
            self._free(conn)
        return True

    def abandon(self) -> None:
        """Roll back (now, or when the COPY in flight is done); nothing of the chunk is written."""
        with self._lock:
            conn, self._conn, self._closed = self._conn, None, True
        if conn is not None:
            self._free(conn)

    def _free(self, conn: Connection | None) -> None:
        """Roll back whatever is open, give the connection back, free the spare slot (once per write)."""
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
            self._db.pool.putconn(conn)
        self._db.spare_connections.release()


_BEGIN: LiteralString = (
    "SET LOCAL synchronous_commit TO off; "
    "SET LOCAL lock_timeout TO '10s'; "
    "SET LOCAL idle_in_transaction_session_timeout TO '5min'; "
    "LOCK TABLE {records}, {index} IN ROW EXCLUSIVE MODE"
)
"""The prepared transaction's first statements (commits of bulk chunks wait for no disk: ``Records.sync``)."""


def prepare(
    db: PgDatabase,
    owner: object,
    table: PgTable,
    records: bytes,
    index: bytes | None,
    keys: tuple[bytes, bytes],
) -> Prepared | None:
    """A prepared write of ``owner``'s chunk (rolled back if ``owner`` is collected unwritten), or
    None when no connection is spare for it. ``keys``: the chunk's lowest and highest key."""
    if not db.spare_connections.acquire(blocking=False):
        return None
    prepared = Prepared(db, table, records, index, keys)
    weakref.finalize(owner, prepared.abandon)
    db.on_close(prepared)
    return prepared


class _Refused(Exception):
    """A key of the chunk is stored already: the chunk is written the ordinary way."""
