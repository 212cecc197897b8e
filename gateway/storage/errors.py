"""The store's own error types; adapters translate backend exceptions into these.

There is one ``StoreError``: the engine's (:class:`engine.ports.StoreError`), so a
store failure met while the engine commits a record is that record's error
without any translation.
"""

from __future__ import annotations

import errno

from engine.ports import StoreError

__all__ = [
    "FILES_STORE",
    "LOGS_STORE",
    "RECORDS_STORE",
    "AttributeExists",
    "BlobNotFound",
    "ChunkRecordError",
    "DatabaseExists",
    "DatabaseNotFound",
    "InvalidRecord",
    "NotSupported",
    "OutOfSpace",
    "StoreError",
    "StoreFailure",
    "StoreLocked",
    "StoreUnavailable",
    "TableExists",
    "TableNotFound",
    "is_no_space",
]

RECORDS_STORE = "records"
"""RocksDB under ``<root>/db``: records, indexes and the system tables."""
FILES_STORE = "files"
"""Uploaded files: under ``<root>/blobs``, or in an S3 bucket (uploads are spooled under ``<root>/blobs/tmp``)."""
LOGS_STORE = "logs"
"""The log file under ``<root>/log``."""

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class StoreLocked(StoreError):
    """Another process holds the store's lock file."""


class DatabaseNotFound(StoreError):
    def __init__(self, database: str) -> None:
        super().__init__(f"database '{database}' does not exist")
        self.database = database


class TableNotFound(StoreError):
    def __init__(self, database: str, table: str) -> None:
        super().__init__(f"Table '{database}.{table}' does not exist")
        self.database = database
        self.table = table


class DatabaseExists(StoreError):
    def __init__(self, database: str) -> None:
        super().__init__(f"database '{database}' already exists")


class TableExists(StoreError):
    def __init__(self, database: str, table: str) -> None:
        super().__init__(f"Table '{table}' already exists in '{database}'")


class AttributeExists(StoreError):
    def __init__(self, database: str, table: str, attribute: str) -> None:
        super().__init__(f"attribute '{attribute}' already exists in {database}.{table}")


class InvalidRecord(StoreError):
    """A record cannot be written as given (bad key, missing key, wrong type)."""


class ChunkRecordError(InvalidRecord):
    """A record of a bulk-load chunk cannot be written; ``index`` is its position in the chunk."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


class StoreFailure(StoreError):
    """The store itself failed (an I/O error, not the record's fault): the write did not happen.

    Callers that treat a ``StoreError`` as one record's error (a batch run's commits) treat
    this as the end of the run instead.
    """


class OutOfSpace(StoreFailure):
    """A write failed because the device holding one of the gateway's stores is full (or over quota).

    ``store`` is :data:`RECORDS_STORE`, :data:`FILES_STORE` or :data:`LOGS_STORE`. Nothing
    of the failed write is kept. The message always starts
    ``no space left on the device (<store> store)``; ``detail`` (optional) follows it.
    """

    def __init__(self, store: str, detail: str | None = None) -> None:
        message = f"no space left on the device ({store} store)"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.store = store
        self.detail = detail


def is_no_space(error: OSError) -> bool:
    """Whether an OS error says the device is full or the quota is exhausted (ENOSPC, EDQUOT)."""
    return error.errno in NO_SPACE_ERRNOS


class StoreUnavailable(StoreFailure):
    """The store's server cannot be reached (down, unreachable, refusing us); the message names it."""


class NotSupported(StoreError):
    """This backend does not offer the operation; the message says what to use instead."""


class BlobNotFound(StoreError):
    """No file is stored under this digest (or the digest is not a lowercase hex SHA-256)."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"no stored file with digest {digest}")
        self.digest = digest
