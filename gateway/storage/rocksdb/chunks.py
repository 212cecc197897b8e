"""The ChunkWrites port on RocksDB: large chunks of a bulk load, each one WriteBatch (without
the write-ahead log where ``storage.rocksdb.unlogged_loads``: the load's ``Records.sync`` flushes
them; ``database.py``).

A chunk the loader encoded ahead (``EncodedChunk``: sorted keys, record JSON,
sorted index entries) is put as it is when none of its keys can be stored yet;
any other chunk goes through ``load_chunk``, which follows ``write``'s rules but
is built for throughput (column-at-a-time key and type checks, no reads when
the chunk's key range is empty).
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.records import CREATED, UPDATED, ChunkPlan, EncodedChunk, WriteMode
from gateway.storage.rocksdb.database import RocksDatabase, TableHandle
from gateway.storage.rocksdb.staging import stage_writes
from gateway.storage.rocksdb.txlog import stage_chunk_keys
from gateway.storage.writeplan import check_chunk_types, chunk_keys


class RocksChunkWrites:
    """Bulk-load writes: one WriteBatch per chunk."""

    def __init__(self, database: RocksDatabase) -> None:
        self._rocks = database

    def load_chunk(
        self,
        database: str,
        table: str,
        records: list[dict[str, Any]],
        mode: WriteMode,
        stamp: float | None = None,
    ) -> tuple[int, int]:
        """Records are changed in place instead of copied and no key lists are returned. When
        none of the chunk's keys can exist yet (one iterator seek over the chunk's key range,
        no duplicates in the chunk) records and index entries are put in key order without
        reading anything."""
        if mode not in ("insert", "update", "upsert"):
            raise ValueError(f"load_chunk cannot {mode}")
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        info = entry.info
        stamp = rocks.now_ms() if stamp is None else stamp
        live, ekeys, skipped = chunk_keys(records, info.primary_key, mode)
        if info.schema_defined:
            check_chunk_types(info, records)
        if not live:
            return 0, skipped
        new_names = set().union(*live).difference(info.attributes)
        with rocks.locked(entry):
            if new_names:
                rocks.register_attributes(entry, sorted(new_names))
            order = sorted(range(len(ekeys)), key=ekeys.__getitem__)
            keys_sorted = [ekeys[i] for i in order]
            fresh = (
                not info.expiration
                and len(set(ekeys)) == len(ekeys)
                and _range_empty(entry.cf, keys_sorted[0], keys_sorted[-1])
            )
            if fresh and mode == "update":
                return 0, skipped + len(live)
            batch = rocksdict.WriteBatch(raw_mode=True)
            if fresh:
                _stage_fresh(entry, batch, [live[i] for i in order], keys_sorted, stamp)
                written = added = len(live)
                written_keys: Iterable[bytes] = keys_sorted
            else:
                keys = [record[info.primary_key] for record in live]
                result, added = stage_writes(entry, batch, live, keys, mode, stamp, {})
                written = len(result.written)
                skipped += len(result.skipped)
                written_keys = map(K.encode_key, result.written)  # encoded only if logged
            if written:
                stage_chunk_keys(rocks, batch, entry, stamp, mode, written_keys)
            if batch.len():
                rocks.write(batch, {entry: added}, unlogged=True)
        return written, skipped

    def chunk_plan(self, database: str, table: str, names: Sequence[str], stamp: float | None) -> ChunkPlan:
        """The indexes are those the table will have once the chunk's new attributes are
        registered (tables without a schema index every attribute)."""
        entry = self._rocks.get_table(database, table)
        info = entry.info
        indexed = list(entry.index_handles)
        if not info.schema_defined:
            indexed += [name for name in dict.fromkeys(names) if name not in info.attributes]
        types = info.declared_types()
        return ChunkPlan(info.primary_key, tuple(indexed), types, None if info.schema_defined else stamp)

    def write_encoded(self, database: str, table: str, chunk: EncodedChunk, mode: WriteMode) -> bool:
        """It cannot when the table changed since the chunk was planned, the table expires
        records, the mode is update, or any of the chunk's keys may already be stored."""
        if mode not in ("insert", "upsert") or not len(chunk):
            return False
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        if entry.info.expiration:
            return False
        with rocks.locked(entry):
            if self.chunk_plan(database, table, chunk.names, chunk.plan.stamp) != chunk.plan:
                return False
            keys = chunk.keys
            if not _range_empty(entry.cf, keys[0], keys[-1]):
                return False
            batch = _staged_batch(entry, chunk)
            if batch is None and chunk.released:  # staged for column families dropped since
                return False
            new_names = [name for name in chunk.names if name not in entry.info.attributes]
            if new_names:
                rocks.register_attributes(entry, sorted(new_names))
            if batch is None:
                batch = _chunk_batch(entry, chunk)
            stage_chunk_keys(rocks, batch, entry, rocks.now_ms(), mode, chunk.keys)
            rocks.write(batch, {entry: len(chunk)}, unlogged=True)
        return True

    def settle(self, database: str, table: str) -> None:
        """Compact the table's column families in the background (``settle.py``); a table
        dropped meanwhile has nothing to settle."""
        entry = self._rocks.tables.get((database, table))
        if entry is not None:
            self._rocks.settle(entry)

    def stage_encoded(self, database: str, table: str, chunk: EncodedChunk) -> None:
        """Only when every index the chunk has entries for exists already (a table without a
        schema gets its indexes when ``write_encoded`` registers the chunk's new attributes).
        The chunk's rows and index entries are then released: the WriteBatch holds them, and a
        load keeps a few chunks in flight, each of them otherwise twice in memory."""
        entry = self._rocks.get_table(database, table)
        if entry.handle is not None and set(chunk.index) <= entry.index_handles.keys():
            attributes = tuple(chunk.index)
            chunk.staged = (attributes, _chunk_handles(entry, attributes), _chunk_batch(entry, chunk))
            chunk.release()


def _chunk_handles(entry: TableHandle, attributes: Iterable[str]) -> tuple[Any, ...]:
    """The column families a chunk's batch puts into (compared by identity: a dropped one is new)."""
    return (entry.handle, *(entry.index_handles.get(attribute) for attribute in attributes))


def _staged_batch(entry: TableHandle, chunk: EncodedChunk) -> rocksdict.WriteBatch | None:
    """The chunk's staged WriteBatch, if its column families are still the table's."""
    if chunk.staged is None:
        return None
    attributes, handles, batch = chunk.staged
    return batch if all(map(operator.is_, handles, _chunk_handles(entry, attributes))) else None


def _chunk_batch(entry: TableHandle, chunk: EncodedChunk) -> rocksdict.WriteBatch:
    batch = rocksdict.WriteBatch(raw_mode=True)
    put = batch.put
    deque(map(put, chunk.keys, chunk.rows, repeat(entry.handle)), 0)
    for attribute, entries in chunk.index.items():
        deque(map(put, entries, repeat(b""), repeat(entry.index_handles[attribute])), 0)
    return batch


def _range_empty(cf: Any, low: bytes, high: bytes) -> bool:
    """Whether ``cf`` holds no key between ``low`` and ``high`` (inclusive)."""
    for key in cf.keys(from_key=low):
        return bool(key > high)
    return True


def _stage_fresh(
    entry: TableHandle,
    batch: rocksdict.WriteBatch,
    records: list[dict[str, Any]],
    ekeys: list[bytes],
    stamp: float,
) -> None:
    """Put new records (sorted by key, none stored yet) and their index entries, each in key order."""
    info = entry.info
    put = batch.put
    if not info.schema_defined or info.expiration:
        for record in records:
            record[CREATED] = stamp
            record[UPDATED] = stamp
    handle = entry.handle
    for ekey, raw in zip(ekeys, map(orjson.dumps, records), strict=True):
        put(ekey, raw, handle)
    for attribute, index_handle in entry.index_handles.items():
        entries = K.index_entries(list(map(dict.get, records, repeat(attribute), repeat(K.MISSING))), ekeys)
        entries.sort()
        for key in entries:
            put(key, b"", index_handle)
