"""cluster_status in one process: this process in the answer's shape (embedded store), the batches it
runs, super users only; on PostgreSQL the processes' records in ``system.hdb_process`` and their
freshness (several real processes: tests/batch/test_cluster.py)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from gateway.cluster import PROCESS_TABLE
from gateway.storage.errors import TableNotFound
from tests.batch.conftest import minimal_control, start_api
from tests.conftest import ADMIN_AUTH, basic, make_client
from tests.support.postgres import store_overrides

PEOPLE = [{"first": "Ada", "last": "Lovelace", "email": "ada@example.com"}]


def status(client: object) -> dict:
    answer = client.post("/", json={"operation": "cluster_status"}, headers=ADMIN_AUTH)  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_embedded_store_answers_this_process_and_what_it_runs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with make_client(root, **{"storage.backend": "rocksdb", "import.job_start_delay": 300}) as client:
        answer = status(client)
        assert answer["is_enabled"] is False and answer["backend"] == "rocksdb"
        [me] = answer["processes"]
        assert me["host"] == socket.gethostname() and me["pid"] == os.getpid()
        assert answer["node_name"] == f"{me['host']}:{os.getpid()}"
        assert me["role"] == "serve" and me["this_process"] is True
        assert me["running"] == {"batches": [], "jobs": []}
        assert me["started"] <= me["last_heartbeat"] and me["started"].endswith("Z")

        api = start_api(client)
        batch = api.create_batch(api.upload_control(minimal_control()))
        api.add_file(batch, "p", json.dumps(PEOPLE).encode())
        api.schedule(batch)  # held by the start delay: running in this process until the stop
        deadline = time.monotonic() + 30
        while status(client)["processes"][0]["running"]["batches"] != [batch]:
            assert time.monotonic() < deadline, status(client)
            time.sleep(0.05)
        with pytest.raises(TableNotFound):  # one process: nothing written
            client.app.state.gateway.storage.catalog.table("system", PROCESS_TABLE)  # type: ignore[attr-defined]

        client.post(
            "/",
            json={"operation": "add_role", "role": "reader", "permission": {"super_user": False}},
            headers=ADMIN_AUTH,
        )
        client.post(
            "/",
            json={
                "operation": "add_user",
                "role": "reader",
                "username": "u1",
                "password": "pw",
                "active": True,
            },
            headers=ADMIN_AUTH,
        )
        refused = client.post("/", json={"operation": "cluster_status"}, headers=basic("u1", "pw"))
        assert refused.status_code == 403, refused.text


def test_on_postgres_a_record_per_process_kept_fresh_and_removed_at_stop(tmp_path: Path) -> None:
    root = tmp_path / "root"
    overrides = {**store_overrides("postgres", root), "cluster.heartbeat": 0.2, "cluster.expiry": 1}
    with make_client(root, **overrides) as client:
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        answer = status(client)
        assert answer["is_enabled"] is True and answer["backend"] == "postgres"
        [me] = answer["processes"]
        assert me["role"] == "serve" and me["pid"] == os.getpid()
        first = me["last_heartbeat"]
        deadline = time.monotonic() + 30
        while status(client)["processes"][0]["last_heartbeat"] == first:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.05)
        # a process that died (its last beat long ago) is not listed, and the next beat deletes it
        table = gateway.storage.records
        dead = {"id": "dead", "host": "elsewhere", "pid": 1, "role": "worker", "started": 1.0, "beat": 1.0}
        table.write("system", PROCESS_TABLE, [dead], "insert")
        assert [p["id"] for p in status(client)["processes"]] == [me["id"]]
        deadline = time.monotonic() + 30
        while table.get("system", PROCESS_TABLE, "dead") is not None:
            assert time.monotonic() < deadline, "the dead process's record stayed"
            time.sleep(0.05)
        assert table.get("system", PROCESS_TABLE, me["id"]) is not None
    with make_client(root, **store_overrides("postgres", root)) as client:
        rows = list(client.app.state.gateway.storage.records.scan("system", PROCESS_TABLE))  # type: ignore[attr-defined]
        assert me["id"] not in [r["id"] for r in rows]  # removed by the graceful stop
        assert len(rows) == 1
