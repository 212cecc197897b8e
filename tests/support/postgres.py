"""A PostgreSQL database of its own for one test run: created on first use, dropped at the end.

The server is ``GATEWAY_TEST_POSTGRES_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
its user must be allowed to create databases. Where no server answers, tests that
need one are skipped with a message saying so (under ``CI=true`` they fail:
:func:`tests.support.prerequisites.missing_prerequisite`). Each test then works in a
schema of its own inside the run's database (:func:`schema_for`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.prerequisites import missing_prerequisite

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


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of this run's own PostgreSQL database (skips, or fails under CI, without a server)."""
    server = server_dsn()
    try:
        database = RunDatabase(server)
    except psycopg.Error as exc:
        missing_prerequisite(
            f"no PostgreSQL server lets the tests create a database at {_shown(server)} "
            f"({' '.join(str(exc).split())}); point {ENV} at one, e.g. "
            f"{ENV}=postgresql://postgres@127.0.0.1:5432/postgres"
        )
    try:
        yield database.dsn
    finally:
        database.drop()


def schema_for(place: Path | str) -> str:
    """The schema a test's store lives in, named after the test's place (a directory path)."""
    return "t_" + hashlib.sha1(str(place).encode(), usedforsecurity=False).hexdigest()[:24]
