"""Encoded chunks written ahead: COPYed on a connection of their own by ``stage_encoded``,
committed by ``write_encoded``.

A bulk load encodes chunk N+1 while it writes chunk N. Staging chunk N+1 hands it
to the store's background thread that opens a transaction, checks that none of its
keys is stored, COPYs its records and index entries, and leaves the transaction
open. Writing it then only counts the records (which fails if the table's
attributes changed meanwhile) and commits. So the server COPYs the next chunk
while the loader commits this one, instead of waiting for the loader between chunks.

Waits: the two background threads take chunks in the order they were staged, and a
chunk whose key range meets that of a chunk staged before it (and not yet written)
starts when that one's COPYs are done. So a chunk only ever waits for keys of
earlier chunks (committed by the loader before it waits for this one), never the
reverse; chunks of disjoint key ranges (a sorted input) are COPYed side by side. A prepared write holds row locks
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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, wait
from typing import LiteralString

import psycopg
from psycopg import sql

from gateway.storage.postgres.copyrows import copy_in
from gateway.storage.postgres.database import Connection, PgDatabase, PgTable, Stale


class Prepared:
    """One encoded chunk's write, begun ahead on a connection of its own (one spare connection)."""

    def __init__(
        self,
        db: PgDatabase,
        table: PgTable,
        records: bytes,
        index: bytes | None,
        keys: tuple[bytes, bytes],
        after: Sequence[Future[bool]],
    ) -> None:
        self._db = db
        self.low, self.high = keys
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._closed = False
        self.future: Future[bool] = db.background(lambda: self._begin(table, records, index, after))

    def _begin(
        self, table: PgTable, records: bytes, index: bytes | None, after: Sequence[Future[bool]]
    ) -> bool:
        """BEGIN, lock, check the key range, COPY; True with the transaction left open.

        ``after``: writes begun ahead of this one whose keys may meet its keys; it starts when
        their COPYs are done, so it can only wait for keys of earlier chunks.
        """
        db = self._db
        wait(after)
        try:
            conn = db.pool.getconn(timeout=db.timeout)
        except psycopg.Error:
            self._free(None)
            return False
        try:
            begun = conn.execute(
                sql.SQL(_BEGIN).format(
                    records=table.records,
                    index=table.index,
                    low=sql.Literal(self.low),
                    high=sql.Literal(self.high),
                )
            )
            while begun.nextset():  # the last statement's answer: is a key of the range stored?
                pass
            found = begun.fetchone()
            if found is None or found[0]:
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
    "BEGIN; "
    "SET LOCAL synchronous_commit TO off; "
    "SET LOCAL lock_timeout TO '10s'; "
    "SET LOCAL idle_in_transaction_session_timeout TO '5min'; "
    "LOCK TABLE {records}, {index} IN ROW EXCLUSIVE MODE; "
    "SELECT EXISTS (SELECT 1 FROM {records} WHERE k >= {low} AND k <= {high})"
)
"""The prepared transaction's first statements, sent at once (one round trip): commits of bulk
chunks wait for no disk (``Records.sync`` does), and the chunk's key range must be free."""


def prepare(
    db: PgDatabase,
    owner: object,
    table: PgTable,
    records: bytes,
    index: bytes | None,
    keys: tuple[bytes, bytes],
    ahead: Iterable[Prepared],
) -> Prepared | None:
    """A prepared write of ``owner``'s chunk (rolled back if ``owner`` is collected unwritten), or
    None when no connection is spare for it. ``keys``: the chunk's lowest and highest key;
    ``ahead``: the table's writes begun ahead and not yet written."""
    if not db.spare_connections.acquire(blocking=False):
        return None
    low, high = keys
    after = [p.future for p in ahead if p.low <= high and low <= p.high]
    prepared = Prepared(db, table, records, index, keys, after)
    weakref.finalize(owner, prepared.abandon)
    db.on_close(prepared)
    return prepared


class _Refused(Exception):
    """A key of the chunk is stored already: the chunk is written the ordinary way."""
