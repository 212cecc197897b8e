"""Shared low-level parts of the RocksDB store: options, index-key helpers, table handles,
and ``RocksStoreBase`` (opening the store, table metadata, column families, attribute
registration, table locks).

Layout:
- default column family: metadata. ``D<db>`` → database info, ``T<db>\\0<table>``
  → table info (primary key, attributes, the names of the table's column families).
- one column family per table: ``encode_key(pk)`` → orjson record.
- one column family per secondary index: ``encode_key(value) + encode_key(pk)`` → b"".

A record and its index entries are written in one ``WriteBatch``. Values are
orjson-encoded JSON; no pickle anywhere.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.errors import DatabaseNotFound, StoreError, StoreLocked, TableNotFound
from gateway.storage.records import AttributeInfo, TableInfo

_SEQ_KEY = b"#seq"
_CHUNK = 10_000
_MISSING: Any = object()
_SCALARS = (str, int, float, bool, type(None))
_MISSING_UPDATE_KEY = "a valid hash attribute must be provided with update record, check log for more info"


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
    return opts


def _value_keys(value: Any) -> tuple[bytes, ...]:
    """The encoded index keys of one attribute value (array elements too; objects none)."""
    if type(value) is list:
        out = []
        for item in value:
            if isinstance(item, _SCALARS):
                try:
                    out.append(K.encode_key(item))
                except K.UnencodableKey:
                    continue
        return tuple(out)
    if value is _MISSING or not isinstance(value, _SCALARS):
        return ()
    try:
        return (K.encode_key(value),)
    except K.UnencodableKey:
        return ()


def now_ms() -> float:
    """Current time in epoch milliseconds, as HarperDB stores it."""
    return time.time() * 1000.0


class _Table:
    """Cached handles and schema of one table."""

    __slots__ = ("info", "cf_name", "cf", "handle", "index_cf", "index_cfs", "index_handles", "lock")

    def __init__(self, info: TableInfo, cf_name: str) -> None:
        self.info = info
        self.cf_name = cf_name
        self.cf: Any = None
        self.handle: Any = None
        self.index_cf: dict[str, str] = {}
        self.index_cfs: dict[str, Any] = {}
        self.index_handles: dict[str, Any] = {}
        self.lock = threading.RLock()


class RocksStoreBase:
    """Opening a RocksDB store and keeping its table metadata, column families and locks."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        Path(self.path).mkdir(parents=True, exist_ok=True)
        try:
            self._db: Any = rocksdict.Rdict(self.path, _options())
        except Exception as exc:  # rocksdict raises a bare Exception
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"the store at {self.path} is locked by another process "
                    f"(lock file {os.path.join(self.path, 'LOCK')}): {exc}"
                ) from exc
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        self._meta_lock = threading.RLock()
        self._cf_lock = threading.Lock()
        self._tables: dict[tuple[str, str], _Table] = {}
        self._databases: dict[str, dict[str, Any]] = {}
        self._load_metadata()

    # -- metadata ---------------------------------------------------------

    def _load_metadata(self) -> None:
        for key, value in self._db.items(from_key=b"D"):
            if not key.startswith(b"D"):
                break
            self._databases[key[1:].decode()] = orjson.loads(value)
        for key, value in self._db.items(from_key=b"T"):
            if not key.startswith(b"T"):
                break
            meta = orjson.loads(value)
            table = self._table_from_meta(meta)
            self._tables[(table.info.database, table.info.name)] = table

    def _table_from_meta(self, meta: dict[str, Any]) -> _Table:
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
        table = _Table(info, meta["cf"])
        table.cf = self._db.get_column_family(meta["cf"])
        table.handle = self._db.get_column_family_handle(meta["cf"])
        for a in meta["attributes"]:
            if a.get("cf"):
                table.index_cf[a["name"]] = a["cf"]
                table.index_cfs[a["name"]] = self._db.get_column_family(a["cf"])
                table.index_handles[a["name"]] = self._db.get_column_family_handle(a["cf"])
        return table

    def _table_meta(self, table: _Table) -> bytes:
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
    def _table_key(database: str, table: str) -> bytes:
        return b"T" + database.encode() + b"\x00" + table.encode()

    def _next_cf_name(self, prefix: str) -> str:
        raw = self._db.get(_SEQ_KEY)
        seq = int(raw) + 1 if raw else 1
        self._db.put(_SEQ_KEY, str(seq).encode())
        return f"{prefix}{seq}"

    def _create_cf(self, prefix: str) -> tuple[str, Any]:
        with self._cf_lock:  # a leaf lock: never held while taking another
            name = self._next_cf_name(prefix)
            cf = self._db.create_column_family(name, _options())
        return name, cf

    def _save_table(self, table: _Table) -> None:
        self._db.put(self._table_key(table.info.database, table.info.name), self._table_meta(table))

    def _get_table(self, database: str, table: str) -> _Table:
        found = self._tables.get((database, table))
        if found is None:
            if database not in self._databases:
                raise DatabaseNotFound(database)
            raise TableNotFound(database, table)
        return found

    def _add_index(self, table: _Table, attribute: str) -> None:
        cf_name, cf = self._create_cf("ix")
        table.index_cf[attribute] = cf_name
        table.index_cfs[attribute] = cf
        table.index_handles[attribute] = self._db.get_column_family_handle(cf_name)

    @contextlib.contextmanager
    def _locked(self, entry: _Table) -> Iterator[None]:
        """Hold a table's lock, failing if the table was dropped since it was looked up."""
        with entry.lock:
            if entry.handle is None:
                raise TableNotFound(entry.info.database, entry.info.name)
            yield

    def _register_attributes(
        self, entry: _Table, names: Iterable[str], indexed: bool | None = None, backfill: bool = False
    ) -> None:
        """Add attributes first seen in written records (and their indexes).

        Every attribute a record carries is registered before the record is
        written, so a new attribute has no values to index yet: ``backfill``
        (create_attribute) re-reads the table only to be safe after a crash in
        the middle of drop_attribute.
        """
        index = (not entry.info.schema_defined) if indexed is None else indexed
        # The table's own lock, not the metadata lock: writers hold table locks when they
        # get here, and the metadata lock is always taken before table locks (drop_table).
        with entry.lock:
            changed = False
            for name in names:
                if name in entry.info.attributes:
                    continue
                entry.info.attributes[name] = AttributeInfo(name, index, None)
                if index:
                    self._add_index(entry, name)
                    if backfill:
                        self._backfill_index(entry, name)
                changed = True
            if changed:
                self._save_table(entry)

    def _backfill_index(self, entry: _Table, attribute: str) -> None:
        handle = entry.index_handles[attribute]
        batch = rocksdict.WriteBatch(raw_mode=True)
        for raw_key, raw in entry.cf.items():
            record = orjson.loads(raw)
            if attribute in record:
                for v in K.index_values(record[attribute]):
                    batch.put(K.encode_key(v) + raw_key, b"", handle)
        if batch.len():
            self._db.write(batch)
