"""Progress of a running job, as ``get_job`` shows it, and how the job learns it must stop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class JobStopped(Exception):
    """The server is stopping: the job ends at a record boundary."""


@dataclass
class Progress:
    """Counters a job updates as it goes (read by other threads without locking)."""

    records_done: int = 0
    bytes_read: int = 0
    bytes_total: int | None = None
    finished: bool = False
    should_stop: Callable[[], bool] = field(default=lambda: False, repr=False)

    def add_bytes(self, count: int) -> None:
        self.bytes_read += count

    def check_stop(self) -> None:
        """Raise JobStopped when the server asked running work to stop."""
        if self.should_stop():
            raise JobStopped

    def as_dict(self) -> dict[str, Any]:
        """``{records_done, bytes_read, bytes_total, percent}``; percent is null while unknown."""
        percent: float | None
        if self.finished:
            percent = 100.0
        elif self.bytes_total:
            percent = min(99.9, round(self.bytes_read * 100.0 / self.bytes_total, 1))
        else:
            percent = None
        return {
            "records_done": self.records_done,
            "bytes_read": self.bytes_read,
            "bytes_total": self.bytes_total,
            "percent": percent,
        }
