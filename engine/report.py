"""The error reporter of a batch (spec §8.2): suffixes, the error cap, counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

MAX_ERRORS_TO_REPORT: Final = 500
TOO_MANY_ERRORS: Final = "Too many errors in import batch, no further errors will be reported"


class Reporter:
    """Counts every error and delivers log lines.

    While a record is processed (``record`` is not None) each message gets the
    suffix `` (record N)``. With a cap of N (``max_errors``, Haplo's 500 by
    default) errors 1 to N-1 are delivered, the Nth is replaced by
    :data:`TOO_MANY_ERRORS` and later errors are only counted; a cap of None or
    0 (or less) delivers every error.
    """

    __slots__ = ("count", "record", "_log", "_cap")

    def __init__(self, log: Callable[[str], None], *, max_errors: int | None = MAX_ERRORS_TO_REPORT) -> None:
        self.count = 0
        self.record: int | None = None
        self._log = log
        self._cap = max_errors if max_errors is not None and max_errors > 0 else None

    def __call__(self, message: str) -> None:
        """Report one error."""
        self.count += 1
        cap = self._cap
        if cap is not None and self.count >= cap:
            if self.count == cap:
                self._log(TOO_MANY_ERRORS)
            return
        if self.record is not None:
            message = f"{message} (record {self.record})"
        self._log(message)
