"""The task queue on PostgreSQL: procrastinate's jobs in the store's own schema.

- **Schema**: procrastinate's tables and functions live in the store's schema, created
  at open together with the store's migrations (:func:`migrate_queue`, under an
  advisory lock; a newer procrastinate's migrations are applied in order). Its SQL
  names its objects without a schema, so every connection that uses them sets
  ``search_path`` to the store's schema (the worker's connections for good, a store
  transaction with ``SET LOCAL``).
- **Atomic enqueue**: :meth:`PgTaskQueue.enqueue` changes the record and defers the
  job in one store transaction: the record is locked (``FOR UPDATE``) and rewritten
  with the Records port's staging, and procrastinate inserts the job on the same
  connection (``configure(connection=…)``, its synchronous connector never opened).
  A refused change rolls back and queues nothing; a failed defer rolls the change back.
- **Workers**: :meth:`PgTaskQueue.start` runs a procrastinate worker on an event loop
  of its own thread (its own small async pool; the tasks themselves use the store's
  pool). ``fetch_job`` hands each job to one worker only (``FOR UPDATE SKIP LOCKED``).
  The worker beats every ``heartbeat`` seconds; a worker whose last beat is older than
  ``stalled`` seconds is dead. Its jobs are not :meth:`~PgTaskQueue.alive` (the
  families then fail what they had recorded as running), and the live workers put them
  back in the queue (:meth:`PgTaskQueue.requeue_stalled`): a job that never began
  runs, one that had begun finds its record no longer waiting and does nothing. Jobs
  are deleted when they end (their arguments may hold a request's data).
- **Stopping**: :meth:`PgTaskQueue.stop` cancels the worker, which fetches nothing more
  and waits for its running jobs (their families tell them to stop at a record
  boundary). A task raising :class:`Postponed` goes back to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions as pc_exceptions
from procrastinate import jobs as pc_jobs
from procrastinate.schema import SchemaManager
from procrastinate.worker import Worker
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from gateway.storage import keys as K
from gateway.storage.errors import StoreError, StoreFailure
from gateway.storage.postgres.database import CONNECT_TIMEOUT, Connection, PgDatabase
from gateway.storage.postgres.staging import Plan, begin, finish, read_stored, register, stage
from gateway.storage.queue import Args, Change, Postponed, Run
from gateway.storage.system import SYSTEM_DB
from gateway.storage.writeplan import keys_for_write

log = logging.getLogger("gateway.jobs")
logging.getLogger("procrastinate").setLevel(logging.WARNING)  # a line per job is too many

QUEUE = "gateway"
"""The procrastinate queue the gateway's jobs go to."""
RESTART_SECONDS = 2.0
FETCH_POLL_SECONDS = 2.0
"""A worker looks for queued work at least this often: PostgreSQL's notifications wake it at once,
but a job deferred while the worker was connecting (before it listens) waits for the next look."""
"""How long a worker whose connection failed waits before it starts again."""
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class _RunPostponedAgain(procrastinate.BaseRetryStrategy):
    """A task that raised Postponed goes back to the queue at once; any other failure does not."""

    def get_retry_decision(
        self, *, exception: BaseException, job: pc_jobs.Job
    ) -> procrastinate.RetryDecision | None:
        if isinstance(exception, Postponed):
            return procrastinate.RetryDecision()
        return None


def _version(text: str) -> tuple[int, int, int]:
    found = _VERSION.match(text)
    if found is None:
        raise StoreError(f"cannot read a procrastinate version from {text!r}")
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch)


def pending_migrations(applied: str, installed: str, names: list[str]) -> list[str]:
    """procrastinate's migration files (``03.04.00_01_….sql``) newer than ``applied`` and not newer
    than ``installed`` (both package versions), in the order to apply them."""
    low, high = _version(applied), _version(installed)
    chosen = [name for name in names if name.endswith(".sql") and low < _version(name) <= high]
    return sorted(chosen)


def migrate_queue(conn: Connection, schema: str) -> str:
    """Create procrastinate's schema in ``schema`` or bring it to the installed version; that version.

    One transaction under an advisory lock, so processes starting together do it once.
    A schema written by a newer procrastinate is refused (StoreError).
    """
    installed = procrastinate.__version__
    name = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["gateway-queue:" + schema])
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(name))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.queue_schema "
                "(version text PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
            ).format(name)
        )
        rows = conn.execute(sql.SQL("SELECT version FROM {}.queue_schema").format(name)).fetchall()
        applied = max((str(row[0]) for row in rows), key=_version, default=None)
        if applied is not None and _version(applied) == _version(installed):
            return installed
        if applied is None:
            conn.execute(SchemaManager.get_schema())
        elif _version(applied) > _version(installed):
            raise StoreError(
                f"the job queue in PostgreSQL schema {schema!r} was created by procrastinate {applied}, "
                f"newer than this gateway's {installed}: run a newer gateway"
            )
        else:
            directory = Path(SchemaManager.get_migrations_path())
            names = [path.name for path in directory.iterdir()]
            for migration in pending_migrations(applied, installed, names):
                conn.execute((directory / migration).read_text("utf-8").encode())
        conn.execute(sql.SQL("INSERT INTO {}.queue_schema (version) VALUES (%s)").format(name), [installed])
    return installed


class PgTaskQueue:
    """The :class:`gateway.storage.queue.TaskQueue` of a PostgreSQL store."""

    durable = True

    def __init__(self, database: PgDatabase, dsn: str, heartbeat: float, stalled: float) -> None:
        self._db = database
        self._dsn = dsn
        self.heartbeat = max(0.05, float(heartbeat))
        self.stalled = max(self.heartbeat * 2, float(stalled))
        self._app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector())
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._cancel: Callable[[], None] | None = None
        self._up = threading.Event()

    # -- tasks and enqueueing --------------------------------------------------------------

    def register(self, task: str, run: Run) -> None:
        def job(key: str, args: Args) -> None:
            run(key, args)

        job.__name__ = job.__qualname__ = task.replace(".", "_")
        self._app.tasks.pop(task, None)
        self._app.task(name=task, queue=QUEUE, retry=_RunPostponedAgain())(job)

    def enqueue(self, task: str, key: str, args: Args, change: Change | None = None) -> bool:
        if task not in self._app.tasks:
            raise KeyError(f"no task {task!r} is registered")

        def work(conn: Connection) -> tuple[bool, bool]:
            registered = False
            if change is not None:
                applied = self._apply(conn, change)
                if applied is None:
                    return False, False
                registered = applied
            self._in_schema(conn)
            deferrer = self._app.configure_task(task, allow_unknown=False, connection=conn, queue=QUEUE)
            try:
                deferrer.defer(key=key, args=args)
            except pc_exceptions.ConnectorException as exc:
                cause = exc.__cause__
                if isinstance(cause, psycopg.Error):
                    raise cause from None  # the store's transaction retries or translates it
                raise StoreFailure(f"{self._db.where}: could not queue {task}: {exc}") from exc
            return True, registered

        queued, registered = self._db.transact(work)
        if registered:
            self._db.refresh()
        return queued

    def change(self, change: Change) -> dict[str, Any] | None:
        stored: list[dict[str, Any] | None] = [None]

        def work(conn: Connection) -> bool | None:
            return self._apply(conn, change, stored)

        registered = self._db.transact(work)
        if registered:
            self._db.refresh()
        return stored[0] if registered is not None else None

    def _apply(
        self, conn: Connection, change: Change, out: list[dict[str, Any] | None] | None = None
    ) -> bool | None:
        """``change`` inside the caller's transaction: None if left alone, else whether new
        attributes were registered (the catalog must then be read again)."""
        db = self._db
        handle = db.table(SYSTEM_DB, change.table)
        plan = Plan(handle)
        ekey = K.encode_key(change.key)
        begin(conn, [handle])
        read_stored(conn, plan, [ekey])
        current = plan.current(ekey)
        new = change.apply(dict(current) if current is not None else None)
        if new is None:
            return None
        keys = keys_for_write(handle.info, [new], "replace")
        if keys != [change.key]:
            raise ValueError(f"a change of {change.table} {change.key!r} wrote the key {keys[0]!r}")
        register(conn, db, plan, new)
        stage(plan, [new], keys, [ekey], "replace", db.now_ms())
        finish(conn, db, [plan])
        if out is not None:
            out[0] = plan.final[ekey]
        return plan.registered

    def _in_schema(self, conn: Connection) -> None:
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(self._db.name))

    # -- what is alive -------------------------------------------------------------------------

    def alive(self, task: str) -> set[str]:
        query = self._db.q(
            "SELECT j.args->>'key' FROM {schema}.procrastinate_jobs j "
            "LEFT JOIN {schema}.procrastinate_workers w ON w.id = j.worker_id "
            "WHERE j.task_name = %s AND (j.status = 'todo' OR (j.status = 'doing' "
            "AND w.last_heartbeat >= now() - make_interval(secs => %s)))"
        )
        try:
            with self._db.connection() as conn:
                rows = conn.execute(query, [task, self.stalled]).fetchall()
        except psycopg.Error as exc:
            raise self._db.translate(exc) from exc
        return {str(row[0]) for row in rows if row[0] is not None}

    def requeue_stalled(self) -> int:
        """Put the running jobs of dead workers back in the queue; how many.

        Each job is locked first and its worker judged after, on a fresh snapshot, so a
        job another process has just put back and handed to a live worker is left alone.
        """
        db = self._db
        candidates = db.q(
            "SELECT j.id FROM {schema}.procrastinate_jobs j "
            "LEFT JOIN {schema}.procrastinate_workers w ON w.id = j.worker_id "
            "WHERE j.queue_name = %s AND j.status = 'doing' "
            "AND (w.id IS NULL OR w.last_heartbeat < now() - make_interval(secs => %s))"
        )
        try:
            with db.connection() as conn:
                ids = [int(row[0]) for row in conn.execute(candidates, [QUEUE, self.stalled]).fetchall()]
        except psycopg.Error as exc:
            raise db.translate(exc) from exc
        requeued = 0
        for job_id in ids:
            if db.transact(partial(self._requeue_if_stalled, job_id=job_id)):
                requeued += 1
        if requeued:
            log.warning("%d job(s) of workers that stopped beating were put back in the queue", requeued)
        return requeued

    def _requeue_if_stalled(self, conn: Connection, job_id: int) -> bool:
        db = self._db
        row = conn.execute(
            db.q("SELECT status, worker_id FROM {schema}.procrastinate_jobs WHERE id = %s FOR UPDATE"),
            [job_id],
        ).fetchone()
        if row is None or row[0] != "doing":
            return False
        live = conn.execute(
            db.q(
                "SELECT EXISTS (SELECT 1 FROM {schema}.procrastinate_workers WHERE id = %s "
                "AND last_heartbeat >= now() - make_interval(secs => %s))"
            ),
            [row[1], self.stalled],
        ).fetchone()
        if live is not None and live[0]:
            return False
        self._in_schema(conn)
        conn.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", [job_id])
        return True

    # -- the worker ------------------------------------------------------------------------------

    @property
    def working(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and self._up.is_set()

    def start(self, concurrency: int) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._work, args=(max(1, concurrency),), name="queue-worker", daemon=True
            )
            self._thread.start()
        if not self._up.wait(self._db.timeout + CONNECT_TIMEOUT):
            log.warning("the job queue's worker has not started yet (PostgreSQL is slow or unreachable)")

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            cancel, thread = self._cancel, self._thread
        if cancel is not None:
            cancel()
        if thread is not None:
            thread.join()

    def _work(self, concurrency: int) -> None:
        while not self._stopped.is_set():
            try:
                asyncio.run(self._work_once(concurrency))
            except Exception:
                log.exception("the job queue's worker failed")
            self._up.clear()
            if self._stopped.wait(RESTART_SECONDS):
                return
            log.warning("the job queue's worker starts again")

    def _worker_connector(self, concurrency: int) -> procrastinate.PsycopgConnector:
        kwargs: dict[str, Any] = {
            "options": f"-c search_path={self._db.schema}",
            "application_name": "gateway-worker",
        }
        if "connect_timeout" not in conninfo_to_dict(self._dsn):
            kwargs["connect_timeout"] = CONNECT_TIMEOUT
        return procrastinate.PsycopgConnector(
            conninfo=self._dsn, kwargs=kwargs, min_size=1, max_size=3, timeout=self._db.timeout
        )

    async def _work_once(self, concurrency: int) -> None:
        app = self._app.with_connector(self._worker_connector(concurrency))
        async with app.open_async():
            worker = Worker(
                app,
                queues=[QUEUE],
                name=f"gateway-{socket.gethostname()}-{os.getpid()}",
                concurrency=concurrency,
                install_signal_handlers=False,
                delete_jobs=pc_jobs.DeleteJobCondition.ALWAYS,
                update_heartbeat_interval=self.heartbeat,
                stalled_worker_timeout=self.stalled,
                fetch_job_polling_interval=min(FETCH_POLL_SECONDS, max(1.0, self.heartbeat)),
                abort_job_polling_interval=60.0,
            )
            loop = asyncio.get_running_loop()
            running: asyncio.Future[None] = asyncio.ensure_future(worker.run())  # type: ignore[no-untyped-call]
            sweeping = asyncio.ensure_future(self._sweep())

            def cancel() -> None:
                loop.call_soon_threadsafe(running.cancel)

            with self._lock:
                self._cancel = cancel
                if self._stopped.is_set():
                    running.cancel()
            self._up.set()
            try:
                await running
            except asyncio.CancelledError:
                if not self._stopped.is_set():
                    raise
            finally:
                with self._lock:
                    self._cancel = None
                sweeping.cancel()
                await asyncio.gather(sweeping, return_exceptions=True)

    async def _sweep(self) -> None:
        """Every heartbeat: put the jobs of dead workers back in the queue."""
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                await asyncio.to_thread(self.requeue_stalled)
            except StoreError as exc:
                log.warning("could not look for the jobs of dead workers: %s", exc)
