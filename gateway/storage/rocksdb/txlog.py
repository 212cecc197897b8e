"""The TransactionLog port on RocksDB: entries in the default column family, beside the metadata.

An entry's key is ``L<table column family>\\0`` + the write's time in microseconds and a
process counter (8 + 4 bytes, big-endian), so one table's entries are one key range in time
order and a table's column family name (never reused) keeps a dropped table's entries apart
from a new table of the same name. The write paths put the entry into their own WriteBatch
(:func:`stage_entry`), so a write and its entry are applied together or not at all.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
from collections.abc import Iterable, Iterator

import rocksdict

from gateway.storage.errors import StoreFailure
from gateway.storage.rocksdb.database import RocksDatabase, TableHandle
from gateway.storage.txlog import LogEntry, TxLogSettings, chunk_entry, unpack_entry

_STAMP = struct.Struct(">Q")
_SEQ = struct.Struct(">I")
_counter = itertools.count()


def log_prefix(entry: TableHandle) -> bytes:
    """The key prefix of a table's entries."""
    return b"L" + entry.cf_name.encode() + b"\x00"


_LAST_STAMP = (1 << 64) - 1


def _stamp_key(stamp: float) -> bytes:
    """The sortable key part of an epoch-ms stamp (microseconds), clamped to what 8 bytes hold:
    a bound beyond them (a client may send any number) sorts after every entry."""
    return _STAMP.pack(min(_LAST_STAMP, max(0, int(stamp * 1000))))


def stage_entry(batch: rocksdict.WriteBatch, entry: TableHandle, stamp: float, packed: bytes | None) -> None:
    """Put a packed entry of ``entry``'s table into ``batch`` (None: nothing to log)."""
    if packed is not None:
        key = log_prefix(entry) + _stamp_key(stamp) + _SEQ.pack(next(_counter) & 0xFFFFFFFF)
        batch.put(key, packed)


def stage_chunk_keys(
    rocks: RocksDatabase,
    batch: rocksdict.WriteBatch,
    entry: TableHandle,
    stamp: float,
    mode: str,
    ekeys: Iterable[bytes],
) -> None:
    """Put the entry of a bulk-load chunk (its written keys, encoded; read only when logged) into
    the chunk's ``batch``."""
    if rocks.txlog.logs(entry.info.database):
        stage_entry(batch, entry, stamp, chunk_entry(stamp, mode, ekeys))


def drop_log(rocks: RocksDatabase, entry: TableHandle) -> None:
    """Remove a dropped table's entries (one range deletion); a failure leaves entries no table
    names (its column family name is never used again), nothing worse."""
    prefix = log_prefix(entry)
    batch = rocksdict.WriteBatch(raw_mode=True)
    batch.delete_range(prefix, prefix[:-1] + b"\x01")
    with contextlib.suppress(StoreFailure):
        rocks.write(batch)


class RocksTransactionLog:
    """Reads and trims the entries the RocksDB write paths stage."""

    def __init__(self, database: RocksDatabase) -> None:
        self._rocks = database
        self.settings: TxLogSettings = database.txlog

    def read(
        self,
        database: str,
        table: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
    ) -> Iterator[LogEntry]:
        prefix = log_prefix(self._rocks.get_table(database, table))
        first = prefix + (_stamp_key(start) if start is not None else b"")
        if limit is not None and limit <= 0:
            return
        given = 0
        for key, value in self._rocks.db.items(from_key=first):
            if not key.startswith(prefix):
                return
            logged = unpack_entry(value)
            if end is not None and logged.timestamp > end:
                return
            if start is not None and logged.timestamp < start:
                continue
            yield logged
            given += 1
            if limit is not None and given >= limit:
                return

    def delete_before(self, database: str, table: str, timestamp: float) -> int:
        return self._delete_before(self._rocks.get_table(database, table), timestamp)

    def _delete_before(self, entry: TableHandle, timestamp: float) -> int:
        prefix = log_prefix(entry)
        bound = prefix + _stamp_key(timestamp)
        count = 0
        for key in self._rocks.db.keys(from_key=prefix):
            if key >= bound or not key.startswith(prefix):
                break
            count += 1
        if count:
            batch = rocksdict.WriteBatch(raw_mode=True)
            batch.delete_range(prefix, bound)
            self._rocks.write(batch)
        return count

    def prune(self, timestamp: float) -> int:
        return sum(self._delete_before(entry, timestamp) for entry in list(self._rocks.tables.values()))
