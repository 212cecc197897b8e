"""A PostgreSQL database of its own for one test run: created on first use, dropped at the end.

The server is ``GATEWAY_TEST_POSTGRES_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
its user must be allowed to create databases. Where no server answers, tests that
need one are skipped with a message saying so (under ``CI=true`` they fail:
:func:`tests.support.prerequisites.missing_prerequisite`). Each test then works in a
schema of its own inside the run's database (:func:`schema_for`).

Apps under test choose their backend through configuration: :func:`store_overrides`
(for ``load_config``) and :func:`store_env` (for a ``gateway serve`` subprocess)
put a test's store on PostgreSQL in a schema named after its root directory. A backend
name may add ``+s3`` (``postgres+s3``): the app's uploaded files then go to the run's S3
server (moto, :mod:`tests.support.s3`) under a prefix named after its root directory.
``tests/conftest.py`` drops the run's database when the session ends.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.prerequisites import missing_prerequisite
from tests.support.s3 import blob_overrides, s3_env

ENV = "GATEWAY_TEST_POSTGRES_DSN"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_dsn() -> str:
    """The DSN of the server tests create their database on."""
    return os.environ.get(ENV) or DEFAULT_SERVER


def _shown(dsn: str) -> str:
    params = conninfo_to_dict(dsn)
    return f"{params.get('host', 'localhost')}:{params.get('port', '5432')} as {params.get('user', '?')}"


class RunDatabase:
    """A database created for this run on the server ``server`` names."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.name = f"gateway_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.dsn = make_conninfo(server, dbname=self.name)

    def drop(self) -> None:
        """Drop the database (closing whatever connections a test left open)."""
        with psycopg.connect(self.server, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


_lock = threading.Lock()
_run: RunDatabase | None = None
_missing: str | None = None


def run_dsn() -> str:
    """The DSN of this run's own database, created on first use (skips, or fails under CI, without a server)."""
    global _run, _missing
    with _lock:
        if _run is None and _missing is None:
            server = server_dsn()
            try:
                _run = RunDatabase(server)
            except psycopg.Error as exc:
                _missing = (
                    f"no PostgreSQL server lets the tests create a database at {_shown(server)} "
                    f"({' '.join(str(exc).split())}); point {ENV} at one, e.g. "
                    f"{ENV}=postgresql://postgres@127.0.0.1:5432/postgres"
                )
        run, missing = _run, _missing
    if run is None:
        missing_prerequisite(missing or "no PostgreSQL database")
    return run.dsn


def drop_run_database() -> None:
    """Drop this run's database if one was created (at the end of the session)."""
    global _run
    with _lock:
        run, _run = _run, None
    if run is not None:
        run.drop()


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The DSN of this run's own PostgreSQL database (skips, or fails under CI, without a server)."""
    return run_dsn()


BACKENDS = ("rocksdb", "postgres")
"""The storage backends an app under test can run on."""


def store_overrides(backend: str, root: Path) -> dict[str, Any]:
    """``load_config`` overrides that put an app's store on ``backend`` (postgres: a schema of its own;
    ``+s3``: uploaded files in the run's bucket)."""
    records, _, blobs = backend.partition("+")
    # Named even for the default store: a test that chooses rocksdb gets it under GATEWAY_TEST_BACKEND=postgres too.
    overrides: dict[str, Any] = {"storage.backend": records}
    if records == "postgres":
        overrides.update(
            {
                "storage.postgres.dsn": run_dsn(),
                "storage.postgres.schema": schema_for(root),
            }
        )
    if blobs == "s3":
        overrides.update(blob_overrides(root))
    return overrides


def store_env(backend: str, root: Path) -> dict[str, str]:
    """The same as environment variables, for a ``gateway serve`` subprocess (with S3's credentials)."""
    env = {
        "GATEWAY_" + key.upper().replace(".", "_"): str(value)
        for key, value in store_overrides(backend, root).items()
    }
    if backend.endswith("+s3"):
        env.update(s3_env())
    return env


def schema_for(place: Path | str) -> str:
    """The schema a test's store lives in, named after the test's place (a directory path)."""
    return "t_" + hashlib.sha1(str(place).encode(), usedforsecurity=False).hexdigest()[:24]
