"""Uploaded files in S3 (``blobs.backend: s3``, moto on loopback) through the real app: a large
file's run streams it from the bucket twice, and a bucket that cannot be reached is a 503 naming
it (the batch API, the admin pages, ``/ready``), or a batch that ends ``error`` naming it, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from engine.readers.base import KEEP_LIMIT
from tests.admin.support import CONTROL, login, register_model, upload_control
from tests.batch.conftest import API, BatchApi, minimal_control, start_api
from tests.conftest import make_client
from tests.support.postgres import store_overrides
from tests.support.s3 import MotoS3, s3_server, snapshot, stored_files
from tests.support.tcpproxy import TcpProxy

__all__ = ["s3_server"]  # the fixture the tests use


@pytest.fixture
def proxy(s3_server: MotoS3) -> Iterator[TcpProxy]:
    """A way to the S3 server that the test can cut."""
    tunnel = TcpProxy("127.0.0.1", int(s3_server.url.rsplit(":", 1)[1]))
    yield tunnel
    tunnel.cut()


@pytest.fixture
def s3_client(root: Path, proxy: TcpProxy) -> Iterator[TestClient]:
    """The app (embedded store) with its uploaded files in S3, reached through ``proxy``."""
    overrides = {
        **store_overrides("rocksdb+s3", root),
        "blobs.s3.endpoint_url": f"http://127.0.0.1:{proxy.port}",
    }
    with make_client(root, **overrides) as client:
        yield client


def test_a_large_file_is_streamed_from_the_bucket_for_both_passes(s3_client: TestClient, root: Path) -> None:
    api = start_api(s3_client)
    people = [{"first": "F", "last": f"L{i}", "email": f"p{i}@example.com"} for i in range(30000)]
    data = json.dumps(people).encode()
    assert len(data) > KEEP_LIMIT  # read twice: the check, then the records
    batch = api.create_batch(api.upload_control(minimal_control()))
    digest = api.add_file(batch, "people", data)
    assert digest in stored_files(root)
    assert not list((root / "blobs").glob("??/*"))  # nothing stored on the local disk
    gateway = s3_client.app.state.gateway  # type: ignore[attr-defined]
    made: list[str] = []
    gateway.imports.blobs.client.meta.events.register(
        "before-call.s3", lambda model, **_: made.append(model.name)
    )
    api.schedule(batch)
    done = api.wait(batch, timeout=120)
    assert (done["state"], done["errors"]) == ("complete", 0), done["log"]
    assert done["progress"] == {"records_done": 30000, "errors": 0, "percent": 100}
    assert len(list(gateway.storage.records.scan("haplo_person", "profile"))) == 30000
    # The control file in one GET; the data file opened twice, each a HEAD and one ranged GET.
    assert sorted(made) == ["GetObject"] * 3 + ["HeadObject"] * 2


def test_a_lost_bucket_is_503_naming_it_and_keeps_nothing(
    s3_client: TestClient, root: Path, proxy: TcpProxy, s3_server: MotoS3
) -> None:
    api = start_api(s3_client)
    control = api.upload_control(minimal_control())
    batch = api.create_batch(control)
    api.add_file(batch, "first", b'[{"first": "Ada", "last": "Lovelace"}]')
    assert s3_client.get("/ready").status_code == 200
    before = snapshot(root)
    proxy.cut()
    where = f"S3 bucket '{s3_server.bucket}' at http://127.0.0.1:{proxy.port} is unavailable: "
    response = api.post("file", {"batch": batch, "name": "second"}, {"file": ("d.json", b"[]")})
    assert response.status_code == 503 and response.text.startswith(where), response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    files = api.op({"operation": "get_import_batch", "batch": batch})["files"]
    assert [f["name"] for f in files] == ["first"]
    assert snapshot(root) == before  # no spooled file left, nothing new in the bucket
    ready = s3_client.get("/ready")
    assert ready.status_code == 503
    problems = ready.json()["problems"]
    assert [p for p in problems if p.startswith("files: ")] != [], problems
    assert all(p.startswith(f"files: {where}") for p in problems if p.startswith("files: ")), problems
    # A run that cannot read its files ends in error naming the bucket; nothing is committed.
    api.schedule(batch)
    done = api.wait(batch, timeout=60)
    assert done["state"] == "error"
    assert f"EXCEPTION: Error during import: {where}" in done["log"]


def test_an_upload_the_api_refuses_leaves_nothing_in_the_bucket(s3_client: TestClient, root: Path) -> None:
    api: BatchApi = start_api(s3_client)
    before = snapshot(root)
    bad = json.dumps({"dataImportControlFileVersion": 0, "model": "nope", "files": {}, "instructions": []})
    response = api.post("control", None, {"file": ("c.json", bad.encode())})
    assert response.status_code == 400
    response = api.post("file", {"batch": "nope", "name": "x"}, {"file": ("d.json", b"[42]")})
    assert (response.status_code, response.text) == (400, "Batch not found: nope")
    anonymous = s3_client.post(API + "control", files={"file": ("c.json", b"{}")})
    assert anonymous.status_code == 403
    assert snapshot(root) == before


def test_admin_pages_answer_503_naming_a_lost_bucket(
    s3_client: TestClient, proxy: TcpProxy, s3_server: MotoS3
) -> None:
    register_model(s3_client)
    csrf = login(s3_client)
    control = upload_control(s3_client, csrf)
    assert s3_client.get(control + "/download").content == json.dumps(CONTROL).encode()
    proxy.cut()
    where = f"S3 bucket &#39;{s3_server.bucket}&#39; at http://127.0.0.1:{proxy.port} is unavailable: "
    for response in (
        s3_client.get(control + "/download"),
        s3_client.post(
            "/admin/new-control-file",
            data={"csrf": csrf, "comment": "again"},
            files={"file": ("c.json", json.dumps({**CONTROL, "x": 1}).encode(), "application/json")},
        ),
    ):
        assert response.status_code == 503 and where in response.text, response.text
