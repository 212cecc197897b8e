"""The batch error log (:class:`~gateway.storage.ports.BatchErrorLog`) as a system table.

Built on the Catalog and Records ports (like every system table), so each backend has
it without code of its own. An entry is the record ``<batch>/<seq, 10 digits>`` of
``system.import_batch_error``, so a batch's entries are one ordered range of primary
keys, read a page at a time; the summary is the record ``<batch>#summary`` (``#``
sorts before ``/``, outside that range).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from gateway.storage.ports import Storage
from gateway.storage.records import ErrorEntry, KeyRange
from gateway.storage.system import SYSTEM_DB, SystemTable

ERROR_TABLE: Final = "import_batch_error"
PAGE: Final = 500
_FIELDS: Final = ("file", "record", "batch_record", "line")


def _key(batch: str, seq: int) -> str:
    return f"{batch}/{seq:010d}"


def _entry(row: Mapping[str, Any]) -> ErrorEntry:
    return ErrorEntry(
        int(row["seq"]),
        str(row.get("message") or ""),
        row.get("file"),
        row.get("record"),
        row.get("batch_record"),
        row.get("line"),
    )


class SystemBatchErrorLog:
    """Errors of batch runs in ``system.import_batch_error`` (see the module docstring)."""

    def __init__(self, storage: Storage) -> None:
        self._table = SystemTable(storage, ERROR_TABLE, "id")
        self._records = storage.records

    def put(self, batch: str, entries: Sequence[ErrorEntry]) -> None:
        """Store entries (replacing stored ones of the same ``seq``), atomically."""
        if not entries:
            return
        rows = []
        for entry in entries:
            row: dict[str, Any] = {"id": _key(batch, entry.seq), "seq": entry.seq, "message": entry.message}
            for name in _FIELDS:
                value = getattr(entry, name)
                if value is not None:
                    row[name] = value
            rows.append(row)
        self._table.write(rows, "replace")

    def _keys(self, batch: str, start: int) -> Iterator[Any]:
        key_range = KeyRange(lower=_key(batch, max(start, 0)), upper=f"{batch}/:", upper_inclusive=False)
        for _, key in self._records.index_items(SYSTEM_DB, ERROR_TABLE, "id", key_range):
            yield key

    def entries(self, batch: str, start: int = 0) -> Iterator[ErrorEntry]:
        """The batch's entries from ``seq`` ``start`` on, in order, read :data:`PAGE` at a time."""
        page: list[Any] = []
        for key in self._keys(batch, start):
            page.append(key)
            if len(page) >= PAGE:
                yield from self._read(page)
                page = []
        yield from self._read(page)

    def _read(self, keys: list[Any]) -> Iterator[ErrorEntry]:
        if keys:
            for row in self._records.get_many(SYSTEM_DB, ERROR_TABLE, keys):
                if row is not None:
                    yield _entry(row)

    def save_summary(self, batch: str, summary: Mapping[str, Any]) -> None:
        """Keep the batch's error summary (a JSON-compatible mapping)."""
        self._table.write([{"id": f"{batch}#summary", "summary": dict(summary)}], "replace")

    def summary(self, batch: str) -> dict[str, Any] | None:
        """The batch's error summary, or None."""
        row = self._table.get(f"{batch}#summary")
        value = row.get("summary") if row is not None else None
        return dict(value) if isinstance(value, dict) else None

    def clear(self, batch: str) -> int:
        """Remove the batch's entries and summary; how many entries were removed."""
        removed = 0
        while True:
            keys = []
            for key in self._keys(batch, 0):
                keys.append(key)
                if len(keys) >= PAGE:
                    break
            if not keys:
                break
            removed += len(keys)
            self._table.delete(keys)
        self._table.delete([f"{batch}#summary"])
        return removed


def open_error_log(storage: Storage) -> SystemBatchErrorLog:
    """The batch error log on ``storage`` (its table is created on first use)."""
    return SystemBatchErrorLog(storage)
