"""The gateway's audit log: ``system.hdb_audit`` records ``{id, time, type, data}``.

Families record their events here (user and role changes, API key events,
batch start and end); ``read_audit_log`` reads them back. ``id`` is a
time-ordered UUID (version 7 layout), so primary-key order is chronological.
Never put secrets (passwords, keys) into ``data``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from gateway.config import Config
from gateway.storage.ports import Storage
from gateway.storage.records import AttributeInfo, KeyRange
from gateway.storage.system import SystemTable

AUDIT_TABLE = "hdb_audit"
_ATTRIBUTES = (
    AttributeInfo("id", True, "String"),
    AttributeInfo("time", True, "Float"),
    AttributeInfo("type", True, "String"),
    AttributeInfo("data", False, None),
)
_lock = threading.Lock()
_last = [0, 0]  # last (millisecond, counter) handed out, to keep ids increasing
log = logging.getLogger("gateway.audit")


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


class AuditLog:
    """Appends to and reads ``system.hdb_audit`` (indexes on time and type)."""

    def __init__(self, storage: Storage) -> None:
        self._table = SystemTable(storage, AUDIT_TABLE, "id", _ATTRIBUTES)

    def record(self, type: str, data: dict[str, Any]) -> dict[str, Any]:
        """Append one audit entry; returns it. ``type`` e.g. ``add_user``, ``api_key:create``."""
        stamp = time.time() * 1000.0
        entry = {"id": time_ordered_id(int(stamp)), "time": stamp, "type": type, "data": data}
        self._table.write([entry], "insert")
        return entry

    def record_quietly(self, type: str, data: dict[str, Any]) -> None:
        """``record``, where a failure to audit is logged and never raised into the caller."""
        try:
            self.record(type, data)
        except Exception:
            log.exception("could not write audit entry %s", type)

    def read(
        self, types: list[str] | None = None, start: float | None = None, end: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Entries in time order, optionally only of ``types`` and within [start, end] (epoch ms)."""
        wanted = set(types) if types else None
        if start is None and end is None:
            records: Iterator[dict[str, Any]] | list[dict[str, Any]] = self._table.scan()
        else:
            records = self._table.find("time", KeyRange(lower=start, upper=end))
        for record in records:
            if wanted is None or record.get("type") in wanted:
                yield record


TXLOG_PRUNE_SECONDS = 3600.0
"""How often entries of the tables' transaction logs past ``logging.transaction_log_keep_days`` are deleted."""


def configure_transaction_log(config: Config, storage: Storage) -> Callable[[], int] | None:
    """Set the store's transaction-log settings from ``logging.*``; the retention's pruning job
    (None: entries are kept for ever)."""
    settings = storage.txlog.settings
    settings.enabled = bool(config.get("logging.transaction_log"))
    settings.audit = bool(config.get("logging.auditLog"))
    keep_days = float(config.get("logging.transaction_log_keep_days"))
    if keep_days <= 0:
        return None

    def prune() -> int:
        return storage.txlog.prune(storage.now_ms() - keep_days * 86_400_000)

    return prune
