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

from collections.abc import Iterator, Sequence
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
    TableExists,
    TableNotFound,
)
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, KeyRange, TableInfo
from gateway.storage.rocks_base import _CHUNK, _Table, now_ms
from gateway.storage.rocks_bulk import BulkLoadMixin, ChunkRecordError
from gateway.storage.rocks_copy import CopyMixin
from gateway.storage.rocks_import import ImportWriteMixin

__all__ = ["ChunkRecordError", "RocksRecordStore", "now_ms"]


class RocksRecordStore(BulkLoadMixin, ImportWriteMixin, CopyMixin):
    """A RecordStore on one RocksDB directory, opened once per process."""

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
            self._register_attributes(entry, [attribute], indexed=indexed, backfill=True)

    def drop_attribute(self, database: str, table: str, attribute: str) -> None:
        """Forget an attribute: its index, and its value in every record.

        The metadata is saved first, so a crash part-way leaves records that still
        carry the value; a later write of such a record registers it again.
        """
        entry = self._get_table(database, table)
        if attribute == entry.info.primary_key:
            raise InvalidRecord(f"cannot drop the primary key attribute '{attribute}'")
        with self._meta_lock, entry.lock:
            if attribute not in entry.info.attributes:
                return
            del entry.info.attributes[attribute]
            cf_name = entry.index_cf.pop(attribute, None)
            entry.index_handles.pop(attribute, None)
            index_cf = entry.index_cfs.pop(attribute, None)
            self._save_table(entry)
            if index_cf is not None:
                index_cf.close()
            if cf_name:
                self._db.drop_column_family(cf_name)
            batch = rocksdict.WriteBatch(raw_mode=True)
            for raw_key, raw in entry.cf.items():
                record = orjson.loads(raw)
                if attribute in record:
                    del record[attribute]
                    batch.put(raw_key, orjson.dumps(record), entry.handle)
                    if batch.len() >= _CHUNK:
                        self._db.write(batch)
                        batch = rocksdict.WriteBatch(raw_mode=True)
            if batch.len():
                self._db.write(batch)

    def _live(self, entry: _Table, raw: bytes | None) -> dict[str, Any] | None:
        """The decoded record, or None when absent or past the table's expiration."""
        if raw is None:
            return None
        record: dict[str, Any] = orjson.loads(raw)
        if entry.info.expiration and self._expired(entry, record, now_ms()):
            return None
        return record

    def get(self, database: str, table: str, key: Any) -> dict[str, Any] | None:
        entry = self._get_table(database, table)
        try:
            raw = entry.cf.get(K.encode_key(key))
        except K.UnencodableKey:
            return None
        except rocksdict.DbClosedError as exc:  # dropped since it was looked up
            raise TableNotFound(database, table) from exc
        return self._live(entry, raw)

    def get_many(self, database: str, table: str, keys: Sequence[Any]) -> list[dict[str, Any] | None]:
        entry = self._get_table(database, table)
        encoded: list[bytes | None] = []
        for key in keys:
            try:
                encoded.append(K.encode_key(key))
            except K.UnencodableKey:
                encoded.append(None)
        present = [e for e in encoded if e is not None]
        try:
            found = dict(zip(present, entry.cf.get(present), strict=True)) if present else {}
        except rocksdict.DbClosedError as exc:  # dropped since it was looked up
            raise TableNotFound(database, table) from exc
        out: list[dict[str, Any] | None] = []
        for e in encoded:
            out.append(self._live(entry, found.get(e) if e is not None else None))
        return out

    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        """Every record in primary-key order (numbers before strings)."""
        entry = self._get_table(database, table)
        try:
            if entry.info.expiration:
                for raw in entry.cf.values():
                    record = self._live(entry, raw)
                    if record is not None:
                        yield record
                return
            for raw in entry.cf.values():
                yield orjson.loads(raw)
        except rocksdict.DbClosedError as exc:  # dropped while being read
            raise TableNotFound(database, table) from exc

    def index_keys(self, database: str, table: str, attribute: str, key_range: KeyRange) -> Iterator[Any]:
        """Primary keys whose ``attribute`` lies in ``key_range``, in index order."""
        for _, key in self.index_items(database, table, attribute, key_range):
            yield key

    def index_items(
        self, database: str, table: str, attribute: str, key_range: KeyRange | None = None
    ) -> Iterator[tuple[Any, Any]]:
        """``(value, primary key)`` pairs of an index within ``key_range`` (all if None), in order.

        For the primary key attribute both items are the key. Array values appear
        once per element. Expired records are not filtered here (their ids are).
        """
        entry = self._get_table(database, table)
        primary = attribute == entry.info.primary_key
        if primary:
            cf = entry.cf
        else:
            cf = entry.index_cfs.get(attribute)
            if cf is None:
                raise StoreError(f"attribute '{attribute}' is not indexed")
        try:
            for raw, value_length in self._range(cf, key_range or KeyRange(), primary):
                if primary:
                    key = K.decode_key(raw)
                    yield key, key
                else:
                    yield K.decode_key(raw), K.decode_key(raw, value_length)
        except rocksdict.DbClosedError as exc:  # dropped while being read
            raise TableNotFound(database, table) from exc

    def is_indexed(self, database: str, table: str, attribute: str) -> bool:
        """Whether ``attribute`` has an index (the primary key always has one)."""
        entry = self._get_table(database, table)
        return attribute == entry.info.primary_key or attribute in entry.index_cfs

    @staticmethod
    def _range(cf: Any, r: KeyRange, primary: bool) -> Iterator[tuple[bytes, int]]:
        """Raw keys of ``cf`` within ``r`` and the length of their value part."""
        if r.has_equals or r.prefix is not None:
            prefix = K.encode_key(r.equals) if r.has_equals else K.string_prefix(r.prefix or "")
            for key in cf.keys(from_key=prefix):
                if not key.startswith(prefix):
                    return
                yield key, len(key) if primary else K.key_length(key)
            return
        lower = K.encode_key(r.lower) if r.lower is not None else None
        upper = K.encode_key(r.upper) if r.upper is not None else None
        bound = lower if lower is not None else upper
        tag = bound[0] if bound else None
        start = lower if lower is not None else (bytes((tag,)) if tag is not None else b"")
        for key in cf.keys(from_key=start):
            if tag is not None and key[0] != tag:
                return
            length = len(key) if primary else K.key_length(key)
            value_part = key[:length]
            if lower is not None and not r.lower_inclusive and value_part == lower:
                continue
            if upper is not None and (value_part > upper or (value_part == upper and not r.upper_inclusive)):
                return
            yield key, length

    def last_updated(self, database: str, table: str) -> float | None:
        """The newest ``__updatedtime__`` of the table (None if empty or not tracked)."""
        entry = self._get_table(database, table)
        index_cf = entry.index_cfs.get(UPDATED)
        if index_cf is None:
            return None
        for key in index_cf.keys(backwards=True):
            value = K.decode_key(key)
            return float(value) if isinstance(value, int | float) else None
        return None

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

    def compact(self) -> None:
        """Compact the metadata column family (drops deleted entries from disk)."""
        self._db.compact_range(None, None)

    def checkpoint(self, directory: str) -> None:
        """A consistent copy of the whole store in ``directory`` (which must not exist)."""
        rocksdict.Checkpoint(self._db).create_checkpoint(directory)

    def flush(self) -> None:
        """Write the memtables of every column family to SST files."""
        self._db.flush(True)
        for entry in self._tables.values():
            for cf in (entry.cf, *entry.index_cfs.values()):
                cf.flush(True)

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
