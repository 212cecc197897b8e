"""Keeping every error of a batch run (for the log view and the reject file).

The engine reports each error with its file and record (:class:`engine.ReportedError`),
past the text log's cap too. :class:`ErrorRecorder` numbers them, stores them a page at
a time in the store's :class:`~gateway.storage.ports.BatchErrorLog` (memory stays flat
however many errors a batch has), counts failed records per file and groups messages
by pattern (:func:`message_pattern`: the values in them replaced, so that 1,500
``Invalid email address for input field email: …`` are one group). At the end of the
run the error summary is saved beside the entries.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, Final

from engine import ReportedError
from gateway.storage.ports import BatchErrorLog
from gateway.storage.records import ErrorEntry

FLUSH_EVERY: Final = 500
FIRST_RECORDS: Final = 5
MAX_PATTERNS: Final = 200
OTHER_PATTERN: Final = "(other messages)"
ELLIPSIS: Final = "…"

# "<what> for <source>: <value>" and the other value-carrying messages of the catalogue (spec App. A).
_VALUE_TAIL = re.compile(
    r"^((?:Invalid [^:]*?|Value in input data cannot be mapped for [^:]*"
    r"|Missing or invalid country code in postal address, must be two letter ISO code)): .*$",
    re.DOTALL,
)
_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")


def message_pattern(message: str) -> str:
    """The message with its values replaced: a conversion error's value becomes ``…``,
    single-quoted values ``'…'`` and free-standing numbers ``#`` (names stay)."""
    match = _VALUE_TAIL.match(message)
    if match is not None:
        return f"{match.group(1)}: {ELLIPSIS}"
    return _NUMBER.sub("#", _QUOTED.sub(f"'{ELLIPSIS}'", message))


def entry_place(entry: ErrorEntry) -> str:
    """Where an error belongs: ``people record 12`` (the file's record number), or ``setup``."""
    if entry.file is None or entry.record is None:
        return "setup" if entry.batch_record is None else f"record {entry.batch_record}"
    return f"{entry.file} record {entry.record}"


class ErrorGroups:
    """Counts of errors by message pattern, with the first few places of each, in first-seen order.

    At most :data:`MAX_PATTERNS` patterns are told apart; later new patterns count as
    :data:`OTHER_PATTERN`.
    """

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}

    def add(self, entry: ErrorEntry) -> None:
        """Count one error."""
        pattern = message_pattern(entry.message)
        group = self.groups.get(pattern)
        if group is None:
            if len(self.groups) >= MAX_PATTERNS:
                pattern = OTHER_PATTERN
                group = self.groups.get(pattern)
            if group is None:
                group = self.groups[pattern] = {"pattern": pattern, "count": 0, "first": []}
        group["count"] += 1
        if len(group["first"]) < FIRST_RECORDS:
            group["first"].append(entry_place(entry))

    def as_list(self) -> list[dict[str, Any]]:
        """The groups, largest first (first seen first among equals)."""
        return sorted(self.groups.values(), key=lambda g: -int(g["count"]))


class FailedRecords:
    """Failed records and errors per file: ``{file: {"records": n, "errors": m, "imported": i}}`` in
    ``files`` (``imported``: records stored all the same, without the values in error)."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, int]] = {}
        self._last: tuple[str | None, int | None] = (None, None)

    def add(self, entry: ErrorEntry) -> None:
        """Count one error (a record's errors come together, so a new record is a new place)."""
        if entry.file is None or entry.record is None:
            return
        counts = self.files.setdefault(entry.file, {"records": 0, "errors": 0, "imported": 0})
        counts["errors"] += 1
        if self._last != (entry.file, entry.record):
            counts["records"] += 1
            counts["imported"] += 1 if entry.imported else 0
            self._last = (entry.file, entry.record)


def failed_files(entries: Iterable[ErrorEntry]) -> dict[str, dict[str, int]]:
    """Failed records and errors per file, counted from stored entries."""
    counted = FailedRecords()
    for entry in entries:
        counted.add(entry)
    return counted.files


class ErrorRecorder:
    """Receives a run's errors from the engine and keeps them (see the module docstring).

    The entries of a record are stored once the record has ended (:meth:`record_ended` tells
    whether it was stored all the same), so each carries ``imported``.
    """

    def __init__(self, batch: str, store: BatchErrorLog) -> None:
        self.batch = batch
        self.store = store
        self.count = 0
        self.groups = ErrorGroups()
        self.failed = FailedRecords()
        self._pending: list[ErrorEntry] = []
        self._complete = 0  # pending[:_complete] belong to ended records (or to none)
        self._lock = threading.Lock()

    def __call__(self, error: ReportedError) -> None:
        """Keep one reported error."""
        entry = ErrorEntry(self.count, error.message, error.source, error.source_record, error.record)
        self.count += 1
        self.groups.add(entry)
        with self._lock:
            self._pending.append(entry)
            if entry.batch_record is None and self._complete == len(self._pending) - 1:
                self._complete += 1  # an error outside the records

    def record_ended(self, imported: bool) -> None:
        """The record whose errors were reported last has ended, stored (``imported``) or not."""
        with self._lock:
            pending = self._pending
            for index in range(self._complete, len(pending)):
                entry = pending[index] = replace(pending[index], imported=imported)
                self.failed.add(entry)
            self._complete = len(pending)
            full = self._complete >= FLUSH_EVERY
        if full:
            self.flush()

    def flush(self, everything: bool = False) -> None:
        """Store the errors of the records that have ended (``everything``: of all, at the end of a run)."""
        with self._lock:
            if everything:
                for entry in self._pending[self._complete :]:
                    self.failed.add(entry)  # a record cut short by the end of the run
                self._complete = len(self._pending)
            done, self._pending = self._pending[: self._complete], self._pending[self._complete :]
            self._complete = 0
            if done:
                self.store.put(self.batch, done)

    def summary(self, cap: int | None, record_processor: bool) -> dict[str, Any]:
        """The error summary saved with the entries: total, the text log's cap, failed records per
        file, groups, and whether a record processor stood between the files and the records."""
        return {
            "total": self.count,
            "cap": cap,
            "files": self.failed.files,
            "groups": self.groups.as_list(),
            "record_processor": record_processor,
        }


def matching(entries: Iterable[ErrorEntry], query: str = "", pattern: str = "") -> Iterator[ErrorEntry]:
    """The entries whose message or file contains ``query`` (any case) and whose pattern is ``pattern``."""
    needle = query.casefold()
    for entry in entries:
        if pattern and message_pattern(entry.message) != pattern:
            continue
        if needle and needle not in f"{entry.message}\n{entry.file or ''}".casefold():
            continue
        yield entry
