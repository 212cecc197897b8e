"""The store's own error types; adapters translate backend exceptions into these."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every record-store failure."""


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
