"""The four batch endpoints and /status: every §1.2 path, exact statuses and text bodies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.batch.conftest import API, BatchApi, minimal_control
from tests.conftest import basic

FAILED = "Bad request (failed validation)"
NOT_PERMITTED = "You are not permitted to perform this action."


def stored_blobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "blobs").glob("??/*") if p.is_file())


def temp_files(root: Path) -> list[Path]:
    return sorted((root / "blobs" / "tmp").glob("*"))


def test_curl_style_happy_path(api: BatchApi, root: Path) -> None:
    raw = json.dumps(minimal_control()).encode()
    digest = api.upload_control(raw, comment="Example control")
    assert digest == hashlib.sha256(raw).hexdigest()
    assert (root / "blobs" / digest[:2] / digest).read_bytes() == raw
    batch = api.create_batch(digest, "Example import")
    assert len(batch) == 44 and batch[0].isalnum() and batch[-1].isalnum()
    data = b'[{"first": "Ada", "last": "Lovelace"}]'
    assert api.add_file(batch, "data0", data) == hashlib.sha256(data).hexdigest()
    info = api.op({"operation": "get_import_batch", "batch": batch})
    assert info["state"] == "uploading"
    assert info["comment"] == "Example import"
    assert info["control"] == digest
    assert info["files"] == [
        {
            "name": "data0",
            "file": {
                "digest": hashlib.sha256(data).hexdigest(),
                "fileSize": len(data),
                "filename": "data.json",
            },
        }
    ]
    assert info["errors"] is None and info["log"] is None
    assert info["progress"] == {"records_done": 0, "errors": 0, "percent": 0}
    assert temp_files(root) == []


def test_responses_are_text_plain(api: BatchApi) -> None:
    response = api.post("control", None, {"file": ("c.json", json.dumps(minimal_control()).encode())})
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.status_code == 200


# -- control upload -------------------------------------------------------------


def test_control_not_json(api: BatchApi, root: Path) -> None:
    for raw in (b"{not json", b"", b"\xff\xfe{}", b"NaN", b'\xef\xbb\xbf{"a": 1}'):
        response = api.post("control", None, {"file": ("c.json", raw)})
        assert (response.status_code, response.text) == (400, "Uploaded file is not JSON"), raw
    assert stored_blobs(root) == []
    assert temp_files(root) == []
    assert api.op({"operation": "list_control_files"}) == []


def test_control_invalid_lists_every_error(api: BatchApi, root: Path) -> None:
    control = {
        "dataImportControlFileVersion": "0",
        "model": "nope:model",
        "instructions": [{"action": "fly"}],
    }
    response = api.post("control", None, {"file": ("c.json", json.dumps(control).encode())})
    assert response.status_code == 400
    assert response.text == (
        "Invalid control file:"
        "\n  Bad version of control file, should be 0"
        "\n  Model not implemented: nope:model"
        "\n  Unknown action in instruction: fly"
        "\n  Control file does not have files property"
    )
    assert stored_blobs(root) == []
    assert temp_files(root) == []


def test_control_not_a_control_file(api: BatchApi) -> None:
    response = api.post("control", None, {"file": ("c.json", b"[]")})
    assert response.status_code == 400
    assert response.text.startswith("Invalid control file:\n  Not a control file")


def test_control_dedupe_by_digest_and_comment(api: BatchApi) -> None:
    raw = json.dumps(minimal_control()).encode()
    first = api.upload_control(raw)
    assert api.upload_control(raw) == first
    assert api.upload_control(raw, comment="") == first  # an empty optional parameter is absent
    rows = api.op({"operation": "list_control_files"})
    assert [(r["digest"], r["comment"], r["file_size"]) for r in rows] == [
        (first, "Unnamed control file", len(raw))
    ]
    api.upload_control(raw, comment="Second")
    rows = api.op({"operation": "list_control_files"})
    assert [r["comment"] for r in rows] == ["Second", "Unnamed control file"]


def test_control_missing_file_parameter(api: BatchApi) -> None:
    response = api.post("control", {"comment": "no file"})
    assert (response.status_code, response.text) == (400, FAILED)
    response = api.post("control", None, {"other": ("c.json", b"{}")})
    assert (response.status_code, response.text) == (400, FAILED)


def test_missing_boundary_and_malformed_multipart(api: BatchApi, root: Path) -> None:
    for content_type, body in (
        ("multipart/form-data", b"--x\r\n"),
        (
            "multipart/form-data; boundary=zz",
            b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
        ),
        ("multipart/form-data; boundary=zz", b"garbage"),
        ("application/json", b"{}"),
        ("text/plain", b"hello"),
    ):
        response = api.client.post(
            API + "control", content=body, headers={**api.headers, "Content-Type": content_type}
        )
        assert (response.status_code, response.text) == (400, FAILED), (content_type, body)
    assert temp_files(root) == []
    assert stored_blobs(root) == []


# -- create batch ------------------------------------------------------------------


def test_create_batch_errors(api: BatchApi) -> None:
    response = api.post("batch", {"comment": "x"})
    assert (response.status_code, response.text) == (400, FAILED)
    response = api.post("batch", {"control": ""})
    assert (response.status_code, response.text) == (400, FAILED)
    response = api.post("batch", {"control": "0" * 64})
    assert (response.status_code, response.text) == (400, "Control file not found: " + "0" * 64)
    assert api.op({"operation": "list_import_batches"}) == []


def test_create_batch_defaults_and_oldest_control(api: BatchApi) -> None:
    raw = json.dumps(minimal_control()).encode()
    digest = api.upload_control(raw, comment="first")
    api.upload_control(raw, comment="second")
    batch = api.create_batch(digest)
    info = api.op({"operation": "get_import_batch", "batch": batch})
    first = [c for c in api.op({"operation": "list_control_files"}) if c["comment"] == "first"][0]
    assert info["control_id"] == first["id"]
    assert info["comment"] == "Unnamed batch"


def test_create_batch_accepts_query_parameters(api: BatchApi) -> None:
    digest = api.upload_control(minimal_control())
    response = api.client.post(API + f"batch?control={digest}", headers=api.headers)
    assert response.status_code == 200 and len(response.text) == 44


# -- add file ------------------------------------------------------------------------


def test_add_file_errors(api: BatchApi, root: Path) -> None:
    digest = api.upload_control(minimal_control())
    batch = api.create_batch(digest)
    blobs_before = stored_blobs(root)
    cases = [
        ({"name": "data0"}, {"file": ("d.json", b"[]")}, FAILED),
        ({"batch": batch}, {"file": ("d.json", b"[]")}, FAILED),
        ({"batch": batch, "name": ""}, {"file": ("d.json", b"[]")}, FAILED),
        ({"batch": batch, "name": "data0"}, None, FAILED),
        ({"batch": "nope", "name": "data0"}, {"file": ("d.json", b"[1]")}, "Batch not found: nope"),
    ]
    for data, files, text in cases:
        response = api.post("file", data, files)
        assert (response.status_code, response.text) == (400, text), data
    assert stored_blobs(root) == blobs_before
    assert temp_files(root) == []


def test_add_file_duplicate_name_and_state(api: BatchApi, root: Path) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    api.add_file(batch, "data0", b"[]")
    blobs_before = stored_blobs(root)
    response = api.post("file", {"batch": batch, "name": "data0"}, {"file": ("d.json", b"[2]")})
    assert (response.status_code, response.text) == (400, "Duplicate file name: data0")
    assert stored_blobs(root) == blobs_before
    api.op({"operation": "get_import_batch", "batch": batch})
    api.schedule(batch, "dry-run")
    response = api.post("file", {"batch": batch, "name": "data1"}, {"file": ("d.json", b"[3]")})
    assert (response.status_code, response.text) == (400, f"Batch {batch} is not in the 'uploading' state")
    assert stored_blobs(root) == blobs_before
    assert temp_files(root) == []
    files = api.op({"operation": "get_import_batch", "batch": batch})["files"]
    assert [f["name"] for f in files] == ["data0"]


def test_same_bytes_stored_once(api: BatchApi, root: Path) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    first = api.add_file(batch, "a", b"[1, 2, 3]")
    second = api.add_file(batch, "b", b"[1, 2, 3]")
    assert first == second
    assert len([p for p in stored_blobs(root) if p.name == first]) == 1


# -- schedule ---------------------------------------------------------------------------


def test_schedule_errors(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    for data, text in (
        ({}, FAILED),
        ({"batch": ""}, FAILED),
        ({"batch": "nope"}, "Batch not found: nope"),
        ({"batch": batch, "mode": "dryrun"}, "Unknown mode: dryrun"),
    ):
        response = api.post("schedule", data)
        assert (response.status_code, response.text) == (400, text), data
    assert api.op({"operation": "get_import_batch", "batch": batch})["state"] == "uploading"
    api.schedule(batch, "dry-run")
    response = api.post("schedule", {"batch": batch})
    assert (response.status_code, response.text) == (400, f"Batch {batch} is not in the 'uploading' state")


def test_empty_mode_is_a_real_import(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    response = api.post("schedule", {"batch": batch, "mode": ""})
    assert (response.status_code, response.text) == (200, "SCHEDULED")
    info = api.wait(batch)
    assert info["dry_run"] is False


def test_copied_batch_cannot_be_scheduled_through_the_api(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()), "orig")
    copy = api.op({"operation": "copy_import_batch", "batch": batch})
    assert copy["state"] == "ready" and copy["comment"] == "orig (copy)"
    response = api.post("schedule", {"batch": copy["identifier"]})
    assert response.text == f"Batch {copy['identifier']} is not in the 'uploading' state"


# -- status ----------------------------------------------------------------------------


def test_status_endpoint(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    response = api.client.get(API + "status", params={"batch": batch}, headers=api.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "state: uploading\nerrors: 0\npercent: 0\n"
    response = api.client.get(API + "status", params={"batch": "nope"}, headers=api.headers)
    assert (response.status_code, response.text) == (400, "Batch not found: nope")
    response = api.client.get(API + "status", headers=api.headers)
    assert (response.status_code, response.text) == (400, FAILED)
    response = api.client.get(API + "status", params={"batch": batch})
    assert (response.status_code, response.text) == (403, NOT_PERMITTED)


# -- methods, argument rule before permission --------------------------------------------


@pytest.mark.parametrize("endpoint", ["control", "batch", "file", "schedule"])
def test_post_only(api: BatchApi, endpoint: str) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = api.client.request(method, API + endpoint, headers=api.headers)
        assert response.status_code == 405, (method, endpoint)


def test_argument_rule_runs_before_permission_check(api: BatchApi, root: Path) -> None:
    client = api.client
    assert (client.post(API + "schedule").status_code, client.post(API + "schedule").text) == (400, FAILED)
    response = client.post(API + "schedule", data={"batch": "x"})
    assert (response.status_code, response.text) == (403, NOT_PERMITTED)
    response = client.post(
        API + "control", files={"file": ("c.json", json.dumps(minimal_control()).encode())}
    )
    assert (response.status_code, response.text) == (403, NOT_PERMITTED)
    assert stored_blobs(root) == []
    assert temp_files(root) == []
    # Another user's Basic credentials are not an API key: anonymous.
    response = client.post(API + "batch", data={"control": "x"}, headers=basic("admin", "admin-password"))
    assert (response.status_code, response.text) == (403, NOT_PERMITTED)
