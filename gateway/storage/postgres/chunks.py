"""The ChunkWrites port on PostgreSQL: each chunk of a bulk load is one transaction of binary COPYs.

A chunk the loader encoded ahead (``EncodedChunk``: sorted keys, record JSON, sorted
index entries) goes to the server as it is when none of its keys is stored: one
COPY of the records, one of the index entries. ``stage_encoded`` builds those COPY
payloads on the loader's encoding thread, so the writing thread only sends them.
Any other chunk goes through ``load_chunk``: new keys only (one range probe says
so) are COPYed too; otherwise it is ``write``'s plan (stored records read and
locked, merged by mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

import orjson

from gateway.storage import keys as K
from gateway.storage.postgres.copyrows import copy_in, index_payload, records_payload, unique_sorted
from gateway.storage.postgres.database import Connection, PgDatabase, PgTable
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
from gateway.storage.records import CREATED, UPDATED, ChunkPlan, EncodedChunk, WriteMode
from gateway.storage.writeplan import check_chunk_types, chunk_keys


class PgChunkWrites:
    """Bulk-load writes: one transaction per chunk."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database

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

        def work(conn: Connection) -> tuple[int, int, bool]:
            plan = Plan(db.table(database, table))
            begin(conn, [plan.table])
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
                if plan.registered:
                    bump_versions(conn, db, [plan.table.id])
                return len(live), 0, plan.registered
            read_stored(conn, plan, ekeys)
            result = stage(plan, live, [r[plan.table.info.primary_key] for r in live], ekeys, mode, stamp)
            finish(conn, db, [plan], copy=True)
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
        if mode not in ("insert", "upsert") or not len(chunk):
            return False
        db = self._db
        if db.table(database, table).info.expiration:
            return False

        def work(conn: Connection) -> tuple[bool, bool]:
            handle = db.table(database, table)
            if handle.info.expiration or _plan(handle, chunk.names, chunk.plan.stamp) != chunk.plan:
                return False, False
            plan = Plan(handle)
            begin(conn, [handle])
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
            if plan.registered:
                bump_versions(conn, db, [handle.id])
            return True, plan.registered

        written, registered = db.transact(work)
        if registered:
            db.refresh()
        return written

    def stage_encoded(self, database: str, table: str, chunk: EncodedChunk) -> None:
        """The COPY payloads, when every index the chunk has entries for exists already (a table
        without a schema gets its indexes when ``write_encoded`` registers the chunk's new attributes)."""
        handle = self._db.table(database, table)
        if set(chunk.index) <= handle.indexed.keys():
            chunk.staged = _Staged.build(handle, chunk, handle.indexed)


class _Staged:
    """An encoded chunk's COPY payloads, for one version of its table."""

    __slots__ = ("table_id", "attribute_ids", "records", "index")

    def __init__(self, table_id: int, attribute_ids: dict[str, int], records: bytes, index: bytes | None):
        self.table_id = table_id
        self.attribute_ids = attribute_ids
        self.records = records
        self.index = index

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
