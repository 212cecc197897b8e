"""cluster_status and read_log across real processes on one PostgreSQL store: a web-only
``gateway serve --no-worker`` and two ``gateway worker`` processes.

Heartbeats every 0.3 s and a process drops out of cluster_status 3 s after its last one, so
that a SIGKILL is seen quickly; every wait is for a state, polled with a bound.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import minimal_control, person_model
from tests.batch.remote import RemoteBatchApi
from tests.support.postgres import store_env
from tests.support.server import ServerProcess, start_server, start_worker

pytestmark = pytest.mark.slow


def status(server: ServerProcess) -> dict[str, Any]:
    code, answer = server.op({"operation": "cluster_status"})
    assert code == 200, answer
    return dict(answer)


def by_pid(server: ServerProcess) -> dict[int, dict[str, Any]]:
    return {int(p["pid"]): p for p in status(server)["processes"]}


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_cluster_status_and_read_log_see_every_process(tmp_path: Path) -> None:
    root = tmp_path / "root"
    env = {
        **store_env("postgres", root),
        "GATEWAY_CLUSTER_HEARTBEAT": "0.3",
        "GATEWAY_CLUSTER_EXPIRY": "3",
        "GATEWAY_JOBS_HEARTBEAT": "0.5",
        "GATEWAY_JOBS_STALLED": "5",
    }
    web = start_server(root, env, args=["--no-worker"])
    workers = []
    try:
        api = RemoteBatchApi(web)
        api.require({"operation": "add_import_model", "model": person_model()})
        rows = [{"first": "Ada", "last": "Lovelace", "email": "ada@example.com"}]
        held, quick = (
            api.batch_with_file(minimal_control(), "people", json.dumps(rows).encode()) for _ in range(2)
        )
        # one worker holds a batch (a start delay keeps it running), then a second worker starts
        holder = start_worker(root, {**env, "GATEWAY_IMPORT_JOB_START_DELAY": "300"})
        workers.append(holder)
        assert api.ok("schedule", {"batch": held}) == "SCHEDULED"
        wait_until(
            "the holder reports its batch",
            lambda: by_pid(web).get(holder.pid, {}).get("running", {}).get("batches") == [held],
        )
        other = start_worker(root, env)
        workers.append(other)
        answer = status(web)
        assert answer["is_enabled"] is True and answer["backend"] == "postgres"
        processes = by_pid(web)
        assert set(processes) == {web.process.pid, holder.pid, other.pid}
        assert processes[web.process.pid]["role"] == "web" and processes[web.process.pid]["this_process"]
        assert processes[holder.pid]["role"] == processes[other.pid]["role"] == "worker"
        assert processes[other.pid]["running"] == {"batches": [], "jobs": []}
        beat = processes[other.pid]["last_heartbeat"]
        wait_until("the worker beats", lambda: by_pid(web)[other.pid]["last_heartbeat"] > beat)

        # the other worker runs a batch; its log line is read on the web process
        assert api.ok("schedule", {"batch": quick}) == "SCHEDULED"
        assert api.wait(quick)["state"] == "complete"

        def started_line() -> list[dict[str, Any]]:
            code, entries = web.op({"operation": "read_log", "order": "desc", "limit": 200})
            assert code == 200, entries
            return [e for e in entries if e["message"] == f"batch {quick} started"]

        wait_until("the worker's line reaches read_log", lambda: bool(started_line()), timeout=30)
        [line] = started_line()
        assert line["level"] == "info" and line["tags"][0] == "gateway.imports"
        assert f"pid:{other.pid}" in line["tags"]

        # a killed worker drops out after the expiry; a stopped one leaves at once
        holder.stop(signal.SIGKILL)
        wait_until("the killed worker drops out", lambda: holder.pid not in by_pid(web), timeout=30)
        assert other.stop(signal.SIGTERM) == 0
        assert set(by_pid(web)) == {web.process.pid}
    finally:
        for worker in workers:
            worker.stop(signal.SIGKILL)
        web.stop()
