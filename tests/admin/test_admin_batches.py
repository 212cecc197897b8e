"""Admin batch pages on the real app: control files, batches, scheduling, copies, downloads, keys."""

from __future__ import annotations

import hashlib
import html
import json

import pytest

from tests.admin.support import (
    CONTROL,
    create_batch,
    login,
    register_model,
    upload_control,
    wait_state,
)


@pytest.fixture(scope="module", params=("rocksdb", "rocksdb+s3"))
def backend(request: pytest.FixtureRequest) -> str:
    """The pages on the embedded store, with the uploaded files on disk and in S3 (downloads stream from it)."""
    return str(request.param)


PEOPLE = json.dumps(
    [
        {"first": "Joe", "last": "Bloggs", "email": "joe@example.org"},
        {"first": "Jane", "last": "Smith", "email": "<script>alert(1)</script>"},
    ]
).encode()


def test_control_file_upload_validates_and_never_dedupes(client):
    register_model(client)
    csrf = login(client)
    first = upload_control(client, csrf)
    second = upload_control(client, csrf)
    assert first != second  # the admin UI always inserts a new row
    page = html.unescape(client.get(first).text)
    digest = hashlib.sha256(json.dumps(CONTROL).encode()).hexdigest()
    assert digest in page and "New batch…" in page and '"dataImportControlFileVersion": 0' in page
    listing = client.get("/admin/control-files").text
    assert "2 control files" in listing and digest[:10] + "…" in listing
    download = client.get(first + "/download")
    assert download.content == json.dumps(CONTROL).encode()
    assert client.app.state.gateway.imports.blobs.exists(digest)

    def refused(data: bytes, comment: str = "x") -> str:
        response = client.post(
            "/admin/new-control-file",
            data={"csrf": csrf, "comment": comment},
            files={"file": ("c.json", data, "application/json")},
        )
        assert response.status_code == 400
        return response.text

    assert "Not a valid JSON file" in refused(b"{not json")
    bad = json.dumps({"dataImportControlFileVersion": "0", "model": "nope", "files": {}, "instructions": []})
    assert (
        "Not a valid control file: Bad version of control file, should be 0, Model not implemented: nope"
        in refused(bad.encode())
    )
    assert "A comment is required." in refused(json.dumps(CONTROL).encode(), comment="")
    assert "2 control files" in client.get("/admin/control-files").text  # nothing half-written


def test_admin_forms_fail_early_and_precisely(client):
    register_model(client)
    csrf = login(client)
    refused = client.post(
        "/admin/new-control-file",
        data={"csrf": csrf, "comment": "x"},
        files={"file": ("c.json", b'{"model": "haplo:person",\n "files": {},\n}', "application/json")},
    )
    assert (
        refused.status_code == 400
        and "Not a valid JSON file: line 2, column 13: trailing comma" in refused.text
    )
    control = {
        **CONTROL,
        "files": {"staff": {"read": "json"}},
        "instructions": [*CONTROL["instructions"], {"source": "s", "destination": "profile", "name": "shoe"}],
    }
    path = upload_control(client, csrf, control)
    notice = html.unescape(client.get(path).text)
    assert "Warning: Unknown name in field shoe for destination profile (a run would report it)." in notice
    data = b'[{"first": "Only", "last": "Here"}]'
    response = client.post(
        f"/admin/new-batch/for-control/{path.rsplit('/', 1)[-1]}",
        data={"csrf": csrf, "comment": "wrong name", "name": ["people"]},
        files=[("file", ("people.json", data, "application/json"))],
    )
    assert response.status_code == 400
    assert "File name not in control file: people (it lists: staff)" in html.unescape(response.text)
    assert not client.app.state.gateway.imports.blobs.exists(hashlib.sha256(data).hexdigest())
    assert "0 batches" in client.get("/admin/batches").text
    batch = create_batch(client, csrf, path, {"staff": data})
    assert ">ready<" in client.get(batch).text


def test_new_batch_rows_dry_run_log_notice_copy_and_import(client):
    register_model(client)
    csrf = login(client)
    control = upload_control(client, csrf)
    control_id = control.rsplit("/", 1)[-1]
    form = client.get(f"/admin/new-batch/for-control/{control_id}").text
    assert form.count('name="name"') == 2 and 'id="add-row"' in form
    assert client.get(f"/admin/new-batch/for-control/{control_id}?rows=4").text.count('name="name"') == 4

    duplicate = client.post(
        f"/admin/new-batch/for-control/{control_id}",
        data={"csrf": csrf, "comment": "dup", "name": ["a", "a", "b", "b"]},
        files=[("file", (f"f{i}.json", b"[]", "application/json")) for i in range(4)],
    )
    assert duplicate.status_code == 400 and "Duplicate file names: a, b" in duplicate.text
    missing = client.post(
        f"/admin/new-batch/for-control/{control_id}",
        data={"csrf": csrf, "comment": "x", "name": ["a"]},
    )
    assert missing.status_code == 400 and "Every file needs both a name and a file." in missing.text
    assert "0 batches" in client.get("/admin/batches").text

    batch = create_batch(client, csrf, control, {"people": PEOPLE, "extra": b"[]"}, comment="People run")
    page = client.get(batch).text
    assert "Batch import: People run" in page and ">ready<" in page
    assert "Dry run…" in page and "Import data…" in page and "people.json" in page
    assert client.get(batch + "/file/0").content == PEOPLE
    assert client.get(batch + "/file/1").content == b"[]"
    assert client.get(batch + "/file/2").status_code == 404
    identifier = batch.rsplit("/", 1)[-1]
    assert client.get(f"/admin/copy-batch/{identifier}").status_code == 200

    confirm = client.get(f"/admin/schedule-batch/dry-run/{identifier}").text
    assert "Run the import in dry run mode? Data will be checked but not imported." in confirm
    response = client.post(
        f"/admin/schedule-batch/dry-run/{identifier}", data={"csrf": csrf}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, batch)
    done = wait_state(client, batch, ("dry-run", "error"))
    assert done["state"] == "dry-run" and done["errors"] == 1
    page = client.get(batch).text
    assert "Dry run only:</strong> This application has not been updated with imported data." in page
    assert "view log below…" in page and "Copy as new batch…" in page
    # The log echoes input: it is escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    log = client.get(batch + "/log")
    assert (
        log.headers["content-type"].startswith("text/plain")
        and "attachment" in log.headers["content-disposition"]
    )
    assert log.text.startswith("START: ") and "Invalid email address for input field email" in log.text
    assert "END: " in log.text

    wrong = client.get(f"/admin/schedule-batch/import/{identifier}")
    assert wrong.status_code == 409 and "Batch is in the wrong state" in wrong.text
    again = client.post(f"/admin/schedule-batch/import/{identifier}", data={"csrf": csrf})
    assert again.status_code == 409 and "Batch is in the wrong state" in again.text

    copied = client.post(f"/admin/copy-batch/{identifier}", data={"csrf": csrf}, follow_redirects=False)
    copy_path = copied.headers["location"]
    assert copy_path != batch
    copy_page = client.get(copy_path).text
    assert "Batch import: People run (copy)" in copy_page and ">ready<" in copy_page
    copy_id = copy_path.rsplit("/", 1)[-1]
    assert "Import this data? The application will be modified. Always do a dry run first." in (
        client.get(f"/admin/schedule-batch/import/{copy_id}").text
    )
    client.post(f"/admin/schedule-batch/import/{copy_id}", data={"csrf": csrf})
    finished = wait_state(client, copy_path, ("complete", "error"))
    assert finished["state"] == "complete" and finished["progress"]["percent"] == 100
    stored = client.app.state.gateway.storage.records.scan("haplo_person", "profile")
    assert sorted(r["title"]["last"] for r in stored) == ["Bloggs", "Smith"]
    listing = client.get("/admin/batches").text
    assert "2 batches" in listing and "complete" in listing and "dry-run" in listing


def test_unknown_things_are_404_pages(client):
    login(client)
    for path in (
        "/admin/batch/nope",
        "/admin/control-file/nope",
        "/admin/new-batch/for-control/nope",
        "/admin/copy-batch/nope",
        "/admin/schedule-batch/dry-run/nope",
        "/admin/model?model=nope",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
    assert client.get("/admin/batch/nope/progress").status_code == 404


def test_create_api_key_shown_once_works_and_can_be_revoked(client):
    csrf = login(client)
    assert "Create a new API key" in client.get("/admin/create-api-key").text
    for name, problem in (("", "A name is required"), ("x" * 201, "longer than 200")):
        refused = client.post("/admin/create-api-key", data={"csrf": csrf, "name": name})
        assert refused.status_code == 400 and problem in refused.text
    assert "0 keys" in client.get("/admin/api-keys").text
    created = client.post("/admin/create-api-key", data={"csrf": csrf, "name": "nightly HR import"})
    assert "This is the only time it can be displayed" in created.text
    key = created.text.split('id="api-key">', 1)[1].split("<", 1)[0]
    assert len(key) == 44
    assert created.headers["cache-control"] == "no-store"
    status = client.get("/api/haplo-data-import-batch/status?batch=nope", auth=("haplo", key))
    assert (status.status_code, status.text) == (400, "Batch not found: nope")
    keys_page = client.get("/admin/api-keys").text
    assert "nightly HR import" in keys_page and key not in keys_page
    key_id = key[:16]
    client.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf": csrf})
    refused = client.get("/api/haplo-data-import-batch/status?batch=nope", auth=("haplo", key))
    assert refused.status_code == 403
    assert "0 keys" in client.get("/admin/api-keys").text
