"""Failed attempts per key in a sliding time window, bounded in memory.

The one counting mechanism behind every throttle of the auth family: the
password throttle counts per (user, client address) and per user, the API-key
throttle per client address. A key is anything hashable. Memory is bounded:
each key keeps at most ``depth`` time stamps, and at most ``max_keys`` keys are
kept (the least recently failed key is forgotten first). Counts live in this
process only.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Callable, Hashable

MAX_TRACKED_KEYS = 10_000


class FailureCounter:
    """Time stamps of recent failures per key, within ``window`` seconds of ``clock()``."""

    def __init__(
        self,
        window: float,
        depth: int,
        clock: Callable[[], float],
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.window = float(window)
        self.depth = max(1, int(depth))
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._failures: collections.OrderedDict[Hashable, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def __len__(self) -> int:
        """How many keys have failures kept (some may since have left the window): 0 means none can wait."""
        return len(self._failures)

    def add(self, key: Hashable) -> None:
        """Count one failure of ``key`` now."""
        with self._lock:
            stamps = self._failures.get(key)
            if stamps is None:
                stamps = self._failures[key] = collections.deque(maxlen=self.depth)
            stamps.append(self._clock())
            self._failures.move_to_end(key)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def clear(self, key: Hashable) -> None:
        """Forget the failures of ``key`` (after a success)."""
        with self._lock:
            self._failures.pop(key, None)

    def count(self, key: Hashable) -> int:
        """How many failures of ``key`` lie within the window (at most ``depth``)."""
        with self._lock:
            return len(self._recent(key))

    def wait(self, key: Hashable, limit: int) -> int:
        """Whole seconds until ``key`` has fewer than ``limit`` failures in the window; 0 if it has now.

        ``limit`` is at most ``depth``; a limit of 0 or less never throttles.
        """
        if limit <= 0:
            return 0
        with self._lock:
            stamps = self._recent(key)
            if len(stamps) < min(limit, self.depth):
                return 0
            freed = stamps[-min(limit, self.depth)] + self.window
            return max(1, math.ceil(freed - self._clock()))

    def _recent(self, key: Hashable) -> collections.deque[float]:
        """The key's stamps within the window (older ones dropped); call with the lock held."""
        stamps = self._failures.get(key)
        if stamps is None:
            return collections.deque()
        horizon = self._clock() - self.window
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps
