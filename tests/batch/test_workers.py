"""Several processes on one PostgreSQL store: a web-only ``gateway serve --no-worker`` and
``gateway worker`` processes sharing the batches (procrastinate), real subprocesses all.

One scenario, step by step (each step needs the state the one before left):

1. two workers: a large batch is held mid-file in one of them (tests/support/held_blob.py:
   the blob store is the filesystem under the root the processes share), while the other
   batches run on both; each batch runs exactly once (one ``:start`` audit entry each);
2. the worker holding the large batch is killed with SIGKILL: the survivors see its
   heartbeat stop, and that batch ends ``error`` with the restart rule's ``EXCEPTION:``
   line, its records committed before the kill kept;
3. with no worker at all, a batch is scheduled; it runs once a worker starts;
4. a worker stopped with SIGTERM mid-batch ends that batch at a record boundary
   (``error``, "Batch stopped: server shutting down") and exits 0.

Heartbeats every 0.5 s and a worker counts as dead after 5 s without one, so that the
kill is seen quickly; every wait is for a state, polled with a bound.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import minimal_control, person_model
from tests.batch.remote import RemoteBatchApi, all_records
from tests.support.batch_log import run_lines
from tests.support.held_blob import HeldBlob
from tests.support.postgres import store_env
from tests.support.server import ServerProcess, WorkerProcess, start_server, start_worker

pytestmark = pytest.mark.slow

STOPPED = "EXCEPTION: Error during import: The server stopped during the run; records committed before the stop are kept"
SMALL_BATCHES = 6


def people(count: int, tag: str) -> list[dict[str, str]]:
    return [
        {"first": f"F{tag}{i}", "last": f"L{tag}{i}", "email": f"{tag}{i}@example.com"} for i in range(count)
    ]


def held_data(tag: str, total: int = 30_000, held: int = 10_000) -> tuple[bytes, int]:
    """A file read twice (over 1 MiB), and where to hold its records pass: after ``held`` records."""
    rows = people(total, tag)
    return json.dumps(rows).encode(), len(json.dumps(rows[:held]).encode()) - 1


def wait_running(
    api: RemoteBatchApi, batch: str, records: int = 1000, timeout: float = 120
) -> dict[str, Any]:
    """Wait until a held batch runs and has saved ``records`` records done (only a bound)."""
    deadline = time.monotonic() + timeout
    while True:
        info = api.batch_info(batch)
        assert info["state"] in ("scheduled", "running"), info
        if info["state"] == "running" and info["progress"]["records_done"] >= records:
            return info
        assert time.monotonic() < deadline, f"the held run never reported {records} records: {info}"
        time.sleep(0.1)


def batch_starts(server: ServerProcess) -> Counter[str]:
    status, entries = server.op(
        {
            "operation": "read_audit_log",
            "search_type": "type",
            "search_values": ["haplo_data_import_batch:start"],
        }
    )
    assert status == 200, entries
    return Counter(str(entry["data"]["batch"]) for entry in entries)


def test_a_web_process_and_workers_share_the_batches(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = {**store_env("postgres", root), "GATEWAY_JOBS_HEARTBEAT": "0.5", "GATEWAY_JOBS_STALLED": "5"}
    server = start_server(root, env, args=["--no-worker"])
    workers: list[WorkerProcess] = []
    try:
        api = RemoteBatchApi(server)
        api.require({"operation": "add_import_model", "model": person_model()})
        control = minimal_control()
        big, held_at = held_data("big")
        held_batch = api.batch_with_file(control, "people", big)
        small = [
            api.batch_with_file(control, "people", json.dumps(people(50, f"s{n}-")).encode())
            for n in range(SMALL_BATCHES)
        ]
        # 1. Two workers; the large batch is held mid-file in one, the others run on both.
        workers = [start_worker(root, env, concurrency=2) for _ in range(2)]
        with HeldBlob(root, big, [w.pid for w in workers], held_at) as feed:
            assert api.ok("schedule", {"batch": held_batch}) == "SCHEDULED"
            feed.wait_held()
            holder = feed.holder()
            assert holder is not None
            wait_running(api, held_batch)
            for batch in small:
                assert api.ok("schedule", {"batch": batch}) == "SCHEDULED"
            for batch in small:
                info = api.wait(batch)
                assert (info["state"], info["errors"]) == ("complete", 0), info

            # 2. The worker holding the large batch is killed; the other one carries on.
            [victim] = [w for w in workers if w.pid == holder]
            [survivor] = [w for w in workers if w.pid != holder]
            seen = api.batch_info(held_batch)["progress"]["records_done"]
            victim.stop(signal.SIGKILL)
            info = api.wait(held_batch, timeout=120)
        assert info["state"] == "error", info
        lines = run_lines(info["log"])
        assert lines[0].startswith("START: ") and lines[-2] == STOPPED and lines[-1].startswith("END: ")
        assert 1000 <= seen <= info["progress"]["records_done"] <= 10_000
        committed = len(all_records(server, "haplo_person", "profile")) - SMALL_BATCHES * 50
        assert info["progress"]["records_done"] <= committed <= 10_000  # committed records stay

        # 3. No worker at all: a scheduled batch waits, and runs once a worker starts.
        assert survivor.stop(signal.SIGTERM) == 0
        late = api.batch_with_file(control, "people", json.dumps(people(30, "late")).encode())
        assert api.ok("schedule", {"batch": late}) == "SCHEDULED"
        assert api.batch_info(late)["state"] == "scheduled"
        worker = start_worker(root, env, concurrency=1)
        workers.append(worker)
        info = api.wait(late)
        assert (info["state"], info["errors"]) == ("complete", 0), info

        # 4. A worker stopped with SIGTERM mid-batch ends it at a record boundary.
        stopped_data, stopped_at = held_data("stop")
        stopped_batch = api.batch_with_file(control, "people", stopped_data)
        stopping = threading.Event()
        with HeldBlob(root, stopped_data, worker.pid, stopped_at) as feed:
            feed.release_when(stopping)
            assert api.ok("schedule", {"batch": stopped_batch}) == "SCHEDULED"
            feed.wait_held()
            wait_running(api, stopped_batch)
            worker.process.send_signal(signal.SIGTERM)
            worker.wait_for_output("gateway: worker stopping")  # the stop is under way: then feed the rest
            stopping.set()
            assert worker.stop(timeout=120) == 0
        info = api.batch_info(stopped_batch)
        assert info["state"] == "error", info
        assert "EXCEPTION: Error during import: Batch stopped: server shutting down" in info["log"]
        assert 1000 <= info["progress"]["records_done"] < 30_000

        # Each batch ran exactly once, whichever process ran it.
        everything = [held_batch, *small, late, stopped_batch]
        assert batch_starts(server) == Counter(everything)
    finally:
        for process in workers:
            process.stop(signal.SIGKILL)
        server.stop()
