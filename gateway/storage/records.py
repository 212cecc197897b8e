"""The RecordStore protocol: databases → tables → records with a primary key.

Callers (operations, batch runs, bulk jobs) depend on this protocol only, so a
second backend (e.g. PostgreSQL) can be added without touching them. The RocksDB
adapter lives in ``gateway.storage.rocks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

WriteMode = Literal["insert", "update", "upsert", "replace"]
CREATED = "__createdtime__"
UPDATED = "__updatedtime__"
METADATA_ATTRIBUTES = (CREATED, UPDATED)


@dataclass
class AttributeInfo:
    """One attribute of a table as describe_table reports it."""

    name: str
    indexed: bool
    type: str | None = None


@dataclass
class TableInfo:
    """A table's schema: primary key, attributes, indexing mode."""

    database: str
    name: str
    primary_key: str
    schema_defined: bool
    attributes: dict[str, AttributeInfo] = field(default_factory=dict)
    created: float = 0.0
    expiration: int | None = None

    def indexed_attributes(self) -> list[str]:
        """Names of the attributes that have a secondary index (primary key excluded)."""
        return [a.name for a in self.attributes.values() if a.indexed and a.name != self.primary_key]

    def declared_types(self) -> dict[str, str]:
        """Attribute name → declared type, for the attributes of a schema-defined table that have one."""
        if not self.schema_defined:
            return {}
        return {a.name: a.type for a in self.attributes.values() if a.type}


@dataclass
class WriteResult:
    """Keys written and keys skipped (duplicates on insert, missing on update)."""

    written: list[Any] = field(default_factory=list)
    skipped: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class KeyRange:
    """A range over one attribute's index; ``None`` bounds are open."""

    equals: Any = None
    has_equals: bool = False
    prefix: str | None = None
    lower: Any = None
    lower_inclusive: bool = True
    upper: Any = None
    upper_inclusive: bool = True


class RecordStore(Protocol):
    """Storage of databases, tables and records. Implementations are thread-safe."""

    def list_databases(self) -> list[str]: ...
    def create_database(self, database: str) -> None: ...
    def drop_database(self, database: str) -> None: ...
    def list_tables(self, database: str) -> list[TableInfo]: ...
    def table(self, database: str, table: str) -> TableInfo: ...
    def create_table(
        self,
        database: str,
        table: str,
        primary_key: str = "id",
        attributes: Sequence[AttributeInfo] | None = None,
        expiration: int | None = None,
    ) -> TableInfo: ...
    def drop_table(self, database: str, table: str) -> None: ...
    def add_attribute(self, database: str, table: str, attribute: str, indexed: bool = True) -> None: ...
    def drop_attribute(self, database: str, table: str, attribute: str) -> None: ...
    def write(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> WriteResult: ...
    def delete(self, database: str, table: str, keys: Iterable[Any]) -> WriteResult: ...
    def get(self, database: str, table: str, key: Any) -> dict[str, Any] | None: ...
    def get_many(self, database: str, table: str, keys: Sequence[Any]) -> list[dict[str, Any] | None]: ...
    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]: ...
    def index_keys(self, database: str, table: str, attribute: str, key_range: KeyRange) -> Iterator[Any]: ...
    def count(self, database: str, table: str) -> int: ...
    def size_bytes(self, database: str, table: str) -> int: ...
    def checkpoint(self, directory: str) -> None: ...
    def flush_wal(self) -> None: ...
    def close(self) -> None: ...
