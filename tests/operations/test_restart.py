"""restart and restart_service: against a real ``gateway serve`` subprocess, the answer comes first,
then the process stops gracefully and starts itself again (``os.execv``: the same pid) on the same
root and port; records, tokens and admin sessions are still good afterwards, and a batch running
during the restart stops at a record boundary with its state saved. The refusals run in-process.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import httpx2
import pytest

from gateway.app import STOPPING
from tests.admin.support import login
from tests.batch.conftest import minimal_control, person_model
from tests.batch.remote import RemoteBatchApi, all_records
from tests.conftest import Ops
from tests.operations.conftest import make_user
from tests.support.held_blob import HeldBlob
from tests.support.postgres import BACKENDS, store_env
from tests.support.server import ServerProcess, start_server

RESTARTED_WITHIN = 30.0  # seconds: only a bound; a restart takes about a second here


def _started(server: ServerProcess) -> tuple[int, str]:
    """(pid, start time) of the process answering, from cluster_status."""
    status, answer = server.op({"operation": "cluster_status"}, timeout=5)
    assert status == 200, answer
    (process,) = answer["processes"]
    return int(process["pid"]), str(process["started"])


def _wait_for_new_start(server: ServerProcess, before: str) -> tuple[int, float]:
    """Wait until a process started after ``before`` answers; (its pid, seconds waited)."""
    began = time.monotonic()
    while time.monotonic() - began < RESTARTED_WITHIN:
        assert server.process.poll() is None, f"gateway serve exited:\n{server.output()}"
        try:
            pid, started = _started(server)
        except (OSError, AssertionError):  # the port is closed for a moment, or the store not open yet
            pid, started = 0, before
        if started != before:
            return pid, time.monotonic() - began
        time.sleep(0.05)
    raise AssertionError(f"no new process answered within {RESTARTED_WITHIN}s:\n{server.output()}")


def _bearer(server: ServerProcess, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + "/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


RESTART = ({"operation": "restart"}, "Restarting HarperDB. This may take up to 60 seconds.")
RESTART_SERVICE = ({"operation": "restart_service", "service": "http_workers"}, "Restarting http_workers")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "asked"),
    [("rocksdb", RESTART), ("rocksdb", RESTART_SERVICE), ("postgres", RESTART)],
)
def test_restart_answers_then_serves_again_with_everything_kept(
    tmp_path: Path, backend: str, asked: tuple[dict[str, Any], str]
) -> None:
    body, message = asked
    root = tmp_path / "root"
    server = start_server(root, store_env(backend, root))
    try:
        table = {"database": "d", "table": "t"}
        assert server.op({"operation": "create_table", **table, "primary_key": "id"})[0] == 200
        assert server.op({"operation": "insert", **table, "records": [{"id": 1}]})[0] == 200
        status, tokens = server.op(
            {"operation": "create_authentication_tokens", "username": "admin", "password": "admin-password"}
        )
        assert status == 200, tokens
        browser = httpx2.Client(base_url=server.url)
        login(browser)  # type: ignore[arg-type]  # an httpx client, as the TestClient it was written for
        assert browser.get("/admin/").status_code == 200
        url_file = (root / "server-url").read_text()
        pid, started = _started(server)
        assert pid == server.process.pid

        assert server.op({**body, "replicated": False}) == (200, {"message": message})

        new_pid, seconds = _wait_for_new_start(server, started)
        assert new_pid == server.process.pid  # execv: the same process, a new image
        assert seconds < RESTARTED_WITHIN
        output = server.output()
        assert output.count("gateway: restarting") == 1
        assert output.count(f"gateway: serving on {server.url}") == 2  # the same host and port
        assert (root / "server-url").read_text() == url_file
        status, found = server.op(
            {"operation": "search_by_id", **table, "ids": [1], "get_attributes": ["id"]}
        )
        assert (status, found) == (200, [{"id": 1}])
        assert _bearer(server, tokens["operation_token"], {"operation": "user_info"})[0] == 200
        page = browser.get("/admin/", follow_redirects=False)
        assert page.status_code == 200, "the admin session did not survive the restart"
        browser.close()
    finally:
        assert server.stop() == 0  # and a SIGTERM still stops it for good
    assert not (root / "server-url").exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_running_during_a_restart_stops_at_a_record_boundary(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "root"
    total, held = 40000, 20000
    people = [{"first": "F", "last": f"L{i}", "email": f"p{i}@example.com"} for i in range(total)]
    data = json.dumps(people).encode()
    server = start_server(root, store_env(backend, root))
    try:
        api = RemoteBatchApi(server)
        api.require({"operation": "add_import_model", "model": person_model()})
        batch = api.batch_with_file(minimal_control(), "people", data)
        stopping = threading.Event()
        # the run is held after `held` records and gets the rest once the graceful stop has begun
        with HeldBlob(
            root, data, server.process.pid, held_at=len(json.dumps(people[:held]).encode()) - 1
        ) as feed:
            api.ok("schedule", {"batch": batch})
            feed.wait_held()
            deadline = time.monotonic() + 120  # only a bound: the held run reaches 1000 records
            while api.batch_info(batch)["progress"]["records_done"] < 1000:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            _, started = _started(server)
            feed.release_when(stopping)
            assert server.op({"operation": "restart"})[0] == 200
            log = root / "log" / "gateway.log"
            deadline = time.monotonic() + 60
            while STOPPING not in log.read_text("utf-8", errors="replace"):
                assert time.monotonic() < deadline, "the graceful stop never began"
                time.sleep(0.05)
            stopping.set()
            _wait_for_new_start(server, started)
        info = api.batch_info(batch)
        assert info["state"] == "error", info
        assert "EXCEPTION: Error during import: Batch stopped: server shutting down" in info["log"]
        done = len(all_records(server, "haplo_person", "profile"))
        assert 1000 <= done < total  # stopped before the end, after whole records only
        assert done == info["progress"]["records_done"]  # the state saved is what was committed
    finally:
        assert server.stop() == 0


def test_restart_refusals(op: Ops) -> None:
    assert op({"operation": "restart"}, 409) == {
        "error": "this process was not started by 'gateway serve', so it cannot restart itself"
    }
    assert op({"operation": "restart_service", "service": "http_workers"}, 409)
    for service in ("clustering", "clustering_config"):
        assert op({"operation": "restart_service", "service": service}, 400) == {
            "error": f"this server has no clustering service to restart ('{service}'); "
            "'http_workers' is the only service"
        }
    assert op({"operation": "restart_service"}, 400) == {"error": "'service' is required"}
    assert op({"operation": "restart_service", "service": "web"}, 400) == {
        "error": "'service' must be 'http_workers', not 'web'"
    }
    assert op({"operation": "restart_service", "service": 5}, 400) == {
        "error": "'service' must be 'http_workers', not '5'"
    }
    assert (
        "'replicated' restarts are not supported"
        in op({"operation": "restart", "replicated": True}, 400)["error"]
    )
    assert op({"operation": "restart", "replicated": "yes"}, 400) == {
        "error": "'replicated' must be a boolean"
    }
    reader = make_user(op, "reader", {})
    for body in ({"operation": "restart"}, {"operation": "restart_service", "service": "http_workers"}):
        name = "restart" if body["operation"] == "restart" else "restartService"
        assert reader(body, 403) == {
            "error": "This operation is not authorized due to role restrictions and/or invalid database items",
            "unauthorized_access": [f"Operation '{name}' is restricted to 'super_user' roles"],
            "invalid_schema_items": [],
        }
    assert op({"operation": "restart", "k": 1}, 400) == {
        "error": "restart takes only 'replicated'; unknown fields: k"
    }
    assert op({"operation": "restart_service", "service": "http_workers", "x": 1, "b": None}, 400) == {
        "error": "restart_service takes only 'service' and 'replicated'; unknown fields: b, x"
    }
