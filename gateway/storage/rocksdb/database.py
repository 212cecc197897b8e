"""The opened RocksDB store that every RocksDB port shares: options, table metadata,
column families, locks and the registration of new attributes.

Layout:
- default column family: metadata. ``D<db>`` → database info, ``T<db>\\0<table>``
  → table info (primary key, attributes, the names of the table's column families).
- one column family per table: ``encode_key(pk)`` → orjson record.
- one column family per secondary index: ``encode_key(value) + encode_key(pk)`` → b"".
- default column family: ``C<table column family>`` → the table's record count (8-byte signed),
  written in the same WriteBatch as the records that change it, so it is exact.

A record and its index entries are written in one ``WriteBatch``. Values are
orjson-encoded JSON; no pickle anywhere. Locks: the metadata lock is always taken
before a table's lock; the column-family lock is a leaf.

Bulk-load chunks may be written without the write-ahead log (``unlogged``, where
``storage.rocksdb.unlogged_loads``, off by default): the store is then opened with ``atomic_flush``, so
every flush (memtables full, ``max_total_wal_size``, ``flush``) writes the memtables of
all column families together, at one point of the write sequence, and a crash keeps a
prefix of those writes. A logged write to a table whose unlogged writes are not flushed yet
flushes first (``TableHandle.unlogged``), so it never outlives them; ``flush_unlogged``
makes a load durable when it ends. docs/architecture.md, "What a crash keeps".

Failures (a full device above all) are translated by ``failures.py``. The stored
metadata is the truth about the catalog: a schema change whose metadata cannot be
saved is undone in memory and the column families it created are dropped; the store
is opened with every column family its MANIFEST lists (an OPTIONS file that could not
be written on a full device may miss some), and column families no table's metadata
names (left by a failure, or by a drop cut short) are dropped at open.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.errors import (
    RECORDS_STORE,
    DatabaseNotFound,
    OutOfSpace,
    StoreError,
    StoreFailure,
    StoreLocked,
    TableNotFound,
)
from gateway.storage.ports import Clock
from gateway.storage.records import AttributeInfo, TableInfo
from gateway.storage.rocksdb.failures import NO_SPACE_TEXTS, FailureTranslator
from gateway.storage.rocksdb.settle import Settler
from gateway.storage.txlog import TxLogSettings
from gateway.storage.writeplan import check_new_attributes

log = logging.getLogger("gateway.storage")

_SEQ_KEY = b"#seq"
_COUNT = struct.Struct(">q")
CHUNK = 10_000
"""Records per WriteBatch when a whole table is rewritten (drop_attribute, copies)."""


_WAL_BUDGET = 64 * 1024 * 1024
"""Write-ahead log bytes kept before the column families holding the oldest log are flushed."""

_L0_COMPACTION_TRIGGER = 8
"""Level-0 files of a column family that start a compaction into level 1 (RocksDB's default: 4)."""

_FLUSHED_KEY = b"#flushed"
"""Written (logged) after each flush of every column family: it fails if the flush stopped the store."""

FLUSH_CF = "flush"
"""An empty column family whose ``compact_range`` is how every column family is flushed at once:
with ``atomic_flush`` RocksDB's CompactRange first flushes all column families atomically
(``AtomicFlushMemTables`` of them all), where ``Rdict.flush`` of one column family flushes only
that one (rocksdict has no multi-family flush). With nothing stored in it, the compaction that
follows has no file to work on."""


def _options() -> rocksdict.Options:
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.increase_parallelism(max(2, os.cpu_count() or 2))
    opts.set_write_buffer_size(64 * 1024 * 1024)
    # One memory budget for the memtables of all column families (tables and indexes),
    # so memory does not grow with the number of indexes being written.
    opts.set_db_write_buffer_size(64 * 1024 * 1024)
    opts.set_max_background_jobs(2)
    # LZ4 compresses about as well as the default Snappy for less CPU in flushes and compactions
    # (bench/bulk.py: ~0.4 CPU-seconds less per million rows on two cores). Memtables are flushed
    # to level 0 uncompressed: a flush then runs beside a bulk load for ~0.25 CPU-seconds less per
    # million rows, and the first compaction compresses those files once.
    opts.set_compression_type(rocksdict.DBCompressionType.lz4())
    none, lz4 = rocksdict.DBCompressionType.none(), rocksdict.DBCompressionType.lz4()
    opts.set_compression_per_level([none] + [lz4] * 6)
    opts.set_max_total_wal_size(_WAL_BUDGET)
    # Compact level 0 once it holds 8 files rather than 4: a bulk load flushes every ~64 MB, and
    # compacting half as often took 8-12% less CPU (bench/bulk.py, default table at 1M and 3M rows,
    # one-index load at 3M; 1.02-1.03x the rows/s). Reads meanwhile look in a few more files (point
    # reads measured the same); a load's settling compacts them all at its end.
    opts.set_level_zero_file_num_compaction_trigger(_L0_COMPACTION_TRIGGER)
    return opts


def count_key(cf_name: str) -> bytes:
    """The metadata key holding the record count of the table stored in column family ``cf_name``."""
    return b"C" + cf_name.encode()


class TableHandle:
    """Cached column families and schema of one table."""

    __slots__ = (
        "info",
        "cf_name",
        "cf",
        "handle",
        "index_cf",
        "index_cfs",
        "index_handles",
        "lock",
        "count",
        "unlogged",
    )

    def __init__(self, info: TableInfo, cf_name: str) -> None:
        self.info = info
        self.cf_name = cf_name
        self.cf: Any = None
        self.handle: Any = None
        self.index_cf: dict[str, str] = {}
        self.index_cfs: dict[str, Any] = {}
        self.index_handles: dict[str, Any] = {}
        self.lock = threading.RLock()
        self.count = 0
        """Records stored (expired ones included until they are overwritten); changed under ``lock``."""
        self.unlogged = 0
        """The number (``RocksDatabase``'s count) of the last write to the table without the
        write-ahead log; it is durable once ``RocksDatabase.flushed`` reaches it."""


class RocksDatabase:
    """One RocksDB directory, opened once per process, with its tables' metadata in memory."""

    def __init__(self, path: str | Path, clock: Clock, unlogged_loads: bool = False) -> None:
        self.path = str(path)
        self.clock = clock
        self.unlogged_loads = unlogged_loads
        """Whether bulk-load chunks are written without the write-ahead log (the store is then
        opened with ``atomic_flush``)."""
        self._unlogged_options = rocksdict.WriteOptions()
        # A property at run time; rocksdict's stub declares a method.
        self._unlogged_options.disable_wal = True  # type: ignore[method-assign,assignment]
        self._unlogged_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.unlogged_writes = 0
        """Writes made without the write-ahead log (each numbered: ``TableHandle.unlogged``)."""
        self.flushed = 0
        """Every write without the write-ahead log up to this number is flushed (durable)."""
        self.txlog = TxLogSettings()
        """Whether the write paths log their writes (``rocksdb/txlog.py``), set from the configuration."""
        self.failures = FailureTranslator()
        Path(self.path).mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)  # it holds the server's secrets (system.hdb_secret)
        try:
            families = _column_families(self.path)
            options = _options()
            options.set_atomic_flush(unlogged_loads)
            self.db: Any = rocksdict.Rdict(
                self.path,
                options,
                column_families={name: _options() for name in {*families, FLUSH_CF}},
            )
        except Exception as exc:  # rocksdict raises a bare Exception
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"the store at {self.path} is locked by another process "
                    f"(lock file {os.path.join(self.path, 'LOCK')}): {exc}"
                ) from exc
            if any(marker in str(exc) for marker in NO_SPACE_TEXTS):
                raise OutOfSpace(RECORDS_STORE, f"cannot open the store at {self.path}") from exc
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        self.meta_lock = threading.RLock()
        self._cf_lock = threading.Lock()
        self.tables: dict[tuple[str, str], TableHandle] = {}
        self.databases: dict[str, dict[str, Any]] = {}
        self._flush_cf = self.db.get_column_family(FLUSH_CF)
        self._load_metadata()
        self._drop_unnamed(families)
        self.settler = Settler(self.db.get_column_family, self.close_cf, self._flush_all)

    def guard(self, action: str) -> contextlib.AbstractContextManager[None]:
        """Run a write to RocksDB, translating its failure (StoreFailure, OutOfSpace)."""
        return self.failures.guard(action)

    def now_ms(self) -> float:
        """The store's clock in epoch milliseconds (records' ``__createdtime__``/``__updatedtime__``)."""
        return self.clock() * 1000.0

    # -- metadata ---------------------------------------------------------

    def _load_metadata(self) -> None:
        for key, value in self.db.items(from_key=b"D"):
            if not key.startswith(b"D"):
                break
            self.databases[key[1:].decode()] = orjson.loads(value)
        for key, value in self.db.items(from_key=b"T"):
            if not key.startswith(b"T"):
                break
            table = self._table_from_meta(orjson.loads(value))
            self.tables[(table.info.database, table.info.name)] = table
        for table in self.tables.values():
            table.count = self._stored_count(table)

    def _stored_count(self, table: TableHandle) -> int:
        """The table's record count, counted once (and kept) for a store written before counts were."""
        raw = self.db.get(count_key(table.cf_name))
        if raw is not None:
            count: int = _COUNT.unpack(raw)[0]
            return count
        counted = sum(1 for _ in table.cf.keys())  # noqa: SIM118 (Rdict iteration)
        with self.guard("save a record count"):
            self.db.put(count_key(table.cf_name), _COUNT.pack(counted))
        return counted

    def _drop_unnamed(self, families: list[str]) -> None:
        """Drop column families that no table's metadata names (left by a failed or cut-short change)."""
        named = {name for entry in self.tables.values() for name in (entry.cf_name, *entry.index_cf.values())}
        for name in families:
            if name not in named and name != FLUSH_CF:
                log.warning("dropping column family %s of the records store: no table names it", name)
                self.drop_cf_quietly(name)

    def _table_from_meta(self, meta: dict[str, Any]) -> TableHandle:
        info = TableInfo(
            database=meta["database"],
            name=meta["name"],
            primary_key=meta["primary_key"],
            schema_defined=meta["schema_defined"],
            attributes={
                a["name"]: AttributeInfo(a["name"], a["indexed"], a.get("type")) for a in meta["attributes"]
            },
            created=meta["created"],
            expiration=meta.get("expiration"),
        )
        table = TableHandle(info, meta["cf"])
        table.cf = self.db.get_column_family(meta["cf"])
        table.handle = self.db.get_column_family_handle(meta["cf"])
        for a in meta["attributes"]:
            if a.get("cf"):
                table.index_cf[a["name"]] = a["cf"]
                table.index_cfs[a["name"]] = self.db.get_column_family(a["cf"])
                table.index_handles[a["name"]] = self.db.get_column_family_handle(a["cf"])
        return table

    def _table_meta(self, table: TableHandle) -> bytes:
        info = table.info
        return orjson.dumps(
            {
                "database": info.database,
                "name": info.name,
                "primary_key": info.primary_key,
                "schema_defined": info.schema_defined,
                "created": info.created,
                "expiration": info.expiration,
                "cf": table.cf_name,
                "attributes": [
                    {"name": a.name, "indexed": a.indexed, "type": a.type, "cf": table.index_cf.get(a.name)}
                    for a in info.attributes.values()
                ],
            }
        )

    @staticmethod
    def table_key(database: str, table: str) -> bytes:
        """The metadata key of a table."""
        return b"T" + database.encode() + b"\x00" + table.encode()

    def save_database(self, database: str, info: dict[str, Any]) -> None:
        with self.guard("save a database"):
            self.db.put(b"D" + database.encode(), orjson.dumps(info))
        self.databases[database] = info

    def forget_database(self, database: str) -> None:
        with self.guard("drop a database"):
            self.db.delete(b"D" + database.encode())
        del self.databases[database]

    def forget_database_quietly(self, database: str) -> None:
        """Undo a database's creation; a failure is logged (the database stays, empty)."""
        try:
            self.forget_database(database)
        except StoreFailure as exc:
            log.warning("database %s stays, empty: %s", database, exc)

    def save_table(self, table: TableHandle) -> None:
        """Store a table's metadata (after its schema or column families changed)."""
        with self.guard("save a table's metadata"):
            self.db.put(self.table_key(table.info.database, table.info.name), self._table_meta(table))

    def forget_table(self, database: str, table: str) -> None:
        """Delete a table's metadata (the first step of dropping it)."""
        with self.guard("drop a table"):
            self.db.delete(self.table_key(database, table))

    def _next_cf_name(self, prefix: str) -> str:
        raw = self.db.get(_SEQ_KEY)
        seq = int(raw) + 1 if raw else 1
        with self.guard("number a column family"):
            self.db.put(_SEQ_KEY, str(seq).encode())
        return f"{prefix}{seq}"

    def create_cf(self, prefix: str) -> tuple[str, Any]:
        """A new column family named ``<prefix><sequence>``; (name, column family).

        If RocksDB fails (its MANIFEST may hold the new family even so), the name is
        never used again and the next open drops the family.
        """
        with self._cf_lock:  # a leaf lock: never held while taking another
            name = self._next_cf_name(prefix)
            with self.guard("create a column family"):
                cf = self.db.create_column_family(name, _options())
        return name, cf

    def close_cf(self, cf: Any) -> None:
        """Release a column family object (rocksdict flushes it first); a failure to flush is logged.

        rocksdict flushes that one column family when its object is closed (or collected), so
        with unlogged writes about it must not hold part of one: the unlogged writes so far are
        flushed (every column family at once) and none is made until the object is released.
        Whatever was acknowledged is then in the write-ahead log or flushed, so a flush that
        fails for lack of space loses nothing.
        """
        try:
            with self._unlogged_lock:
                self.flush_unlogged()
                with self.guard("flush a column family"):
                    cf.close()
        except StoreFailure as exc:
            log.warning("a column family was released without a flush: %s", exc)

    def drop_cf_quietly(self, name: str) -> None:
        """Drop a column family that nothing names any more; a failure is logged (the next open retries)."""
        try:
            with self.guard("drop a column family"):
                self.db.drop_column_family(name)
        except StoreFailure as exc:
            log.warning("column family %s is left for the next open to drop: %s", name, exc)

    def new_table(self, info: TableInfo, indexed: Iterable[str]) -> TableHandle:
        """Create the column families of a table (records, and an index per ``indexed`` attribute),
        store its metadata and register it. The caller holds the metadata lock.

        All or nothing: if a step fails, the families created so far are dropped and the
        table is not registered.
        """
        cf_name, cf = self.create_cf("tb")
        entry = TableHandle(info, cf_name)
        entry.cf = cf
        try:
            entry.handle = self.db.get_column_family_handle(cf_name)
            for attribute in indexed:
                self.add_index(entry, attribute)
            self.set_count(entry, 0)
            self.save_table(entry)
        except BaseException:
            created = [cf_name, *entry.index_cf.values()]
            self.close_table(entry)
            for name in created:
                self.drop_cf_quietly(name)
            raise
        self.tables[(info.database, info.name)] = entry
        return entry

    def get_table(self, database: str, table: str) -> TableHandle:
        """The table's handle; DatabaseNotFound or TableNotFound."""
        found = self.tables.get((database, table))
        if found is None:
            if database not in self.databases:
                raise DatabaseNotFound(database)
            raise TableNotFound(database, table)
        return found

    def add_index(self, table: TableHandle, attribute: str) -> None:
        """An empty index column family for ``attribute`` (the caller saves the metadata)."""
        cf_name, cf = self.create_cf("ix")
        table.index_cf[attribute] = cf_name
        table.index_cfs[attribute] = cf
        table.index_handles[attribute] = self.db.get_column_family_handle(cf_name)

    @contextlib.contextmanager
    def schema_change(self, entry: TableHandle) -> Iterator[None]:
        """Undo a table's in-memory schema change if the block raises (its metadata was not saved).

        Attributes and index column families are put back as they were, in place, and the
        index column families created in the block are closed and dropped.
        """
        attributes = {name: dataclasses.replace(a) for name, a in entry.info.attributes.items()}
        index_cf, index_cfs, index_handles = (
            dict(entry.index_cf),
            dict(entry.index_cfs),
            dict(entry.index_handles),
        )
        try:
            yield
        except BaseException:
            kept = set(index_cf.values())
            created = [
                (name, entry.index_cfs.get(a)) for a, name in entry.index_cf.items() if name not in kept
            ]
            entry.info.attributes.clear()
            entry.info.attributes.update(attributes)
            for current, saved in (
                (entry.index_cf, index_cf),
                (entry.index_cfs, index_cfs),
                (entry.index_handles, index_handles),
            ):
                current.clear()
                current.update(saved)
            for name, cf in created:
                if cf is not None:
                    self.close_cf(cf)
                self.drop_cf_quietly(name)
            raise

    @contextlib.contextmanager
    def locked(self, entry: TableHandle) -> Iterator[None]:
        """Hold a table's lock, failing if the table was dropped since it was looked up."""
        with entry.lock:
            if entry.handle is None:
                raise TableNotFound(entry.info.database, entry.info.name)
            yield

    def register_attributes(
        self, entry: TableHandle, names: Iterable[str], indexed: bool | None = None, backfill: bool = False
    ) -> None:
        """Add attributes first seen in written records (and their indexes).

        Every attribute a record carries is registered before the record is
        written (InvalidRecord, before anything is registered, for a name with a
        control character), so a new attribute has no values to index yet: ``backfill``
        (create_attribute) re-reads the table only to be safe after a crash in
        the middle of drop_attribute.
        """
        names = list(names)
        check_new_attributes(entry.info, names)
        index = (not entry.info.schema_defined) if indexed is None else indexed
        # The table's own lock, not the metadata lock: writers hold table locks when they
        # get here, and the metadata lock is always taken before table locks (drop_table).
        with entry.lock, self.schema_change(entry):
            changed = False
            for name in names:
                if name in entry.info.attributes:
                    continue
                entry.info.attributes[name] = AttributeInfo(name, index, None)
                if index:
                    self.add_index(entry, name)
                    if backfill:
                        self.backfill_index(entry, name)
                changed = True
            if changed:
                self.save_table(entry)

    def backfill_index(self, entry: TableHandle, attribute: str) -> None:
        """Index the stored records' values of ``attribute``."""
        handle = entry.index_handles[attribute]
        batch = rocksdict.WriteBatch(raw_mode=True)
        for raw_key, raw in entry.cf.items():
            record = orjson.loads(raw)
            if attribute in record:
                for value_key in K.value_keys(record[attribute]):
                    batch.put(value_key + raw_key, b"", handle)
        if batch.len():
            self.write(batch, {entry: 0})

    # -- records' lifetime ------------------------------------------------

    def live(self, entry: TableHandle, raw: bytes | None) -> dict[str, Any] | None:
        """The decoded record, or None when absent or past the table's expiration."""
        if raw is None:
            return None
        record: dict[str, Any] = orjson.loads(raw)
        if entry.info.expiration and entry.info.expired(record, self.now_ms()):
            return None
        return record

    # -- whole store --------------------------------------------------------

    def write(
        self,
        batch: rocksdict.WriteBatch,
        counted: Mapping[TableHandle, int] | None = None,
        unlogged: bool = False,
    ) -> None:
        """Apply a WriteBatch atomically (all of it or, raising StoreFailure/OutOfSpace, none).

        ``counted``: the tables the batch writes to and by how much it changes their record
        counts; their new counts go into the same batch (the caller holds the tables' locks).
        A logged batch (the write-ahead log's) first flushes what was written to those tables
        without it, so that it cannot survive a crash they do not. ``unlogged`` (a bulk-load
        chunk, where the store takes them): without the write-ahead log.
        """
        unlogged = unlogged and self.unlogged_loads
        if counted:
            if not unlogged and any(entry.unlogged > self.flushed for entry in counted):
                self.flush_unlogged()
            for entry, delta in counted.items():
                if delta:
                    batch.put(count_key(entry.cf_name), _COUNT.pack(entry.count + delta))
        number = 0
        if unlogged:
            with self._unlogged_lock, self.guard("write"):  # not while a column family is released
                self.db.write(batch, self._unlogged_options)
                self.unlogged_writes += 1  # numbered once written: a flush from now on holds it
                number = self.unlogged_writes
        else:
            with self.guard("write"):
                self.db.write(batch)
        if counted:
            if number:
                for entry in counted:
                    entry.unlogged = number
            for entry, delta in counted.items():
                entry.count += delta

    def set_count(self, entry: TableHandle, count: int) -> None:
        """Store a table's record count as it is (a new table, or after a raw copy of its records)."""
        with self.guard("save a record count"):
            self.db.put(count_key(entry.cf_name), _COUNT.pack(count))
        entry.count = count

    def forget_count_quietly(self, entry: TableHandle) -> None:
        """Remove a dropped table's record count; a failure leaves an unread key behind, nothing worse."""
        with contextlib.suppress(StoreFailure), self.guard("drop a record count"):
            self.db.delete(count_key(entry.cf_name))

    def flush_wal(self) -> None:
        """Sync the write-ahead log to disk."""
        with self.guard("sync the write-ahead log"):
            self.db.flush_wal(True)

    def flush(self) -> None:
        """Write the memtables of every column family to SST files (at once, with ``atomic_flush``)."""
        if self.unlogged_loads:
            self._flush_atomically(always=True)
            return
        with self.guard("flush"):
            self.db.flush(True)
            for entry in self.tables.values():
                for cf in (entry.cf, *entry.index_cfs.values()):
                    cf.flush(True)

    def flush_unlogged(self) -> None:
        """Make every write so far without the write-ahead log durable: one atomic flush of all
        column families, unless another one since the last such write made it so already.

        StoreFailure (OutOfSpace) if the flush fails; the writes then stay in memory, readable,
        flushed when RocksDB takes writes again (or at close), and lost by a crash before.
        """
        self._flush_atomically(always=False)

    def _flush_atomically(self, always: bool) -> None:
        with self._flush_lock:
            upto = self.unlogged_writes  # every write numbered so far was applied before the flush
            if upto <= self.flushed and not always:
                return
            errors = self._background_errors()
            options = rocksdict.CompactOptions()
            options.set_exclusive_manual_compaction(False)  # never wait for a compaction running meanwhile
            with self.guard("flush"):
                self._flush_cf.compact_range(None, None, options)
                # rocksdict's compact_range drops CompactRange's status: a failed flush is seen in
                # RocksDB's count of background errors, and a store it stopped refuses this write
                # (with the flush's own error, e.g. no space).
                self.db.put(_FLUSHED_KEY, b"")
            if self._background_errors() > errors:
                raise StoreFailure(
                    f"the records store could not flush its memtables (a background error: {self.path}/LOG)"
                )
            self.flushed = max(self.flushed, upto)

    def _background_errors(self) -> int:
        """RocksDB's count of failed background flushes and compactions since the store was opened."""
        return int(self.db.property_int_value("rocksdb.background-errors") or 0)

    def _flush_all(self) -> None:
        """``flush`` under the metadata lock (from the settling thread: tables may come and go)."""
        with self.meta_lock:
            self.flush()

    def settle(self, entry: TableHandle) -> None:
        """Compact a table's column families in the background (after a bulk load)."""
        with entry.lock:
            if entry.handle is None:
                return
            names = [entry.cf_name, *entry.index_cf.values()]
        self.settler.settle(names)

    def close_table(self, entry: TableHandle) -> None:
        """Release a table's column families (its handle becomes None: writers then fail)."""
        for cf in [entry.cf, *entry.index_cfs.values()]:
            self.close_cf(cf)
        entry.index_cfs.clear()
        entry.index_handles.clear()
        entry.handle = None

    def close(self) -> None:
        """Flush what was written without the write-ahead log, sync the log and release the
        store (and its lock file).

        A store that cannot write (a full device) is still released: what it acknowledged
        is in the write-ahead log already (a load whose unlogged chunks could not be flushed
        ended with an error saying so), so the failure is logged, not raised.
        """
        self.settler.close()  # before the metadata lock, which its last flush takes
        with self.meta_lock:
            try:
                self.flush_unlogged()  # all column families at once, before each is released
                self.flush_wal()
            except StoreFailure as exc:
                log.warning("closing the records store without a final sync: %s", exc)
            for entry in self.tables.values():
                self.close_table(entry)
            self.tables.clear()
            self.close_cf(self._flush_cf)
            try:
                with self.guard("close"):
                    self.db.close()
            except StoreFailure as exc:
                log.warning("the records store did not close cleanly: %s", exc)


def _column_families(path: str) -> list[str]:
    """The column families (other than ``default``) of the store at ``path``, as its MANIFEST lists them."""
    if not os.path.exists(os.path.join(path, "CURRENT")):
        return []
    return [name for name in rocksdict.Rdict.list_cf(path) if name != "default"]
