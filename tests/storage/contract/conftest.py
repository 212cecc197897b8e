"""The storage contract suite: every port exercised through its Protocol only, on every backend.

A backend is correct when this suite passes on it unchanged. Add a backend by
adding an opener to ``_OPENERS``: a function of a place (a directory for the
test) and a clock that opens the store there, empty the first time, and the
same store again after a close (a restart).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.storage.ports import Storage
from gateway.storage.rocksdb import open_rocksdb

START = 1_700_000_000.0
"""The manual clock's first reading (seconds since the epoch)."""


class ManualClock:
    """A clock the test moves: stores stamp and expire records by it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StoreFactory:
    """Opens the backend's store for one test, and again after a close (a restart)."""

    def __init__(self, backend: str, opener: Opener, home: Path, clock: ManualClock) -> None:
        self.backend = backend
        self._opener = opener
        self._home = home
        self.clock = clock
        self.opened: list[Storage] = []

    def open(self) -> Storage:
        """The test's store (the same one again after a close)."""
        return self.open_at(self._home)

    def open_at(self, place: Path) -> Storage:
        """The store at another place (a copy made by ``Backup.checkpoint``)."""
        storage = self._opener(place, self.clock)
        self.opened.append(storage)
        return storage

    def close_all(self) -> None:
        for storage in self.opened:
            with contextlib.suppress(Exception):  # already closed by the test
                storage.close()


Opener = Callable[[Path, ManualClock], Storage]
_OPENERS: dict[str, Opener] = {"rocksdb": open_rocksdb}
BACKENDS = sorted(_OPENERS)


@pytest.fixture(params=BACKENDS)
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    made = StoreFactory(request.param, _OPENERS[request.param], tmp_path / "db", ManualClock())
    yield made
    made.close_all()


@pytest.fixture
def storage(factory: StoreFactory) -> Storage:
    return factory.open()


@pytest.fixture
def clock(factory: StoreFactory) -> ManualClock:
    return factory.clock
