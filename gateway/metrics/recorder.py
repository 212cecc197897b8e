"""In-memory counters of this process: requests and latency per operation, work started/ended.

Recording must cost next to nothing on a hot path (``search_by_id``): one lock, a
``bisect`` into fixed latency buckets and a few integer additions. Nothing here is
stored or exported; :mod:`gateway.metrics.sampler` stores the deltas between two
snapshots and :mod:`gateway.metrics.prometheus` shows the running totals.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from dataclasses import dataclass, field

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the latency histogram; one more bucket holds everything slower."""

WORK_KINDS = ("batch", "job")
"""Background work that is counted: Haplo batch runs and bulk jobs."""


@dataclass
class OperationStats:
    """Running totals of one operation (latencies in seconds)."""

    count: int = 0
    errors: int = 0
    total: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))

    def copy(self) -> OperationStats:
        return OperationStats(self.count, self.errors, self.total, list(self.buckets))


@dataclass
class WorkStats:
    """Running totals of one kind of background work."""

    started: int = 0
    finished: int = 0
    failed: int = 0
    records: int = 0

    def copy(self) -> WorkStats:
        return WorkStats(self.started, self.finished, self.failed, self.records)

    @property
    def running(self) -> int:
        return max(0, self.started - self.finished - self.failed)


@dataclass
class Snapshot:
    """A consistent copy of every total, for a sample or a scrape."""

    operations: dict[str, OperationStats]
    work: dict[str, WorkStats]


class Recorder:
    """The process's counters; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._operations: dict[str, OperationStats] = {}
        self._work: dict[str, WorkStats] = {kind: WorkStats() for kind in WORK_KINDS}

    def request(self, operation: str, seconds: float, failed: bool) -> None:
        """One answered request of ``operation`` that took ``seconds`` (``failed``: a 4xx/5xx)."""
        index = bisect_left(LATENCY_BUCKETS, seconds)
        with self._lock:
            stats = self._operations.get(operation)
            if stats is None:
                stats = self._operations[operation] = OperationStats()
            stats.count += 1
            stats.total += seconds
            stats.buckets[index] += 1
            if failed:
                stats.errors += 1

    def work_started(self, kind: str) -> None:
        """A batch run or bulk job began in this process."""
        with self._lock:
            self._work[kind].started += 1

    def work_ended(self, kind: str, failed: bool, records: int) -> None:
        """A batch run or bulk job ended (``records``: how many it committed)."""
        with self._lock:
            stats = self._work[kind]
            if failed:
                stats.failed += 1
            else:
                stats.finished += 1
            stats.records += max(0, records)

    def snapshot(self) -> Snapshot:
        """A copy of every total."""
        with self._lock:
            return Snapshot(
                {name: stats.copy() for name, stats in self._operations.items()},
                {kind: stats.copy() for kind, stats in self._work.items()},
            )


def quantile(buckets: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a bucketed distribution, in seconds, interpolated inside its
    bucket (the slowest bucket answers its lower bound); None when it is empty."""
    count = sum(buckets)
    if count == 0:
        return None
    rank = q * count
    seen = 0
    for index, in_bucket in enumerate(buckets):
        if in_bucket and seen + in_bucket >= rank:
            if index >= len(LATENCY_BUCKETS):
                return LATENCY_BUCKETS[-1]
            low = LATENCY_BUCKETS[index - 1] if index else 0.0
            high = LATENCY_BUCKETS[index]
            return low + (high - low) * max(0.0, rank - seen) / in_bucket
        seen += in_bucket
    return LATENCY_BUCKETS[-1]
