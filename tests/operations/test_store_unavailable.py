"""A PostgreSQL server that goes away while the gateway runs: 503 naming the backend, never a 500."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import ADMIN_AUTH, make_client
from tests.support.postgres import store_overrides
from tests.support.tcpproxy import TcpProxy


def test_a_lost_server_is_503_naming_it(root: Path) -> None:
    overrides = store_overrides("postgres", root)
    server = conninfo_to_dict(overrides["storage.postgres.dsn"])
    proxy = TcpProxy(str(server.get("host", "127.0.0.1")), int(server.get("port", 5432)))
    overrides["storage.postgres.dsn"] = make_conninfo(
        overrides["storage.postgres.dsn"], host="127.0.0.1", port=proxy.port
    )
    overrides["storage.postgres.timeout"] = 1
    with make_client(root, **overrides) as client:

        def post(body: dict[str, object]) -> tuple[int, dict[str, object]]:
            response = client.post("/", json=body, headers=ADMIN_AUTH)
            return response.status_code, response.json()

        assert (
            post({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})[0]
            == 200
        )
        assert (
            post({"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 1}]})[0] == 200
        )
        assert client.get("/ready").status_code == 200
        proxy.cut()
        for body in (
            {
                "operation": "search_by_id",
                "database": "dev",
                "table": "dog",
                "ids": [1],
                "get_attributes": ["*"],
            },
            {"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 2}]},
            {"operation": "describe_all"},
        ):
            status, answer = post(body)
            assert status == 503, answer
            assert str(answer["error"]).startswith(f"PostgreSQL at postgres@127.0.0.1:{proxy.port}/")
            assert "is unavailable" in str(answer["error"])
        ready = client.get("/ready")
        assert ready.status_code == 503 and "store: PostgreSQL at" in str(ready.json()["problems"])


def test_serve_without_its_server_exits_naming_it(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_ROOT=str(tmp_path / "root"),
        GATEWAY_STORAGE_BACKEND="postgres",
        GATEWAY_STORAGE_POSTGRES_DSN=f"postgresql://gw:s3cret@127.0.0.1:{port}/gatewaydb",
    )
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"gateway: PostgreSQL at gw@127.0.0.1:{port}/gatewaydb is unavailable: ")
    assert "s3cret" not in done.stderr + done.stdout
