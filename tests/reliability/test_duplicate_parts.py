"""A batch API upload with two ``file`` parts: a 400, and nothing of either part is kept.

Which of two files the client meant cannot be told, so the gateway does not pick
one (it used to keep the first and answer 200).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.batch.conftest import API, BatchApi, minimal_control, snapshot, start_api

DUPLICATE = "Bad request (failed validation): more than one 'file' part"


@pytest.fixture
def api(client: TestClient) -> BatchApi:
    return start_api(client)


def _two_files(first: bytes, second: bytes) -> list[tuple[str, tuple[str, bytes]]]:
    return [("file", ("a.json", first)), ("file", ("b.json", second))]


@pytest.mark.parametrize("second", [b'[{"first": "B"}]', b'[{"first": "A"}]'], ids=["different", "same"])
def test_a_data_file_upload_with_two_file_parts_is_refused_and_stores_nothing(
    api: BatchApi, root: Any, second: bytes
) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    before = snapshot(root)
    response = api.post("file", {"batch": batch, "name": "DEFAULT"}, _two_files(b'[{"first": "A"}]', second))
    assert (response.status_code, response.text) == (400, DUPLICATE)
    assert response.headers["content-type"].startswith("text/plain")
    assert snapshot(root) == before
    assert api.op({"operation": "get_import_batch", "batch": batch})["files"] == []
    # the same upload with one part goes through
    api.add_file(batch, "DEFAULT", b'[{"first": "A"}]')
    assert len(api.op({"operation": "get_import_batch", "batch": batch})["files"]) == 1


def test_a_control_upload_with_two_file_parts_is_refused_and_stores_nothing(api: BatchApi, root: Any) -> None:
    control = json.dumps(minimal_control()).encode()
    before = snapshot(root)
    controls = api.op({"operation": "list_control_files"})
    response = api.post("control", {"comment": "twice"}, _two_files(control, control + b" "))
    assert (response.status_code, response.text) == (400, DUPLICATE)
    assert snapshot(root) == before
    assert api.op({"operation": "list_control_files"}) == controls


def test_a_third_part_after_a_large_first_one_is_refused_without_leftovers(api: BatchApi, root: Any) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    big = b"[" + b",".join([b'{"first": "A"}'] * 100_000) + b"]"
    before = snapshot(root)
    files = [("file", ("a.json", big)), ("other", ("x.txt", b"x")), ("file", ("b.json", b"[]"))]
    response = api.post("file", {"batch": batch, "name": "DEFAULT"}, files)
    assert (response.status_code, response.text) == (400, DUPLICATE)
    assert snapshot(root) == before


def test_an_anonymous_upload_with_two_file_parts_is_a_failed_validation_too(
    client: TestClient, root: Any
) -> None:
    before = snapshot(root)
    response = client.post(API + "control", files=_two_files(b"{}", b"[]"))
    assert (response.status_code, response.text) == (400, DUPLICATE)
    assert snapshot(root) == before
