"""What a crash keeps of bulk loads written without the write-ahead log (``storage.rocksdb.unlogged_loads``).

A real ``gateway serve`` on 127.0.0.1 loads CSV files into a table without a schema (every
attribute indexed) and is killed with SIGKILL mid-load; the store is then opened again and
checked: every record has each of its index entries and no index entry lacks its record, the
stored count is the number of records, a load that finished before the kill is all there, and
the load cut short kept a prefix of whole chunks, exactly the keys of the chunks whose
transaction-log entries (written in each chunk's own WriteBatch) survived. With the setting off
the chunks go through the write-ahead log and every chunk written before the kill is kept. A load
stopped with the server (SIGTERM) keeps exactly the records its job's message counts.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.jobs.table import INTERRUPTED
from gateway.storage.ports import Storage
from gateway.storage.records import KeyRange
from gateway.storage.rocksdb import open_rocksdb
from gateway.storage.system import SYSTEM_DB
from tests.support.server import ServerProcess, start_server

DONE_ROWS = 20_000
"""The load that finishes before the kill (ids 1 ..)."""
CUT_ROWS = 200_000
"""The load cut short by the kill (ids from ``CUT_FIRST``, ~300 bytes a row): large enough that
the memtables (64 MiB) fill and are flushed (atomically) while it runs, so the kill falls after a
flush, with chunks written since."""
CUT_FIRST = 1_000_000


def _write_csv(path: Path, first: int, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("id,name,city,n,note\n")
        note = "x" * 240
        out.writelines(
            f"{i},name {i},city {i % 97},{i % 1000},{note}{i}\n" for i in range(first, first + rows)
        )


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    root = tmp_path / "root"
    (root / "import").mkdir(parents=True)
    done, cut = root / "import" / "done.csv", root / "import" / "cut.csv"
    _write_csv(done, 1, DONE_ROWS)
    _write_csv(cut, CUT_FIRST, CUT_ROWS)
    yield root, done, cut


def _ok(server: ServerProcess, body: dict[str, Any]) -> Any:
    status, answer = server.op(body, timeout=60)
    assert status == 200, answer
    return answer


def _load(server: ServerProcess, path: Path) -> str:
    body = {"operation": "csv_file_load", "database": "dev", "table": "t", "file_path": str(path)}
    job_id: str = _ok(server, body)["job_id"]
    return job_id


def _job(server: ServerProcess, job_id: str) -> dict[str, Any]:
    (job,) = _ok(server, {"operation": "get_job", "id": job_id})
    return dict(job)


def _wait(server: ServerProcess, job_id: str, done: int, timeout: float = 120) -> dict[str, Any]:
    """The job once it has written at least ``done`` records (still running) or ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(server, job_id)
        if job["status"] != "IN_PROGRESS" or job["progress"]["records_done"] >= done:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {done} records in {timeout} s")


def _cut_load_running(server: ServerProcess, cut: Path) -> tuple[str, dict[str, Any]]:
    """Create table ``dev.t`` and load ``cut`` into it: its job id and the job once past 30,000
    records, still running."""
    _ok(server, {"operation": "create_table", "database": "dev", "table": "t", "primary_key": "id"})
    job_id = _load(server, cut)
    running = _wait(server, job_id, 30_000)
    assert running["status"] == "IN_PROGRESS", running
    return job_id, running


def _start(root: Path, unlogged: bool) -> ServerProcess:
    env = {"GATEWAY_STORAGE_ROCKSDB_UNLOGGED_LOADS": "true" if unlogged else "false"}
    return start_server(root, env, timeout=60)


def _consistent(store: Storage) -> dict[int, dict[str, Any]]:
    """The table's records by id, once checked against its indexes and its count."""
    records = {record["id"]: record for record in store.records.scan("dev", "t")}
    assert store.catalog.count("dev", "t") == len(records)
    info = store.catalog.table("dev", "t")
    for attribute in info.attributes:
        if attribute == info.primary_key:
            continue
        assert store.catalog.is_indexed("dev", "t", attribute)
        entries = set(store.records.index_items("dev", "t", attribute, KeyRange()))
        expected = {(record[attribute], key) for key, record in records.items() if attribute in record}
        assert entries == expected, f"index of {attribute}: {len(entries)} entries, {len(expected)} expected"
    return records


def _kept_chunks(store: Storage, records: dict[int, dict[str, Any]], first: int) -> list[int]:
    """The keys kept from ``first`` on: a prefix of the file, exactly the keys of the chunks whose
    transaction-log entries (one per chunk, in the chunk's WriteBatch) were kept."""
    kept = sorted(key for key in records if key >= first)
    assert kept == list(range(first, first + len(kept)))
    chunks = [entry.keys for entry in store.txlog.read("dev", "t") if entry.source == "csv_file_load"]
    assert sorted(key for keys in chunks for key in keys if key >= first) == kept
    return kept


def _reopened(root: Path, deleted: tuple[int, ...] = ()) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """The store the server left, checked: its records (``_consistent``) and the keys kept of the cut
    load (``_kept_chunks``; ``deleted``: keys deleted since, which their chunk's entry still names)."""
    store = open_rocksdb(root / "db")
    try:
        records = _consistent(store)
        return records, _kept_chunks(store, {**records, **dict.fromkeys(deleted, {})}, CUT_FIRST)
    finally:
        store.close()


@pytest.mark.parametrize("unlogged", [True, False], ids=["unlogged", "logged"])
def test_a_kill_mid_load_keeps_whole_chunks_and_every_finished_load(
    files: tuple[Path, Path, Path], unlogged: bool
) -> None:
    root, done, cut = files
    server = _start(root, unlogged)
    try:
        _ok(server, {"operation": "create_table", "database": "dev", "table": "t", "primary_key": "id"})
        finished = _wait(server, _load(server, done), DONE_ROWS + 1)
        assert (finished["status"], finished["message"]) == (
            "COMPLETE",
            f"successfully loaded {DONE_ROWS} of {DONE_ROWS} records",
        )
        running = _wait(server, _load(server, cut), CUT_ROWS // 2)
        assert running["status"] == "IN_PROGRESS", running  # the kill falls mid-load
    finally:
        server.stop(signal.SIGKILL)
    written = running["progress"]["records_done"]  # chunks written (and counted) before the kill
    assert 0 < written < CUT_ROWS

    records, kept = _reopened(root)
    assert set(range(1, DONE_ROWS + 1)) <= records.keys()  # the finished load, all of it
    assert len(kept) < CUT_ROWS
    if not unlogged:  # through the write-ahead log: every chunk written before the kill
        assert len(kept) >= written
    print(f"unlogged={unlogged}: {written} records written at the kill, {len(kept)} kept")


def test_a_write_during_an_unlogged_load_is_never_kept_without_the_chunks_before_it(
    files: tuple[Path, Path, Path],
) -> None:
    root, _, cut = files
    server = _start(root, unlogged=True)
    try:
        job_id, before = _cut_load_running(server, cut)
        # A logged write to the table while its chunks are not flushed yet: it flushes them first.
        inserted = _ok(
            server,
            {"operation": "insert", "database": "dev", "table": "t", "records": [{"id": 1, "name": "one"}]},
        )
        assert inserted["inserted_hashes"] == [1]
        deleted = _ok(
            server, {"operation": "delete", "database": "dev", "table": "t", "hash_values": [CUT_FIRST]}
        )
        assert deleted["deleted_hashes"] == [CUT_FIRST]
        after = _job(server, job_id)
    finally:
        server.stop(signal.SIGKILL)
    assert after["status"] == "IN_PROGRESS", after

    records, kept = _reopened(root, deleted=(CUT_FIRST,))
    assert records[1]["name"] == "one"  # the insert, and the delete, are kept ...
    assert CUT_FIRST not in records
    # ... and so is every chunk written before them, whole.
    assert len(kept) >= before["progress"]["records_done"]
    print(f"{before['progress']['records_done']} records written before the insert, {len(kept)} kept")


def test_a_load_stopped_with_the_server_keeps_the_records_its_job_counts(
    files: tuple[Path, Path, Path],
) -> None:
    root, _, cut = files
    server = _start(root, unlogged=True)
    try:
        job_id, _ = _cut_load_running(server, cut)
    finally:
        assert server.stop(signal.SIGTERM) == 0  # the load stops at a chunk, flushes, the job ends
    _, kept = _reopened(root)
    store = open_rocksdb(root / "db")
    try:
        job = store.records.get(SYSTEM_DB, "hdb_job", job_id)
    finally:
        store.close()
    assert job is not None
    assert job["status"] == "ERROR"
    assert job["message"] == f"{INTERRUPTED} ({len(kept)} records processed)"
