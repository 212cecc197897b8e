"""The ChunkWrites port on PostgreSQL: each chunk of a bulk load is one transaction of binary COPYs.

A chunk the loader encoded ahead (``EncodedChunk``: sorted keys, record JSON, sorted
index entries) goes to the server as it is when none of its keys is stored: one
COPY of the records, one of the index entries. ``stage_encoded`` builds those COPY
payloads on the loader's encoding thread, so the writing thread only sends them.
Any other chunk goes through ``load_chunk``: new keys only (one range probe says
so) are COPYed too; otherwise it is ``write``'s plan (stored records read and
locked, merged by mode).

While the loader writes one encoded chunk, the next one's COPYs run already on a
connection of their own (:mod:`gateway.storage.postgres.prepared`); writing it is
then a count and a commit.

A chunk's transaction does not wait for its commit to reach the disk; the loader's
``Records.sync`` at the end of a load does, for all of them (as the embedded store
syncs its write-ahead log once). A crash in between loses whole chunks from the end
of the load, never part of one.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import orjson

from gateway.storage import keys as K
from gateway.storage.postgres.copyrows import copy_in, index_payload, records_payload, unique_sorted
from gateway.storage.postgres.database import Connection, PgDatabase, PgTable
from gateway.storage.postgres.prepared import Prepared, prepare
from gateway.storage.postgres.staging import (
    Plan,
    begin,
    bump_versions,
    count_records,
    finish,
    range_empty,
    read_stored,
    register,
    stage,
)
from gateway.storage.postgres.txlog import log_chunk, log_chunk_keys
from gateway.storage.records import CREATED, UPDATED, ChunkPlan, EncodedChunk, WriteMode
from gateway.storage.writeplan import check_chunk_types, chunk_keys


class PgChunkWrites:
    """Bulk-load writes: one transaction per chunk."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database
        self._lock = threading.Lock()
        self._ahead: dict[tuple[str, str], weakref.WeakSet[Prepared]] = {}
        """Writes begun ahead and not yet written, by table."""

    def _clear_way(self, database: str, table: str, low: bytes, high: bytes) -> None:
        """Abandon this store's writes begun ahead whose keys may meet ``low``..``high``: a write
        of them by this thread would otherwise wait for a commit that only this thread makes."""
        with self._lock:
            ahead = list(self._ahead.get((database, table), ()))
        for prepared in ahead:
            if prepared.low <= high and low <= prepared.high:
                prepared.abandon()

    def load_chunk(
        self,
        database: str,
        table: str,
        records: list[dict[str, Any]],
        mode: WriteMode,
        stamp: float | None = None,
    ) -> tuple[int, int]:
        """Records are changed in place instead of copied."""
        if mode not in ("insert", "update", "upsert"):
            raise ValueError(f"load_chunk cannot {mode}")
        db = self._db
        info = db.table(database, table).info
        stamp = db.now_ms() if stamp is None else stamp
        live, ekeys, skipped = chunk_keys(records, info.primary_key, mode)
        if info.schema_defined:
            check_chunk_types(info, records)
        if not live:
            return 0, skipped
        names: set[str] = set().union(*live)
        order = sorted(range(len(ekeys)), key=ekeys.__getitem__)
        keys_sorted = [ekeys[i] for i in order]
        unique = len(set(ekeys)) == len(ekeys)
        self._clear_way(database, table, keys_sorted[0], keys_sorted[-1])

        def work(conn: Connection) -> tuple[int, int, bool]:
            plan = Plan(db.table(database, table))
            begin(conn, [plan.table], deferred=True)
            register(conn, db, plan, names)
            fresh = (
                not plan.table.info.expiration
                and unique
                and range_empty(conn, plan.table, keys_sorted[0], keys_sorted[-1])
            )
            if fresh and mode == "update":
                return 0, len(live), plan.registered
            if fresh:
                _copy_fresh(conn, plan, [live[i] for i in order], keys_sorted, stamp)
                count_records(conn, db, plan.table, len(live))
                log_chunk_keys(conn, db, plan.table, stamp, mode, keys_sorted)
                if plan.registered:
                    bump_versions(conn, db, [plan.table.id])
                return len(live), 0, plan.registered
            read_stored(conn, plan, ekeys)
            result = stage(plan, live, [r[plan.table.info.primary_key] for r in live], ekeys, mode, stamp)
            finish(conn, db, [plan], copy=True)
            if result.written:
                log_chunk_keys(conn, db, plan.table, stamp, mode, map(K.encode_key, result.written))
            return len(result.written), len(result.skipped), plan.registered

        written, not_written, registered = db.transact(work)
        if registered:
            db.refresh()
        return written, skipped + not_written

    def chunk_plan(self, database: str, table: str, names: Sequence[str], stamp: float | None) -> ChunkPlan:
        """The indexes are those the table will have once the chunk's new attributes are
        registered (tables without a schema index every attribute)."""
        return _plan(self._db.table(database, table), names, stamp)

    def write_encoded(self, database: str, table: str, chunk: EncodedChunk, mode: WriteMode) -> bool:
        """It cannot when the table changed since the chunk was planned, the table expires
        records, the mode is update, or any of the chunk's keys may already be stored."""
        staged = chunk.staged
        prepared = staged.take_prepared() if isinstance(staged, _Staged) else None
        if prepared is not None:
            with self._lock:
                self._ahead.get((database, table), weakref.WeakSet()).discard(prepared)
        if mode not in ("insert", "upsert") or not len(chunk):
            if prepared is not None:
                prepared.abandon()
            return False
        db = self._db
        if prepared is not None and self._commit_prepared(database, table, chunk, prepared, mode):
            return True
        if db.table(database, table).info.expiration:
            return False
        self._clear_way(database, table, chunk.keys[0], chunk.keys[-1])

        def work(conn: Connection) -> tuple[bool, bool]:
            handle = db.table(database, table)
            if handle.info.expiration or _plan(handle, chunk.names, chunk.plan.stamp) != chunk.plan:
                return False, False
            plan = Plan(handle)
            begin(conn, [handle], deferred=True)
            if not range_empty(conn, handle, chunk.keys[0], chunk.keys[-1]):
                return False, False
            register(conn, db, plan, chunk.names)
            staged = chunk.staged
            if not (isinstance(staged, _Staged) and staged.fits(handle, chunk)):
                staged = _Staged.build(handle, chunk, plan.indexed)
            copy_in(conn, handle.sql("COPY {records} (k, r) FROM STDIN (FORMAT BINARY)"), staged.records)
            if staged.index is not None:
                copy_in(conn, handle.sql("COPY {index} (a, e) FROM STDIN (FORMAT BINARY)"), staged.index)
            count_records(conn, db, handle, len(chunk))
            log_chunk(conn, db, handle, chunk, mode)
            if plan.registered:
                bump_versions(conn, db, [handle.id])
            return True, plan.registered

        written, registered = db.transact(work)
        if registered:
            db.refresh()
        return written

    def _commit_prepared(
        self, database: str, table: str, chunk: EncodedChunk, prepared: Prepared, mode: WriteMode
    ) -> bool:
        """Commit the chunk's write begun ahead if the table is still as planned (else roll it back)."""
        db = self._db
        handle = db.table(database, table)
        staged = chunk.staged
        if (
            not isinstance(staged, _Staged)
            or handle.info.expiration
            or _plan(handle, chunk.names, chunk.plan.stamp) != chunk.plan
            or not staged.fits(handle, chunk)
        ):
            prepared.abandon()
            return False
        registered: list[int] = []

        def finish(conn: Connection) -> None:
            plan = Plan(handle)
            register(conn, db, plan, chunk.names)  # attributes without an index (the indexed ones exist)
            count_records(conn, db, handle, len(chunk))
            log_chunk(conn, db, handle, chunk, mode)
            if plan.registered:
                bump_versions(conn, db, [handle.id])
                registered.append(handle.id)

        if not prepared.commit(finish):
            return False
        if registered:
            db.refresh()
        return True

    def settle(self, database: str, table: str) -> None:
        """Nothing to do: PostgreSQL's autovacuum and analyze keep the table's files."""

    def stage_encoded(self, database: str, table: str, chunk: EncodedChunk) -> None:
        """The COPY payloads, when every index the chunk has entries for exists already (a table
        without a schema gets its indexes when ``write_encoded`` registers the chunk's new
        attributes), and the write itself begun ahead (``prepared``) when a connection is spare."""
        db = self._db
        handle = db.table(database, table)
        if not len(chunk) or not set(chunk.index) <= handle.indexed.keys():
            return
        staged = _Staged.build(handle, chunk, handle.indexed)
        if not handle.info.expiration:
            keys = (chunk.keys[0], chunk.keys[-1])
            with self._lock:
                ahead = self._ahead.setdefault((database, table), weakref.WeakSet())
                staged.prepared = prepare(db, chunk, handle, staged.records, staged.index, keys, list(ahead))
                if staged.prepared is not None:
                    ahead.add(staged.prepared)
        chunk.staged = staged


class _Staged:
    """An encoded chunk's COPY payloads, for one version of its table."""

    __slots__ = ("table_id", "attribute_ids", "records", "index", "prepared")

    def __init__(self, table_id: int, attribute_ids: dict[str, int], records: bytes, index: bytes | None):
        self.table_id = table_id
        self.attribute_ids = attribute_ids
        self.records = records
        self.index = index
        self.prepared: Prepared | None = None

    def take_prepared(self) -> Prepared | None:
        """The write begun ahead, once (a chunk written again takes the ordinary path)."""
        prepared, self.prepared = self.prepared, None
        return prepared

    @classmethod
    def build(cls, table: PgTable, chunk: EncodedChunk, indexed: dict[str, int]) -> _Staged:
        ids = {attribute: indexed[attribute] for attribute in chunk.index}
        entries = [(ids[a], unique_sorted(list(keys))) for a, keys in chunk.index.items() if keys]
        index = index_payload(entries) if entries else None
        return cls(table.id, ids, records_payload(chunk.keys, chunk.rows), index)

    def fits(self, table: PgTable, chunk: EncodedChunk) -> bool:
        """Whether the index entries were numbered for this table's attributes as they are now."""
        return (
            self.table_id == table.id
            and all(
                table.indexed.get(attribute) == attribute_id
                for attribute, attribute_id in self.attribute_ids.items()
            )
            and self.attribute_ids.keys() == chunk.index.keys()
        )


def _plan(table: PgTable, names: Sequence[str], stamp: float | None) -> ChunkPlan:
    info = table.info
    indexed = list(table.indexed)
    if not info.schema_defined:
        indexed += [name for name in dict.fromkeys(names) if name not in info.attributes]
    return ChunkPlan(
        info.primary_key, tuple(indexed), info.declared_types(), None if info.schema_defined else stamp
    )


def _copy_fresh(
    conn: Connection, plan: Plan, records: list[dict[str, Any]], ekeys: list[bytes], stamp: float
) -> None:
    """COPY new records (sorted by key, none stored yet) and their index entries."""
    info = plan.table.info
    if not info.schema_defined or info.expiration:
        for record in records:
            record[CREATED] = stamp
            record[UPDATED] = stamp
    table = plan.table
    copy_in(
        conn,
        table.sql("COPY {records} (k, r) FROM STDIN (FORMAT BINARY)"),
        records_payload(ekeys, list(map(orjson.dumps, records))),
    )
    entries = []
    for attribute, attribute_id in plan.indexed.items():
        values = list(map(dict.get, records, repeat(attribute), repeat(K.MISSING)))
        keys = K.index_entries(values, ekeys)
        if keys:
            entries.append((attribute_id, unique_sorted(keys)))
    if entries:
        copy_in(conn, table.sql("COPY {index} (a, e) FROM STDIN (FORMAT BINARY)"), index_payload(entries))
