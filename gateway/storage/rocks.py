"""RocksDB adapter of the RecordStore protocol (rocksdict in raw mode).

Layout:
- default column family: metadata. ``D<db>`` → database info, ``T<db>\\0<table>``
  → table info (primary key, attributes, the names of the table's column families).
- one column family per table: ``encode_key(pk)`` → orjson record.
- one column family per secondary index: ``encode_key(value) + encode_key(pk)`` → b"".

A record and its index entries are written in one ``WriteBatch``. Values are
orjson-encoded JSON; no pickle anywhere.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.errors import (
    AttributeExists,
    DatabaseExists,
    DatabaseNotFound,
    InvalidRecord,
    StoreError,
    StoreLocked,
    TableExists,
    TableNotFound,
)
from gateway.storage.records import (
    CREATED,
    UPDATED,
    AttributeInfo,
    KeyRange,
    TableInfo,
    WriteMode,
    WriteResult,
)

_SEQ_KEY = b"#seq"
_MISSING_UPDATE_KEY = "a valid hash attribute must be provided with update record, check log for more info"


def _options() -> rocksdict.Options:
    opts = rocksdict.Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    opts.increase_parallelism(max(2, os.cpu_count() or 2))
    opts.set_write_buffer_size(64 * 1024 * 1024)
    opts.set_max_background_jobs(2)
    return opts


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


class RocksRecordStore:
    """A RecordStore on one RocksDB directory, opened once per process."""

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

    # -- databases and tables ---------------------------------------------

    def list_databases(self) -> list[str]:
        return sorted(self._databases)

    def has_database(self, database: str) -> bool:
        return database in self._databases

    def create_database(self, database: str) -> None:
        with self._meta_lock:
            if database in self._databases:
                raise DatabaseExists(database)
            info = {"created": now_ms()}
            self._db.put(b"D" + database.encode(), orjson.dumps(info))
            self._databases[database] = info

    def drop_database(self, database: str) -> None:
        with self._meta_lock:
            if database not in self._databases:
                raise DatabaseNotFound(database)
            for info in self.list_tables(database):
                self.drop_table(database, info.name)
            self._db.delete(b"D" + database.encode())
            del self._databases[database]

    def list_tables(self, database: str) -> list[TableInfo]:
        if database not in self._databases:
            raise DatabaseNotFound(database)
        return [t.info for (db, _), t in sorted(self._tables.items()) if db == database]

    def table(self, database: str, table: str) -> TableInfo:
        return self._get_table(database, table).info

    def create_table(
        self,
        database: str,
        table: str,
        primary_key: str = "id",
        attributes: Sequence[AttributeInfo] | None = None,
        expiration: int | None = None,
    ) -> TableInfo:
        with self._meta_lock:
            if database not in self._databases:
                self.create_database(database)
            if (database, table) in self._tables:
                raise TableExists(database, table)
            schema_defined = attributes is not None
            info = TableInfo(
                database=database,
                name=table,
                primary_key=primary_key,
                schema_defined=schema_defined,
                created=now_ms(),
                expiration=expiration,
            )
            cf_name, cf = self._create_cf("tb")
            entry = _Table(info, cf_name)
            entry.cf = cf
            entry.handle = self._db.get_column_family_handle(cf_name)
            info.attributes[primary_key] = AttributeInfo(primary_key, True, None)
            for attr in attributes or ():
                if attr.name == primary_key:
                    info.attributes[primary_key].type = attr.type
                    continue
                info.attributes[attr.name] = AttributeInfo(attr.name, attr.indexed, attr.type)
                if attr.indexed:
                    self._add_index(entry, attr.name)
            if not schema_defined:
                for name in (CREATED, UPDATED):
                    info.attributes[name] = AttributeInfo(name, True, None)
                    self._add_index(entry, name)
            self._save_table(entry)
            self._tables[(database, table)] = entry
            return info

    def _add_index(self, table: _Table, attribute: str) -> None:
        cf_name, cf = self._create_cf("ix")
        table.index_cf[attribute] = cf_name
        table.index_cfs[attribute] = cf
        table.index_handles[attribute] = self._db.get_column_family_handle(cf_name)

    def drop_table(self, database: str, table: str) -> None:
        with self._meta_lock:
            entry = self._get_table(database, table)
            with entry.lock:
                self._db.delete(self._table_key(database, table))
                del self._tables[(database, table)]
                self._close_table(entry)
                for cf_name in [entry.cf_name, *entry.index_cf.values()]:
                    self._db.drop_column_family(cf_name)

    def add_attribute(self, database: str, table: str, attribute: str, indexed: bool = True) -> None:
        entry = self._get_table(database, table)
        with self._meta_lock, entry.lock:
            if attribute in entry.info.attributes:
                raise AttributeExists(database, table, attribute)
            self._register_attributes(entry, [attribute], indexed=indexed)

    def _register_attributes(self, entry: _Table, names: Iterable[str], indexed: bool | None = None) -> None:
        """Add attributes first seen in written records (and their indexes)."""
        index = (not entry.info.schema_defined) if indexed is None else indexed
        with self._meta_lock:
            changed = False
            for name in names:
                if name in entry.info.attributes:
                    continue
                entry.info.attributes[name] = AttributeInfo(name, index, None)
                if index:
                    self._add_index(entry, name)
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

    def drop_attribute(self, database: str, table: str, attribute: str) -> None:
        entry = self._get_table(database, table)
        with self._meta_lock, entry.lock:
            if attribute not in entry.info.attributes:
                return
            del entry.info.attributes[attribute]
            cf_name = entry.index_cf.pop(attribute, None)
            entry.index_handles.pop(attribute, None)
            index_cf = entry.index_cfs.pop(attribute, None)
            if index_cf is not None:
                index_cf.close()
            batch = rocksdict.WriteBatch(raw_mode=True)
            for raw_key, raw in entry.cf.items():
                record = orjson.loads(raw)
                if attribute in record:
                    del record[attribute]
                    batch.put(raw_key, orjson.dumps(record), entry.handle)
            if batch.len():
                self._db.write(batch)
            if cf_name:
                self._db.drop_column_family(cf_name)
            self._save_table(entry)

    # -- records ----------------------------------------------------------

    def write(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> WriteResult:
        """Insert, update, upsert or replace records; one WriteBatch for all of them."""
        entry = self._get_table(database, table)
        pk = entry.info.primary_key
        keys: list[Any] = []
        for record in records:
            if not isinstance(record, dict):
                raise InvalidRecord("each record must be an object")
            key = record.get(pk)
            if key is None or key == "":
                if mode in ("update", "replace"):
                    raise InvalidRecord(_MISSING_UPDATE_KEY)
                key = str(uuid.uuid4())
            elif isinstance(key, bool) or not isinstance(key, str | int | float):
                raise InvalidRecord(f"invalid primary key value {orjson.dumps(key).decode()} for '{pk}'")
            keys.append(key)
        encoded = [K.encode_key(k) for k in keys]
        new_names = {n for r in records for n in r if n not in entry.info.attributes}
        result = WriteResult()
        stamp = now_ms()
        with entry.lock:
            if new_names:
                self._register_attributes(entry, sorted(new_names))
            stored = entry.cf.get(encoded) if encoded else []
            pending: dict[bytes, dict[str, Any] | None] = {}
            batch = rocksdict.WriteBatch(raw_mode=True)
            for record, key, ekey, raw in zip(records, keys, encoded, stored, strict=True):
                old = pending[ekey] if ekey in pending else (orjson.loads(raw) if raw is not None else None)
                if mode == "insert":
                    if old is not None:
                        result.skipped.append(key)
                        continue
                    new = dict(record)
                elif mode == "update":
                    if old is None:
                        result.skipped.append(key)
                        continue
                    new = {**old, **record}
                elif mode == "upsert":
                    new = {**old, **record} if old is not None else dict(record)
                else:  # replace
                    new = dict(record)
                new[pk] = key
                if not entry.info.schema_defined:
                    new[CREATED] = old[CREATED] if old is not None and CREATED in old else stamp
                    new[UPDATED] = stamp
                self._put_record(entry, batch, ekey, old, new)
                pending[ekey] = new
                result.written.append(key)
            if batch.len():
                self._db.write(batch)
        return result

    def _put_record(
        self,
        entry: _Table,
        batch: rocksdict.WriteBatch,
        ekey: bytes,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        for attribute, handle in entry.index_handles.items():
            old_values = set(self._index_keys_of(old, attribute))
            new_values = set(self._index_keys_of(new, attribute))
            for value in old_values - new_values:
                batch.delete(value + ekey, handle)
            for value in new_values - old_values:
                batch.put(value + ekey, b"", handle)
        if new is None:
            batch.delete(ekey, entry.handle)
        else:
            batch.put(ekey, orjson.dumps(new), entry.handle)

    @staticmethod
    def _index_keys_of(record: dict[str, Any] | None, attribute: str) -> list[bytes]:
        if record is None or attribute not in record:
            return []
        out = []
        for v in K.index_values(record[attribute]):
            try:
                out.append(K.encode_key(v))
            except K.UnencodableKey:
                continue
        return out

    def delete(self, database: str, table: str, keys: Iterable[Any]) -> WriteResult:
        entry = self._get_table(database, table)
        result = WriteResult()
        with entry.lock:
            batch = rocksdict.WriteBatch(raw_mode=True)
            seen: set[bytes] = set()
            for key in keys:
                try:
                    ekey = K.encode_key(key)
                except K.UnencodableKey:
                    result.skipped.append(key)
                    continue
                raw = None if ekey in seen else entry.cf.get(ekey)
                if raw is None:
                    result.skipped.append(key)
                    continue
                seen.add(ekey)
                self._put_record(entry, batch, ekey, orjson.loads(raw), None)
                result.written.append(key)
            if batch.len():
                self._db.write(batch)
        return result

    def get(self, database: str, table: str, key: Any) -> dict[str, Any] | None:
        entry = self._get_table(database, table)
        try:
            raw = entry.cf.get(K.encode_key(key))
        except K.UnencodableKey:
            return None
        return orjson.loads(raw) if raw is not None else None

    def get_many(self, database: str, table: str, keys: Sequence[Any]) -> list[dict[str, Any] | None]:
        entry = self._get_table(database, table)
        encoded: list[bytes | None] = []
        for key in keys:
            try:
                encoded.append(K.encode_key(key))
            except K.UnencodableKey:
                encoded.append(None)
        present = [e for e in encoded if e is not None]
        found = dict(zip(present, entry.cf.get(present), strict=True)) if present else {}
        out: list[dict[str, Any] | None] = []
        for e in encoded:
            raw = found.get(e) if e is not None else None
            out.append(orjson.loads(raw) if raw is not None else None)
        return out

    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        entry = self._get_table(database, table)
        for raw in entry.cf.values():
            yield orjson.loads(raw)

    def index_keys(self, database: str, table: str, attribute: str, key_range: KeyRange) -> Iterator[Any]:
        """Primary keys whose ``attribute`` lies in ``key_range``, in index order."""
        entry = self._get_table(database, table)
        if attribute == entry.info.primary_key:
            yield from self._range(entry.cf, key_range, primary=True)
            return
        index_cf = entry.index_cfs.get(attribute)
        if index_cf is None:
            raise StoreError(f"attribute '{attribute}' is not indexed")
        yield from self._range(index_cf, key_range, primary=False)

    def _range(self, cf: Any, r: KeyRange, primary: bool) -> Iterator[Any]:
        if r.has_equals or r.prefix is not None:
            prefix = K.encode_key(r.equals) if r.has_equals else K.string_prefix(r.prefix or "")
            for key in cf.keys(from_key=prefix):
                if not key.startswith(prefix):
                    return
                yield K.decode_key(key, 0 if primary else K.key_length(key))
            return
        lower = K.encode_key(r.lower) if r.lower is not None else None
        upper = K.encode_key(r.upper) if r.upper is not None else None
        bound = lower if lower is not None else upper
        tag = bound[0] if bound else None
        start = lower if lower is not None else (bytes((tag,)) if tag is not None else b"")
        for key in cf.keys(from_key=start):
            if tag is not None and key[0] != tag:
                return
            value_part = key if primary else key[: K.key_length(key)]
            if lower is not None and not r.lower_inclusive and value_part == lower:
                continue
            if upper is not None and (value_part > upper or (value_part == upper and not r.upper_inclusive)):
                return
            yield K.decode_key(key, 0 if primary else len(value_part))

    def count(self, database: str, table: str) -> int:
        entry = self._get_table(database, table)
        estimate = int(entry.cf.property_int_value("rocksdb.estimate-num-keys") or 0)
        if estimate > 200_000:
            return estimate
        return sum(1 for _ in entry.cf.keys())  # noqa: SIM118 (Rdict iteration)

    def size_bytes(self, database: str, table: str) -> int:
        entry = self._get_table(database, table)
        live = entry.cf.property_int_value("rocksdb.estimate-live-data-size") or 0
        mem = entry.cf.property_int_value("rocksdb.cur-size-all-mem-tables") or 0
        return int(live) + int(mem)

    # -- whole store --------------------------------------------------------

    def checkpoint(self, directory: str) -> None:
        """A consistent copy of the whole store in ``directory`` (which must not exist)."""
        rocksdict.Checkpoint(self._db).create_checkpoint(directory)

    def flush_wal(self) -> None:
        self._db.flush_wal(True)

    @staticmethod
    def _close_table(entry: _Table) -> None:
        for cf in [entry.cf, *entry.index_cfs.values()]:
            cf.close()
        entry.index_cfs.clear()
        entry.index_handles.clear()
        entry.handle = None

    def close(self) -> None:
        """Flush the WAL and release the store (and its lock file)."""
        with self._meta_lock:
            try:
                self._db.flush_wal(True)
            finally:
                for entry in self._tables.values():
                    self._close_table(entry)
                self._tables.clear()
                self._db.close()
