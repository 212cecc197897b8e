"""Work whose worker died, on PostgreSQL: the families fail what they recorded as running.

An app that serves without working (``gateway serve --no-worker``) queues a batch and a
bulk job; the test then makes them look taken by a worker that stopped beating (as a
worker killed mid-run leaves them). The app's periodic check ends the batch ``error``
with the restart rule's ``EXCEPTION:`` line and the job ERROR. Also: ``gateway worker``
and ``serve --no-worker`` refuse the embedded store, whose queue no other process shares.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import load_config
from gateway.imports.service import BATCH_TABLE
from gateway.jobs.table import INTERRUPTED, JOB_TABLE
from gateway.storage.queue import Change
from tests.batch.conftest import BatchApi, minimal_control, start_api
from tests.support.postgres import run_dsn, schema_for, store_overrides
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

STOPPED = "EXCEPTION: Error during import: The server stopped during the run; records committed before the stop are kept"


def sql(root: Path, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(run_dsn(), autocommit=True, options=f"-c search_path={schema_for(root)}") as conn:
        cursor = conn.execute(statement.encode(), params)
        return cursor.fetchall() if cursor.description else []


def test_the_work_of_a_dead_worker_ends_in_error(root: Path) -> None:
    overrides = {**store_overrides("postgres", root), "jobs.heartbeat": 0.2, "jobs.stalled": 1.0}
    config = load_config(root=root, environ={}, overrides=overrides)
    app = create_app(config, admin_username=ADMIN_USER, admin_password=ADMIN_PASSWORD, work=False)
    with TestClient(app) as client:
        api = start_api(client)
        batch = api.create_batch(api.upload_control(minimal_control()))
        api.add_file(batch, "people", b'[{"first": "Ada", "last": "Lovelace", "email": "ada@example.com"}]')
        api.schedule(batch)
        api.op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        job_id = api.op({"operation": "csv_data_load", "database": "dev", "table": "dog", "data": "id\n1\n"})[
            "job_id"
        ]
        time.sleep(0.5)  # several checks pass: queued work is alive, though no process runs it
        assert api.op({"operation": "get_import_batch", "batch": batch})["state"] == "scheduled"
        assert api.op({"operation": "get_job", "id": job_id})[0]["status"] == "IN_PROGRESS"

        # A worker takes both, starts them and dies (its last heartbeat an hour ago).
        [(dead,)] = sql(
            root,
            "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') RETURNING id",
        )
        sql(root, "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", [dead])
        queue = client.app.state.gateway.jobs.queue  # type: ignore[attr-defined]
        queue.change(
            Change(BATCH_TABLE, batch, lambda row: {**row, "state": "running", "log": "START: then"})
        )
        queue.change(Change(JOB_TABLE, job_id, lambda row: {**row, "start_datetime": 1}))

        info = wait_for(api, lambda: api.op({"operation": "get_import_batch", "batch": batch}), "error")
        assert info["log"].split("\n")[:2] == ["START: then", STOPPED]
        assert info["log"].split("\n")[2].startswith("END: ")
        [job] = wait_for(api, lambda: api.op({"operation": "get_job", "id": job_id}), "ERROR")
        assert job["message"] == INTERRUPTED
        # The end is audited just after the state changes: wait for it (bounded), then it is the only one.
        ends = wait_until(
            lambda: api.op(
                {
                    "operation": "read_audit_log",
                    "search_type": "type",
                    "search_values": ["haplo_data_import_batch:end"],
                }
            )
        )
        assert [e["data"]["batch"] for e in ends] == [batch]


def wait_for(api: BatchApi, read: Any, state: str, timeout: float = 60) -> Any:
    """Poll ``read()`` until its state (a batch's, or a job's in a list) is ``state``; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        current = found[0]["status"] if isinstance(found, list) else found["state"]
        if current == state:
            return found
        assert time.monotonic() < deadline, f"still {current}: {found}"
        time.sleep(0.05)


def wait_until(read: Any, timeout: float = 30) -> Any:
    """Poll ``read()`` until it answers something non-empty; bounded."""
    deadline = time.monotonic() + timeout
    while not (found := read()):
        assert time.monotonic() < deadline, "still nothing"
        time.sleep(0.05)
    return found


def test_workers_need_a_queue_other_processes_share(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    for verb in (["worker"], ["serve", "--no-worker", "--port", "1"]):
        done = subprocess.run(
            [sys.executable, "-m", "gateway", *verb, "--root", str(tmp_path / "root")],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 1, done
        assert "needs a job queue shared by several processes, which only storage.backend: postgres has" in (
            done.stderr
        )
