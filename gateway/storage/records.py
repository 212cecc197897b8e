"""The shapes the storage ports speak in: tables, attributes, write results, key ranges,
final records of an import, encoded chunks of a bulk load and downloads of stored files.

Plain data, no behaviour that depends on a backend (the ports themselves are in
:mod:`gateway.storage.ports`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

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

    def expired(self, record: dict[str, Any], now: float) -> bool:
        """Whether ``record`` outlived the table's ``expiration`` (seconds since its last write) at ``now`` (ms)."""
        ttl = self.expiration
        if not ttl:
            return False
        written = record.get(UPDATED, record.get(CREATED))
        return isinstance(written, int | float) and written + ttl * 1000.0 < now

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


@dataclass(slots=True)
class FinalRecord:
    """One record of an import in the form it is stored: ready for ``ImportWrites.write_records``."""

    key: Any
    record: dict[str, Any]
    """The whole record as it will be stored (metadata included; arrays copied)."""
    raw: bytes
    """``record`` encoded with orjson."""
    fresh: bool
    """The store cannot hold the key yet (an engine-generated UUID first written now): nothing is read."""


@dataclass
class NewRecords:
    """New records of one table with engine-generated keys, encoded (``gateway.storage.newgroup``)."""

    names: list[str]
    """Every attribute the records carry (time stamps included)."""
    keys: list[bytes]
    """Encoded primary keys, aligned with ``rows``."""
    rows: list[bytes]
    """Each record's JSON, as stored."""
    index: dict[str, list[bytes]]
    """Indexed attribute → the records' index entries, sorted (for every attribute indexed once ``names`` are registered)."""


@dataclass(frozen=True)
class ChunkPlan:
    """What a store expects of an encoded chunk: its table's layout when encoding started."""

    primary_key: str
    indexed: tuple[str, ...]
    """Attributes with an index, in the table's order."""
    types: dict[str, str] = field(default_factory=dict)
    """Declared attribute types (schema-defined tables)."""
    stamp: float | None = None
    """Set: the records get ``__createdtime__``/``__updatedtime__`` (tables without a schema)."""


@dataclass
class EncodedChunk:
    """New records ready to put: keys in order, their JSON, and sorted index entries (Python bytes).

    Keys and index entries use :mod:`gateway.storage.keys`; rows are each record's
    JSON. ``staged`` is the store's own preparation of the write (``stage_encoded``),
    which may hold the only copy of the rows and index entries (``released``).
    """

    plan: ChunkPlan
    names: list[str]
    keys: list[bytes]
    """Ascending, unique."""
    rows: list[bytes]
    """Aligned with ``keys``."""
    index: dict[str, list[bytes]]
    """Attribute → its index keys, ascending."""
    staged: Any = None
    released: bool = False
    """``rows`` and ``index`` were dropped once staged: the chunk can only be written as staged."""

    def __len__(self) -> int:
        return len(self.keys)

    def release(self) -> None:
        """Drop the rows and index entries (the store staged them: one copy in memory, not two)."""
        self.rows, self.index, self.released = [], {}, True


@dataclass
class BlobDownload:
    """A stored file on its way to an HTTP client: its size and its bytes, in pieces.

    ``chunks`` reads from the store as it is iterated (never the whole file at once) and
    closes what it opened when it ends; a store that fails mid-way raises the store's error.
    """

    size: int
    chunks: Iterator[bytes]


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """One error of a batch run as kept by :class:`~gateway.storage.ports.BatchErrorLog`."""

    seq: int
    """Its place among the batch's errors, counting from 0 in the order they were reported."""
    message: str
    """The message without the `` (record N)`` suffix."""
    file: str | None = None
    """The batch file (record source) the record came from; None outside the records."""
    record: int | None = None
    """The record number within that file, counting from 0."""
    batch_record: int | None = None
    """The record number across the batch's files, counting from 0 (the text log's ``(record N)``)."""
    line: int | None = None
    """The line of the file where the record starts (delimited text files), counting from 1."""
    imported: bool | None = None
    """Whether the record was stored all the same (a conversion error drops only the value), once known."""
