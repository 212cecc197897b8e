"""The rules of a record write that every backend shares: keys, write modes, metadata times, index changes.

- :func:`keys_for_write`: the primary keys of records about to be written, all
  checked first (and a new UUID for a missing insert key), and their declared types;
- :func:`merged`: what one write mode makes of an input record and the stored one
  (None: the record is skipped), with ``__createdtime__``/``__updatedtime__``;
- :func:`index_changes`: the index keys an attribute loses and gains when a record
  changes (array elements are indexed one by one; objects have none);
- :func:`chunk_keys` and :func:`check_chunk_types`: the same key and type rules for a
  bulk-load chunk, column at a time, naming the position of a bad record.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

import orjson

from gateway.storage import keys as K
from gateway.storage.errors import ChunkRecordError, InvalidRecord
from gateway.storage.harper_types import check_records, type_errors, types_ok
from gateway.storage.names import name_problem
from gateway.storage.records import CREATED, UPDATED, TableInfo, WriteMode

MISSING_UPDATE_KEY = "a valid hash attribute must be provided with update record, check log for more info"


def keys_for_write(info: TableInfo, records: Sequence[dict[str, Any]], mode: WriteMode) -> list[Any]:
    """The primary key of every record (a new UUID for a missing insert key), all checked first.

    Raises InvalidRecord for a non-object record, a missing update key, a key that
    is not a string or a finite number, or a value of the wrong declared type.
    """
    pk = info.primary_key
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
    if info.schema_defined:
        problem = check_records(records, info.declared_types())
        if problem:
            raise InvalidRecord(problem)
    return keys


def merged(
    info: TableInfo,
    mode: WriteMode,
    record: dict[str, Any],
    key: Any,
    stored: dict[str, Any] | None,
    stamp: float,
) -> dict[str, Any] | None:
    """The record a write stores under ``key``, given what is ``stored`` there; None: skipped.

    Insert skips a live stored record, update skips a missing one, upsert merges or
    inserts, replace replaces. A stored record past the table's expiration counts as
    missing. Tables without a schema (or that expire records) keep ``__createdtime__``
    from the stored record and set ``__updatedtime__`` to ``stamp``.
    """
    old = stored
    if old is not None and info.expiration and info.expired(old, stamp):
        old = None
    if mode == "insert":
        if old is not None:
            return None
        new = dict(record)
    elif mode == "update":
        if old is None:
            return None
        new = {**old, **record}
    elif mode == "upsert":
        new = {**old, **record} if old is not None else dict(record)
    else:  # replace
        new = dict(record)
    new[info.primary_key] = key
    if not info.schema_defined or info.expiration:
        new[CREATED] = old[CREATED] if old is not None and CREATED in old else stamp
        new[UPDATED] = stamp
    return new


def index_changes(before: Any, after: Any) -> tuple[set[bytes], set[bytes]]:
    """The value keys an index loses and gains when an attribute goes from ``before`` to ``after``.

    Either may be ``keys.MISSING``. Unchanged scalars cost nothing.
    """
    kind = type(before)
    if kind is type(after) and kind is not list and before == after:
        return set(), set()
    old_keys = set(K.value_keys(before))
    new_keys = set(K.value_keys(after))
    return old_keys - new_keys, new_keys - old_keys


def chunk_keys(
    records: list[dict[str, Any]], pk: str, mode: WriteMode
) -> tuple[list[dict[str, Any]], list[bytes], int]:
    """The records of a chunk to write, their encoded keys, and how many were skipped (update without key).

    A missing insert or upsert key becomes a new UUID, set in the record. A bad key
    raises ChunkRecordError with the record's position.
    """
    keys = list(map(dict.get, records, repeat(pk)))
    kinds = set(map(type, keys))
    if kinds <= {int, str} and (str not in kinds or "" not in keys):
        try:
            return records, K.encode_keys(keys), 0
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


def check_chunk_types(info: TableInfo, records: Sequence[dict[str, Any]]) -> None:
    """ChunkRecordError for the first record of a chunk with a value of the wrong declared type."""
    types = info.declared_types()
    if not types or types_ok(records, types):
        return
    for index, record in enumerate(records):
        errors = type_errors(record, types)
        if errors:
            raise ChunkRecordError(index, ". ".join(errors))


def check_new_attributes(info: TableInfo, names: Iterable[str]) -> None:
    """InvalidRecord for the first name new to the table that holds a control character."""
    for name in names:
        if name not in info.attributes:
            problem = name_problem(name, "attribute name")
            if problem is not None:
                raise InvalidRecord(problem)
