"""The Catalog port on PostgreSQL: databases, tables and attributes, and facts about them.

Every change is one transaction that ends by bumping the catalog's version (and the
changed table's), so other processes reload it. Mutual exclusion between processes
comes from the database: unique keys with ``ON CONFLICT DO NOTHING`` decide which of
two creators wins; a schema change that rewrites a table (``drop_attribute``,
``index_attribute``) holds an EXCLUSIVE lock on its relations, so writers wait and
readers go on; a drop holds an ACCESS EXCLUSIVE lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import sql

from gateway.storage import keys as K
from gateway.storage.errors import (
    AttributeExists,
    DatabaseExists,
    DatabaseNotFound,
    InvalidRecord,
    TableExists,
    TableNotFound,
)
from gateway.storage.postgres.copyrows import copy_in, index_payload, unique_sorted
from gateway.storage.postgres.database import Connection, PgDatabase, PgTable, Stale, index_name, records_name
from gateway.storage.postgres.migrations import INDEX_TABLE, RECORDS_TABLE
from gateway.storage.postgres.staging import bump_versions
from gateway.storage.records import CREATED, UPDATED, AttributeInfo, TableInfo

REWRITE_ROWS = 5_000
"""Records read and rewritten per round when a whole table changes (drop_attribute, index backfill)."""


class PgCatalog:
    """Catalog reads check the catalog version first (one row); changes are transactions."""

    def __init__(self, database: PgDatabase) -> None:
        self._db = database

    # -- databases --------------------------------------------------------------------

    def list_databases(self) -> list[str]:
        self._db.refresh()
        return sorted(self._db.databases())

    def has_database(self, database: str) -> bool:
        self._db.refresh()
        return database in self._db.databases()

    def create_database(self, database: str) -> None:
        db = self._db

        def work(conn: Connection) -> None:
            row = conn.execute(
                db.q(
                    "INSERT INTO {schema}.databases (name, created) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING RETURNING name"
                ),
                [database, db.now_ms()],
            ).fetchone()
            if row is None:
                raise DatabaseExists(database)
            bump_versions(conn, db, ())

        db.transact(work)
        db.refresh()

    def drop_database(self, database: str) -> None:
        db = self._db

        def work(conn: Connection) -> None:
            listed = _table_ids(conn, db, database)
            _lock_relations(conn, db, listed, "ACCESS EXCLUSIVE")
            found = conn.execute(
                db.q("SELECT name FROM {schema}.databases WHERE name = %s FOR UPDATE"), [database]
            ).fetchone()
            if found is None:
                raise DatabaseNotFound(database)
            if _table_ids(conn, db, database) != listed:
                raise Stale(f"a table was created in {database} meanwhile")
            conn.execute(db.q("DELETE FROM {schema}.tables WHERE database = %s"), [database])
            _drop_relations(conn, db, listed)
            conn.execute(db.q("DELETE FROM {schema}.databases WHERE name = %s"), [database])
            bump_versions(conn, db, ())

        db.transact(work)
        db.refresh()

    # -- tables -----------------------------------------------------------------------

    def list_tables(self, database: str) -> list[TableInfo]:
        self._db.refresh()
        if database not in self._db.databases():
            raise DatabaseNotFound(database)
        return [t.info for (d, _), t in sorted(self._db.tables().items()) if d == database]

    def table(self, database: str, table: str) -> TableInfo:
        self._db.refresh()
        return self._db.table(database, table).info

    def create_table(
        self,
        database: str,
        table: str,
        primary_key: str = "id",
        attributes: Sequence[AttributeInfo] | None = None,
        expiration: int | None = None,
    ) -> TableInfo:
        db = self._db
        schema_defined = attributes is not None
        declared: dict[str, AttributeInfo] = {primary_key: AttributeInfo(primary_key, True, None)}
        for attr in attributes or ():
            if attr.name == primary_key:
                declared[primary_key].type = attr.type
            else:
                declared[attr.name] = AttributeInfo(attr.name, attr.indexed, attr.type)
        if not schema_defined:
            for name in (CREATED, UPDATED):
                declared[name] = AttributeInfo(name, True, None)
        created = db.now_ms()

        def work(conn: Connection) -> None:
            conn.execute(
                db.q("INSERT INTO {schema}.databases (name, created) VALUES (%s, %s) ON CONFLICT DO NOTHING"),
                [database, created],
            )
            row = conn.execute(
                db.q(
                    "INSERT INTO {schema}.tables "
                    "(database, name, primary_key, schema_defined, created, expiration) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (database, name) DO NOTHING RETURNING id"
                ),
                [database, table, primary_key, schema_defined, created, expiration],
            ).fetchone()
            if row is None:
                raise TableExists(database, table)
            table_id = int(row[0])
            conn.execute(
                db.q(
                    "INSERT INTO {schema}.attributes (table_id, name, indexed, type) "
                    "SELECT %s, n, i, t FROM unnest(%s::text[], %s::bool[], %s::text[]) "
                    "WITH ORDINALITY AS u(n, i, t, o) ORDER BY o"
                ),
                [
                    table_id,
                    [a.name for a in declared.values()],
                    [a.indexed for a in declared.values()],
                    [a.type for a in declared.values()],
                ],
            )
            described = sql.Literal(f"{database}.{table}")
            for template, name in (
                (RECORDS_TABLE, records_name(table_id)),
                (INDEX_TABLE, index_name(table_id)),
            ):
                conn.execute(sql.SQL(template).format(schema=db.name, name=sql.Identifier(name)))
                conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(db.relation(name), described))
            bump_versions(conn, db, ())

        db.transact(work)
        db.refresh()
        return db.table(database, table).info

    def drop_table(self, database: str, table: str) -> None:
        db = self._db

        def work(conn: Connection) -> None:
            handle = db.table(database, table)
            _lock_relations(conn, db, [handle.id], "ACCESS EXCLUSIVE")
            gone = conn.execute(
                db.q("DELETE FROM {schema}.tables WHERE id = %s RETURNING id"), [handle.id]
            ).fetchone()
            if gone is None:
                raise Stale(f"table {handle.id} dropped meanwhile")
            _drop_relations(conn, db, [handle.id])
            bump_versions(conn, db, ())

        db.transact(work)
        db.refresh()

    # -- attributes -------------------------------------------------------------------

    def add_attribute(self, database: str, table: str, attribute: str, indexed: bool = True) -> None:
        """A new attribute has no values yet (every written attribute is registered first, and
        ``drop_attribute`` removes the values with the attribute), so there is nothing to index."""
        db = self._db

        def work(conn: Connection) -> None:
            handle = db.table(database, table)
            row = conn.execute(
                db.q(
                    "INSERT INTO {schema}.attributes (table_id, name, indexed) VALUES (%s, %s, %s) "
                    "ON CONFLICT (table_id, name) DO NOTHING RETURNING id"
                ),
                [handle.id, attribute, indexed],
            ).fetchone()
            if row is None:
                raise AttributeExists(database, table, attribute)
            bump_versions(conn, db, [handle.id])

        db.transact(work)
        db.refresh()

    def drop_attribute(self, database: str, table: str, attribute: str) -> None:
        """Forget an attribute: its index entries and its value in every record, in one transaction."""
        db = self._db
        if attribute == db.table(database, table).info.primary_key:
            raise InvalidRecord(f"cannot drop the primary key attribute '{attribute}'")

        def work(conn: Connection) -> None:
            handle = db.table(database, table)
            _lock_relations(conn, db, [handle.id], "EXCLUSIVE")
            row = conn.execute(
                db.q("DELETE FROM {schema}.attributes WHERE table_id = %s AND name = %s RETURNING id"),
                [handle.id, attribute],
            ).fetchone()
            if row is None:
                return
            conn.execute(handle.sql("DELETE FROM {index} WHERE a = %s"), [row[0]])
            _rewrite_without(conn, handle, attribute)
            bump_versions(conn, db, [handle.id])

        db.transact(work)
        db.refresh()

    def index_attribute(self, database: str, table: str, attribute: str) -> bool:
        db = self._db

        def work(conn: Connection) -> bool:
            handle = db.table(database, table)
            if attribute == handle.info.primary_key:
                return False
            _lock_relations(conn, db, [handle.id], "EXCLUSIVE")
            row = conn.execute(
                db.q(
                    "SELECT id, indexed FROM {schema}.attributes WHERE table_id = %s AND name = %s FOR UPDATE"
                ),
                [handle.id, attribute],
            ).fetchone()
            if row is not None and row[1]:
                return False
            if row is None:  # a new attribute: no record has it yet
                conn.execute(
                    db.q("INSERT INTO {schema}.attributes (table_id, name, indexed) VALUES (%s, %s, true)"),
                    [handle.id, attribute],
                )
            else:
                conn.execute(db.q("UPDATE {schema}.attributes SET indexed = true WHERE id = %s"), [row[0]])
                _backfill(conn, handle, attribute, int(row[0]))
            bump_versions(conn, db, [handle.id])
            return True

        added = db.transact(work)
        if added:
            db.refresh()
        return added

    def is_indexed(self, database: str, table: str, attribute: str) -> bool:
        self._db.refresh()
        handle = self._db.table(database, table)
        return attribute == handle.info.primary_key or attribute in handle.indexed

    # -- facts ------------------------------------------------------------------------

    def count(self, database: str, table: str) -> int:
        """Exact: kept with every write. A table that expires records counts its live ones (a scan)."""
        db = self._db

        def work(conn: Connection, handle: PgTable) -> int:
            if handle.info.expiration:
                row = conn.execute(
                    handle.sql(
                        "SELECT count(*) FROM {records}, "
                        "LATERAL (SELECT r::json AS j) AS parsed, "
                        "LATERAL (SELECT coalesce(j -> '__updatedtime__', j -> '__createdtime__') AS w) AS m "
                        "WHERE NOT coalesce(CASE json_typeof(w) "
                        "WHEN 'number' THEN (w::text)::float8 "
                        "WHEN 'boolean' THEN (w::text)::boolean::int END + %s < %s, false)"
                    ),
                    [handle.info.expiration * 1000.0, db.now_ms()],
                ).fetchone()
            else:
                row = conn.execute(
                    db.q("SELECT record_count FROM {schema}.tables WHERE id = %s"), [handle.id]
                ).fetchone()
                if row is None:  # dropped by another process
                    raise TableNotFound(handle.info.database, handle.info.name)
            return int(row[0]) if row else 0

        return db.on_table(database, table, work)

    def size_bytes(self, database: str, table: str) -> int:
        db = self._db

        def work(conn: Connection, handle: PgTable) -> int:
            row = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
                [db.schema, [records_name(handle.id), index_name(handle.id)]],
            ).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        return db.on_table(database, table, work)

    def last_updated(self, database: str, table: str) -> float | None:
        db = self._db
        attribute_id = db.table(database, table).indexed.get(UPDATED)
        if attribute_id is None:
            return None

        def work(conn: Connection, handle: PgTable) -> Any:
            row = conn.execute(
                handle.sql("SELECT e FROM {index} WHERE a = %s ORDER BY e DESC LIMIT 1"),
                [handle.indexed.get(UPDATED, attribute_id)],
                binary=True,
            ).fetchone()
            return K.decode_key(row[0]) if row else None

        value = db.on_table(database, table, work)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _table_ids(conn: Connection, db: PgDatabase, database: str) -> list[int]:
    rows = conn.execute(db.q("SELECT id FROM {schema}.tables WHERE database = %s ORDER BY id"), [database])
    return [int(r[0]) for r in rows.fetchall()]


def _lock_relations(conn: Connection, db: PgDatabase, table_ids: Sequence[int], mode: str) -> None:
    """Lock the relations of gateway tables (``mode``: EXCLUSIVE holds writers off, ACCESS EXCLUSIVE everyone)."""
    if not table_ids:
        return
    names = [db.relation(f(t)) for t in table_ids for f in (records_name, index_name)]
    lock = "EXCLUSIVE" if mode == "EXCLUSIVE" else "ACCESS EXCLUSIVE"
    conn.execute(sql.SQL("LOCK TABLE {} IN " + lock + " MODE").format(sql.SQL(", ").join(names)))


def _drop_relations(conn: Connection, db: PgDatabase, table_ids: Sequence[int]) -> None:
    if table_ids:
        names = [db.relation(f(t)) for t in table_ids for f in (records_name, index_name)]
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(", ").join(names)))


def _rewrite_without(conn: Connection, handle: PgTable, attribute: str) -> None:
    """Remove ``attribute`` from every record that has it (in rounds of ``REWRITE_ROWS``)."""
    low = b""
    while True:
        rows = conn.execute(
            handle.sql(
                "SELECT k, r FROM {records} WHERE k >= %b AND (r::json -> %s) IS NOT NULL ORDER BY k LIMIT %s"
            ),
            [low, attribute, REWRITE_ROWS],
            binary=True,
        ).fetchall()
        if not rows:
            return
        keys, texts = [], []
        for key, raw in rows:
            record = orjson.loads(raw)
            record.pop(attribute, None)
            keys.append(key)
            texts.append(orjson.dumps(record).decode())
        conn.execute(
            handle.sql(
                "UPDATE {records} AS t SET r = u.r FROM unnest(%b::bytea[], %b::text[]) AS u(k, r) "
                "WHERE t.k = u.k"
            ),
            [keys, texts],
        )
        low = keys[-1] + b"\x00"


def _backfill(conn: Connection, handle: PgTable, attribute: str, attribute_id: int) -> None:
    """Index the stored records' values of ``attribute``."""
    low = b""
    entries: list[bytes] = []
    while True:
        rows = conn.execute(
            handle.sql(
                "SELECT k, v FROM {records}, LATERAL (SELECT r::json -> %s AS v) AS value "
                "WHERE k >= %b AND v IS NOT NULL ORDER BY k LIMIT %s"
            ),
            [attribute, low, REWRITE_ROWS],
            binary=True,
        ).fetchall()
        for key, raw in rows:
            entries.extend(value_key + key for value_key in K.value_keys(orjson.loads(raw)))
        if len(rows) < REWRITE_ROWS:
            break
        low = rows[-1][0] + b"\x00"
    if entries:
        copy_in(
            conn,
            handle.sql("COPY {index} (a, e) FROM STDIN (FORMAT BINARY)"),
            index_payload([(attribute_id, unique_sorted(entries))]),
        )
