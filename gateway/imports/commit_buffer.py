"""Write-behind buffer of committed records for one batch run (haplo-import.md §7.2.5).

``ModelTargetStore.commit`` checks and encodes each record's writes at once, as
``write_many(strict=True)`` would (so a failure is still reported for that
record), and keeps them here; ``flush`` stores every pending record at once,
atomically (the ``ImportWrites.write_records`` storage port). A record is
never split across flushes. Reads of the same batch see pending records through
:meth:`CommitBuffer.pending` and :meth:`CommitBuffer.matches`.

The commit point of a buffered record is its flush: other readers see it then,
and a write by someone else to the same key in between is overwritten (the index
stays consistent with what is stored).

Write-behind (``background``, where the store says a group waits on a server:
``ImportWrites.write_behind``): :meth:`CommitBuffer.flush_behind` hands the pending
records to a thread that stores them while the engine prepares the next group; at
most one group is in flight, and every other use waits for it first
(:meth:`CommitBuffer.settle`), so groups are stored in order and a failure is
raised at the next flush, settle or full buffer. Then the records committed after
the failed group are dropped too (counted lost), so what is stored is always the
run's first records.
"""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

from gateway.storage import keys as K
from gateway.storage.ports import ImportWrites
from gateway.storage.records import FinalRecord

FLUSH_RECORDS: Final = 100
"""Committed records kept before a flush unless the caller says (a batch run takes its store's
``ImportWrites.group_records``); the runner also flushes at every progress report."""
FLUSH_BYTES: Final = 16 << 20
"""Encoded bytes kept before a flush."""
FLUSH_SECONDS: Final = 1.0
"""A pending record is flushed by the next commit at most this long after its own."""


class FlushFailed(Exception):
    """Storing the buffered records failed; they are lost and the batch must end (not a record error)."""


class CommitBuffer:
    """FinalRecord records of one database, by table and encoded primary key."""

    def __init__(
        self,
        writes: ImportWrites,
        database: str,
        max_records: int = FLUSH_RECORDS,
        max_seconds: float = FLUSH_SECONDS,
        background: bool = False,
    ) -> None:
        self.writes = writes
        self.background = background
        self.database = database
        self.max_records = max_records
        self.max_seconds = max_seconds
        self.tables: dict[str, dict[bytes, FinalRecord]] = {}
        self.records = 0
        self.flushed = 0
        self.lost = 0
        """Records whose flush failed (counted committed by the engine, but not stored)."""
        self._bytes = 0
        self._since = 0.0
        self._tracked: dict[str, set[str]] = {}
        self._lookups: dict[tuple[str, str], dict[bytes, set[bytes]]] = {}
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: Future[int] | None = None
        self._in_flight_count = 0

    def __bool__(self) -> bool:
        return self.records > 0

    def pending(self, table: str) -> dict[bytes, FinalRecord] | None:
        """The table's pending records by encoded key (None if it has none)."""
        return self.tables.get(table) or None

    def add(self, staged: dict[tuple[str, bytes], FinalRecord]) -> None:
        """Keep one committed record's writes; flush when the buffer is full or old."""
        now = time.monotonic()
        if not self.records:
            self._since = now
        for (table, ekey), entry in staged.items():
            self._keep(table, ekey, entry)
        self._added(now)

    def add_one(self, table: str, ekey: bytes, entry: FinalRecord) -> None:
        """:meth:`add` of a record that writes one target."""
        now = time.monotonic()
        if not self.records:
            self._since = now
        self._keep(table, ekey, entry)
        self._added(now)

    def _keep(self, table: str, ekey: bytes, entry: FinalRecord) -> None:
        rows = self.tables.get(table)
        if rows is None:
            rows = self.tables[table] = {}
        tracked = self._tracked.get(table)
        if tracked:
            previous = rows.get(ekey)
            for attribute in tracked:
                self._track(table, attribute, ekey, previous, entry)
        rows[ekey] = entry
        self._bytes += len(entry.raw)

    def _added(self, now: float) -> None:
        """One more record kept: flush if the buffer is full or old."""
        self.records += 1
        if (
            self.records >= self.max_records
            or self._bytes >= FLUSH_BYTES
            or now - self._since >= self.max_seconds
        ):
            self.flush_behind()

    def _track(
        self, table: str, attribute: str, ekey: bytes, old: FinalRecord | None, new: FinalRecord
    ) -> None:
        lookup = self._lookups.setdefault((table, attribute), {})
        if old is not None:
            for value_key in K.value_keys(old.record.get(attribute)):
                lookup.get(value_key, set()).discard(ekey)
        for value_key in K.value_keys(new.record.get(attribute)):
            lookup.setdefault(value_key, set()).add(ekey)

    def matches(self, table: str, attribute: str, value: Any) -> list[bytes]:
        """Encoded keys of pending records whose indexed ``attribute`` has an entry for ``value``.

        The pending analogue of the store's index lookup (a superset of the matches:
        callers still compare values). ``value`` must be an encodable scalar.
        """
        rows = self.tables.get(table)
        if not rows:
            return []
        lookup = self._lookups.get((table, attribute))
        if lookup is None:  # first look-up of this attribute: index the pending records, then keep it up
            self._tracked.setdefault(table, set()).add(attribute)
            lookup = self._lookups[(table, attribute)] = {}
            for ekey, entry in rows.items():
                for value_key in K.value_keys(entry.record.get(attribute)):
                    lookup.setdefault(value_key, set()).add(ekey)
        found = lookup.get(K.encode_key(value))
        return list(found) if found else []

    def _take(self) -> tuple[dict[str, dict[bytes, FinalRecord]], int]:
        """The pending records and their count; the buffer is empty after."""
        tables, count = self.tables, self.records
        self.tables = {}
        self._lookups.clear()
        self.records = 0
        self._bytes = 0
        return tables, count

    def _failed(self, count: int, exc: Exception) -> FlushFailed:
        self.lost += count
        return FlushFailed(f"Could not store the last {count} committed records: {exc}")

    def flush(self) -> int:
        """Store every pending record, all at once (after the group in flight); the number of
        records flushed.

        Raises FlushFailed if the store fails (the pending records are dropped).
        """
        done = self.settle()
        if not self.records:
            return done
        tables, count = self._take()
        try:
            self.writes.write_records(self.database, tables)
        except Exception as exc:
            raise self._failed(count, exc) from exc
        self.flushed += count
        return done + count

    def flush_behind(self) -> bool:
        """Wait for the group in flight, then start storing the pending records without waiting
        for them (in the background; a buffer that is not stores them now). With no pending
        records it waits for nothing (a progress report right after a full buffer was handed
        off must not wait for that group). Whether every record committed so far is stored.
        Raises FlushFailed as :meth:`settle` does."""
        if not self.background:
            self.flush()
            return True
        if not self.records:  # nothing new: the group in flight (if any) goes on without a wait
            return self._in_flight is None
        self.settle()
        tables, count = self._take()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"flush-{self.database}")
        self._in_flight_count = count
        # The writer thread stores in this thread's context: who writes (the transaction log's origin) goes along.
        self._in_flight = self._writer.submit(contextvars.copy_context().run, self._store, tables, count)
        return False

    def _store(self, tables: dict[str, dict[bytes, FinalRecord]], count: int) -> int:
        """The write-behind thread: one group."""
        self.writes.write_records(self.database, tables)
        self.flushed += count
        return count

    def close(self) -> None:
        """Stop the write-behind thread (after the group in flight, whose failure is not raised)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def settle(self) -> int:
        """Wait for the group in flight, if any; how many records it stored.

        Raises FlushFailed if storing it failed: its records and the pending ones are
        lost (dropped; the run must end, its stored records a prefix of its commits).
        """
        future, self._in_flight = self._in_flight, None
        if future is None:
            return 0
        try:
            return future.result()
        except Exception as exc:
            dropped = self._take()[1]
            raise self._failed(self._in_flight_count + dropped, exc) from exc
