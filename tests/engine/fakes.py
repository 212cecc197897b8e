"""In-memory fakes for engine tests: a TargetStore and batch files from bytes."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable, Sequence
from typing import Any

from engine import ports
from engine.changes import same_json
from engine.ports import BatchFile, StoreError, TargetWrite

CREATED = "__createdtime__"
UPDATED = "__updatedtime__"


def _matches(stored: Any, value: Any) -> bool:
    if isinstance(stored, list):
        return any(_same(v, value) for v in stored)
    return _same(stored, value)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


class MemoryStore:
    """A TargetStore over dicts, with creation-time metadata like the real store.

    ``commits`` records every commit call; ``fail_commits`` makes commits raise
    StoreError with that message (optionally carrying ``table``).
    """

    def __init__(self, primary_keys: dict[str, str] | None = None) -> None:
        self.rows_by_table: dict[str, dict[Any, dict[str, Any]]] = {}
        self.primary_keys: dict[str, str] = dict(primary_keys or {})  # tables declared up front
        self.commits: list[list[TargetWrite]] = []
        self.fail_commits: str | None = None
        self.fail_table: str | None = None
        self.reads = 0
        self._clock = 1000.0

    def _tick(self) -> float:
        self._clock += 1.0
        return self._clock

    def insert(self, table: str, record: dict[str, Any], primary_key: str = "id") -> None:
        """Add a record directly (initial data); the table is known with that primary key."""
        self.primary_keys.setdefault(table, primary_key)
        stored = copy.deepcopy(record)
        stored[CREATED] = stored[UPDATED] = self._tick()
        self.rows_by_table.setdefault(table, {})[record[primary_key]] = stored

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The table's records without metadata, oldest first."""
        return [
            {k: v for k, v in r.items() if not k.startswith("__")}
            for r in self.rows_by_table.get(table, {}).values()
        ]

    # -- TargetStore -------------------------------------------------------------

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        self.reads += 1
        found = self.rows_by_table.get(table, {}).get(key)
        return copy.deepcopy(found) if found is not None else None

    def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        self.reads += 1
        rows = self.rows_by_table.get(table, {}).values()
        found = [copy.deepcopy(r) for r in rows if attribute in r and _matches(r[attribute], value)]
        return sorted(found, key=lambda r: r[CREATED])

    def scan(self, table: str) -> Iterable[dict[str, Any]]:
        self.reads += 1
        return [copy.deepcopy(r) for r in self.rows_by_table.get(table, {}).values()]

    def tables(self) -> dict[str, str]:
        return dict(self.primary_keys)

    def preview(self, writes: Sequence[TargetWrite]) -> list[int]:
        """What ``commit`` would do with these writes (new, updated, unchanged), writing nothing."""
        outcomes = []
        for write in writes:
            previous = self.rows_by_table.get(write.table, {}).get(write.primary_key)
            if write.is_new and previous is not None:
                raise StoreError(f"Duplicate primary key {write.primary_key} in {write.table}")
            if previous is None:
                outcomes.append(ports.NEW)
            else:
                stored = {k: v for k, v in previous.items() if not k.startswith("__")}
                record = {k: v for k, v in write.record.items() if not k.startswith("__")}
                outcomes.append(ports.UNCHANGED if same_json(stored, record) else ports.UPDATED)
        return outcomes

    def commit(self, writes: Sequence[TargetWrite]) -> list[int]:
        if self.fail_commits is not None:
            error = StoreError(self.fail_commits)
            if self.fail_table is not None:
                error.table = self.fail_table  # type: ignore[attr-defined]
            raise error
        outcomes = self.preview(writes)
        self.commits.append(list(writes))
        now = self._tick()
        for write, outcome in zip(writes, outcomes, strict=True):
            if outcome == ports.UNCHANGED:
                continue
            table = self.rows_by_table.setdefault(write.table, {})
            record = copy.deepcopy(write.record)
            record.pop(CREATED, None)
            record.pop(UPDATED, None)
            previous = table.get(write.primary_key)
            record[CREATED] = previous[CREATED] if previous is not None else now
            record[UPDATED] = now
            table[write.primary_key] = record
        return outcomes


def memory_file(name: str, data: bytes | str) -> BatchFile:
    """A BatchFile whose content is ``data`` (str is encoded as UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return BatchFile(name=name, open=lambda: io.BytesIO(raw), size=len(raw))
