"""The engine's TargetStore over the RocksDB record store, bound to one model database.

Lookups use the table's secondary index when the attribute is indexed; a
record's targets are committed in one atomic write; a dry run's adapter refuses
every write. Store metadata (``__createdtime__``…) orders results and is not
passed to the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from engine.ports import StoreError as EngineStoreError
from engine.ports import TargetWrite
from gateway.storage.errors import DatabaseNotFound, StoreError, TableNotFound
from gateway.storage.records import CREATED, METADATA_ATTRIBUTES, KeyRange, WriteMode
from gateway.storage.rocks import RocksRecordStore

_SCALARS = (str, int, float, bool, type(None))


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in METADATA_ATTRIBUTES}


def _same(a: Any, b: Any) -> bool:
    """JSON equality that keeps booleans apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def value_matches(stored: Any, wanted: Any) -> bool:
    """``stored`` equals ``wanted`` or, for an array, contains it."""
    if _same(stored, wanted):
        return True
    return isinstance(stored, list) and any(_same(item, wanted) for item in stored)


def _age(record: dict[str, Any]) -> float:
    created = record.get(CREATED)
    return float(created) if isinstance(created, int | float) else 0.0


class ModelTargetStore:
    """TargetStore for one database; ``read_only`` for dry runs."""

    def __init__(self, store: RocksRecordStore, database: str, read_only: bool = False) -> None:
        self.store = store
        self.database = database
        self.read_only = read_only
        self.committed = 0

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        """The stored record with this primary key, or None."""
        try:
            record = self.store.get(self.database, table, key)
        except (DatabaseNotFound, TableNotFound):
            return None
        return _strip(record) if record is not None else None

    def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        """Records whose ``attribute`` equals (or, for arrays, contains) ``value``; oldest first."""
        try:
            info = self.store.table(self.database, table)
        except (DatabaseNotFound, TableNotFound):
            return []
        if attribute == info.primary_key:
            found = self.store.get(self.database, table, value) if isinstance(value, _SCALARS) else None
            return [_strip(found)] if found is not None else []
        candidates: Iterable[dict[str, Any] | None]
        attr = info.attributes.get(attribute)
        if isinstance(value, _SCALARS) and attr is not None and attr.indexed:
            keys = list(
                self.store.index_keys(
                    self.database, table, attribute, KeyRange(equals=value, has_equals=True)
                )
            )
            candidates = self.store.get_many(self.database, table, keys) if keys else []
        elif attr is None and info.schema_defined is False:
            return []  # no record has ever had this attribute
        else:
            candidates = self.store.scan(self.database, table)
        hits = [r for r in candidates if r is not None and value_matches(r.get(attribute), value)]
        hits.sort(key=_age)
        return [_strip(r) for r in hits]

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        """Every record of the table, oldest first."""
        try:
            records = list(self.store.scan(self.database, table))
        except (DatabaseNotFound, TableNotFound):
            return iter(())
        records.sort(key=_age)
        return (_strip(r) for r in records)

    def commit(self, writes: Sequence[TargetWrite]) -> None:
        """Write one record's targets atomically; engine StoreError on any failure."""
        if self.read_only:
            raise EngineStoreError("a dry run writes nothing")
        operations: list[tuple[str, str, Sequence[dict[str, Any]], WriteMode]] = []
        for write in writes:
            mode: WriteMode = "insert" if write.is_new else "replace"
            operations.append((self.database, write.table, [_strip(write.record)], mode))
        try:
            self.store.write_many(operations, strict=True)
        except StoreError as exc:
            raise EngineStoreError(str(exc)) from exc
        self.committed += 1
