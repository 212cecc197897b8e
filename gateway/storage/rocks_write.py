"""Record writes of the RocksDB store: insert/update/upsert/replace and delete, with index diffs."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.errors import InvalidRecord
from gateway.storage.records import CREATED, UPDATED, WriteMode, WriteResult
from gateway.storage.rocks_base import (
    _MISSING,
    _MISSING_UPDATE_KEY,
    RocksStoreBase,
    _Table,
    _value_keys,
    now_ms,
)
from gateway.storage.types import check_records


class RecordWriter(RocksStoreBase):
    """``write``, ``write_many`` and ``delete``, and the staging of records and index changes."""

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
            types = entry.info.declared_types()
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
