"""The hidden ``system`` database that holds the gateway's own tables.

Users, roles, jobs, audit entries, import models, control files, batches and API
keys are records in ``system.<table>``; describe_all does not list it and
client data operations cannot name it. A family reaches its tables through
:class:`SystemTable`, built on the Catalog and Records ports, so every backend
has system tables without code of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from gateway.storage.errors import TableExists
from gateway.storage.ports import Catalog, Records, Storage
from gateway.storage.records import AttributeInfo, KeyRange, TableInfo, WriteMode, WriteResult

SYSTEM_DB = "system"


def ensure_table(
    catalog: Catalog,
    table: str,
    primary_key: str = "id",
    attributes: Sequence[AttributeInfo] | None = None,
    database: str = SYSTEM_DB,
) -> TableInfo:
    """Create ``database.table`` unless it exists; its info either way."""
    try:
        return catalog.create_table(database, table, primary_key, attributes)
    except TableExists:
        return catalog.table(database, table)


class SystemTable:
    """One table of the ``system`` database (created on first use)."""

    def __init__(
        self,
        storage: Storage,
        name: str,
        primary_key: str = "id",
        attributes: Sequence[AttributeInfo] | None = None,
    ) -> None:
        self.name = name
        self.primary_key = primary_key
        self._catalog: Catalog = storage.catalog
        self._records: Records = storage.records
        ensure_table(self._catalog, name, primary_key, attributes)

    def get(self, key: Any) -> dict[str, Any] | None:
        """The record with this primary key, or None."""
        return self._records.get(SYSTEM_DB, self.name, key)

    def scan(self) -> Iterator[dict[str, Any]]:
        """Every record, in primary-key order."""
        return self._records.scan(SYSTEM_DB, self.name)

    def keys(self, attribute: str, key_range: KeyRange) -> list[Any]:
        """Primary keys of the records whose indexed ``attribute`` lies in ``key_range``, in index order."""
        return list(self._records.index_keys(SYSTEM_DB, self.name, attribute, key_range))

    def find(self, attribute: str, key_range: KeyRange) -> list[dict[str, Any]]:
        """The records whose indexed ``attribute`` lies in ``key_range``, in index order."""
        keys = self.keys(attribute, key_range)
        if not keys:
            return []
        return [r for r in self._records.get_many(SYSTEM_DB, self.name, keys) if r is not None]

    def write(self, records: Sequence[dict[str, Any]], mode: WriteMode) -> WriteResult:
        """``Records.write`` on this table."""
        return self._records.write(SYSTEM_DB, self.name, records, mode)

    def delete(self, keys: Iterable[Any]) -> WriteResult:
        """Delete by primary key; missing keys are skipped."""
        return self._records.delete(SYSTEM_DB, self.name, keys)

    def count(self) -> int:
        """How many records the table holds."""
        return self._catalog.count(SYSTEM_DB, self.name)
