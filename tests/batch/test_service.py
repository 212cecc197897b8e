"""The BatchService interface used by the admin pages (gateway.imports.batches)."""

from __future__ import annotations

import json

import pytest

from gateway.imports.service import BatchRequestError, BatchService
from tests.batch.conftest import BatchApi, minimal_control


def service_of(api: BatchApi) -> BatchService:
    return api.client.app.state.gateway.imports.batches  # type: ignore[attr-defined, no-any-return]


def test_ui_uploads_are_not_deduplicated(api: BatchApi) -> None:
    service = service_of(api)
    raw = json.dumps(minimal_control()).encode()
    first = service.upload_control(raw, "from the UI", dedupe=False)
    second = service.upload_control(raw, "from the UI", dedupe=False)
    assert first["id"] != second["id"] and first["digest"] == second["digest"]
    assert set(first) == {"id", "digest", "file_size", "comment", "created"}
    assert [c["id"] for c in service.list_controls()] == [second["id"], first["id"]]
    assert service.get_control(first["id"]) == first
    assert service.get_control("nope") is None
    assert service.control_bytes(first["digest"]) == raw
    with pytest.raises(BatchRequestError) as error:
        service.upload_control(b"{", None)
    assert (
        error.value.message
        == "Uploaded file is not JSON: line 1, column 2: Expecting property name enclosed in double quotes"
    )


def test_ready_batches_and_scheduling_paths(api: BatchApi) -> None:
    service = service_of(api)
    blobs = api.client.app.state.gateway.imports.blobs  # type: ignore[attr-defined]
    control = service.upload_control(json.dumps(minimal_control()).encode(), None)
    digest, size = blobs.save_bytes(b"[]")
    files = [{"name": "a", "file": {"digest": digest, "fileSize": size, "filename": "a.json"}}]
    batch = service.create_batch(control["digest"], "ui batch", "ready", files)
    assert batch["state"] == "ready" and batch["files"] == files
    with pytest.raises(BatchRequestError) as error:
        service.create_batch(control["digest"], None, "ready", files + files)
    assert error.value.message == "Duplicate file name: a"
    with pytest.raises(BatchRequestError) as error:
        service.add_file(batch["identifier"], "b", digest, size, "b.json")
    assert error.value.message == f"Batch {batch['identifier']} is not in the 'uploading' state"
    uploading = service.create_batch(control["digest"], None)
    with pytest.raises(BatchRequestError) as error:
        service.schedule(uploading["identifier"], True, ("ready",))
    assert error.value.message == "Batch is in the wrong state"
    service.schedule(batch["identifier"], True, ("ready",))
    done = api.wait(batch["identifier"])
    assert done["state"] == "dry-run"
    assert service.get(batch["identifier"])["progress"]["percent"] == 100
    assert [b["identifier"] for b in service.list("dry-run")] == [batch["identifier"]]
    assert [b["identifier"] for b in service.list()] == [uploading["identifier"], batch["identifier"]]
    with pytest.raises(BatchRequestError) as error:
        service.schedule(batch["identifier"], True)
    assert error.value.message == f"Batch {batch['identifier']} is not in the 'uploading' state"
    with pytest.raises(BatchRequestError):
        service.create_batch("f" * 64, None)
