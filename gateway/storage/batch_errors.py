"""The batch error log (:class:`~gateway.storage.ports.BatchErrorLog`) as a system table.

Built on the Catalog and Records ports (like every system table), so each backend has
it without code of its own. Entries are kept :data:`BLOCK` to a record: the record
``<batch>/<block, 10 digits>`` of ``system.import_batch_error`` holds the entries whose
``seq // BLOCK`` is that block, as arrays; so a batch's entries are one ordered range of
primary keys, read a few records at a time, and a hundred thousand errors are a thousand
records. The summary is the record ``<batch>#summary`` (``#`` sorts before ``/``,
outside that range).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from gateway.storage.ports import Storage
from gateway.storage.records import ErrorEntry, KeyRange
from gateway.storage.system import SYSTEM_DB, SystemTable

ERROR_TABLE: Final = "import_batch_error"
BLOCK: Final = 100
"""Entries per record."""
READ_BLOCKS: Final = 10
"""Records read at a time."""


def _key(batch: str, block: int) -> str:
    return f"{batch}/{block:010d}"


def _packed(entry: ErrorEntry) -> list[Any]:
    return [
        entry.seq,
        entry.message,
        entry.file,
        entry.record,
        entry.batch_record,
        entry.line,
        entry.imported,
    ]


def _unpacked(item: Sequence[Any]) -> ErrorEntry:
    seq, message, file, record, batch_record, line, imported = item
    return ErrorEntry(int(seq), str(message), file, record, batch_record, line, imported)


class SystemBatchErrorLog:
    """Errors of batch runs in ``system.import_batch_error`` (see the module docstring)."""

    def __init__(self, storage: Storage) -> None:
        self._table = SystemTable(storage, ERROR_TABLE, "id")
        self._records = storage.records

    def put(self, batch: str, entries: Sequence[ErrorEntry]) -> None:
        """Store entries (replacing stored ones of the same ``seq``), atomically."""
        if not entries:
            return
        blocks: dict[int, list[ErrorEntry]] = defaultdict(list)
        for entry in entries:
            blocks[entry.seq // BLOCK].append(entry)
        numbers = sorted(blocks)
        keys = [_key(batch, n) for n in numbers]
        stored = self._records.get_many(SYSTEM_DB, ERROR_TABLE, keys)
        rows = []
        for number, key, row in zip(numbers, keys, stored, strict=True):
            merged = {int(item[0]): list(item) for item in (row or {}).get("entries") or []}
            for entry in blocks[number]:
                merged[entry.seq] = _packed(entry)
            rows.append({"id": key, "entries": [merged[seq] for seq in sorted(merged)]})
        self._table.write(rows, "replace")

    def _keys(self, batch: str, start: int) -> Iterator[Any]:
        key_range = KeyRange(
            lower=_key(batch, max(start, 0) // BLOCK), upper=f"{batch}/:", upper_inclusive=False
        )
        for _, key in self._records.index_items(SYSTEM_DB, ERROR_TABLE, "id", key_range):
            yield key

    def entries(self, batch: str, start: int = 0) -> Iterator[ErrorEntry]:
        """The batch's entries from ``seq`` ``start`` on, in order, :data:`READ_BLOCKS` records at a time."""
        keys: list[Any] = []
        for key in self._keys(batch, start):
            keys.append(key)
            if len(keys) >= READ_BLOCKS:
                yield from self._read(keys, start)
                keys = []
        yield from self._read(keys, start)

    def _read(self, keys: list[Any], start: int) -> Iterator[ErrorEntry]:
        if keys:
            for row in self._records.get_many(SYSTEM_DB, ERROR_TABLE, keys):
                for item in (row or {}).get("entries") or []:
                    if int(item[0]) >= start:
                        yield _unpacked(item)

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
                if len(keys) >= READ_BLOCKS:
                    break
            if not keys:
                break
            rows = self._records.get_many(SYSTEM_DB, ERROR_TABLE, keys)
            removed += sum(len((row or {}).get("entries") or []) for row in rows)
            self._table.delete(keys)
        self._table.delete([f"{batch}#summary"])
        return removed


def open_error_log(storage: Storage) -> SystemBatchErrorLog:
    """The batch error log on ``storage`` (its table is created on first use)."""
    return SystemBatchErrorLog(storage)
