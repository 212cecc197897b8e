"""The four batch endpoints and /status: every §1.2 path, exact statuses and text bodies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.batch.conftest import API, WITH_S3, BatchApi, backend_setups, minimal_control, snapshot
from tests.conftest import basic
from tests.support.batch_log import summary_lines
from tests.support.s3 import stored_bytes, stored_files

FAILED = "Bad request (failed validation)"
NOT_PERMITTED = "You are not permitted to perform this action."


backend = backend_setups(*WITH_S3)


def stored_blobs(root: Path) -> list[str]:
    return stored_files(root)


def temp_files(root: Path) -> list[Path]:
    return sorted((root / "blobs" / "tmp").glob("*"))


def test_curl_style_happy_path(mapi: BatchApi, module_root: Path) -> None:
    raw = json.dumps(minimal_control()).encode()
    digest = mapi.upload_control(raw, comment="Example control")
    assert digest == hashlib.sha256(raw).hexdigest()
    assert stored_bytes(module_root, digest) == raw
    batch = mapi.create_batch(digest, "Example import")
    assert len(batch) == 44 and batch[0].isalnum() and batch[-1].isalnum()
    data = b'[{"first": "Ada", "last": "Lovelace"}]'
    assert mapi.add_file(batch, "data0", data) == hashlib.sha256(data).hexdigest()
    info = mapi.op({"operation": "get_import_batch", "batch": batch})
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
    assert temp_files(module_root) == []


def test_responses_are_text_plain(mapi: BatchApi) -> None:
    response = mapi.post("control", None, {"file": ("c.json", json.dumps(minimal_control()).encode())})
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.status_code == 200


# -- control upload -------------------------------------------------------------


def unique_control(tag: str) -> bytes:
    """A valid control file whose digest no other test uses (extra properties are ignored)."""
    return json.dumps({**minimal_control(), "x-test": tag}).encode()


def test_control_not_json(mapi: BatchApi, module_root: Path) -> None:
    before = snapshot(module_root)
    controls = mapi.op({"operation": "list_control_files"})
    cases = {
        b"{not json": "line 1, column 2: Expecting property name enclosed in double quotes",
        b"": "line 1, column 1: Expecting value",
        b"\xff\xfe{}": "not UTF-8 (byte 1)",
        b"NaN": "NaN is not JSON",
        b'\xef\xbb\xbf{"a": 1}': "line 1, column 1: Unexpected UTF-8 BOM (decode using utf-8-sig)",
        b'{"model": "m",\n  "files": {"a": {},},\n}': "line 2, column 20: trailing comma",
    }
    for raw, where in cases.items():
        response = mapi.post("control", None, {"file": ("c.json", raw)})
        assert (response.status_code, response.text) == (400, f"Uploaded file is not JSON: {where}"), raw
    assert snapshot(module_root) == before
    assert mapi.op({"operation": "list_control_files"}) == controls


def test_control_upload_warns_of_destinations_and_names_the_model_lacks(mapi: BatchApi) -> None:
    control = minimal_control()
    control["instructions"] += [
        {"source": "x", "destination": "profile", "name": "shoe-size"},
        {"action": "if-exists", "source": "y", "then": [{"action": "new", "destination": "pet"}]},
        {"source": "z", "destination": "profile", "name": "shoe-size"},
    ]
    raw = json.dumps(control).encode()
    warnings = ["Unknown name in field shoe-size for destination profile", "Unknown destination in new: pet"]
    response = mapi.post("control", None, {"file": ("c.json", raw)})
    assert (response.status_code, response.text) == (200, hashlib.sha256(raw).hexdigest())
    assert response.headers.get_list("x-control-warning") == warnings
    as_json = mapi.client.post(
        API + "control",
        files={"file": ("c.json", raw)},
        headers={**basic("haplo", mapi.key), "Accept": "application/json"},
    )
    assert as_json.json() == {"digest": hashlib.sha256(raw).hexdigest(), "warnings": warnings}
    clean = mapi.post("control", None, {"file": ("c.json", json.dumps(minimal_control()).encode())})
    assert clean.status_code == 200 and "x-control-warning" not in clean.headers


def test_control_invalid_lists_every_error(mapi: BatchApi, module_root: Path) -> None:
    before = snapshot(module_root)
    control = {
        "dataImportControlFileVersion": "0",
        "model": "nope:model",
        "instructions": [{"action": "fly"}],
    }
    response = mapi.post("control", None, {"file": ("c.json", json.dumps(control).encode())})
    assert response.status_code == 400
    assert response.text == (
        "Invalid control file:"
        "\n  Bad version of control file, should be 0"
        "\n  Model not implemented: nope:model"
        "\n  Unknown action in instruction: fly"
        "\n  Control file does not have files property"
    )
    assert snapshot(module_root) == before


def test_control_not_a_control_file(mapi: BatchApi) -> None:
    response = mapi.post("control", None, {"file": ("c.json", b"[]")})
    assert response.status_code == 400
    assert response.text.startswith("Invalid control file:\n  Not a control file")


def test_control_dedupe_by_digest_and_comment(mapi: BatchApi) -> None:
    raw = unique_control("dedupe")
    first = mapi.upload_control(raw)
    assert mapi.upload_control(raw) == first
    assert mapi.upload_control(raw, comment="") == first  # an empty optional parameter is absent
    rows = [r for r in mapi.op({"operation": "list_control_files"}) if r["digest"] == first]
    assert [(r["digest"], r["comment"], r["file_size"]) for r in rows] == [
        (first, "Unnamed control file", len(raw))
    ]
    mapi.upload_control(raw, comment="Second")
    rows = [r for r in mapi.op({"operation": "list_control_files"}) if r["digest"] == first]
    assert [r["comment"] for r in rows] == ["Second", "Unnamed control file"]


def test_control_missing_file_parameter(mapi: BatchApi) -> None:
    response = mapi.post("control", {"comment": "no file"})
    assert (response.status_code, response.text) == (400, FAILED)
    response = mapi.post("control", None, {"other": ("c.json", b"{}")})
    assert (response.status_code, response.text) == (400, FAILED)


def test_missing_boundary_and_malformed_multipart(mapi: BatchApi, module_root: Path) -> None:
    before = snapshot(module_root)
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
        response = mapi.client.post(
            API + "control", content=body, headers={**mapi.headers, "Content-Type": content_type}
        )
        assert (response.status_code, response.text) == (400, FAILED), (content_type, body)
    assert snapshot(module_root) == before


# -- create batch ------------------------------------------------------------------


def test_create_batch_errors(mapi: BatchApi) -> None:
    batches = mapi.op({"operation": "list_import_batches"})
    response = mapi.post("batch", {"comment": "x"})
    assert (response.status_code, response.text) == (400, FAILED)
    response = mapi.post("batch", {"control": ""})
    assert (response.status_code, response.text) == (400, FAILED)
    response = mapi.post("batch", {"control": "0" * 64})
    assert (response.status_code, response.text) == (400, "Control file not found: " + "0" * 64)
    assert mapi.op({"operation": "list_import_batches"}) == batches


def test_create_batch_defaults_and_oldest_control(mapi: BatchApi) -> None:
    raw = unique_control("oldest")
    digest = mapi.upload_control(raw, comment="first")
    mapi.upload_control(raw, comment="second")
    batch = mapi.create_batch(digest)
    info = mapi.op({"operation": "get_import_batch", "batch": batch})
    first = [c for c in mapi.op({"operation": "list_control_files"}) if c["comment"] == "first"][0]
    assert info["control_id"] == first["id"]
    assert info["comment"] == "Unnamed batch"


def test_create_batch_accepts_query_parameters(mapi: BatchApi) -> None:
    digest = mapi.upload_control(minimal_control())
    response = mapi.client.post(API + f"batch?control={digest}", headers=mapi.headers)
    assert response.status_code == 200 and len(response.text) == 44


# -- add file ------------------------------------------------------------------------


def test_add_file_errors(mapi: BatchApi, module_root: Path) -> None:
    digest = mapi.upload_control(minimal_control())
    batch = mapi.create_batch(digest)
    blobs_before = stored_blobs(module_root)
    cases = [
        ({"name": "data0"}, {"file": ("d.json", b"[]")}, FAILED),
        ({"batch": batch}, {"file": ("d.json", b"[]")}, FAILED),
        ({"batch": batch, "name": ""}, {"file": ("d.json", b"[]")}, FAILED),
        ({"batch": batch, "name": "data0"}, None, FAILED),
        ({"batch": "nope", "name": "data0"}, {"file": ("d.json", b"[1]")}, "Batch not found: nope"),
    ]
    for data, files, text in cases:
        response = mapi.post("file", data, files)
        assert (response.status_code, response.text) == (400, text), data
    assert stored_blobs(module_root) == blobs_before
    assert temp_files(module_root) == []


def test_add_file_duplicate_name_and_state(mapi: BatchApi, module_root: Path) -> None:
    batch = mapi.create_batch(mapi.upload_control(minimal_control()))
    mapi.add_file(batch, "data0", b"[]")
    blobs_before = stored_blobs(module_root)
    response = mapi.post("file", {"batch": batch, "name": "data0"}, {"file": ("d.json", b"[2]")})
    assert (response.status_code, response.text) == (400, "Duplicate file name: data0")
    assert stored_blobs(module_root) == blobs_before
    mapi.op({"operation": "get_import_batch", "batch": batch})
    mapi.schedule(batch, "dry-run")
    response = mapi.post("file", {"batch": batch, "name": "data1"}, {"file": ("d.json", b"[3]")})
    assert (response.status_code, response.text) == (400, f"Batch {batch} is not in the 'uploading' state")
    assert stored_blobs(module_root) == blobs_before
    assert temp_files(module_root) == []
    files = mapi.op({"operation": "get_import_batch", "batch": batch})["files"]
    assert [f["name"] for f in files] == ["data0"]


def test_add_file_refuses_a_name_the_control_file_does_not_list(mapi: BatchApi, module_root: Path) -> None:
    control = {**minimal_control(), "files": {"staff": {"read": "json"}, "contractors": {"read": "json"}}}
    batch = mapi.create_batch(mapi.upload_control(control))
    kept = mapi.add_file(batch, "staff", b'[{"first": "A"}]')
    blobs_before = stored_blobs(module_root)
    for data in (b'[{"first": "B"}]', b'[{"first": "A"}]'):  # new bytes, and bytes already stored
        response = mapi.post("file", {"batch": batch, "name": "people"}, {"file": ("people.json", data)})
        expected = "File name not in control file: people (it lists: staff, contractors)"
        assert (response.status_code, response.text) == (400, expected)
        assert stored_blobs(module_root) == blobs_before
    assert kept in stored_blobs(module_root)
    assert temp_files(module_root) == []
    files = mapi.op({"operation": "get_import_batch", "batch": batch})["files"]
    assert [f["name"] for f in files] == ["staff"]
    assert mapi.add_file(batch, "contractors", b"[]") == hashlib.sha256(b"[]").hexdigest()


def test_same_bytes_stored_once(mapi: BatchApi, module_root: Path) -> None:
    batch = mapi.create_batch(mapi.upload_control(minimal_control()))
    first = mapi.add_file(batch, "a", b"[1, 2, 3]")
    second = mapi.add_file(batch, "b", b"[1, 2, 3]")
    assert first == second
    assert stored_blobs(module_root).count(first) == 1


# -- schedule ---------------------------------------------------------------------------


def test_schedule_errors(mapi: BatchApi) -> None:
    batch = mapi.create_batch(mapi.upload_control(minimal_control()))
    for data, text in (
        ({}, FAILED),
        ({"batch": ""}, FAILED),
        ({"batch": "nope"}, "Batch not found: nope"),
        ({"batch": batch, "mode": "dryrun"}, "Unknown mode: dryrun"),
    ):
        response = mapi.post("schedule", data)
        assert (response.status_code, response.text) == (400, text), data
    assert mapi.op({"operation": "get_import_batch", "batch": batch})["state"] == "uploading"
    mapi.schedule(batch, "dry-run")
    response = mapi.post("schedule", {"batch": batch})
    assert (response.status_code, response.text) == (400, f"Batch {batch} is not in the 'uploading' state")


def test_empty_mode_is_a_real_import(mapi: BatchApi) -> None:
    batch = mapi.create_batch(mapi.upload_control(minimal_control()))
    response = mapi.post("schedule", {"batch": batch, "mode": ""})
    assert (response.status_code, response.text) == (200, "SCHEDULED")
    info = mapi.wait(batch)
    assert info["dry_run"] is False


def test_copied_batch_cannot_be_scheduled_through_the_api(mapi: BatchApi) -> None:
    batch = mapi.create_batch(mapi.upload_control(minimal_control()), "orig")
    copy = mapi.op({"operation": "copy_import_batch", "batch": batch})
    assert copy["state"] == "ready" and copy["comment"] == "orig (copy)"
    response = mapi.post("schedule", {"batch": copy["identifier"]})
    assert response.text == f"Batch {copy['identifier']} is not in the 'uploading' state"


# -- status ----------------------------------------------------------------------------


def test_status_endpoint(mapi: BatchApi) -> None:
    batch = mapi.create_batch(mapi.upload_control(minimal_control()))
    response = mapi.client.get(API + "status", params={"batch": batch}, headers=mapi.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "state: uploading\nerrors: 0\npercent: 0\nread: 0\ncommitted: 0\nfailed: 0\n"
    response = mapi.client.get(API + "status", params={"batch": "nope"}, headers=mapi.headers)
    assert (response.status_code, response.text) == (400, "Batch not found: nope")
    response = mapi.client.get(API + "status", headers=mapi.headers)
    assert (response.status_code, response.text) == (400, FAILED)
    response = mapi.client.get(API + "status", params={"batch": batch})
    assert (response.status_code, response.text) == (403, NOT_PERMITTED)


def test_status_endpoint_with_the_log(mapi: BatchApi) -> None:
    batch = mapi.create_batch(mapi.upload_control(minimal_control()))
    before = mapi.client.get(API + "status", params={"batch": batch, "log": "1"}, headers=mapi.headers)
    assert before.text == "state: uploading\nerrors: 0\npercent: 0\nread: 0\ncommitted: 0\nfailed: 0\n\n"
    mapi.add_file(batch, "people", b'[{"first": "Ada", "last": "Lovelace", "email": "not-an-email"}]')
    mapi.schedule(batch)
    info = mapi.wait(batch)
    after = mapi.client.get(API + "status", params={"batch": batch, "log": "1"}, headers=mapi.headers)
    head, _, log = after.text.partition("\n\n")
    assert head == "state: complete\nerrors: 1\npercent: 100\nread: 1\ncommitted: 1\nfailed: 0"
    assert log == info["log"] and log.startswith("START: ") and "END: " in log
    assert summary_lines(log)[0] == "SUMMARY: 1 record read, 1 committed, 0 failed, 1 error"


# -- methods, argument rule before permission --------------------------------------------


@pytest.mark.parametrize("endpoint", ["control", "batch", "file", "schedule"])
def test_post_only(mapi: BatchApi, endpoint: str) -> None:
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = mapi.client.request(method, API + endpoint, headers=mapi.headers)
        assert response.status_code == 405, (method, endpoint)


def test_argument_rule_runs_before_permission_check(mapi: BatchApi, module_root: Path) -> None:
    client = mapi.client
    assert (client.post(API + "schedule").status_code, client.post(API + "schedule").text) == (400, FAILED)
    response = client.post(API + "schedule", data={"batch": "x"})
    assert (response.status_code, response.text) == (403, NOT_PERMITTED)
    raw = unique_control("anonymous")
    response = client.post(API + "control", files={"file": ("c.json", raw)})
    assert (response.status_code, response.text) == (403, NOT_PERMITTED)
    digest = hashlib.sha256(raw).hexdigest()
    assert stored_bytes(module_root, digest) is None
    assert temp_files(module_root) == []
    # Another user's Basic credentials are not an API key: told which user to use (Haplo's JSON shape).
    for data in ({"control": "x"}, {}):
        response = client.post(API + "batch", data=data, headers=basic("admin", "admin-password"))
        assert response.status_code == 403 and response.headers["content-type"] == "application/json"
        assert response.json() == {
            "success": False,
            "kind": "INVALID-API-KEY",
            "error": {"message": "The user must be 'haplo': present the API key as HTTP Basic haplo:<key>"},
        }
