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

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import orjson
import rocksdict

from gateway.bulk.codec import columns_types_ok, encode_keys, json_fragments, row_template, types_ok
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
from gateway.storage.types import check_records, type_errors

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
    opts.set_db_write_buffer_size(128 * 1024 * 1024)
    opts.set_max_background_jobs(2)
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


class ChunkRecordError(InvalidRecord):
    """A record of a ``load_chunk`` cannot be written; ``index`` is its position in the chunk."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


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

    @contextlib.contextmanager
    def _locked(self, entry: _Table) -> Iterator[None]:
        """Hold a table's lock, failing if the table was dropped since it was looked up."""
        with entry.lock:
            if entry.handle is None:
                raise TableNotFound(entry.info.database, entry.info.name)
            yield

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

    # -- records ----------------------------------------------------------

    def write(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> WriteResult:
        """Insert, update, upsert or replace records; one WriteBatch for all of them.

        Every record is checked (key, declared types) before anything is written:
        a bad record raises InvalidRecord and nothing of the request is stored.
        """
        entry = self._get_table(database, table)
        keys = self._keys_for_write(entry, records, mode)
        attributes = entry.info.attributes
        new_names = {n for r in records for n in r if n not in attributes}
        batch = rocksdict.WriteBatch(raw_mode=True)
        with self._locked(entry):
            if new_names:
                self._register_attributes(entry, sorted(new_names))
            result = self._stage_writes(entry, batch, records, keys, mode, now_ms(), {})
            if batch.len():
                self._db.write(batch)
        return result

    def write_many(
        self,
        operations: Sequence[tuple[str, str, Sequence[dict[str, Any]], WriteMode]],
        strict: bool = False,
    ) -> list[WriteResult]:
        """Several ``write`` calls, on any tables, applied in one atomic WriteBatch.

        ``operations`` is ``[(database, table, records, mode), ...]``. Either every
        record (and its index entries) is written or none is; a bad key raises
        before anything is written. ``strict``: a record that would be skipped (an
        insert of an existing key, an update of a missing one) raises InvalidRecord
        and nothing is written. One WriteResult per operation.
        """
        prepared: list[tuple[_Table, Sequence[dict[str, Any]], list[Any], WriteMode]] = []
        for database, table, records, mode in operations:
            entry = self._get_table(database, table)
            prepared.append((entry, records, self._keys_for_write(entry, records, mode), mode))
        locked = sorted({id(p[0]): p[0] for p in prepared}.values(), key=lambda e: e.cf_name)
        stamp = now_ms()
        batch = rocksdict.WriteBatch(raw_mode=True)
        results: list[WriteResult] = []
        pending: dict[tuple[int, bytes], dict[str, Any] | None] = {}
        with contextlib.ExitStack() as stack:
            for entry in locked:
                stack.enter_context(self._locked(entry))
            for entry, records, keys, mode in prepared:
                new_names = {n for r in records for n in r if n not in entry.info.attributes}
                if new_names:
                    self._register_attributes(entry, sorted(new_names))
                result = self._stage_writes(entry, batch, records, keys, mode, stamp, pending)
                if strict and result.skipped:
                    problem = "already exists" if mode == "insert" else "does not exist"
                    raise InvalidRecord(
                        f"a record with {entry.info.primary_key} "
                        f"{orjson.dumps(result.skipped[0]).decode()} {problem} in '{entry.info.name}'"
                    )
                results.append(result)
            if batch.len():
                self._db.write(batch)
        return results

    # -- prepared writes (import batches: the commit buffer of ModelTargetStore) --

    def check_keys(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> list[Any]:
        """The primary keys ``write`` would use for ``records`` (a new UUID for a missing insert key).

        Raises InvalidRecord with ``write``'s message for a bad or missing key or a
        value of the wrong declared type. Writes nothing.
        """
        return self._keys_for_write(self._get_table(database, table), records, mode)

    def ensure_attributes(self, database: str, table: str, names: Iterable[str]) -> None:
        """Register attributes first seen in records about to be written (indexed as ``write`` does)."""
        entry = self._get_table(database, table)
        missing = {name for name in names if name not in entry.info.attributes}
        if missing:
            with self._locked(entry):
                self._register_attributes(entry, sorted(missing))

    def index_attribute(self, database: str, table: str, attribute: str) -> bool:
        """Give ``attribute`` a secondary index built from the stored records; False if it has one.

        An attribute the table does not know yet is added (indexed).
        """
        entry = self._get_table(database, table)
        with self._meta_lock, entry.lock:
            if attribute == entry.info.primary_key or attribute in entry.index_cfs:
                return False
            known = entry.info.attributes.get(attribute)
            if known is None:
                self._register_attributes(entry, [attribute], indexed=True, backfill=True)
                return True
            self._add_index(entry, attribute)
            self._backfill_index(entry, attribute)
            known.indexed = True
            self._save_table(entry)
            return True

    def write_records(self, writes: Sequence[tuple[str, str, bytes, dict[str, Any], bytes, bool]]) -> int:
        """Store records given in their final, encoded form, all in one atomic WriteBatch.

        ``writes`` is ``[(database, table, encoded_key, record, raw, fresh), ...]``,
        at most one entry per table and key: ``record`` is the whole record as
        stored (metadata included) and ``raw`` its orjson encoding. Each record
        replaces what is stored under its key; index entries follow the difference
        between the stored record (read in one multi-get per table) and ``record``.
        ``fresh`` marks keys the caller knows cannot be stored (nothing is read for
        them). Tables are locked while the batch is built and written. Returns the
        number of records written.
        """
        groups: dict[tuple[str, str], list[tuple[str, str, bytes, dict[str, Any], bytes, bool]]] = {}
        for write in writes:
            groups.setdefault((write[0], write[1]), []).append(write)
        entries = {names: self._get_table(*names) for names in groups}
        batch = rocksdict.WriteBatch(raw_mode=True)
        with contextlib.ExitStack() as stack:
            for entry in sorted(entries.values(), key=lambda e: e.cf_name):
                stack.enter_context(self._locked(entry))
            for names, items in groups.items():
                entry = entries[names]
                seen = set().union(*(item[3].keys() for item in items))
                if not seen.issubset(entry.info.attributes):
                    self._register_attributes(entry, sorted(seen.difference(entry.info.attributes)))
                stale = [item[2] for item in items if not item[5]]
                stored = dict(zip(stale, entry.cf.get(stale), strict=True)) if stale else {}
                self._stage_final(entry, batch, items, stored)
            if batch.len():
                self._db.write(batch)
        return len(writes)

    def _stage_final(
        self,
        entry: _Table,
        batch: rocksdict.WriteBatch,
        items: list[tuple[str, str, bytes, dict[str, Any], bytes, bool]],
        stored: dict[bytes, bytes | None],
    ) -> None:
        """Put ``write_records``' items of one table (records and index changes) into ``batch``."""
        put, handle = batch.put, entry.handle
        new_records: list[dict[str, Any]] = []
        new_keys: list[bytes] = []
        for _, _, ekey, record, raw, _ in items:
            old_raw = stored.get(ekey)
            if old_raw is not None:
                self._put_record(entry, batch, ekey, orjson.loads(old_raw), record)
                continue
            new_records.append(record)
            new_keys.append(ekey)
            put(ekey, raw, handle)
        for attribute, index_handle in entry.index_handles.items():
            for index_key in self._flat_index_entries(new_records, new_keys, attribute):
                put(index_key, b"", index_handle)

    @staticmethod
    def _flat_index_entries(records: list[dict[str, Any]], ekeys: list[bytes], attribute: str) -> list[bytes]:
        """Index keys of one attribute over new records (``_value_keys``' rule), column at a time."""
        values: list[Any] = list(map(dict.get, records, repeat(attribute), repeat(_MISSING)))
        kinds = set(map(type, values))
        owners: Sequence[bytes] = ekeys
        if kinds == {list}:  # arrays: index every element
            owners = list(chain.from_iterable(map(repeat, ekeys, map(len, values))))
            values = list(chain.from_iterable(values))
            kinds = set(map(type, values))
        if values and (kinds <= {str} or kinds <= {int, float}):
            try:
                return list(map(bytes.__add__, encode_keys(values), owners))
            except K.UnencodableKey:
                pass
        if owners is ekeys:
            return [vk + ekey for value, ekey in zip(values, ekeys, strict=True) for vk in _value_keys(value)]
        return [vk + ekey for value, ekey in zip(values, owners, strict=True) for vk in _value_keys([value])]

    def _keys_for_write(self, entry: _Table, records: Sequence[dict[str, Any]], mode: WriteMode) -> list[Any]:
        pk = entry.info.primary_key
        keys: list[Any] = []
        for record in records:
            if type(record) is not dict:
                raise InvalidRecord("each record must be an object")
            key = record.get(pk)
            if key is None or key == "":
                if mode in ("update", "replace"):
                    raise InvalidRecord(_MISSING_UPDATE_KEY)
                key = str(uuid.uuid4())
            elif isinstance(key, bool) or not isinstance(key, str | int | float):
                raise InvalidRecord(f"invalid primary key value {orjson.dumps(key).decode()} for '{pk}'")
            try:
                K.encode_key(key)
            except K.UnencodableKey as exc:
                raise InvalidRecord(str(exc)) from exc
            keys.append(key)
        if entry.info.schema_defined:
            types = {a.name: a.type for a in entry.info.attributes.values() if a.type}
            problem = check_records(records, types)
            if problem:
                raise InvalidRecord(problem)
        return keys

    def _stage_writes(
        self,
        entry: _Table,
        batch: rocksdict.WriteBatch,
        records: Sequence[dict[str, Any]],
        keys: list[Any],
        mode: WriteMode,
        stamp: float,
        pending: dict[tuple[int, bytes], dict[str, Any] | None],
    ) -> WriteResult:
        """Put one write()'s records into ``batch`` (``pending``: records staged earlier)."""
        info = entry.info
        pk = info.primary_key
        stamped = not info.schema_defined or bool(info.expiration)
        encoded = [K.encode_key(k) for k in keys]
        stored = entry.cf.get(encoded) if encoded else []
        result = WriteResult()
        for record, key, ekey, raw in zip(records, keys, encoded, stored, strict=True):
            slot = (id(entry), ekey)
            stored_old = pending[slot] if slot in pending else (orjson.loads(raw) if raw else None)
            old = stored_old
            if old is not None and info.expiration and self._expired(entry, old, stamp):
                old = None
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
            if stamped:
                new[CREATED] = old[CREATED] if old is not None and CREATED in old else stamp
                new[UPDATED] = stamp
            self._put_record(entry, batch, ekey, stored_old, new)
            pending[slot] = new
            result.written.append(key)
        return result

    @staticmethod
    def _expired(entry: _Table, record: dict[str, Any], now: float) -> bool:
        """Whether ``record`` outlived the table's ``expiration`` (seconds since its last write)."""
        ttl = entry.info.expiration
        if not ttl:
            return False
        written = record.get(UPDATED, record.get(CREATED))
        return isinstance(written, int | float) and written + ttl * 1000.0 < now

    def _put_record(
        self,
        entry: _Table,
        batch: rocksdict.WriteBatch,
        ekey: bytes,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        """Add the record (or its deletion) and its index changes to ``batch``."""
        handles = entry.index_handles
        if old is None:
            if new is not None:
                for attribute, value in new.items():
                    handle = handles.get(attribute)
                    if handle is not None:
                        for value_key in _value_keys(value):
                            batch.put(value_key + ekey, b"", handle)
        else:
            names = old.keys() | new.keys() if new is not None else old.keys()
            for attribute in names:
                handle = handles.get(attribute)
                if handle is None:
                    continue
                before = old.get(attribute, _MISSING)
                after = new.get(attribute, _MISSING) if new is not None else _MISSING
                kind = type(before)
                if kind is type(after) and kind is not list and before == after:
                    continue
                old_keys = set(_value_keys(before))
                new_keys = set(_value_keys(after))
                for value_key in old_keys - new_keys:
                    batch.delete(value_key + ekey, handle)
                for value_key in new_keys - old_keys:
                    batch.put(value_key + ekey, b"", handle)
        if new is None:
            batch.delete(ekey, entry.handle)
        else:
            batch.put(ekey, orjson.dumps(new), entry.handle)

    @staticmethod
    def _index_keys_of(record: dict[str, Any] | None, attribute: str) -> list[bytes]:
        if record is None or attribute not in record:
            return []
        return list(_value_keys(record[attribute]))

    def delete(self, database: str, table: str, keys: Iterable[Any]) -> WriteResult:
        entry = self._get_table(database, table)
        result = WriteResult()
        with self._locked(entry):
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

    # -- bulk loads (csv_*_load, import_from_s3) ---------------------------

    def load_chunk(
        self,
        database: str,
        table: str,
        records: list[dict[str, Any]],
        mode: WriteMode,
        stamp: float | None = None,
    ) -> tuple[int, int]:
        """Write one large chunk of a bulk load; returns the (written, skipped) counts.

        The rules are ``write``'s (insert skips existing keys, update skips missing
        ones and records without a key, upsert merges) but built for throughput:
        records are changed in place instead of copied, no key lists are returned,
        keys and type checks are done column by column (``gateway.bulk.codec``),
        and when none of the chunk's keys can exist yet (one iterator seek over
        the chunk's key range, no duplicates in the chunk) records and index
        entries are put in key order without reading anything. Every record is
        checked first: a bad key or a value of the wrong declared type raises
        ``ChunkRecordError`` with the record's index, and nothing is written.
        """
        if mode not in ("insert", "update", "upsert"):
            raise ValueError(f"load_chunk cannot {mode}")
        entry = self._get_table(database, table)
        info = entry.info
        pk = info.primary_key
        stamp = now_ms() if stamp is None else stamp
        live, ekeys, skipped = self._chunk_keys(records, pk, mode)
        if info.schema_defined:
            self._check_chunk_types(info, records)
        if not live:
            return 0, skipped
        new_names = set().union(*live).difference(info.attributes)
        with self._locked(entry):
            if new_names:
                self._register_attributes(entry, sorted(new_names))
            order = sorted(range(len(ekeys)), key=ekeys.__getitem__)
            keys_sorted = [ekeys[i] for i in order]
            fresh = (
                not info.expiration
                and len(set(ekeys)) == len(ekeys)
                and self._range_empty(entry.cf, keys_sorted[0], keys_sorted[-1])
            )
            if fresh and mode == "update":
                return 0, skipped + len(live)
            batch = rocksdict.WriteBatch(raw_mode=True)
            if fresh:
                self._stage_fresh(entry, batch, [live[i] for i in order], keys_sorted, stamp)
                written = len(live)
            else:
                keys = [record[pk] for record in live]
                result = self._stage_writes(entry, batch, live, keys, mode, stamp, {})
                written = len(result.written)
                skipped += len(result.skipped)
            if batch.len():
                self._db.write(batch)
        return written, skipped

    def load_columns(
        self,
        database: str,
        table: str,
        names: list[str],
        columns: list[Sequence[Any]],
        mode: WriteMode,
        stamp: float | None = None,
    ) -> tuple[int, int]:
        """``load_chunk`` for records given as columns (every record has every attribute).

        New records in an empty key range are encoded without building a dict per
        record: each column is turned into JSON fragments at once and records are
        formatted from a template (``gateway.bulk.codec``). Anything else (keys that
        may exist, duplicates, missing keys) goes through ``load_chunk``.
        """
        count = len(columns[0]) if columns else 0
        entry = self._get_table(database, table)
        info = entry.info
        pk = info.primary_key
        if (
            not count
            or mode == "update"
            or pk not in names
            or len(set(names)) != len(names)
            or info.expiration
        ):
            return self._load_as_records(database, table, names, columns, mode, stamp)
        keys = columns[names.index(pk)]
        if not set(map(type, keys)) <= {int, str} or "" in keys:
            return self._load_as_records(database, table, names, columns, mode, stamp)
        try:
            ekeys = encode_keys(keys)
        except K.UnencodableKey:
            return self._load_as_records(database, table, names, columns, mode, stamp)
        types = {a.name: a.type for a in info.attributes.values() if a.type} if info.schema_defined else {}
        if types and not columns_types_ok(names, columns, types):
            return self._load_as_records(database, table, names, columns, mode, stamp)
        stamp = now_ms() if stamp is None else stamp
        new_names = set(names).difference(info.attributes)
        with self._locked(entry):
            if new_names:
                self._register_attributes(entry, sorted(new_names))
            keys_sorted = sorted(ekeys)
            if len(set(ekeys)) != count or not self._range_empty(entry.cf, keys_sorted[0], keys_sorted[-1]):
                return self._load_as_records(database, table, names, columns, mode, stamp)
            if keys_sorted == ekeys:  # input already in key order (the usual case)
                sorted_columns = columns
            else:
                order = sorted(range(count), key=ekeys.__getitem__)
                sorted_columns = [[column[i] for i in order] for column in columns]
            batch = rocksdict.WriteBatch(raw_mode=True)
            suffix = b""
            if not info.schema_defined:
                stamp_json = orjson.dumps(stamp)
                suffix = (
                    b',"'
                    + CREATED.encode()
                    + b'":'
                    + stamp_json
                    + b',"'
                    + UPDATED.encode()
                    + b'":'
                    + stamp_json
                )
            fragments = []
            quoted = []
            for column in sorted_columns:
                parts, is_quoted = json_fragments(column)
                fragments.append(parts)
                quoted.append(is_quoted)
            template = row_template(names, quoted, suffix)
            put = batch.put
            handle = entry.handle
            for ekey, raw in zip(
                keys_sorted, map(template.__mod__, zip(*fragments, strict=True)), strict=True
            ):
                put(ekey, raw, handle)
            positions = {name: i for i, name in enumerate(names)}
            stamps = [stamp] * count
            for attribute, index_handle in entry.index_handles.items():
                if attribute in positions:
                    values: Sequence[Any] = sorted_columns[positions[attribute]]
                elif attribute in (CREATED, UPDATED) and not info.schema_defined:
                    values = stamps
                else:
                    continue
                entries = self._column_index_entries(values, keys_sorted)
                entries.sort()
                for key in entries:
                    put(key, b"", index_handle)
            self._db.write(batch)
        return count, 0

    def _load_as_records(
        self,
        database: str,
        table: str,
        names: list[str],
        columns: list[Sequence[Any]],
        mode: WriteMode,
        stamp: float | None,
    ) -> tuple[int, int]:
        records = list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))
        return self.load_chunk(database, table, records, mode, stamp)

    @staticmethod
    def _column_index_entries(values: Sequence[Any], ekeys: list[bytes]) -> list[bytes]:
        kinds = set(map(type, values))
        if kinds <= {str} or kinds <= {int, float}:
            try:
                return list(map(bytes.__add__, encode_keys(values), ekeys))
            except K.UnencodableKey:
                pass
        entries: list[bytes] = []
        for value, ekey in zip(values, ekeys, strict=True):
            entries.extend(value_key + ekey for value_key in _value_keys(value))
        return entries

    @staticmethod
    def _chunk_keys(
        records: list[dict[str, Any]], pk: str, mode: WriteMode
    ) -> tuple[list[dict[str, Any]], list[bytes], int]:
        """The records to write, their encoded keys, and how many were skipped (update without key)."""
        keys = list(map(dict.get, records, repeat(pk)))
        kinds = set(map(type, keys))
        if kinds <= {int, str} and (str not in kinds or "" not in keys):
            try:
                return records, encode_keys(keys), 0
            except K.UnencodableKey:
                pass
        live: list[dict[str, Any]] = []
        encoded: list[bytes] = []
        skipped = 0
        for index, (record, key) in enumerate(zip(records, keys, strict=True)):
            kind = type(key)
            if key is None or key == "":
                if mode == "update":
                    skipped += 1
                    continue
                key = record[pk] = str(uuid.uuid4())
            elif kind is not int and kind is not str and kind is not float:
                raise ChunkRecordError(
                    index, f"invalid primary key value {orjson.dumps(key).decode()} for '{pk}'"
                )
            try:
                encoded.append(K.encode_key(key))
            except K.UnencodableKey as exc:
                raise ChunkRecordError(index, str(exc)) from exc
            live.append(record)
        return live, encoded, skipped

    @staticmethod
    def _check_chunk_types(info: TableInfo, records: Sequence[dict[str, Any]]) -> None:
        types = {a.name: a.type for a in info.attributes.values() if a.type}
        if not types or types_ok(records, types):
            return
        for index, record in enumerate(records):
            errors = type_errors(record, types)
            if errors:
                raise ChunkRecordError(index, ". ".join(errors))

    @staticmethod
    def _range_empty(cf: Any, low: bytes, high: bytes) -> bool:
        """Whether ``cf`` holds no key between ``low`` and ``high`` (inclusive)."""
        for key in cf.keys(from_key=low):
            return bool(key > high)
        return True

    def _stage_fresh(
        self,
        entry: _Table,
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
            entries = self._index_entries(records, ekeys, attribute)
            entries.sort()
            for key in entries:
                put(key, b"", index_handle)

    @staticmethod
    def _index_entries(records: list[dict[str, Any]], ekeys: list[bytes], attribute: str) -> list[bytes]:
        """Index keys (value + primary key) of one attribute over a chunk of new records."""
        values = list(map(dict.get, records, repeat(attribute), repeat(_MISSING)))
        kinds = set(map(type, values))
        if (kinds <= {str} or kinds <= {int, float}) and _MISSING not in values:
            try:
                return list(map(bytes.__add__, encode_keys(values), ekeys))
            except K.UnencodableKey:
                pass
        entries: list[bytes] = []
        for value, ekey in zip(values, ekeys, strict=True):
            if value is not _MISSING:
                entries.extend(value_key + ekey for value_key in _value_keys(value))
        return entries

    # -- whole store --------------------------------------------------------

    def copy_database_to(self, database: str, target: RocksRecordStore) -> None:
        """Copy one database (tables, records, index entries, raw) into another store.

        The target gets nothing else, and no history of anything else: get_backup
        copies from a checkpoint into a fresh store so the tar holds one database.
        """
        if database not in self._databases:
            raise DatabaseNotFound(database)
        if not target.has_database(database):
            target.create_database(database)
        for (db, _), entry in sorted(self._tables.items()):
            if db != database:
                continue
            with entry.lock:
                clone = target._clone_table(entry.info, list(entry.index_cf))
                target._copy_cf(entry.cf, clone.handle)
                for attribute, index_cf in entry.index_cfs.items():
                    target._copy_cf(index_cf, clone.index_handles[attribute])

    def _clone_table(self, info: TableInfo, indexed: list[str]) -> _Table:
        """Create a table with ``info``'s schema and indexes on ``indexed`` (for copies)."""
        with self._meta_lock:
            if (info.database, info.name) in self._tables:
                raise TableExists(info.database, info.name)
            copy = TableInfo(
                database=info.database,
                name=info.name,
                primary_key=info.primary_key,
                schema_defined=info.schema_defined,
                attributes={n: AttributeInfo(a.name, a.indexed, a.type) for n, a in info.attributes.items()},
                created=info.created,
                expiration=info.expiration,
            )
            cf_name, cf = self._create_cf("tb")
            entry = _Table(copy, cf_name)
            entry.cf = cf
            entry.handle = self._db.get_column_family_handle(cf_name)
            for attribute in indexed:
                self._add_index(entry, attribute)
            self._save_table(entry)
            self._tables[(info.database, info.name)] = entry
            return entry

    def _copy_cf(self, source_cf: Any, handle: Any) -> None:
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in source_cf.items():
            batch.put(key, value, handle)
            if batch.len() >= _CHUNK:
                self._db.write(batch)
                batch = rocksdict.WriteBatch(raw_mode=True)
        if batch.len():
            self._db.write(batch)

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
