"""The error reporter of a batch (spec §8.2): suffixes, the error cap, counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

MAX_ERRORS_TO_REPORT: Final = 500
TOO_MANY_ERRORS: Final = "Too many errors in import batch, no further errors will be reported"


@dataclass(frozen=True, slots=True)
class ReportedError:
    """One error as reported, for callers that keep every error (past the cap too)."""

    message: str
    """The message without the record suffix."""
    record: int | None
    """The batch's record number (counting from 0 across all files, as in `` (record N)``), or None."""
    source: str | None
    """The name of the record source (the batch file) being processed, or None outside the records."""
    source_record: int | None
    """The record number within that source, counting from 0, or None."""


class Reporter:
    """Counts every error and delivers log lines.

    While a record is processed (``record`` is not None) each message gets the
    suffix `` (record N)``. With a cap of N (``max_errors``, Haplo's 500 by
    default) errors 1 to N-1 are delivered, the Nth is replaced by
    :data:`TOO_MANY_ERRORS` and later errors are only counted; a cap of None or
    0 (or less) delivers every error. ``on_error``, if given, receives every error
    (uncapped) as a :class:`ReportedError`, with the record source set in ``source``
    (and ``source_start``, the batch record number of the source's first record).
    """

    __slots__ = ("count", "record", "source", "source_start", "_log", "_cap", "_on_error")

    def __init__(
        self,
        log: Callable[[str], None],
        *,
        max_errors: int | None = MAX_ERRORS_TO_REPORT,
        on_error: Callable[[ReportedError], None] | None = None,
    ) -> None:
        self.count = 0
        self.record: int | None = None
        self.source: str | None = None
        self.source_start = 0
        self._log = log
        self._cap = max_errors if max_errors is not None and max_errors > 0 else None
        self._on_error = on_error

    def __call__(self, message: str) -> None:
        """Report one error."""
        self.count += 1
        if self._on_error is not None:
            record = self.record
            in_source = None if record is None or self.source is None else record - self.source_start
            self._on_error(ReportedError(message, record, self.source, in_source))
        cap = self._cap
        if cap is not None and self.count >= cap:
            if self.count == cap:
                self._log(TOO_MANY_ERRORS)
            return
        if self.record is not None:
            message = f"{message} (record {self.record})"
        self._log(message)
