"""The storage contract suite: every port exercised through its Protocol only, on every backend.

A backend is correct when this suite passes on it unchanged. Add a backend by
adding an opener to ``_OPENERS``: a function of a place (a directory for the
test) and a clock that opens the store there, empty the first time, and the
same store again after a close (a restart). A backend that needs a server gets
its opener from a fixture (and is skipped where none answers). ``FEATURES`` says
what a backend documents as different; tests admit that, not the backend's name.

The blob backends (uploaded files, ``gateway.storage.ports.Blobs``) have a contract of
their own, ``test_blobs.py``, run on every entry of ``BLOB_BACKENDS``: a blob store is
opened through the app's registry on a configuration, as the app opens it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.storage.backends import open_blobs
from gateway.storage.ports import Blobs, Storage
from gateway.storage.postgres import open_postgres
from gateway.storage.rocksdb import open_rocksdb
from tests.support.postgres import postgres_dsn, schema_for
from tests.support.s3 import blob_overrides

__all__ = ["postgres_dsn"]  # a fixture the postgres opener uses

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


@dataclass(frozen=True)
class Features:
    """What a backend offers beyond what every backend must (its documented differences)."""

    archives: bool = True
    """``Backup.checkpoint`` and ``database_archive`` copy the store; without: both answer NotSupported."""


class StoreFactory:
    """Opens the backend's store for one test, and again after a close (a restart)."""

    def __init__(self, backend: str, opener: Opener, home: Path, clock: ManualClock) -> None:
        self.backend = backend
        self.features = FEATURES[backend]
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


def _postgres(request: pytest.FixtureRequest) -> Opener:
    """A schema of its own per place, in this run's PostgreSQL database."""
    dsn: str = request.getfixturevalue("postgres_dsn")

    def opener(place: Path, clock: ManualClock) -> Storage:
        return open_postgres(dsn, clock, schema=schema_for(place))

    return opener


_OPENERS: dict[str, Callable[[pytest.FixtureRequest], Opener]] = {
    "rocksdb": lambda request: open_rocksdb,
    "postgres": _postgres,
}
FEATURES = {"rocksdb": Features(), "postgres": Features(archives=False)}
BACKENDS = list(_OPENERS)
"""The embedded store first: it needs no server (the engine's fake runs beside the first backend)."""


@pytest.fixture(params=BACKENDS)
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opener = _OPENERS[request.param](request)
    made = StoreFactory(request.param, opener, tmp_path / "db", ManualClock())
    yield made
    made.close_all()


@pytest.fixture
def storage(factory: StoreFactory) -> Storage:
    return factory.open()


@pytest.fixture
def clock(factory: StoreFactory) -> ManualClock:
    return factory.clock


BLOB_BACKENDS: dict[str, Callable[[Path], dict[str, object]]] = {
    "fs": lambda root: {},
    "s3": blob_overrides,
}
"""Each blob backend's configuration for an app on a root (the run's S3 server for ``s3``)."""


class BlobFactory:
    """Opens the backend's blob store for one test's root, as the app does (``open_blobs``)."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend = backend
        self.root = root
        self.opened: list[Blobs] = []

    def open(self, **overrides: object) -> Blobs:
        """The test's blob store (the same files again after a close); ``overrides`` of its configuration."""
        settings = {**BLOB_BACKENDS[self.backend](self.root), "storage.min_free_bytes": 0, **overrides}
        blobs = open_blobs(load_config(root=self.root, environ={}, overrides=settings))
        self.opened.append(blobs)
        return blobs

    def close_all(self) -> None:
        for blobs in self.opened:
            with contextlib.suppress(Exception):  # already closed by the test
                blobs.close()


@pytest.fixture(params=list(BLOB_BACKENDS))
def blob_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobFactory]:
    made = BlobFactory(request.param, tmp_path / "root")
    yield made
    made.close_all()


@pytest.fixture
def blobs(blob_factory: BlobFactory) -> Blobs:
    return blob_factory.open()
