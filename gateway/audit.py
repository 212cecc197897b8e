"""The gateway's audit log: ``system.hdb_audit`` records ``{id, time, type, data}``.

Families record their events here (user and role changes, API key events,
batch start and end); ``read_audit_log`` reads them back. ``id`` is a
time-ordered UUID (version 7 layout), so primary-key order is chronological.
Never put secrets (passwords, keys) into ``data``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from gateway.storage.records import AttributeInfo, KeyRange, RecordStore
from gateway.storage.system import SYSTEM_DB, ensure_table

AUDIT_TABLE = "hdb_audit"
_ATTRIBUTES = (
    AttributeInfo("id", True, "String"),
    AttributeInfo("time", True, "Float"),
    AttributeInfo("type", True, "String"),
    AttributeInfo("data", False, None),
)
_lock = threading.Lock()
_last = [0, 0]  # last (millisecond, counter) handed out, to keep ids increasing


def time_ordered_id(now_ms: int | None = None) -> str:
    """A UUIDv7-style id: 48-bit milliseconds, a 12-bit counter, random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        if ms <= _last[0]:
            ms = _last[0]
            _last[1] += 1
        else:
            _last[0], _last[1] = ms, 0
        counter = _last[1] & 0xFFF
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return str(uuid.UUID(int=value))


def ensure_audit_table(store: RecordStore) -> None:
    """Create ``system.hdb_audit`` (indexes on time and type) unless it exists."""
    ensure_table(store, AUDIT_TABLE, "id", _ATTRIBUTES)


def record_audit(store: RecordStore, type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Append one audit entry; returns it. ``type`` e.g. ``add_user``, ``api_key_created``."""
    ensure_audit_table(store)
    stamp = time.time() * 1000.0
    entry = {"id": time_ordered_id(int(stamp)), "time": stamp, "type": type, "data": data}
    store.write(SYSTEM_DB, AUDIT_TABLE, [entry], "insert")
    return entry


def read_audit(
    store: RecordStore,
    types: list[str] | None = None,
    start: float | None = None,
    end: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Audit entries in time order, optionally only of ``types`` and within [start, end] (epoch ms)."""
    ensure_audit_table(store)
    wanted = set(types) if types else None
    if start is None and end is None:
        records: Iterator[dict[str, Any]] = store.scan(SYSTEM_DB, AUDIT_TABLE)
    else:
        ids = list(store.index_keys(SYSTEM_DB, AUDIT_TABLE, "time", KeyRange(lower=start, upper=end)))
        records = (r for r in store.get_many(SYSTEM_DB, AUDIT_TABLE, ids) if r is not None)
    for record in records:
        if wanted is None or record.get("type") in wanted:
            yield record
