"""The storage ports: what the rest of the gateway needs from a backend, and nothing more.

Each port is a small ``Protocol`` named for what its callers do with it:

- :class:`Catalog`: databases, tables and attributes, and facts about them;
- :class:`Records`: reads (by key, scans, index ranges) and writes (the four
  write modes, atomic groups, deletes) of records;
- :class:`ImportWrites`: the batch-import path: key checks, attribute
  registration, and a group of final records stored atomically;
- :class:`ChunkWrites`: the bulk-load path: chunks of new records, encoded
  ahead by the loader where the backend can take them whole;
- :class:`Backup`: copies of the store for operators;
- :class:`Blobs` (with :class:`PendingBlob`): uploaded files, content-addressed by
  SHA-256, on the filesystem or in S3 (:mod:`gateway.storage.blobs`);
- :class:`TransactionLog`: the per-table log of committed writes, each entry written in the
  same atomic step as its write by the backend's write paths (:mod:`gateway.storage.txlog`);
- :class:`BatchErrorLog`: every error of a batch run (file, record, line, message),
  uncapped, and a summary of them; one implementation over Catalog and Records
  (:mod:`gateway.storage.batch_errors`), so every backend has it.

A backend provides one object per port, bundled in :class:`Storage` by its
``open`` function (see :mod:`gateway.storage.backends`). It is correct when it
passes ``tests/storage/contract`` unchanged. Implementations are thread-safe.
Errors are :mod:`gateway.storage.errors` types; a backend's own exceptions never
cross a port.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from gateway.storage.queue import TaskQueue
from gateway.storage.records import (
    AttributeInfo,
    BlobDownload,
    ChunkPlan,
    EncodedChunk,
    ErrorEntry,
    FinalRecord,
    KeyRange,
    NewRecords,
    TableInfo,
    WriteMode,
    WriteResult,
)
from gateway.storage.txlog import LogEntry, TxLogSettings

Clock = Callable[[], float]
"""Seconds since the epoch (``time.time``); stores stamp and expire records by it."""


class Catalog(Protocol):
    """Databases, tables and attributes."""

    def list_databases(self) -> list[str]: ...
    def has_database(self, database: str) -> bool: ...
    def create_database(self, database: str) -> None: ...
    def drop_database(self, database: str) -> None: ...
    def list_tables(self, database: str) -> list[TableInfo]: ...
    def table(self, database: str, table: str) -> TableInfo:
        """The table's schema; DatabaseNotFound or TableNotFound."""
        ...

    def create_table(
        self,
        database: str,
        table: str,
        primary_key: str = "id",
        attributes: Sequence[AttributeInfo] | None = None,
        expiration: int | None = None,
    ) -> TableInfo:
        """A new table (its database is created if needed).

        ``attributes`` given: a schema-defined table (declared types enforced, only
        ``indexed`` attributes indexed). Otherwise every attribute is indexed and
        records carry ``__createdtime__``/``__updatedtime__``. ``expiration``:
        records older than this many seconds (since their last write) are gone.
        """
        ...

    def drop_table(self, database: str, table: str) -> None: ...
    def add_attribute(self, database: str, table: str, attribute: str, indexed: bool = True) -> None: ...
    def drop_attribute(self, database: str, table: str, attribute: str) -> None:
        """Forget an attribute: its index and its value in every record (the primary key: InvalidRecord)."""
        ...

    def index_attribute(self, database: str, table: str, attribute: str) -> bool:
        """Give ``attribute`` an index built from the stored records; False if it has one.

        An attribute the table does not know yet is added, indexed.
        """
        ...

    def is_indexed(self, database: str, table: str, attribute: str) -> bool:
        """Whether look-ups by ``attribute`` use an index (the primary key always does)."""
        ...

    def count(self, database: str, table: str) -> int: ...
    def size_bytes(self, database: str, table: str) -> int: ...
    def last_updated(self, database: str, table: str) -> float | None:
        """The newest ``__updatedtime__`` of the table (None if empty or not tracked)."""
        ...


class Records(Protocol):
    """Reads and writes of records."""

    def get(self, database: str, table: str, key: Any) -> dict[str, Any] | None: ...
    def get_many(self, database: str, table: str, keys: Sequence[Any]) -> list[dict[str, Any] | None]: ...
    def scan(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        """Every live record in primary-key order (null, booleans, numbers, then strings)."""
        ...

    def index_keys(self, database: str, table: str, attribute: str, key_range: KeyRange) -> Iterator[Any]:
        """Primary keys whose ``attribute`` lies in ``key_range``, in index order."""
        ...

    def index_items(
        self, database: str, table: str, attribute: str, key_range: KeyRange | None = None
    ) -> Iterator[tuple[Any, Any]]:
        """``(value, primary key)`` pairs of an index within ``key_range`` (all if None), in order.

        Array values appear once per element; for the primary key both items are the key.
        """
        ...

    def write(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> WriteResult:
        """Insert, update, upsert or replace records, all or nothing.

        Insert skips stored keys, update skips missing ones; a bad key or a value
        of the wrong declared type raises InvalidRecord and nothing is written.
        """
        ...

    def write_many(
        self,
        operations: Sequence[tuple[str, str, Sequence[dict[str, Any]], WriteMode]],
        strict: bool = False,
    ) -> list[WriteResult]:
        """Several ``write`` calls on any tables, applied atomically.

        ``strict``: a record that would be skipped raises InvalidRecord instead.
        """
        ...

    def delete(self, database: str, table: str, keys: Iterable[Any]) -> WriteResult: ...
    def sync(self) -> None:
        """Make every write so far durable (survive a crash of the machine)."""
        ...


class ImportWrites(Protocol):
    """The batch-import write path (the commit buffer of the engine's target store)."""

    group_records: int
    """How many committed records a batch run gathers before it writes them as one group: few
    where a group costs little (an embedded store), more where each costs round trips and a commit."""

    write_behind: bool
    """Whether a batch run stores a group in a background thread while it prepares the next (where
    a group mostly waits on a server), rather than in its own thread."""

    takes_new_records: bool
    """Whether ``write_new`` stores encoded new records (then a large batch's engine runs in a child
    process that encodes them, while the run's thread stores them)."""

    def check_keys(
        self, database: str, table: str, records: Sequence[dict[str, Any]], mode: WriteMode
    ) -> list[Any]:
        """The primary keys ``write`` would use (a new UUID for a missing insert key).

        Raises InvalidRecord with ``write``'s message for a bad or missing key or a
        value of the wrong declared type. Writes nothing.
        """
        ...

    def ensure_attributes(self, database: str, table: str, names: Iterable[str]) -> None:
        """Register attributes first seen in records about to be written (indexed as ``write`` does)."""
        ...

    def write_records(self, database: str, tables: Mapping[str, Mapping[bytes, FinalRecord]]) -> int:
        """Store final records, all of them or none, each replacing what is stored under its key.

        ``tables`` maps a table to its records by encoded key (:func:`gateway.storage.keys.encode_key`).
        Index entries follow the difference between the stored and the new record.
        Returns the number of records written.
        """
        ...

    def write_new(self, database: str, table: str, records: NewRecords) -> bool:
        """Store new records encoded ahead (engine-generated keys: none can be stored yet), all or
        none, as ``write_records`` would store them. False (nothing written) where the store does not
        take encoded records, or the table is not as they were encoded for (a schema, other indexes)."""
        ...


class ChunkWrites(Protocol):
    """The bulk-load write path: large chunks of records."""

    def load_chunk(
        self,
        database: str,
        table: str,
        records: list[dict[str, Any]],
        mode: WriteMode,
        stamp: float | None = None,
    ) -> tuple[int, int]:
        """Write one chunk with ``write``'s rules; (written, skipped) counts.

        Records may be changed in place. A bad key or a value of the wrong declared
        type raises ChunkRecordError with the record's index, and nothing is written.
        """
        ...

    def chunk_plan(
        self, database: str, table: str, names: Sequence[str], stamp: float | None
    ) -> ChunkPlan | None:
        """How a chunk of new records with these attributes is to be encoded; None: not at all."""
        ...

    def stage_encoded(self, database: str, table: str, chunk: EncodedChunk) -> None:
        """Prepare the write of an encoded chunk ahead of ``write_encoded`` (another thread may call it)."""
        ...

    def write_encoded(self, database: str, table: str, chunk: EncodedChunk, mode: WriteMode) -> bool:
        """Write an encoded chunk whole; False (nothing written) when the store cannot take it as is."""
        ...

    def settle(self, database: str, table: str) -> None:
        """A load into the table ended: let the store reorganise its files in the background."""
        ...


class Backup(Protocol):
    """Copies of the store for operators."""

    def checkpoint(self, directory: str) -> None:
        """A consistent copy of the whole store in ``directory`` (which must not exist)."""
        ...

    def database_archive(self, database: str, work_dir: Path) -> Path:
        """An ``application/x-tar`` of one database under ``work_dir``; its path. DatabaseNotFound."""
        ...


class PendingBlob(Protocol):
    """An upload being received: bytes written as they come, the digest known at the end.

    ``write`` … ``finish`` (the SHA-256 of everything written), then either ``kept()`` around
    the write of the row that names the file, or ``discard()``. Between ``finish`` and ``kept``
    the bytes may already be readable under the digest (the S3 store sends them at ``finish``,
    so that ``kept``, often entered under a lock, moves no bytes); only ``kept`` makes them stay.
    """

    size: int
    """Bytes written so far."""
    digest: str | None
    """The lowercase hex SHA-256, once :meth:`finish` returned."""

    async def write(self, data: bytes) -> None:
        """Append bytes (OutOfSpace when the local spool's device is full)."""
        ...

    async def finish(self) -> str:
        """Everything is written: the digest (StoreUnavailable, OutOfSpace; call ``discard`` after)."""
        ...

    def read_bytes(self) -> bytes:
        """The finished upload's bytes (for small files, such as a control file to validate)."""
        ...

    def kept(self) -> AbstractContextManager[tuple[str, int]]:
        """Keep the finished upload and yield ``(digest, size)`` for the caller's row.

        If the block raises (the row could not be written), the file this upload stored is
        removed again, unless another upload of the same bytes relies on it: no row, no file.
        """
        ...

    async def discard(self) -> None:
        """Forget an upload that was not kept: nothing of it stays (idempotent, never raises)."""
        ...


class Blobs(Protocol):
    """Uploaded files stored once by the lowercase hex SHA-256 of their bytes (``files`` store).

    Errors: :class:`~gateway.storage.errors.BlobNotFound` for a digest that is not stored,
    ``OutOfSpace`` (``files`` store) for a full device, ``StoreUnavailable`` naming the backend
    when its server cannot be reached (or refuses the bucket or the credentials).
    """

    backend: str
    """The backend's name in ``blobs.backend`` (``fs``, ``s3``)."""

    def begin(self) -> PendingBlob:
        """Start an upload."""
        ...

    async def stage_stream(self, chunks: AsyncIterator[bytes]) -> PendingBlob:
        """A stream of bytes as a finished upload, to be kept or discarded (nothing left on failure)."""
        ...

    async def save_stream(self, chunks: AsyncIterator[bytes]) -> tuple[str, int]:
        """Store a stream of bytes: ``(digest, size)``."""
        ...

    def stage_bytes(self, data: bytes) -> PendingBlob:
        """Bytes held in memory as a finished upload, to be kept or discarded."""
        ...

    def save_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes held in memory: ``(digest, size)``."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether a file with this digest is stored (False for a malformed digest)."""
        ...

    def size(self, digest: str) -> int:
        """The stored file's size in bytes; BlobNotFound."""
        ...

    def open(self, digest: str) -> BinaryIO:
        """The stored file for streaming reads (each ``open`` reads it again from the start); BlobNotFound."""
        ...

    def read_bytes(self, digest: str) -> bytes:
        """The whole stored file (small files such as control files); BlobNotFound."""
        ...

    def download(self, digest: str) -> BlobDownload:
        """The stored file for an HTTP response, streamed in pieces; BlobNotFound before any byte."""
        ...

    def check_room(self, size: int) -> None:
        """OutOfSpace unless an upload of ``size`` bytes (0: undeclared) fits above ``storage.min_free_bytes``."""
        ...

    def check(self) -> None:
        """StoreUnavailable (naming what is wrong) unless the store can be used now."""
        ...

    def clean_temporary(self, stale_after: float = ...) -> int:
        """Remove what uploads of a stopped process left unfinished, untouched for ``stale_after``
        seconds (0 where this process alone uses the store); how many were removed."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


class TransactionLog(Protocol):
    """The log of committed writes of each gateway table (``system`` tables are not logged).

    Entries are appended by the other ports' writes, atomically with them, while
    ``settings.enabled``; this port reads and trims them. Times are the store's clock in epoch
    milliseconds; a table dropped takes its log with it.
    """

    settings: TxLogSettings

    def read(
        self,
        database: str,
        table: str,
        start: float | None = None,
        end: float | None = None,
        limit: int | None = None,
    ) -> Iterator[LogEntry]:
        """The table's entries with ``start <= timestamp <= end``, oldest first, at most ``limit``.

        DatabaseNotFound or TableNotFound.
        """
        ...

    def delete_before(self, database: str, table: str, timestamp: float) -> int:
        """Remove the table's entries older than ``timestamp``; how many were removed."""
        ...

    def prune(self, timestamp: float) -> int:
        """Remove every table's entries older than ``timestamp`` (retention); how many."""
        ...


class BatchErrorLog(Protocol):
    """Every error of a batch run, kept apart from the (capped) text log of the batch row."""

    def put(self, batch: str, entries: Sequence[ErrorEntry]) -> None:
        """Store entries (an entry with a stored ``seq`` replaces it), atomically."""
        ...

    def entries(self, batch: str, start: int = 0) -> Iterator[ErrorEntry]:
        """The batch's entries with ``seq >= start``, in ``seq`` order, read in pages (flat memory)."""
        ...

    def save_summary(self, batch: str, summary: Mapping[str, Any]) -> None:
        """Keep a JSON-compatible summary of the batch's errors (replacing the previous one)."""
        ...

    def summary(self, batch: str) -> dict[str, Any] | None:
        """The summary saved last, or None."""
        ...

    def clear(self, batch: str) -> int:
        """Remove the batch's entries and summary; how many entries were removed."""
        ...


@dataclass
class Storage:
    """One opened backend: its ports, its clock, and how to close it."""

    backend: str
    catalog: Catalog
    records: Records
    imports: ImportWrites
    chunks: ChunkWrites
    backup: Backup
    txlog: TransactionLog
    closer: Callable[[], None]
    clock: Clock = field(default=time.time)
    queue: TaskQueue | None = None
    """The backend's shared, durable task queue, if it has one (else each process queues its own work)."""
    local_reads: bool = False
    """Whether a read of a few records is cheap and local (no network round trip): cheap bounded
    operations may then run on the HTTP server's event loop."""

    def now_ms(self) -> float:
        """The store's current time in epoch milliseconds (as records are stamped)."""
        return self.clock() * 1000.0

    def close(self) -> None:
        """Release the backend (flushing what it holds)."""
        self.closer()
