"""The store's own error types; adapters translate backend exceptions into these.

There is one ``StoreError``: the engine's (:class:`engine.ports.StoreError`), so a
store failure met while the engine commits a record is that record's error
without any translation.
"""

from __future__ import annotations

from engine.ports import StoreError

__all__ = [
    "AttributeExists",
    "ChunkRecordError",
    "DatabaseExists",
    "DatabaseNotFound",
    "InvalidRecord",
    "NotSupported",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "TableExists",
    "TableNotFound",
]


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


class StoreUnavailable(StoreError):
    """The store's server cannot be reached (down, unreachable, refusing us); the message names it."""


class NotSupported(StoreError):
    """This backend does not offer the operation; the message says what to use instead."""
