"""The engine's view of the outside world: the interfaces a batch run is given.

The engine never opens files, sockets or databases itself. The gateway passes in
objects that satisfy these protocols (RocksDB-backed in production, in-memory in
unit tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol


class StoreError(Exception):
    """A store operation failed; the message is reported as the reason."""


@dataclass(frozen=True, slots=True)
class TargetWrite:
    """One record to write on commit.

    ``record`` is the full record (primary key included, store metadata such as
    ``__createdtime__`` excluded); ``is_new`` says whether it is an insert or a
    full replacement of a stored record.
    """

    table: str
    primary_key: str
    record: dict[str, Any]
    is_new: bool


class TargetStore(Protocol):
    """Reads and writes of one model database (the adapter is bound to it)."""

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        """The stored record with this primary key, or None."""
        ...

    def find(self, table: str, attribute: str, value: Any) -> list[dict[str, Any]]:
        """Records whose ``attribute`` equals ``value`` or, for arrays, contains it.

        Oldest first (by creation time).
        """
        ...

    def scan(self, table: str) -> Iterable[dict[str, Any]]:
        """Every record of the table, oldest first."""
        ...

    def commit(self, writes: Sequence[TargetWrite]) -> None:
        """Write the targets of one record atomically; raise StoreError on failure."""
        ...


@dataclass(frozen=True, slots=True)
class BatchFile:
    """One named input file of a batch, in upload order."""

    name: str
    open: Callable[[], BinaryIO]
    size: int
