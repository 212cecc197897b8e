"""A full disk: every write path answers 507 naming the store, keeps nothing half-written,
reads keep working, and writes come back when space does, without a restart.

Each test puts the gateway's root on a tmpfs of its own (tests/support/small_disk.py) and
fills it with a filler file. Where a tmpfs cannot be mounted (not root, no permission) the
test is skipped with the reason: the one machine-dependent skip, also under CI=true.

How the store behaves (gateway/storage/rocksdb/failures.py): a write-ahead-log append that
fails for lack of space makes RocksDB refuse every write until at least 64 MiB (its memtable
size) are free again; it checks every 5 seconds. The disk here is 96 MiB, so deleting the
filler brings the writes back within seconds. To make a write fail for certain (and not fit
into the last page of the log), the records written on a full disk are larger than a page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import load_config
from tests.admin.support import CONTROL, csrf_of, login, register_model, upload_control
from tests.batch.conftest import API, minimal_control, start_api
from tests.batch.test_uploads import multipart_chunks
from tests.conftest import ADMIN_AUTH, Ops, basic, make_client
from tests.support.small_disk import MiB, SmallDisk, eventually, small_disk

FULL = "no space left on the device (records store)"
FILES_FULL = "no space left on the device (files store)"
BIG = "x" * 8192  # a record larger than a page: never fits into the slack of the log's last page


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A 96 MiB tmpfs for the root (64 MiB must be free for RocksDB to take writes again)."""
    with small_disk(tmp_path, 96 * MiB) as mounted:
        yield mounted


def blob_files(root: Path) -> list[Path]:
    """Every file under blobs/ (stored blobs and temporary files)."""
    return sorted(p for p in (root / "blobs").rglob("*") if p.is_file())


def insert(table: str, *records: dict[str, Any]) -> dict[str, Any]:
    return {"operation": "insert", "database": "dev", "table": table, "records": list(records)}


def test_operations_answer_507_keep_nothing_and_recover_without_restart(disk: SmallDisk) -> None:
    with make_client(disk.root) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        op(insert("dog", {"id": 1, "name": "Penny", "notes": "short"}))
        disk.fill()

        # The first write fails in RocksDB's log, which then refuses every write until there
        # is room again; a new attribute (its index) and a new table are refused as well.
        rex = insert("dog", {"id": 3, "name": "Rex", "notes": BIG})
        kato = insert("dog", {"id": 2, "name": "Kato", "age": 3})
        cat = {"operation": "create_table", "database": "dev", "table": "cat", "primary_key": "id"}
        for body in (rex, kato, cat):
            response = op.raw(body)
            assert (response.status_code, response.json()) == (507, {"error": FULL}), body
        # Writes under the root that are not records: a backup's working copy, the configuration.
        backup = op.raw({"operation": "get_backup", "database": "dev"})
        assert backup.status_code == 507 and backup.json()["error"].startswith(FULL), backup.text
        assert list((disk.root / "tmp").glob("*")) == []
        configured = op.raw({"operation": "set_configuration", "logging_level": "warn"})
        config_file = disk.root / "gateway-config.yaml"
        assert (configured.status_code, configured.json()) == (
            507,
            {"error": f"no space left on the device (configuration file {config_file})"},
        )
        assert not config_file.exists() and not config_file.with_suffix(".tmp").exists()

        # Nothing of the refused writes, and reads work.
        found = op(
            {
                "operation": "search_by_id",
                "database": "dev",
                "table": "dog",
                "ids": [1, 2, 3],
                "get_attributes": ["id", "name"],
            }
        )
        assert found == [{"id": 1, "name": "Penny"}]
        assert "cat" not in op({"operation": "describe_database", "database": "dev"})
        described = op({"operation": "describe_table", "database": "dev", "table": "dog"})
        assert "age" not in {a["attribute"] for a in described["attributes"]}
        assert described["record_count"] == 1

        disk.unfill()
        eventually(lambda: op.raw(kato).status_code == 200, "the insert to succeed once space is back")
        op(cat)
        ages = op(
            {
                "operation": "search_by_value",
                "database": "dev",
                "table": "dog",
                "attribute": "age",
                "value": 3,
                "get_attributes": ["id"],
            }
        )
        assert ages == [{"id": 2}]
    with make_client(disk.root) as client:  # and the store opens again as it was left
        op = Ops(client, ADMIN_AUTH)
        assert set(op({"operation": "describe_database", "database": "dev"})) == {"cat", "dog"}


def test_reads_and_ready_while_the_disk_is_full(disk: SmallDisk) -> None:
    floor = 8 * MiB
    with make_client(disk.root, **{"storage.min_free_bytes": floor}) as client:
        api = start_api(client)
        batch = api.create_batch(api.upload_control(minimal_control()))
        unused_key = api.op({"operation": "create_api_key", "name": "status only"})["key"]
        api.op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        api.op(insert("dog", {"id": 1, "name": "Penny"}))
        assert client.get("/ready").json() == {"ready": True}
        disk.fill()

        ready = client.get("/ready")
        assert ready.status_code == 503
        (problem,) = ready.json()["problems"]
        assert re.fullmatch(
            rf"disk: only \d+ bytes free under {re.escape(str(disk.root))} \(storage.min_free_bytes is {floor}\)",
            problem,
        ), problem
        assert api.op(
            {
                "operation": "search_by_id",
                "database": "dev",
                "table": "dog",
                "ids": [1],
                "get_attributes": ["name"],
            }
        ) == [{"name": "Penny"}]
        assert "dog" in api.op({"operation": "describe_all"})["dev"]
        assert api.op({"operation": "get_import_batch", "batch": batch})["state"] == "uploading"
        # A key's first use records when it was used: that write must not turn the key away.
        status = client.get(API + "status", params={"batch": batch}, headers=basic("haplo", unused_key))
        assert (status.status_code, status.text.splitlines()[0]) == (200, "state: uploading")
        assert isinstance(api.op({"operation": "read_log", "limit": 5}), list)


def test_batch_api_answers_507_and_keeps_no_file(disk: SmallDisk) -> None:
    with make_client(disk.root, **{"storage.min_free_bytes": 0}) as client:
        api = start_api(client)
        control = api.upload_control(minimal_control())
        batch = api.create_batch(control)
        kept = blob_files(disk.root)
        disk.fill()

        created = api.post("batch", {"control": control, "comment": BIG})
        assert (created.status_code, created.text) == (507, FULL)
        assert created.headers["content-type"].startswith("text/plain")

        # Room for the file, but the store refuses the batch's row (it takes writes again only
        # once 64 MiB are free): the stored file is removed again, as if never uploaded.
        disk.unfill()
        disk.fill(leave=8 * MiB)
        data = bytes(range(256)) * 16_016  # 4.1 MB
        response = api.post("file", {"batch": batch, "name": "people"}, {"file": ("people.json", data)})
        assert (response.status_code, response.text) == (507, FULL)
        assert blob_files(disk.root) == kept

        # No room for the file, streamed without a declared length: refused mid-file.
        disk.fill(leave=1 * MiB)
        boundary = "fullfull"
        response = client.post(
            API + "file",
            content=multipart_chunks(boundary, {"batch": batch, "name": "people"}, "file", 4 * MiB),
            headers={**api.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert (response.status_code, response.text) == (507, FILES_FULL)
        assert blob_files(disk.root) == kept
        assert api.op({"operation": "get_import_batch", "batch": batch})["files"] == []


def test_uploads_that_do_not_fit_are_refused_before_they_are_read(disk: SmallDisk) -> None:
    floor = 8 * MiB
    with make_client(disk.root, **{"storage.min_free_bytes": floor}) as client:
        api = start_api(client)
        batch = api.create_batch(api.upload_control(minimal_control()))
        kept = blob_files(disk.root)
        disk.fill(leave=floor + 1 * MiB)
        pulled = []
        boundary = "declared"
        body = b"".join(multipart_chunks(boundary, {"batch": batch, "name": "people"}, "file", 2 * MiB))

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                pulled.append(start)
                yield body[start : start + 64 * 1024]

        response = client.post(
            API + "file",
            content=chunks(),
            headers={
                **api.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(body)),
            },
        )
        assert response.status_code == 507
        assert re.fullmatch(
            re.escape(FILES_FULL) + rf": the upload needs {len(body)} bytes and \d+ are available "
            rf"\(\d+ free, {floor} kept free\)",
            response.text,
        ), response.text
        assert pulled == []  # not a byte of the body was read
        assert blob_files(disk.root) == kept
        assert len(api.add_file(batch, "small", b"[]")) == 64  # what fits is taken
        kept = blob_files(disk.root)

        # Below the floor even an upload that declares no length is refused before it is read.
        disk.fill(leave=floor - 1 * MiB)
        response = client.post(
            API + "file",
            content=chunks(),
            headers={**api.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert response.status_code == 507
        assert re.fullmatch(
            re.escape(FILES_FULL)
            + rf": no upload fits, no bytes are available \(\d+ free, {floor} kept free\)",
            response.text,
        ), response.text
        assert pulled == []
        assert blob_files(disk.root) == kept


def test_admin_pages_answer_507_and_keep_no_file(disk: SmallDisk) -> None:
    with make_client(disk.root, **{"storage.min_free_bytes": 0}) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        op(insert("dog", {"id": 0, "notes": "short"}))
        register_model(client)
        csrf = login(client)
        control_path = upload_control(client, csrf)
        control_id = control_path.rsplit("/", 1)[-1]
        kept = blob_files(disk.root)
        disk.fill()

        refused = client.post(
            "/admin/new-control-file",
            data={"csrf": csrf, "comment": "People"},
            files={"file": ("control.json", json.dumps(CONTROL).encode(), "application/json")},
            follow_redirects=False,
        )
        assert refused.status_code == 507
        assert "Insufficient storage" in refused.text and FILES_FULL in refused.text

        # The store refuses writes (after an insert failed in its log), files still fit: the
        # batch is refused and its file removed.
        assert op.raw(insert("dog", {"id": 1, "notes": BIG})).status_code == 507
        disk.unfill()
        disk.fill(leave=8 * MiB)
        response = client.post(
            f"/admin/new-batch/for-control/{control_id}",
            data={"csrf": csrf, "comment": "Run", "name": ["people"]},
            files=[("file", ("people.json", bytes(range(256)) * 4096, "application/json"))],
            follow_redirects=False,
        )
        assert response.status_code == 507, response.text
        assert "Insufficient storage" in response.text and FULL in response.text
        assert blob_files(disk.root) == kept
        assert csrf_of(client.get("/admin/batches").text)


def test_ready_floor_is_a_setting(tmp_path: Path) -> None:
    huge = 1 << 60
    with make_client(tmp_path / "root", **{"storage.min_free_bytes": huge}) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        (problem,) = ready.json()["problems"]
        assert problem.startswith("disk: only ") and problem.endswith(f"(storage.min_free_bytes is {huge})")
    config = load_config(root=tmp_path / "root", environ={"GATEWAY_STORAGE_MIN_FREE_BYTES": "1234"})
    assert config.get("storage.min_free_bytes") == 1234
    assert load_config(root=tmp_path / "root", environ={}).get("storage.min_free_bytes") == 64 * MiB


def test_openapi_documents_507(tmp_path: Path) -> None:
    with make_client(tmp_path / "root") as client:
        document = yaml.safe_load(client.get("/openapi.yaml").text)
    assert "507" in document["paths"]["/"]["post"]["responses"]
    for endpoint in ("control", "batch", "file", "schedule"):
        assert "507" in document["paths"][API + endpoint]["post"]["responses"], endpoint
