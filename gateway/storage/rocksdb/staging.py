"""Putting records and their index changes into a WriteBatch (the rules themselves: ``writeplan``).

- :func:`stage_writes`: one ``write``'s records by mode (insert, update, upsert, replace);
- :func:`put_record`: one record (or its deletion) and the index entries that
  change between its stored and its new form.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import rocksdict

from gateway.storage import keys as K
from gateway.storage.records import WriteMode, WriteResult
from gateway.storage.rocksdb.database import TableHandle
from gateway.storage.writeplan import index_changes, merged


def stage_writes(
    entry: TableHandle,
    batch: rocksdict.WriteBatch,
    records: Sequence[dict[str, Any]],
    keys: list[Any],
    mode: WriteMode,
    stamp: float,
    pending: dict[tuple[int, bytes], dict[str, Any] | None],
    originals: dict[bytes, dict[str, Any] | None] | None = None,
) -> tuple[WriteResult, int]:
    """Put one write()'s records into ``batch`` (``pending``: records staged earlier in the batch;
    ``originals``: if given, gets the records stored before the batch under the keys written).

    Returns the keys written and skipped, and by how much the table's record count grows.
    """
    info = entry.info
    encoded = [K.encode_key(k) for k in keys]
    stored = entry.cf.get(encoded) if encoded else []
    result = WriteResult()
    added = 0
    for record, key, ekey, raw in zip(records, keys, encoded, stored, strict=True):
        slot = (id(entry), ekey)
        stored_old = pending[slot] if slot in pending else (orjson.loads(raw) if raw else None)
        new = merged(info, mode, record, key, stored_old, stamp)
        if new is None:
            result.skipped.append(key)
            continue
        if originals is not None and slot not in pending:
            originals[ekey] = stored_old
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
            after = new.get(attribute, K.MISSING) if new is not None else K.MISSING
            removed, added = index_changes(old.get(attribute, K.MISSING), after)
            for value_key in removed:
                batch.delete(value_key + ekey, handle)
            for value_key in added:
                batch.put(value_key + ekey, b"", handle)
    if new is None:
        batch.delete(ekey, entry.handle)
        return -1 if old is not None else 0
    batch.put(ekey, orjson.dumps(new), entry.handle)
    return 1 if old is None else 0
