"""The ImportWrites port on RocksDB: key checks, attribute registration, and final records
written in one atomic WriteBatch (the commit buffer of a batch run)."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.records import FinalRecord, NewRecords, WriteMode
from gateway.storage.rocksdb.database import RocksDatabase, TableHandle
from gateway.storage.rocksdb.staging import put_record
from gateway.storage.rocksdb.txlog import stage_entry
from gateway.storage.txlog import import_entry
from gateway.storage.writeplan import keys_for_write


class RocksImportWrites:
    """Prepared writes: the records arrive final and encoded; only index changes are computed here."""

    group_records = 100
    """Small: pending records that die young cost the garbage collector little (a thousand made
    collections cost ~10% of a run), and a group costs no round trip."""
    write_behind = False
    """Writes cost this process's CPU, not waits: nothing to overlap."""
    takes_new_records = True
    """Writes hold the GIL: the engine's work goes to another process instead."""

    def __init__(self, database: RocksDatabase) -> None:
        self._rocks = database

    def check_keys(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> list[Any]:
        return keys_for_write(self._rocks.get_table(database, table).info, records, mode)

    def ensure_attributes(self, database: str, table: str, names: Iterable[str]) -> None:
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        missing = {name for name in names if name not in entry.info.attributes}
        if missing:
            with rocks.locked(entry):
                rocks.register_attributes(entry, sorted(missing))

    def write_records(self, database: str, tables: Mapping[str, Mapping[bytes, FinalRecord]]) -> int:
        """Stored records are read in one multi-get per table (not for ``fresh`` keys); tables are
        locked while the batch is built and written."""
        rocks = self._rocks
        entries = {table: rocks.get_table(database, table) for table in tables}
        batch = rocksdict.WriteBatch(raw_mode=True)
        written = 0
        counted: dict[TableHandle, int] = {}
        with contextlib.ExitStack() as stack:
            for entry in sorted(entries.values(), key=lambda e: e.cf_name):
                stack.enter_context(rocks.locked(entry))
            for table, items in tables.items():
                entry = entries[table]
                seen = set().union(*(item.record.keys() for item in items.values()))
                if not seen.issubset(entry.info.attributes):
                    rocks.register_attributes(entry, sorted(seen.difference(entry.info.attributes)))
                stale = [ekey for ekey, item in items.items() if not item.fresh]
                stored = dict(zip(stale, entry.cf.get(stale), strict=True)) if stale else {}
                counted[entry] = _stage_final(entry, batch, items, stored)
                written += len(items)
                if rocks.txlog.logs(database):
                    stamp = rocks.now_ms()
                    stage_entry(batch, entry, stamp, import_entry(stamp, items, stored, rocks.txlog.audit))
            if batch.len():
                rocks.write(batch, counted)
        return written

    def write_new(self, database: str, table: str, records: NewRecords) -> bool:
        """The table's lock is held while its new attributes are registered and the batch is
        built and written."""
        rocks = self._rocks
        entry = rocks.get_table(database, table)
        if entry.info.schema_defined:
            return False
        with rocks.locked(entry):
            missing = [name for name in records.names if name not in entry.info.attributes]
            if missing:
                rocks.register_attributes(entry, sorted(missing))
            if records.index.keys() != entry.index_handles.keys():
                return False
            batch = rocksdict.WriteBatch(raw_mode=True)
            put = batch.put
            deque(map(put, records.keys, records.rows, repeat(entry.handle)), 0)
            for attribute, entries in records.index.items():
                deque(map(put, entries, repeat(b""), repeat(entry.index_handles[attribute])), 0)
            if rocks.txlog.logs(database):
                stamp = rocks.now_ms()
                logged = import_entry(stamp, dict.fromkeys(records.keys), {}, rocks.txlog.audit)
                stage_entry(batch, entry, stamp, logged)
            rocks.write(batch, {entry: len(records.keys)})
        return True


def _stage_final(
    entry: TableHandle,
    batch: rocksdict.WriteBatch,
    items: Mapping[bytes, FinalRecord],
    stored: dict[bytes, Any],
) -> int:
    """Put one table's final records (and their index changes) into ``batch``; how many keys are new."""
    put, handle = batch.put, entry.handle
    new_records: list[dict[str, Any]] = []
    new_keys: list[bytes] = []
    if not stored:  # nothing read (engine-generated keys): every record is new
        new_keys = list(items)
        new_records = [item.record for item in items.values()]
        for ekey, item in items.items():
            put(ekey, item.raw, handle)
    else:
        for ekey, item in items.items():
            old_raw = stored.get(ekey)
            if old_raw is not None:
                put_record(entry, batch, ekey, orjson.loads(old_raw), item.record)
                continue
            new_records.append(item.record)
            new_keys.append(ekey)
            put(ekey, item.raw, handle)
    for attribute, index_handle in entry.index_handles.items():
        values = list(map(dict.get, new_records, repeat(attribute), repeat(K.MISSING)))
        for index_key in K.index_entries(values, new_keys):
            put(index_key, b"", index_handle)
    return len(new_keys)
