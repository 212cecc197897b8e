"""The Operations API of a real ``gateway serve`` subprocess over HTTP; the store's lock; restarts."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.request

import pytest

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, free_port, start_server

pytestmark = pytest.mark.slow


def test_real_server_round_trip_lock_and_restart(tmp_path):
    root = tmp_path / "root"
    server = start_server(root)
    try:
        assert server.op(
            {"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"}
        ) == (
            200,
            {"message": "table 'dev.dog' successfully created."},
        )
        status, answer = server.op(
            {
                "operation": "insert",
                "database": "dev",
                "table": "dog",
                "records": [{"id": 1, "name": "Penny"}, {"id": 2}],
            }
        )
        assert (status, answer["message"]) == (200, "inserted 2 of 2 records")
        assert server.op(
            {
                "operation": "search_by_id",
                "database": "dev",
                "table": "dog",
                "ids": [1],
                "get_attributes": ["name"],
            }
        ) == (
            200,
            [{"name": "Penny"}],
        )
        assert server.op(
            {
                "operation": "search_by_id",
                "database": "dev",
                "table": "nope",
                "ids": [1],
                "get_attributes": ["*"],
            }
        ) == (
            404,
            {"error": "Table 'dev.nope' does not exist"},
        )
        status, tokens = server.op(
            {"operation": "create_authentication_tokens", "username": ADMIN_USER, "password": ADMIN_PASSWORD}
        )
        assert status == 200
        request = urllib.request.Request(
            server.url + "/",
            data=json.dumps({"operation": "get_backup", "database": "dev"}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {tokens['operation_token']}",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Content-Type"] == "application/x-tar"
            with tarfile.open(fileobj=io.BytesIO(response.read())) as tar:
                names = tar.getnames()
        assert "dev/CURRENT" in names

        # a second process on the same root stops at once, naming the lock file
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        second = subprocess.run(
            [sys.executable, "-m", "gateway", "serve", "--root", str(root), "--port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert second.returncode != 0
        assert "LOCK" in second.stderr and str(root) in second.stderr
        # the first server is unharmed
        assert (
            server.op({"operation": "describe_table", "database": "dev", "table": "dog"})[1]["record_count"]
            == 2
        )
    finally:
        assert server.stop() == 0  # a graceful stop on SIGTERM exits 0

    restarted = start_server(root)
    try:
        status, rows = restarted.op(
            {
                "operation": "search_by_value",
                "database": "dev",
                "table": "dog",
                "attribute": "id",
                "value": "*",
                "get_attributes": ["id", "name"],
            }
        )
        assert (status, rows) == (200, [{"id": 1, "name": "Penny"}, {"id": 2, "name": None}])
        status, found = restarted.op(
            {
                "operation": "search_by_value",
                "database": "dev",
                "table": "dog",
                "attribute": "name",
                "value": "Pen*",
                "get_attributes": ["id"],
            }
        )
        assert (status, found) == (200, [{"id": 1}])  # the index survived the restart
    finally:
        restarted.stop()
