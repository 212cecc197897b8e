"""Putting records and their index changes into a WriteBatch: the rules every RocksDB write path shares.

- :func:`keys_for_write`: the primary keys of records about to be written, checked
  (and a new UUID for a missing insert key), and their declared types;
- :func:`stage_writes`: one ``write``'s records by mode (insert, update, upsert,
  replace), with metadata times;
- :func:`put_record`: one record (or its deletion) and the index entries that
  change between its stored and its new form.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.errors import InvalidRecord
from gateway.storage.harper_types import check_records
from gateway.storage.records import CREATED, UPDATED, WriteMode, WriteResult
from gateway.storage.rocksdb.database import TableHandle

MISSING_UPDATE_KEY = "a valid hash attribute must be provided with update record, check log for more info"


def keys_for_write(entry: TableHandle, records: Sequence[dict[str, Any]], mode: WriteMode) -> list[Any]:
    """The primary key of every record (a new UUID for a missing insert key), all checked first.

    Raises InvalidRecord for a non-object record, a missing update key, a key that
    is not a string or a finite number, or a value of the wrong declared type.
    """
    pk = entry.info.primary_key
    keys: list[Any] = []
    for record in records:
        if type(record) is not dict:
            raise InvalidRecord("each record must be an object")
        key = record.get(pk)
        if key is None or key == "":
            if mode in ("update", "replace"):
                raise InvalidRecord(MISSING_UPDATE_KEY)
            key = str(uuid.uuid4())
        elif isinstance(key, bool) or not isinstance(key, str | int | float):
            raise InvalidRecord(f"invalid primary key value {orjson.dumps(key).decode()} for '{pk}'")
        try:
            K.encode_key(key)
        except K.UnencodableKey as exc:
            raise InvalidRecord(str(exc)) from exc
        keys.append(key)
    if entry.info.schema_defined:
        problem = check_records(records, entry.info.declared_types())
        if problem:
            raise InvalidRecord(problem)
    return keys


def stage_writes(
    entry: TableHandle,
    batch: rocksdict.WriteBatch,
    records: Sequence[dict[str, Any]],
    keys: list[Any],
    mode: WriteMode,
    stamp: float,
    pending: dict[tuple[int, bytes], dict[str, Any] | None],
) -> tuple[WriteResult, int]:
    """Put one write()'s records into ``batch`` (``pending``: records staged earlier in the batch).

    Returns the keys written and skipped, and by how much the table's record count grows.
    """
    info = entry.info
    pk = info.primary_key
    stamped = not info.schema_defined or bool(info.expiration)
    encoded = [K.encode_key(k) for k in keys]
    stored = entry.cf.get(encoded) if encoded else []
    result = WriteResult()
    added = 0
    for record, key, ekey, raw in zip(records, keys, encoded, stored, strict=True):
        slot = (id(entry), ekey)
        stored_old = pending[slot] if slot in pending else (orjson.loads(raw) if raw else None)
        old = stored_old
        if old is not None and info.expiration and info.expired(old, stamp):
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
        added += put_record(entry, batch, ekey, stored_old, new)
        pending[slot] = new
        result.written.append(key)
    return result, added


def put_record(
    entry: TableHandle,
    batch: rocksdict.WriteBatch,
    ekey: bytes,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
) -> int:
    """Add the record (or its deletion: ``new`` None) and its index changes to ``batch``.

    Returns the change of the table's record count: 1 for a new key, -1 for a deletion, else 0.
    """
    handles = entry.index_handles
    if old is None:
        if new is not None:
            for attribute, value in new.items():
                handle = handles.get(attribute)
                if handle is not None:
                    for value_key in K.value_keys(value):
                        batch.put(value_key + ekey, b"", handle)
    else:
        names = old.keys() | new.keys() if new is not None else old.keys()
        for attribute in names:
            handle = handles.get(attribute)
            if handle is None:
                continue
            before = old.get(attribute, K.MISSING)
            after = new.get(attribute, K.MISSING) if new is not None else K.MISSING
            kind = type(before)
            if kind is type(after) and kind is not list and before == after:
                continue
            old_keys = set(K.value_keys(before))
            new_keys = set(K.value_keys(after))
            for value_key in old_keys - new_keys:
                batch.delete(value_key + ekey, handle)
            for value_key in new_keys - old_keys:
                batch.put(value_key + ekey, b"", handle)
    if new is None:
        batch.delete(ekey, entry.handle)
        return -1 if old is not None else 0
    batch.put(ekey, orjson.dumps(new), entry.handle)
    return 1 if old is None else 0
