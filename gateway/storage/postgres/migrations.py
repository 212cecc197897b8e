"""The PostgreSQL store's own schema, created or upgraded at open by numbered migrations.

Everything the store keeps lives in one PostgreSQL schema (``gateway`` unless
configured otherwise):

- ``schema_version``: one row per applied migration (version, description, when);
  the store's version is the highest;
- ``databases``, ``tables`` (primary key, schema_defined, created, expiration,
  ``record_count``, and ``version``: bumped by every change of the table's
  attributes), ``attributes`` (name, indexed, type; ``id`` gives their order and
  numbers the table's index entries);
- ``catalog``: one row whose ``version`` every catalog change bumps, so each
  process sees another's changes with one cheap read;
- per gateway table, ``records_<id>`` (``k bytea PRIMARY KEY``: the
  :func:`gateway.storage.keys.encode_key` of the primary key, ``r text``: the record's
  JSON as written, attribute order and number formatting kept; ``r::json`` in SQL; a
  ``json`` column would have the server parse every record again on every write, the
  largest cost of a bulk load after the btrees) and ``index_<id>``
  (``a``: an attribute id, ``e``: ``encode_key(value) + encode_key(primary key)``,
  ``PRIMARY KEY (a, e)``), so an index look-up is a btree range scan;
- ``txlog`` (migration 2): each gateway table's transaction log (:mod:`gateway.storage.postgres.txlog`);
- ``count_records(table, version, delta)``: adds ``delta`` to a table's record count
  and fails (SQLSTATE ``GW001``) when the table's version is not the one the
  writer planned with, which rolls the write back to be planned again.

A new version of the layout is a new :class:`Migration` appended to
:data:`MIGRATIONS` (never an edit of an applied one), and :data:`RECORDS_TABLE`
/ :data:`INDEX_TABLE` change with it when tables created from then on differ.
:func:`migrate` applies the missing ones in one transaction under an advisory
lock, so processes starting together upgrade the database once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from gateway.storage.errors import StoreError

STALE_SQLSTATE = "GW001"
"""Raised by ``count_records`` when a table's attributes changed under a write."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema: statements with ``{schema}`` for the store's schema."""

    version: int
    description: str
    statements: tuple[LiteralString, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "catalog of databases, tables and attributes; record counts; catalog versions",
        (
            """CREATE TABLE {schema}.databases (
                name text PRIMARY KEY,
                created double precision NOT NULL
            )""",
            """CREATE TABLE {schema}.tables (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                database text NOT NULL REFERENCES {schema}.databases (name),
                name text NOT NULL,
                primary_key text NOT NULL,
                schema_defined boolean NOT NULL,
                created double precision NOT NULL,
                expiration bigint,
                record_count bigint NOT NULL DEFAULT 0,
                version bigint NOT NULL DEFAULT 0,
                UNIQUE (database, name)
            )""",
            """CREATE TABLE {schema}.attributes (
                id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                table_id bigint NOT NULL REFERENCES {schema}.tables (id) ON DELETE CASCADE,
                name text NOT NULL,
                indexed boolean NOT NULL,
                type text,
                UNIQUE (table_id, name)
            )""",
            "CREATE TABLE {schema}.catalog (version bigint NOT NULL)",
            "INSERT INTO {schema}.catalog (version) VALUES (0)",
            """CREATE FUNCTION {schema}.count_records(tid bigint, planned bigint, delta bigint)
            RETURNS bigint LANGUAGE plpgsql AS $$
            DECLARE
                current bigint;
            BEGIN
                IF delta = 0 THEN
                    SELECT version INTO current FROM {schema}.tables WHERE id = tid;
                ELSE
                    UPDATE {schema}.tables SET record_count = record_count + delta
                    WHERE id = tid RETURNING version INTO current;
                END IF;
                IF current IS DISTINCT FROM planned THEN
                    RAISE EXCEPTION 'the attributes of table % changed during the write', tid
                        USING ERRCODE = 'GW001';
                END IF;
                RETURN current;
            END
            $$""",
        ),
    ),
    Migration(
        2,
        "the transaction log of each gateway table",
        (
            """CREATE TABLE {schema}.txlog (
                table_id bigint NOT NULL REFERENCES {schema}.tables (id) ON DELETE CASCADE,
                ts double precision NOT NULL,
                seq bigint GENERATED ALWAYS AS IDENTITY,
                entry bytea NOT NULL,
                PRIMARY KEY (table_id, ts, seq)
            )""",
            "CREATE INDEX txlog_ts ON {schema}.txlog (ts)",
        ),
    ),
)

RECORDS_TABLE: LiteralString = "CREATE TABLE {schema}.{name} (k bytea PRIMARY KEY, r text NOT NULL)"
"""A gateway table's records, at the newest layout."""
INDEX_TABLE: LiteralString = (
    "CREATE TABLE {schema}.{name} (a integer NOT NULL, e bytea NOT NULL, PRIMARY KEY (a, e))"
)
"""A gateway table's index entries (every indexed attribute's), at the newest layout."""

_BOOTSTRAP: LiteralString = """CREATE TABLE IF NOT EXISTS {schema}.schema_version (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied timestamptz NOT NULL DEFAULT now()
)"""


def latest() -> int:
    """The schema version this code writes."""
    return MIGRATIONS[-1].version


def migrate(conn: psycopg.Connection[Any], schema: str, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Create ``schema`` or bring it up to the newest version; that version.

    One transaction: a failed migration leaves the database as it was. A database
    written by a newer version is refused (StoreError) rather than misread.
    """
    target = migrations[-1].version
    name = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["gateway-schema:" + schema])
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        conn.execute(sql.SQL(_BOOTSTRAP).format(schema=name))
        row = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_version").format(name)).fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > target:
            raise StoreError(
                f"the PostgreSQL schema {schema!r} is at version {current}, newer than this "
                f"gateway's {target}: run a newer gateway"
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                conn.execute(sql.SQL(statement).format(schema=name))
            conn.execute(
                sql.SQL("INSERT INTO {}.schema_version (version, description) VALUES (%s, %s)").format(name),
                [migration.version, migration.description],
            )
    return target
