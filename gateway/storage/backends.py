"""The storage backends, by the name the ``storage.backend`` configuration key gives,
and the blob backends (uploaded files), by the name ``blobs.backend`` gives.

Adding a backend is one ``open`` function (configuration → :class:`Storage`, or
→ :class:`Blobs`) and one entry here; it is correct when ``tests/storage/contract``
passes on it.

A backend's module is imported when it is opened, so a process loads only the client
libraries it uses (a RocksDB server with files on disk has no psycopg, procrastinate or
boto3 in memory: ~20 MiB less resident).
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.config import Config, ConfigError
from gateway.storage.blobs.fs import FsBlobs
from gateway.storage.ports import Blobs, Storage
from gateway.storage.rocksdb import open_rocksdb

Opener = Callable[[Config], Storage]


def _rocksdb(config: Config) -> Storage:
    return open_rocksdb(config.store_dir, unlogged_loads=bool(config.get("storage.rocksdb.unlogged_loads")))


def _postgres(config: Config) -> Storage:
    from gateway.storage.postgres import open_postgres

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


def store_exists(config: Config) -> bool:
    """Whether the store ``config`` points at exists already (checked without creating it)."""
    if str(config.get("storage.backend")) == "postgres":
        from gateway.storage.postgres import postgres_store_exists

        return postgres_store_exists(
            str(config.get("storage.postgres.dsn")), str(config.get("storage.postgres.schema"))
        )
    return (config.store_dir / "CURRENT").is_file()  # RocksDB's marker of an existing database


def missing_store(config: Config, verb: str, url: bool = False) -> str:
    """Why ``verb`` refuses: no store where ``config`` points, and how to point it elsewhere
    (``url``: the verb also takes ``--url``)."""
    where = str(config.root)
    if str(config.get("storage.backend")) == "postgres":
        schema = config.get("storage.postgres.schema")
        where = f"schema {schema} of the configured database (root {config.root})"
    return (
        f"{verb}: no gateway store at {where}, and no running server there; nothing was created. "
        "Pass --root DIR (or set GATEWAY_ROOT) for the root your server uses"
        + (", or --url for a running server" if url else "")
        + "; `gateway init --root DIR` or `gateway serve --root DIR` creates a new store."
    )


BlobOpener = Callable[[Config], Blobs]


def _fs_blobs(config: Config) -> Blobs:
    return FsBlobs(config.blob_dir, int(config.get("storage.min_free_bytes")))


def _s3_blobs(config: Config) -> Blobs:
    from gateway.storage.blobs.s3 import S3Settings, normalized_prefix, open_s3_blobs

    bucket = str(config.get("blobs.s3.bucket") or "")
    if not bucket:
        raise ConfigError("blobs.backend is s3 but blobs.s3.bucket is not set (GATEWAY_BLOBS_S3_BUCKET)")
    settings = S3Settings(
        bucket=bucket,
        prefix=normalized_prefix(str(config.get("blobs.s3.prefix") or "")),
        endpoint_url=str(config.get("blobs.s3.endpoint_url") or "") or None,
        region=str(config.get("blobs.s3.region") or "") or None,
    )
    # Uploads are spooled under the root while they are received and hashed.
    return open_s3_blobs(settings, config.blob_dir / "tmp", int(config.get("storage.min_free_bytes")))


BLOB_BACKENDS: dict[str, BlobOpener] = {
    "fs": _fs_blobs,
    "s3": _s3_blobs,
}


def open_blobs(config: Config) -> Blobs:
    """The blob store ``blobs.backend`` names, opened on ``config`` (StoreUnavailable if it cannot be used)."""
    name = str(config.get("blobs.backend"))
    opener = BLOB_BACKENDS.get(name)
    if opener is None:
        known = ", ".join(sorted(BLOB_BACKENDS))
        raise ConfigError(f"blobs.backend: unknown backend {name!r} (known: {known})")
    return opener(config)
