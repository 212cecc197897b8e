"""Deep nesting: clear 400s and batch errors naming the limit, never a 500 or a RecursionError.

Limits (levels of arrays and objects, the outermost value is level 1):
- a ``POST /`` body: 128 (``gateway.http.body_limits.MAX_BODY_DEPTH``);
- a control file: 128 (``engine.limits.MAX_CONTROL_DEPTH``);
- a record of a batch's JSON or JSONL data file: 128 (``engine.limits.MAX_RECORD_DEPTH``).
Before, an insert value nested 254 to 1,022 levels answered 500 (the store's JSON
encoder stops at 254 levels) and a control file nested about 990 levels 500
(RecursionError in validation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from starlette.testclient import TestClient

from engine import READERS, BatchError
from engine.readers import base
from tests.admin.support import login, register_model
from tests.batch.conftest import API, BatchApi, minimal_control, snapshot, start_api
from tests.bulk.helpers import run_job
from tests.bulk.test_s3 import BUCKET, _import
from tests.conftest import ADMIN_AUTH, Ops, make_client
from tests.engine.fakes import memory_file

BODY_TOO_DEEP = "Request body nests arrays and objects more than 128 levels deep"
CONTROL_TOO_DEEP = "Control file nests arrays and objects more than 128 levels deep"


def nested(levels: int, kind: str = "list", inner: str = "1") -> str:
    """JSON text of ``inner`` inside ``levels`` arrays (or objects ``{"k": …}``)."""
    if kind == "list":
        return "[" * levels + inner + "]" * levels
    return '{"k":' * levels + inner + "}" * levels


def post(client: TestClient, raw: str) -> Any:
    return client.post("/", content=raw, headers={**ADMIN_AUTH, "Content-Type": "application/json"})


@pytest.fixture
def table(op: Ops) -> Ops:
    op({"operation": "create_table", "database": "dev", "table": "t", "primary_key": "id"})
    return op


def _insert(value: str, key: int = 1) -> str:
    # body (1) → records (2) → record (3) → value: ``value`` starts at level 4
    return f'{{"operation":"insert","database":"dev","table":"t","records":[{{"id":{key},"v":{value}}}]}}'


# -- POST / -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_body_of_128_levels_is_stored_and_answered(table: Ops, client: TestClient, kind: str) -> None:
    response = post(client, _insert(nested(125, kind)))  # 3 + 125 = 128 levels
    assert response.status_code == 200, response.text
    found = table(
        {"operation": "search_by_id", "database": "dev", "table": "t", "ids": [1], "get_attributes": ["v"]}
    )
    assert json.dumps(found[0]["v"], separators=(",", ":")) == nested(125, kind)


@pytest.mark.parametrize("levels", [126, 200, 251, 252, 500, 987, 1019, 1022, 5000])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_body_nested_deeper_is_a_400_naming_the_limit_and_writes_nothing(
    table: Ops, client: TestClient, levels: int, kind: str
) -> None:
    response = post(client, _insert(nested(levels, kind)))
    assert (response.status_code, response.json()) == (400, {"error": BODY_TOO_DEEP})
    described = table({"operation": "describe_table", "database": "dev", "table": "t"})
    assert described["record_count"] == 0


def test_deeply_nested_condition_groups_are_a_400(table: Ops, client: TestClient) -> None:
    group = '{"search_attribute":"id","search_type":"equals","search_value":1}'
    for _ in range(990):
        group = f'{{"operator":"and","conditions":[{group}]}}'
    raw = f'{{"operation":"search_by_conditions","database":"dev","table":"t","get_attributes":["id"],"conditions":[{group}]}}'
    response = post(client, raw)
    assert (response.status_code, response.json()) == (400, {"error": BODY_TOO_DEEP})


@pytest.mark.parametrize("levels", [129, 990, 5000])
def test_validate_control_file_with_deep_json_text_names_the_limit(op: Ops, levels: int) -> None:
    control = '{"dataImportControlFileVersion":0,"deep":' + nested(levels - 1) + "}"
    answer = op({"operation": "validate_control_file", "control": control})
    assert answer == {"valid": False, "errors": [CONTROL_TOO_DEEP]}


# -- control files ----------------------------------------------------------------------------


@pytest.fixture
def api(client: TestClient) -> BatchApi:
    return start_api(client)


def _control_text(levels: int) -> bytes:
    """A valid control file nesting ``levels`` levels (an extra top-level property carries the depth)."""
    text = json.dumps(minimal_control())
    return (text[:-1] + ', "notes": ' + nested(levels - 1) + "}").encode()


def test_a_control_file_of_128_levels_is_accepted(api: BatchApi) -> None:
    response = api.post("control", None, {"file": ("c.json", _control_text(128))})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("levels", [129, 990, 1100, 20000])
def test_a_deeper_control_file_is_refused_like_other_invalid_control_files(
    api: BatchApi, root: Any, levels: int
) -> None:
    before = snapshot(root)
    response = api.post("control", None, {"file": ("c.json", _control_text(levels))})
    assert (response.status_code, response.text) == (400, f"Invalid control file:\n  {CONTROL_TOO_DEEP}")
    assert response.headers["content-type"].startswith("text/plain")
    assert snapshot(root) == before


def test_deeply_nested_instructions_within_the_limit_still_run(api: BatchApi) -> None:
    """60 nested if-exists instructions (121 levels): validated, compiled and run."""
    control = minimal_control()
    body = control["instructions"]
    for _ in range(60):
        body = [{"action": "if-exists", "source": "first", "then": body}]
    control["instructions"] = body
    batch = api.create_batch(api.upload_control(control))
    api.add_file(batch, "DEFAULT", json.dumps([{"first": "Ada", "last": "Lovelace"}]).encode())
    api.schedule(batch)
    info = api.wait(batch)
    assert (info["state"], info["errors"]) == ("complete", 0), info["log"]


# -- data files of a batch ------------------------------------------------------------------------


@pytest.fixture(params=[False, True], ids=["whole", "small pieces"])
def pieces(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also read in tiny pieces without keeping, so both passes and every cut path run."""
    if request.param:
        monkeypatch.setattr(base, "KEEP_LIMIT", -1)
        monkeypatch.setattr("engine.readers.base.CHUNK_SIZE", 64)
        monkeypatch.setattr("engine.readers.json_array.CHUNK_SIZE", 64)


def _check(reader: str, data: str, spec: dict[str, Any] | None = None) -> list[Any]:
    instance = READERS[reader](memory_file("people", data), {"read": reader, **(spec or {})})
    instance.check()
    return list(instance.records())


def _fails(reader: str, data: str, spec: dict[str, Any] | None = None) -> str:
    with pytest.raises(BatchError) as info:
        _check(reader, data, spec)
    return info.value.message


def test_json_records_of_128_levels_are_read(pieces: None) -> None:
    records = [{"a": 1}, json.loads(nested(127, "dict")), {"a": 3}]
    text = "[" + ",".join(json.dumps(r) for r in records) + "]"
    assert _check("json", text) == records


@pytest.mark.parametrize("levels", [129, 300, 1000])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_json_record_nested_deeper_fails_the_batch_naming_file_and_record(
    pieces: None, levels: int, kind: str
) -> None:
    if kind == "list":
        text = "[[1], [2], " + nested(levels) + "]"
    else:
        text = '[{"a": 1}, {"a": 2}, ' + nested(levels, "dict") + "]"
    assert _fails("json", text) == (
        "JSON file people record 3 nests arrays and objects more than 128 levels deep"
    )


@pytest.mark.parametrize("levels", [1025, 1100, 100_000])
def test_a_json_record_beyond_the_parsers_limits_fails_the_batch_cleanly(pieces: None, levels: int) -> None:
    message = _fails("json", '[{"a": 1}, ' + nested(levels) + "]")
    assert message.startswith(
        "JSON file people nests arrays and objects more than 128 levels deep (near byte "
    )


@pytest.mark.parametrize("levels", [129, 1100])
def test_a_single_record_json_file_nested_too_deeply_fails_the_batch(levels: int) -> None:
    assert _fails("json", nested(levels, "dict"), {"singleRecord": True}) == (
        "JSON file people nests arrays and objects more than 128 levels deep"
    )


@pytest.mark.parametrize("levels", [129, 1100, 100_000])
def test_a_jsonl_line_nested_too_deeply_fails_the_batch_naming_the_line(levels: int) -> None:
    text = '{"a": 1}\n\n{"a": 2}\n' + nested(levels) + '\n{"a": 4}\n'
    assert (
        _fails("jsonl", text) == "JSONL file people line 4 nests arrays and objects more than 128 levels deep"
    )
    assert _check("jsonl", '{"a": 1}\n' + nested(128) + "\n")[1] == json.loads(nested(128))


JSON_MODEL = {
    "name": "test:deep",
    "destinations": [
        {"name": "item", "kind": "dictionary", "table": "item", "names": {"j": {"type": "json"}}}
    ],
}
JSON_CONTROL = {
    "dataImportControlFileVersion": 0,
    "model": "test:deep",
    "files": {"DEFAULT": {"read": "json"}},
    "instructions": [
        {"action": "new", "destination": "item"},
        {"source": "j", "destination": "item", "name": "j"},
    ],
}


def test_a_batch_stores_a_128_level_record_and_refuses_a_deeper_one_before_committing(api: BatchApi) -> None:
    api.op({"operation": "add_import_model", "model": JSON_MODEL})
    digest = api.upload_control(JSON_CONTROL)
    fine = '[{"j": ' + nested(127) + "}]"
    batch = api.create_batch(digest)
    api.add_file(batch, "DEFAULT", fine.encode())
    api.schedule(batch)
    info = api.wait(batch)
    assert (info["state"], info["errors"]) == ("complete", 0), info["log"]
    rows = api.op(
        {
            "operation": "search_by_value",
            "database": "test_deep",
            "table": "item",
            "attribute": "j",
            "value": "*",
            "get_attributes": ["j"],
        }
    )
    assert json.dumps(rows[0]["j"], separators=(",", ":")) == nested(127)

    batch = api.create_batch(digest)
    deep = '[{"j": 1}, {"j": ' + nested(128) + "}]"
    api.add_file(batch, "DEFAULT", deep.encode())
    api.schedule(batch)
    info = api.wait(batch)
    assert info["state"] == "error"
    assert (
        "EXCEPTION: Error during import: JSON file DEFAULT record 2 nests arrays and objects more than 128 levels deep"
        in info["log"].split("\n")
    )
    count = api.op({"operation": "describe_table", "database": "test_deep", "table": "item"})["record_count"]
    assert count == 1  # only the first batch's record: the file is checked before anything is committed


def test_an_anonymous_deep_control_upload_is_not_parsed(client: TestClient) -> None:
    response = client.post(API + "control", files={"file": ("c.json", _control_text(5000))})
    assert (response.status_code, response.text) == (403, "You are not permitted to perform this action.")


@pytest.mark.parametrize("levels", [129, 5000])
def test_the_admin_control_upload_names_the_limit(client: TestClient, root: Any, levels: int) -> None:
    csrf = login(client)
    register_model(client)
    before = snapshot(root)
    response = client.post(
        "/admin/new-control-file",
        data={"csrf": csrf, "comment": "Deep"},
        files={"file": ("control.json", _control_text(levels), "application/json")},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert f"Not a valid control file: {CONTROL_TOO_DEEP}" in response.text
    assert snapshot(root) == before


# -- import_from_s3 of a .json object (the stdlib decoder, then the store) ------------------------


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with the bucket the loads read from."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield url
    finally:
        server.stop()


@pytest.mark.parametrize("levels", [128, 129, 300, 5000])
def test_an_s3_json_record_nested_too_deeply_fails_the_load_at_that_record(
    root: Path, s3_url: str, levels: int
) -> None:
    body = '[{"id": 1}, {"id": 2, "v": ' + nested(levels - 1) + '}, {"id": 3}]'
    client = boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.put_object(Bucket=BUCKET, Key=f"deep{levels}.json", Body=body.encode())
    with make_client(root, **{"bulk.url_allow_private": True}) as app:
        s3op = Ops(app, ADMIN_AUTH)
        s3op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
        job = run_job(s3op, _import(f"deep{levels}.json", s3_url))
        stored = s3op({"operation": "sql", "sql": "SELECT id FROM dev.dog"})
    if levels <= 128:
        assert (job["status"], job["message"]) == ("COMPLETE", "successfully loaded 3 of 3 records")
        assert len(stored) == 3
        return
    assert (job["status"], job["message"]) == (
        "ERROR",
        "JSON record 2 nests arrays and objects more than 128 levels deep; "
        "rows before it were processed: successfully loaded 1 of 1 records",
    )
    assert stored == [{"id": 1}]
