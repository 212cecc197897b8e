"""The task queue port (gateway/storage/queue.py) on both implementations: the embedded queue
(RocksDB store, APScheduler threads) and procrastinate on PostgreSQL.

Each test gets a queue on a store of its own with one table of the ``system`` database,
``things``, and a task ``probe`` whose runs it records. Waits are for events, bounded.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import pytest

from gateway.jobs.embedded import EmbeddedQueue
from gateway.jobs.scheduler import JobRunner
from gateway.storage.errors import StoreFailure
from gateway.storage.ports import Storage
from gateway.storage.postgres import open_postgres
from gateway.storage.postgres.queue import PgTaskQueue, pending_migrations
from gateway.storage.queue import Change, Postponed, TaskQueue
from gateway.storage.rocksdb import open_rocksdb
from gateway.storage.system import SYSTEM_DB, ensure_table
from tests.support.postgres import run_dsn, schema_for

TABLE = "things"
WAIT = 60.0  # seconds: only a bound, so that a broken queue cannot hang the test


@dataclass
class Runs:
    """What the ``probe`` task saw: each run's key and args, and events to hold runs."""

    seen: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ran: threading.Condition = field(init=False)
    hold: dict[str, threading.Event] = field(default_factory=dict)
    started: dict[str, threading.Event] = field(default_factory=dict)
    postpone: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.ran = threading.Condition(self.lock)

    def __call__(self, key: str, args: dict[str, Any]) -> None:
        self.started.setdefault(key, threading.Event()).set()
        gate = self.hold.get(key)
        if gate is not None:
            assert gate.wait(WAIT), f"{key} was held too long"
        with self.lock:
            if key in self.postpone:
                self.postpone.discard(key)
                raise Postponed
            self.seen.append((key, args))
            self.ran.notify_all()

    def wait_for(self, count: int) -> None:
        with self.lock:
            assert self.ran.wait_for(lambda: len(self.seen) >= count, WAIT), f"runs seen: {self.seen}"

    def keys(self) -> list[str]:
        with self.lock:
            return [key for key, _ in self.seen]


@dataclass
class Harness:
    """A queue on a store, with ``probe`` registered; ``start`` makes this process a worker."""

    storage: Storage
    queue: TaskQueue
    runs: Runs
    start_work: Callable[[], None]
    stop_work: Callable[[], None]

    def start(self) -> None:
        self.start_work()

    def record(self, key: str) -> dict[str, Any] | None:
        return self.storage.records.get(SYSTEM_DB, TABLE, key)


def _embedded(place: Path) -> tuple[Storage, TaskQueue, Callable[[], None], Callable[[], None]]:
    storage = open_rocksdb(place / "db")
    scheduler = JobRunner(2)
    queue = EmbeddedQueue(storage, scheduler)

    def start() -> None:
        scheduler.start()
        queue.start(2)

    def stop() -> None:
        queue.stop()
        scheduler.shutdown()

    return storage, queue, start, stop


def _postgres(place: Path) -> tuple[Storage, PgTaskQueue, Callable[[], None], Callable[[], None]]:
    storage = open_postgres(run_dsn(), schema=schema_for(place), heartbeat=0.2, stalled=3.0)
    queue = storage.queue
    assert isinstance(queue, PgTaskQueue) and queue.durable
    return storage, queue, lambda: queue.start(2), queue.stop


OPEN: dict[str, Callable[[Path], tuple[Storage, TaskQueue, Callable[[], None], Callable[[], None]]]] = {
    "embedded": _embedded,
    "postgres": _postgres,
}


@pytest.fixture(params=list(OPEN))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    storage, queue, start, stop = OPEN[request.param](tmp_path)
    ensure_table(storage.catalog, TABLE, "id")
    runs = Runs()
    queue.register("probe", runs)
    made = Harness(storage, queue, runs, start, stop)
    try:
        yield made
    finally:
        for gate in runs.hold.values():
            gate.set()
        stop()
        storage.close()


def wait_not_alive(queue: TaskQueue, task: str, key: str) -> None:
    """Poll until ``key``'s work has ended (a worker records the end just after the run returns)."""
    for _ in range(int(WAIT / 0.05)):
        if key not in queue.alive(task):
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"{task} {key} is still alive")


def created(key: str, **values: Any) -> Change:
    """A change that creates ``things/key`` (and refuses when it exists)."""

    def apply(stored: dict[str, Any] | None) -> dict[str, Any] | None:
        if stored is not None:
            return None
        return {"id": key, **values}

    return Change(TABLE, key, apply)


def test_the_change_and_the_work_go_together(harness: Harness) -> None:
    harness.start()
    assert harness.queue.enqueue("probe", "a", {"n": 1, "text": "é"}, created("a", state="queued"))
    harness.runs.wait_for(1)
    assert harness.runs.seen == [("a", {"n": 1, "text": "é"})]
    record = harness.record("a")
    assert record is not None and record["state"] == "queued"
    wait_not_alive(harness.queue, "probe", "a")
    # A change that refuses (the record exists) stores nothing and queues nothing.
    assert not harness.queue.enqueue("probe", "a", {"n": 2}, created("a", state="again"))
    assert "a" not in harness.queue.alive("probe")
    record = harness.record("a")
    assert record is not None and record["state"] == "queued"

    def refuse(stored: dict[str, Any] | None) -> dict[str, Any]:
        raise LookupError("refused")

    with pytest.raises(LookupError):
        harness.queue.enqueue("probe", "b", {}, Change(TABLE, "b", refuse))
    assert harness.record("b") is None and "b" not in harness.queue.alive("probe")
    assert harness.queue.enqueue("probe", "c", {"plain": True})  # no change: just queued
    harness.runs.wait_for(2)
    assert sorted(harness.runs.keys()) == ["a", "c"]


def test_change_alone_reads_and_writes_one_record_atomically(harness: Harness) -> None:
    first = harness.queue.change(created("x", count=1))
    assert first is not None and first["count"] == 1
    assert harness.queue.change(created("x", count=2)) is None

    def bump(stored: dict[str, Any] | None) -> dict[str, Any]:
        assert stored is not None
        return {**stored, "count": stored["count"] + 1}

    threads = [
        threading.Thread(target=harness.queue.change, args=(Change(TABLE, "x", bump),)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    record = harness.record("x")
    assert record is not None and record["count"] == 9  # no increment lost


def test_work_is_alive_while_waiting_and_running_and_not_after(harness: Harness) -> None:
    gate = harness.runs.hold["slow"] = threading.Event()
    assert harness.queue.enqueue("probe", "slow", {})
    assert "slow" in harness.queue.alive("probe")  # waiting (no worker yet)
    harness.start()
    assert harness.runs.started.setdefault("slow", threading.Event()).wait(WAIT)
    assert "slow" in harness.queue.alive("probe")  # running
    gate.set()
    harness.runs.wait_for(1)
    wait_not_alive(harness.queue, "probe", "slow")


def test_postponed_work_is_run_again_by_a_shared_queue_and_left_to_the_family_by_the_embedded_one(
    harness: Harness,
) -> None:
    harness.runs.postpone.add("later")
    harness.start()
    assert harness.queue.enqueue("probe", "later", {"k": 1})
    if harness.queue.durable:
        harness.runs.wait_for(1)  # put back in the queue, then run
        assert harness.runs.seen == [("later", {"k": 1})]
    else:
        assert harness.runs.started.setdefault("later", threading.Event()).wait(WAIT)
        wait_not_alive(harness.queue, "probe", "later")  # the family queues it at the next start
        assert harness.runs.seen == []


def test_stop_waits_for_running_work(harness: Harness) -> None:
    gate = harness.runs.hold["long"] = threading.Event()
    harness.start()
    assert harness.queue.enqueue("probe", "long", {})
    assert harness.runs.started.setdefault("long", threading.Event()).wait(WAIT)
    stopper = threading.Thread(target=harness.stop_work)
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive() and harness.runs.seen == []  # still waiting for the run
    gate.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert harness.runs.seen == [("long", {})]
    assert not harness.queue.working


# -- PostgreSQL only ---------------------------------------------------------------------------


@dataclass
class PgHarness(Harness):
    """The PostgreSQL queue itself, for what only it has."""

    pg_queue: PgTaskQueue | None = None


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PgHarness]:
    storage, queue, start, stop = _postgres(tmp_path)
    ensure_table(storage.catalog, TABLE, "id")
    runs = Runs()
    queue.register("probe", runs)
    try:
        yield PgHarness(storage, queue, runs, start, stop, queue)
    finally:
        stop()
        storage.close()


def sql(place: Path, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run a statement in the test's schema (as an operator or a crash would)."""
    with psycopg.connect(run_dsn(), autocommit=True, options=f"-c search_path={schema_for(place)}") as conn:
        cursor = conn.execute(statement.encode(), params)
        return cursor.fetchall() if cursor.description else []


def test_a_failed_enqueue_rolls_the_change_back(pg: PgHarness, tmp_path: Path) -> None:
    sql(tmp_path, "ALTER TABLE procrastinate_jobs ADD CONSTRAINT refused CHECK (args->>'key' <> 'no')")
    with pytest.raises(StoreFailure, match="refused"):
        pg.queue.enqueue("probe", "no", {}, created("no"))
    assert pg.record("no") is None
    assert sql(tmp_path, "SELECT count(*) FROM procrastinate_jobs") == [(0,)]
    assert pg.queue.enqueue("probe", "yes", {}, created("yes"))
    assert pg.record("yes") is not None
    assert sql(tmp_path, "SELECT args->>'key', status FROM procrastinate_jobs") == [("yes", "todo")]


def test_the_work_of_a_dead_worker_is_not_alive_and_goes_back_to_the_queue(
    pg: PgHarness, tmp_path: Path
) -> None:
    assert pg.pg_queue is not None
    assert pg.queue.enqueue("probe", "orphan", {})
    [(dead,)] = sql(
        tmp_path,
        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id",
    )
    [(live,)] = sql(tmp_path, "INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")
    sql(tmp_path, "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", [live])
    assert pg.queue.alive("probe") == {"orphan"}  # running on a worker that beats
    assert pg.pg_queue.requeue_stalled() == 0
    sql(tmp_path, "UPDATE procrastinate_jobs SET worker_id = %s", [dead])
    assert pg.queue.alive("probe") == set()  # its worker stopped beating an hour ago
    assert pg.pg_queue.requeue_stalled() == 1
    assert sql(tmp_path, "SELECT status FROM procrastinate_jobs") == [("todo",)]
    assert pg.queue.alive("probe") == {"orphan"}
    pg.start()
    pg.runs.wait_for(1)
    assert pg.runs.keys() == ["orphan"]


def test_two_workers_run_each_piece_of_work_once(tmp_path: Path) -> None:
    opened = [_postgres(tmp_path), _postgres(tmp_path)]  # two processes' queues on one store
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    done = threading.Condition(lock)

    def count(key: str, args: dict[str, Any]) -> None:
        with lock:
            counts[key] += 1
            done.notify_all()

    try:
        for _, queue, _, _ in opened:
            queue.register("count", count)
        keys = [f"k{i}" for i in range(40)]
        queue = opened[0][1]
        for key in keys:
            queue.enqueue("count", key, {})
        for _, _, start, _ in opened:
            start()
        with lock:
            assert done.wait_for(lambda: sum(counts.values()) >= len(keys), WAIT)
        for _ in range(int(WAIT / 0.05)):
            if not queue.alive("count"):
                break
            threading.Event().wait(0.05)
        assert not queue.alive("count")
        assert counts == Counter(keys)
    finally:
        for storage, _, _, stop in opened:
            stop()
            storage.close()


def test_the_queue_schema_is_applied_once_at_open(pg: PgHarness, tmp_path: Path) -> None:
    again = open_postgres(run_dsn(), schema=schema_for(tmp_path))  # a second process starting
    again.close()
    assert sql(tmp_path, "SELECT version FROM queue_schema") == [(procrastinate.__version__,)]
    assert sql(tmp_path, "SELECT to_regclass('procrastinate_jobs') IS NOT NULL") == [(True,)]


def test_pending_migrations_are_those_after_the_applied_version() -> None:
    names = [
        "03.04.00_01_pre_x.sql",
        "03.10.00_01_a.sql",
        "03.10.01_50_b.sql",
        "03.11.00_01_c.sql",
        "__init__.py",
    ]
    assert pending_migrations("3.10.0", "3.11.0", names) == ["03.10.01_50_b.sql", "03.11.00_01_c.sql"]
    assert pending_migrations("3.10.0", "3.10.0", names) == []
