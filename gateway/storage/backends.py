"""The storage backends, by the name the ``storage.backend`` configuration key gives.

Adding a backend is one ``open`` function (configuration → :class:`Storage`) and
one entry here; it is correct when ``tests/storage/contract`` passes on it.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import Config, ConfigError
from gateway.storage.ports import Storage
from gateway.storage.postgres import open_postgres
from gateway.storage.rocksdb import open_rocksdb

Opener = Callable[[Config], Storage]


def _rocksdb(config: Config) -> Storage:
    return open_rocksdb(config.store_dir)


def _postgres(config: Config) -> Storage:
    return open_postgres(
        str(config.get("storage.postgres.dsn")),
        schema=str(config.get("storage.postgres.schema")),
        pool_size=int(config.get("storage.postgres.pool_size")),
        timeout=float(config.get("storage.postgres.timeout")),
        heartbeat=float(config.get("jobs.heartbeat")),
        stalled=float(config.get("jobs.stalled")),
    )


BACKENDS: dict[str, Opener] = {
    "rocksdb": _rocksdb,
    "postgres": _postgres,
}


def open_storage(config: Config) -> Storage:
    """The backend ``storage.backend`` names, opened on ``config``."""
    name = str(config.get("storage.backend"))
    opener = BACKENDS.get(name)
    if opener is None:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"storage.backend: unknown backend {name!r} (known: {known})")
    return opener(config)
