"""The opened PostgreSQL store that every PostgreSQL port shares: the connection pool, the
catalog cache, transactions (with their retries) and the translation of psycopg's errors.

Catalog cache: each process keeps the tables it knows (:class:`PgTable`: ids, attribute
ids, version) and the catalog version it read them at. Catalog reads of the ports
check that version first (one single-row read) and reload what changed; writes use
the cache as it is and let the database tell them when it was stale: a table dropped
by another process is an undefined relation, and ``count_records`` refuses a write
planned with an old version of its table's attributes. Both roll the transaction back,
reload, and run it again.

Lock order, so that concurrent processes never wait on each other in a circle: a
gateway table's own relations first (rows locked by writes, or the whole relation by
schema changes), then its ``tables`` row, its ``attributes`` rows, and the ``catalog``
row last. Deadlocks PostgreSQL still finds (writers of several tables meeting in
another order) and races on new keys are retried.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, LiteralString, Protocol, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import Format
from psycopg_pool import ConnectionPool, PoolTimeout

from gateway.storage.errors import (
    RECORDS_STORE,
    DatabaseNotFound,
    OutOfSpace,
    StoreError,
    StoreFailure,
    StoreUnavailable,
    TableNotFound,
)
from gateway.storage.ports import Clock
from gateway.storage.postgres import arrays
from gateway.storage.postgres.migrations import STALE_SQLSTATE, migrate
from gateway.storage.records import AttributeInfo, TableInfo
from gateway.storage.txlog import TxLogSettings

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

ATTEMPTS = 30
"""Runs of a transaction that met a concurrent writer (a race on a new key, a deadlock, a stale catalog)."""
CONNECT_TIMEOUT = 10
"""Seconds to wait for the server when the DSN does not say (``connect_timeout``)."""
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_UNREACHABLE_STATES = ("57P01", "57P02", "57P03")
_NO_SPACE_STATES = ("53100",)  # disk_full


class RawJson(Loader):
    """Loads ``json`` values (``r::json -> attribute``) as their bytes for orjson, not through ``json.loads``."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


class RawJsonBinary(RawJson):
    format = Format.BINARY


def describe(dsn: str) -> str:
    """``PostgreSQL at user@host:port/database`` for messages (never the password)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise StoreError(
            "storage.postgres.dsn is not a PostgreSQL connection string "
            "(expected e.g. postgresql://user@host:5432/database)"
        ) from exc
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or "5432")
    user = str(params.get("user") or "")
    database = str(params.get("dbname") or user or "postgres")
    return f"PostgreSQL at {user + '@' if user else ''}{host}:{port}/{database}"


@dataclass(eq=False)
class PgTable:
    """One gateway table as this process knows it: ids, attributes, and its relations' queries."""

    id: int
    version: int
    info: TableInfo
    attribute_ids: dict[str, int]
    indexed: dict[str, int]
    """Attributes with an index (the primary key excluded) → their id, in attribute order."""
    records: sql.Composable
    index: sql.Composable
    _queries: dict[str, bytes] = field(default_factory=dict)

    def sql(self, template: LiteralString) -> bytes:
        """``template`` with ``{records}`` and ``{index}`` naming this table's relations (cached)."""
        query = self._queries.get(template)
        if query is None:
            composed = sql.SQL(template).format(records=self.records, index=self.index)
            query = self._queries[template] = composed.as_bytes(None)
        return query


class Abandonable(Protocol):
    """A write begun ahead that can be rolled back."""

    def abandon(self) -> None: ...


class Stale(Exception):
    """The catalog changed under a transaction: reload it and run the transaction again."""


_RETRIED = (
    pg_errors.UniqueViolation,  # two writers inserting the same new key
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
    pg_errors.ForeignKeyViolation,  # a table or database dropped under a catalog change
    pg_errors.UndefinedTable,  # a table dropped (or re-created) by another process
    Stale,
)


class PgDatabase:
    """One PostgreSQL schema holding a gateway store, opened by one process."""

    def __init__(
        self, dsn: str, clock: Clock, schema: str = "gateway", pool_size: int = 10, timeout: float = 10.0
    ) -> None:
        self.where = describe(dsn)
        if not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(f"storage.postgres.schema: {schema!r} is not a lower-case SQL identifier")
        self.schema = schema
        self.clock = clock
        self.txlog = TxLogSettings()
        """Whether the write paths log their writes (``postgres/txlog.py``), set from the configuration."""
        self.timeout = timeout
        self.name = sql.Identifier(schema)
        kwargs: dict[str, Any] = {"autocommit": True, "application_name": "gateway"}
        if "connect_timeout" not in conninfo_to_dict(dsn):
            kwargs["connect_timeout"] = CONNECT_TIMEOUT
        try:
            with psycopg.connect(dsn, **kwargs) as conn:
                migrate(conn, schema)
        except psycopg.Error as exc:
            raise self.translate(exc) from exc
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(2, pool_size),
            kwargs=kwargs,
            configure=_configure,
            open=True,
            timeout=timeout,
            name=f"gateway-{schema}",
            num_workers=2,
        )
        self.spare_connections = threading.BoundedSemaphore(max(1, min(4, pool_size - 4)))
        """Connections bulk loads may hold for writes begun ahead (``prepared``); none below 5."""
        if pool_size < 5:
            self.spare_connections.acquire()
        self._executor: ThreadPoolExecutor | None = None
        self._open_writes: weakref.WeakSet[Abandonable] = weakref.WeakSet()
        self._refresh_lock = threading.Lock()
        self._version = -1
        self._databases: dict[str, float] = {}
        self._tables: dict[tuple[str, str], PgTable] = {}
        try:
            self.refresh()
        except BaseException:
            self.pool.close()
            raise

    def now_ms(self) -> float:
        """The store's clock in epoch milliseconds (records' ``__createdtime__``/``__updatedtime__``)."""
        return self.clock() * 1000.0

    def q(self, template: LiteralString) -> sql.Composed:
        """A catalog query: ``template`` with ``{schema}`` naming the store's schema."""
        return sql.SQL(template).format(schema=self.name)

    # -- errors -----------------------------------------------------------------------

    def translate(self, exc: psycopg.Error) -> StoreError:
        """The store error for a psycopg error: StoreUnavailable when the server cannot be reached,
        OutOfSpace when its disk is full, else StoreFailure (the store failed, not the record)."""
        if isinstance(exc, PoolTimeout):
            return StoreUnavailable(
                f"{self.where} is unavailable: no connection within {self.timeout:g} s "
                "(the server is down or every connection is busy)"
            )
        state = exc.sqlstate or ""
        message = " ".join(str(exc).split())
        if isinstance(exc, psycopg.OperationalError) and (
            not state or state.startswith("08") or state in _UNREACHABLE_STATES
        ):
            return StoreUnavailable(f"{self.where} is unavailable: {message}")
        if state in _NO_SPACE_STATES:
            return OutOfSpace(RECORDS_STORE, f"{self.where}: {message}")
        return StoreFailure(f"{self.where}: {message}" + (f" (SQLSTATE {state})" if state else ""))

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection (autocommit: each statement is its own transaction unless grouped)."""
        with self.pool.connection() as conn:
            yield conn

    def _drop_broken_connections(self) -> None:
        """After a connection was found lost: test the pool's idle ones, replacing those lost too
        (a server restart or a dropped link loses them all), so that the next attempt gets a live one."""
        with suppress(psycopg.Error):
            self.pool.check()

    def read(self, handle: PgTable, work: Callable[[Connection], T]) -> T:
        """``work`` on a pooled connection; TableNotFound if ``handle``'s relations are gone.

        A connection the server dropped (a restart) is replaced once.
        """
        for attempt in (1, 2):
            try:
                with self.connection() as conn:
                    return work(conn)
            except pg_errors.UndefinedTable as exc:
                raise TableNotFound(handle.info.database, handle.info.name) from exc
            except psycopg.OperationalError as exc:
                if attempt == 1 and _broken(exc):
                    self._drop_broken_connections()
                    continue
                raise self.translate(exc) from exc
            except psycopg.Error as exc:
                raise self.translate(exc) from exc
        raise AssertionError("unreachable")

    def on_table(self, database: str, table: str, work: Callable[[Connection, PgTable], T]) -> T:
        """``read`` of a table by name, looked up again once if another process dropped or replaced it."""
        handle = self.table(database, table)
        try:
            return self.read(handle, lambda conn: work(conn, handle))
        except TableNotFound:
            self.refresh()
            again = self.table(database, table)
            if again.id == handle.id:
                raise
            return self.read(again, lambda conn: work(conn, again))

    def transact(self, work: Callable[[Connection], T], pipelined: bool = False) -> T:
        """``work`` in one transaction, run again (from the start) after a race with another writer.

        ``work`` looks its tables up by name on each run. A connection the server
        dropped before the commit was sent is replaced once. ``pipelined``: the
        transaction runs in pipeline mode, so that its begin, the statements whose
        results ``work`` does not read, and its commit go out together (one round trip
        where ``work`` reads nothing; one statement a call, no COPY). Its COMMIT goes out
        with the rest, so a connection lost then may have committed: pipelined ``work``
        must plan from what is stored, so that running it again after a commit changes
        nothing (``imports.write_records``; new keys already stored then fail it as a
        conflict, never write twice).
        """
        problem: Exception | None = None
        replaced = False
        for _ in range(ATTEMPTS):
            committing = False
            try:
                with self.connection() as conn:
                    if pipelined:
                        return _in_one_round_trip(conn, work)
                    with conn.transaction():
                        result = work(conn)
                        committing = True
                    return result
            except _RETRIED as exc:
                problem = exc
                if not isinstance(exc, pg_errors.UniqueViolation | pg_errors.DeadlockDetected):
                    self.refresh(force=True)
            except psycopg.Error as exc:
                if _stale(exc):
                    problem = exc
                    self.refresh(force=True)
                    continue
                if (
                    committing
                    or replaced
                    or not isinstance(exc, psycopg.OperationalError)
                    or not _broken(exc)
                ):
                    raise self.translate(exc) from exc
                replaced = True
                self._drop_broken_connections()
        raise StoreError(
            f"{self.where}: gave up after {ATTEMPTS} conflicts with concurrent writers ({problem})"
        )

    # -- the catalog cache --------------------------------------------------------------

    def table(self, database: str, table: str) -> PgTable:
        """The table as last loaded (reloaded once on a miss); DatabaseNotFound or TableNotFound."""
        found = self._tables.get((database, table))
        if found is None:
            self.refresh()
            found = self._tables.get((database, table))
            if found is None:
                if database not in self._databases:
                    raise DatabaseNotFound(database)
                raise TableNotFound(database, table)
        return found

    def tables(self) -> dict[tuple[str, str], PgTable]:
        """Every table as last loaded."""
        return self._tables

    def databases(self) -> dict[str, float]:
        """Database name → creation time, as last loaded."""
        return self._databases

    def refresh(self, force: bool = False) -> None:
        """Reload the catalog if another process (or this one) changed it since it was read."""
        if not force:
            try:
                with self.connection() as conn:
                    row = conn.execute(self.q("SELECT version FROM {schema}.catalog")).fetchone()
            except psycopg.Error as exc:
                raise self.translate(exc) from exc
            if row is not None and row[0] == self._version:
                return
        with self._refresh_lock:
            try:
                with self.connection() as conn, conn.transaction():
                    self._load(conn)
            except psycopg.Error as exc:
                raise self.translate(exc) from exc

    def _load(self, conn: Connection) -> None:
        """Read the catalog in one snapshot; tables whose version is unchanged are kept as they are."""
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute(self.q("SELECT version FROM {schema}.catalog")).fetchone()
        version = int(row[0]) if row else 0
        databases: dict[str, float] = dict(
            conn.execute(self.q("SELECT name, created FROM {schema}.databases")).fetchall()
        )
        rows = conn.execute(
            self.q(
                "SELECT id, database, name, primary_key, schema_defined, created, expiration, version "
                "FROM {schema}.tables"
            )
        ).fetchall()
        known = {t.id: t for t in self._tables.values()}
        changed = [r[0] for r in rows if r[0] not in known or known[r[0]].version != r[7]]
        attributes: dict[int, list[tuple[int, str, bool, str | None]]] = {tid: [] for tid in changed}
        if changed:
            for tid, aid, name, indexed, kind in conn.execute(
                self.q(
                    "SELECT table_id, id, name, indexed, type FROM {schema}.attributes "
                    "WHERE table_id = ANY(%s) ORDER BY id"
                ),
                [changed],
            ):
                attributes[tid].append((aid, name, indexed, kind))
        tables: dict[tuple[str, str], PgTable] = {}
        for tid, database, name, primary_key, schema_defined, created, expiration, tversion in rows:
            if tid in attributes:
                info = TableInfo(
                    database=database,
                    name=name,
                    primary_key=primary_key,
                    schema_defined=schema_defined,
                    attributes={a: AttributeInfo(a, ix, kind) for _, a, ix, kind in attributes[tid]},
                    created=created,
                    expiration=expiration,
                )
                tables[(database, name)] = PgTable(
                    id=tid,
                    version=tversion,
                    info=info,
                    attribute_ids={a: aid for aid, a, _, _ in attributes[tid]},
                    indexed={a: aid for aid, a, ix, _ in attributes[tid] if ix and a != primary_key},
                    records=self.relation(records_name(tid)),
                    index=self.relation(index_name(tid)),
                )
            else:
                tables[(database, name)] = known[tid]
        self._databases = databases
        self._tables = tables
        self._version = version

    def flush(self) -> None:
        """Make every transaction committed so far durable, those committed without waiting included.

        A synchronous commit waits for the write-ahead log up to its own commit record,
        which lies after every earlier commit's.
        """
        try:
            with self.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_current_xact_id()")  # an xid: the commit writes (and waits for) WAL
        except psycopg.Error as exc:
            raise self.translate(exc) from exc

    def relation(self, name: str) -> sql.Composable:
        """A relation of the store's schema."""
        return sql.Identifier(self.schema, name)

    def background(self, work: Callable[[], T]) -> Future[T]:
        """Run ``work`` on one of the store's two background threads (taken in the order handed over)."""
        with self._refresh_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"pg-{self.schema}")
            return self._executor.submit(work)

    def on_close(self, write: Abandonable) -> None:
        """Abandon ``write`` at close if it is still around then."""
        self._open_writes.add(write)

    def close(self) -> None:
        """Roll back writes begun ahead, stop the background threads, close every pooled connection."""
        for write in list(self._open_writes):
            write.abandon()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self.pool.close()


def records_name(table_id: int) -> str:
    """The relation holding a gateway table's records."""
    return f"records_{table_id}"


def index_name(table_id: int) -> str:
    """The relation holding a gateway table's index entries."""
    return f"index_{table_id}"


def _configure(conn: Connection) -> None:
    conn.adapters.register_loader("json", RawJson)
    conn.adapters.register_loader("json", RawJsonBinary)
    arrays.register(conn)


def _in_one_round_trip(conn: Connection, work: Callable[[Connection], T]) -> T:
    """``work`` between a BEGIN and a COMMIT sent in one pipeline, with a single sync at its end.

    (psycopg's ``transaction()`` in pipeline mode syncs when it begins, and so does every
    nested pipeline: each sync is a round trip, and in a process whose other thread holds
    the GIL each costs up to a switch interval more.) On an error the transaction, left
    open and failed by the server, is rolled back as the pooled connection's context ends.
    """
    with conn.pipeline():
        conn.execute("BEGIN")
        result = work(conn)
        conn.execute("COMMIT")
    return result


def _broken(exc: psycopg.OperationalError) -> bool:
    """Whether the error is a connection lost before the statement ran (a server restart, a dropped link)."""
    if isinstance(exc, PoolTimeout):
        return False
    state = exc.sqlstate or ""
    return not state or state.startswith("08") or state in _UNREACHABLE_STATES


def _stale(exc: psycopg.Error) -> bool:
    return exc.sqlstate == STALE_SQLSTATE
