"""The engine's view of the outside world: the interfaces a batch run is given.

The engine never opens files, sockets or databases itself. The gateway passes in
objects that satisfy these protocols (RocksDB-backed in production, in-memory in
unit tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, Protocol


class StoreError(Exception):
    """A store operation failed; the message is reported as the reason."""


NEW: Final = 0
"""A write's outcome (:meth:`TargetStore.commit`, :meth:`TargetStore.preview`): a record was inserted."""
UPDATED: Final = 1
"""A write's outcome: a stored record was replaced by a different one."""
UNCHANGED: Final = 2
"""A write's outcome: the record exists and the merged result equals what is stored (nothing written)."""
OUTCOMES: Final = ("new", "updated", "unchanged")
"""The outcomes' names, by code."""


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


def copied_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a write's record that the engine's later changes do not reach (its arrays copied too),
    for a store that keeps it after ``commit`` returns."""
    if list in map(type, record.values()):
        return {k: (v.copy() if type(v) is list else v) for k, v in record.items()}
    return dict(record)


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

    def tables(self) -> Mapping[str, str]:
        """Every table of the model database (destinations or not), with its primary key attribute."""
        ...

    def commit(self, writes: Sequence[TargetWrite]) -> Sequence[int]:
        """Write the targets of one record atomically; raise StoreError on failure.

        Returns what each write did, in order: :data:`NEW`, :data:`UPDATED` or
        :data:`UNCHANGED` (a replacement equal to the stored record, which is not written).
        """
        ...

    def preview(self, writes: Sequence[TargetWrite]) -> Sequence[int]:
        """What :meth:`commit` would return for these writes, writing nothing (a dry run).

        Raises StoreError for a write that :meth:`commit` would refuse (an insert of a stored key).
        """
        ...


@dataclass(frozen=True, slots=True)
class BatchFile:
    """One named input file of a batch, in upload order."""

    name: str
    open: Callable[[], BinaryIO]
    size: int
    checked: object | None = None
    """What an earlier successful check of these same bytes under the same reader spec reported
    (``on_checked`` of :meth:`engine.PreparedBatch.run`; opaque, JSON-serialisable), or None.
    The reader then skips its check pass if it takes them (see :mod:`engine.readers.base`).
    Keep them under the file's content digest, the spec and :data:`engine.HINTS_VERSION`."""
