"""Background work on a full disk: a bulk load job and a batch run end in error saying so, and
their end is stored once space returns, without a restart.

The root is on a tmpfs of its own (tests/support/small_disk.py; skipped where one cannot be
mounted, the one machine-dependent skip). Both runs fill the last free half megabyte with
records; RocksDB then refuses every write until 64 MiB are free again (it checks every 5
seconds), so the end of the run is kept in memory (``get_job`` and the batch's status show it
at once) and stored by the gateway's retry (every 2 seconds) once the store takes writes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from engine import BatchError, TargetWrite
from gateway.imports.service import RUN_TASK
from gateway.imports.target import ModelTargetStore
from gateway.storage.rocksdb import open_rocksdb
from gateway.storage.system import SYSTEM_DB
from tests.batch.conftest import API, minimal_control, start_api
from tests.conftest import ADMIN_AUTH, Ops, make_client
from tests.support.batch_log import run_lines
from tests.support.small_disk import MiB, SmallDisk, eventually, small_disk

FULL = "no space left on the device (records store)"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 96 MiB tmpfs for the root (64 MiB must be free for RocksDB to take writes again)."""
    with small_disk(tmp_path, 96 * MiB) as mounted:
        yield mounted


def gateway_of(client: TestClient) -> Any:
    return client.app.state.gateway  # type: ignore[attr-defined]


@pytest.mark.parametrize("unlogged", [False, True], ids=["logged", "unlogged"])
def test_csv_data_load_on_a_full_disk_ends_error_and_is_stored_once_space_returns(
    disk: SmallDisk, unlogged: bool
) -> None:
    settings = {"storage.min_free_bytes": 0, "storage.rocksdb.unlogged_loads": unlogged}
    with make_client(disk.root, **settings) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        rows = "\n".join(f"{i},dog number {i},{'x' * 200}" for i in range(40_000))
        disk.fill(leave=512 * 1024)
        started = op(
            {
                "operation": "csv_data_load",
                "database": "dev",
                "table": "dog",
                "data": "id,name,notes\n" + rows,
            }
        )

        def ended() -> dict[str, Any] | None:
            (job,) = op({"operation": "get_job", "id": started["job_id"]})
            return job if job["status"] != "IN_PROGRESS" else None

        job = eventually(ended, "the load to end")
        assert job["status"] == "ERROR"
        if unlogged:
            # The chunks (~10 MB) fit in the memtables: every one is written, then the flush that
            # would make them durable finds no room. The job says so; it is not COMPLETE.
            matched = re.fullmatch(
                re.escape(FULL) + r": the records written are not yet durable "
                r"\(successfully loaded (\d+) of (\d+) records\)",
                job["message"],
            )
            assert matched, job["message"]
            assert matched.group(1) == matched.group(2) == "40000"
        else:
            matched = re.fullmatch(
                re.escape(FULL)
                + r"; rows before it were processed: successfully loaded (\d+) of (\d+) records",
                job["message"],
            )
            assert matched, job["message"]
            assert matched.group(1) == matched.group(2)
            assert int(matched.group(1)) < 40_000
        # Every chunk is written whole or not at all: exactly the records the message counts.
        count = op({"operation": "describe_table", "database": "dev", "table": "dog"})["record_count"]
        assert count == int(matched.group(1))

        disk.unfill()
        records = gateway_of(client).storage.records

        def stored() -> dict[str, Any] | None:
            found = records.get(SYSTEM_DB, "hdb_job", started["job_id"])
            return found if found is not None and found["status"] == "ERROR" else None

        assert eventually(stored, "the job's end to be stored")["message"] == job["message"]
    # Once space returned, what the job counted is stored: it is there after a restart.
    reopened = open_rocksdb(disk.root / "db")
    try:
        assert reopened.catalog.count("dev", "dog") == count
    finally:
        reopened.close()


def test_batch_run_on_a_full_disk_ends_in_error_and_is_stored_once_space_returns(disk: SmallDisk) -> None:
    people = [{"first": f"First{i}", "last": f"Last{i}", "email": f"p{i}@example.com"} for i in range(10_000)]
    with make_client(disk.root, **{"storage.min_free_bytes": 0}) as client:
        api = start_api(client)
        batch = api.create_batch(api.upload_control(minimal_control()))
        api.add_file(batch, "people", json.dumps(people).encode())
        disk.fill(leave=512 * 1024)
        api.schedule(batch)
        info = api.wait(batch)

        assert info["state"] == "error"
        lines = run_lines(info["log"])
        assert lines[0].startswith("START: ") and lines[-1].startswith("END: ")
        (exception,) = [line for line in lines if line.startswith("EXCEPTION: ")]
        assert re.fullmatch(
            r"EXCEPTION: Error during import: Could not store the last \d+ committed records: "
            + re.escape(FULL),
            exception,
        ), exception
        text = api.client.get(API + "status", params={"batch": batch}, headers=api.headers).text
        assert text.startswith("state: error\n")

        disk.unfill()
        records = gateway_of(client).storage.records

        def stored() -> dict[str, Any] | None:
            row = records.get(SYSTEM_DB, "import_batch", batch)
            return row if row is not None and row["state"] == "error" else None

        assert exception in eventually(stored, "the batch's end to be stored")["log"]


def test_a_batch_that_cannot_start_on_a_full_disk_ends_in_error(disk: SmallDisk) -> None:
    with make_client(disk.root, **{"storage.min_free_bytes": 0}) as client:
        api = start_api(client)
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        op({"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 0, "notes": ""}]})
        batch = api.create_batch(api.upload_control(minimal_control()))
        api.add_file(batch, "people", json.dumps([{"first": "Ada", "last": "Lovelace"}]).encode())
        gateway = gateway_of(client)
        imports = gateway.imports
        queued: list[str] = []
        taken = threading.Event()

        def hold(identifier: str, args: Any) -> None:  # the run is taken from the queue, and run below
            queued.append(identifier)
            taken.set()

        gateway.jobs.queue.register(RUN_TASK, hold)
        api.schedule(batch)
        assert taken.wait(30), "the scheduled run was not taken from the queue"
        disk.fill()
        refused = op.raw(
            {
                "operation": "insert",
                "database": "dev",
                "table": "dog",
                "records": [{"id": 1, "notes": "x" * 8192}],
            }
        )
        assert refused.status_code == 507  # the store now refuses every write

        imports.runner.run(queued.pop())
        info = api.op({"operation": "get_import_batch", "batch": batch})
        assert info["state"] == "error"
        lines = run_lines(info["log"])
        assert lines[1] == f"EXCEPTION: Error during import: {FULL}"
        assert lines[0].startswith("START: ") and lines[2].startswith("END: ")


def test_a_full_disk_while_a_record_is_committed_ends_the_run_not_the_record(tmp_path: Path) -> None:
    with small_disk(tmp_path, 48 * MiB) as disk:
        storage = open_rocksdb(disk.root / "db")
        try:
            storage.catalog.create_table("people", "profile", "id")
            store = ModelTargetStore(storage, "people")
            store.commit([TargetWrite("profile", "id", {"id": "a", "title": "A"}, True)])
            store.flush()
            disk.fill()
            # A new attribute must be registered (a new index): the store fails, not the record.
            new_attribute = TargetWrite(
                "profile", "id", {"id": "b", "title": "B", "email": "b@example.com"}, True
            )
            with pytest.raises(BatchError) as ended:
                store.commit([new_attribute])
            assert ended.value.message == FULL
        finally:
            storage.close()


def test_an_export_to_a_full_disk_ends_error_and_leaves_no_file(disk: SmallDisk) -> None:
    with make_client(disk.root, **{"storage.min_free_bytes": 0}) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        dogs = [{"id": i, "notes": "x" * 1000} for i in range(2000)]
        op({"operation": "insert", "database": "dev", "table": "dog", "records": dogs})
        export_dir = (disk.root / "export").resolve()
        disk.fill(leave=256 * 1024)  # room for the job's record, not for the 2 MB export
        started = op(
            {
                "operation": "export_local",
                "path": str(export_dir),
                "format": "json",
                "search_operation": {
                    "operation": "search_by_value",
                    "database": "dev",
                    "table": "dog",
                    "search_attribute": "id",
                    "search_value": "*",
                    "get_attributes": ["*"],
                },
            }
        )

        def ended() -> dict[str, Any] | None:
            (job,) = op({"operation": "get_job", "id": started["job_id"]})
            return job if job["status"] != "IN_PROGRESS" else None

        job = eventually(ended, "the export to end")
        assert (job["status"], job["message"]) == (
            "ERROR",
            f"no space left on the device (export directory {export_dir})",
        )
        assert list(export_dir.iterdir()) == []
