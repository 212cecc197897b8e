"""Talking to a real ``gateway serve`` subprocess: the batch API with a key, and waiting for batches."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from tests.support.server import ServerProcess

API = "/api/haplo-data-import-batch/"


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), "multipart/form-data; boundary=" + boundary


class RemoteBatchApi:
    """The batch endpoints of a running server, as ``haplo`` with a fresh key."""

    def __init__(self, server: ServerProcess, key: str | None = None) -> None:
        self.server = server
        if key is None:
            status, created = server.op({"operation": "create_api_key", "name": "tests"})
            assert status == 200, created
            key = str(created["key"])
        self.key = key
        self.auth = "Basic " + base64.b64encode(f"haplo:{key}".encode()).decode()

    def require(self, body: dict[str, Any]) -> Any:
        status, reply = self.server.op(body)
        assert status == 200, reply
        return reply

    def post(
        self, endpoint: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None
    ) -> tuple[int, str]:
        if files:
            body, content_type = multipart(fields, files)
        else:
            body, content_type = urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.server.url + API + endpoint,
            data=body,
            method="POST",
            headers={"Content-Type": content_type, "Authorization": self.auth},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def ok(
        self, endpoint: str, fields: dict[str, str], files: dict[str, tuple[str, bytes]] | None = None
    ) -> str:
        status, text = self.post(endpoint, fields, files)
        assert status == 200, (endpoint, status, text)
        return text

    def batch_with_file(self, control: dict[str, Any], name: str, data: bytes) -> str:
        """Upload control, create a batch and add one file; the batch identifier."""
        digest = self.ok("control", {}, {"file": ("control.json", json.dumps(control).encode())})
        batch = self.ok("batch", {"control": digest})
        self.ok("file", {"batch": batch, "name": name}, {"file": (name + ".json", data)})
        return batch

    def batch_info(self, batch: str) -> dict[str, Any]:
        return dict(self.require({"operation": "get_import_batch", "batch": batch}))

    def wait(
        self, batch: str, timeout: float = 60, pending: tuple[str, ...] = ("scheduled", "running")
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            info = self.batch_info(batch)
            if info["state"] not in pending:
                return info
            assert time.monotonic() < deadline, f"batch still {info['state']} after {timeout}s"
            time.sleep(0.1)


def all_records(server: ServerProcess, database: str, table: str) -> list[dict[str, Any]]:
    """Every record of a table, read through search_by_value."""
    status, reply = server.op(
        {
            "operation": "search_by_value",
            "database": database,
            "table": table,
            "attribute": "id",
            "value": "*",
            "get_attributes": ["*"],
        },
        timeout=120,
    )
    assert status == 200, reply
    return list(reply)
