"""Control characters (NUL, C0, DEL, C1) in names: refused with a 400 naming the character.

Batch file names (the ``name`` parameter) and uploaded file names (the multipart
``filename``) used to be stored with a NUL in them; attributes first seen in
written records were created whatever their name. Database, table and attribute
name fields already refused C0 characters, not DEL or C1.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.admin.support import login, register_model, upload_control
from tests.batch.conftest import API, BatchApi, minimal_control, person_model, snapshot, start_api
from tests.bulk.helpers import run_job
from tests.conftest import Ops

CONTROLS = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f"]


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


@pytest.fixture
def api(client: TestClient) -> BatchApi:
    return start_api(client)


def _multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart body written byte by byte (clients differ in how they escape a filename)."""
    boundary = "limits-boundary-1234"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
    out += filename.encode() + b'"\r\nContent-Type: application/json\r\n\r\n' + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _post_file(api: BatchApi, batch: str, name: str, filename: str) -> Any:
    body, content_type = _multipart({"batch": batch, "name": name}, filename, b'[{"first": "A"}]')
    return api.client.post(API + "file", content=body, headers={**api.headers, "Content-Type": content_type})


@pytest.mark.parametrize("char", CONTROLS, ids=_code)
def test_a_batch_file_name_with_a_control_character_is_refused(api: BatchApi, root: Any, char: str) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    before = snapshot(root)
    name = f"DEF{char}AULT"
    response = _post_file(api, batch, name, "people.json")
    expected = f'File name "{_escaped(name)}" contains a control character ({_code(char)})'
    assert (response.status_code, response.text) == (400, expected)
    assert snapshot(root) == before
    assert api.op({"operation": "get_import_batch", "batch": batch})["files"] == []


@pytest.mark.parametrize("char", CONTROLS, ids=_code)
def test_an_uploaded_file_name_with_a_control_character_is_refused(
    api: BatchApi, root: Any, char: str
) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    before = snapshot(root)
    filename = f"people{char}.json"
    response = _post_file(api, batch, "DEFAULT", filename)
    expected = f'Uploaded file name "{_escaped(filename)}" contains a control character ({_code(char)})'
    assert (response.status_code, response.text) == (400, expected)
    assert snapshot(root) == before
    assert api.op({"operation": "get_import_batch", "batch": batch})["files"] == []


def test_printable_unicode_file_names_are_kept(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    response = _post_file(api, batch, "DEFAULT", "Ünïcödé – people.json")
    assert response.status_code == 200, response.text
    files = api.op({"operation": "get_import_batch", "batch": batch})["files"]
    assert [(f["name"], f["file"]["filename"]) for f in files] == [("DEFAULT", "Ünïcödé – people.json")]


@pytest.mark.parametrize("char", ["\x7f", "\x85", "\x9f"], ids=_code)
@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("database", {"operation": "create_database"}),
        ("table", {"operation": "create_table", "database": "dev", "primary_key": "id"}),
        ("attribute", {"operation": "create_attribute", "database": "dev", "table": "dog"}),
    ],
)
def test_del_and_c1_characters_are_refused_in_name_fields(
    op: Ops, field: str, body: dict[str, Any], char: str
) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    before = op({"operation": "describe_all"})
    answer = op({**body, field: f"bad{char}name"}, 400)
    assert answer == {"error": f"'{field}' cannot include backticks, forward slashes or control characters"}
    assert op({"operation": "describe_all"}) == before


@pytest.mark.parametrize("char", CONTROLS, ids=_code)
@pytest.mark.parametrize("mode", ["insert", "upsert", "update"])
def test_a_record_attribute_with_a_control_character_is_refused_and_nothing_is_written(
    op: Ops, char: str, mode: str
) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    op({"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 1, "name": "Penny"}]})
    before = op({"operation": "describe_table", "database": "dev", "table": "dog"})["attributes"]
    records = [{"id": 1, "name": "Kato"}, {"id": 2, f"q{char}r": 1}]
    answer = op({"operation": mode, "database": "dev", "table": "dog", "records": records}, 400)
    assert answer == {
        "error": f'attribute name "q{_escaped(char)}r" contains a control character ({_code(char)})'
    }
    assert op({"operation": "describe_table", "database": "dev", "table": "dog"})["attributes"] == before
    found = op(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "dog",
            "ids": [1, 2],
            "get_attributes": ["*"],
        }
    )
    assert [(r["id"], r["name"]) for r in found] == [(1, "Penny")]


def test_an_sql_insert_into_a_column_with_a_control_character_is_refused(op: Ops) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    answer = op({"operation": "sql", "sql": "INSERT INTO dev.dog (id, `a\x01b`) VALUES (1, 2)"}, 400)
    assert answer == {"error": 'attribute name "a\\u0001b" contains a control character (U+0001)'}
    assert op({"operation": "sql", "sql": "SELECT * FROM dev.dog"}) == []


def test_a_csv_column_name_with_a_control_character_fails_the_load_naming_it(op: Ops) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    data = "id,na\x1bme\n1,Penny\n2,Kato\n"
    job = run_job(op, {"operation": "csv_data_load", "database": "dev", "table": "dog", "data": data})
    assert job["status"] == "ERROR"
    assert job["message"] == (
        'attribute name "na\\u001bme" contains a control character (U+001B); '
        "rows before it were processed: successfully loaded 0 of 0 records"
    )
    assert op({"operation": "sql", "sql": "SELECT * FROM dev.dog"}) == []
    attributes = op({"operation": "describe_table", "database": "dev", "table": "dog"})["attributes"]
    assert all("\x1b" not in a["attribute"] for a in attributes)


def test_an_import_model_with_a_control_character_in_a_name_is_refused_before_anything_is_created(
    op: Ops,
) -> None:
    model = copy.deepcopy(person_model())
    model["database"] = "people\x00x"
    profile = next(d for d in model["destinations"] if d["name"] == "profile")
    profile["names"]["bad\x7fname"] = {"type": "text"}
    before = op({"operation": "describe_all"})
    answer = op({"operation": "add_import_model", "model": model}, 400)
    assert 'Model database "people\\u0000x" contains a control character (U+0000)' in answer["error"]
    assert (
        'Destination profile: name "bad\\u007fname" contains a control character (U+007F)' in answer["error"]
    )
    assert op({"operation": "describe_all"}) == before
    assert op({"operation": "list_import_models"}) == []


def test_a_large_csv_file_with_a_control_character_in_a_column_name_fails_the_fast_load_too(
    op: Ops, root: Any
) -> None:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    path = root / "import" / "dogs.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{i},dog-{i},{i % 17}\n" for i in range(60_000))
    path.write_text("id,name,ag\x01e\n" + rows, "utf-8")
    assert path.stat().st_size > 1 << 20  # pyarrow's reader
    job = run_job(
        op, {"operation": "csv_file_load", "database": "dev", "table": "dog", "file_path": str(path)}
    )
    assert (job["status"], job["message"]) == (
        "ERROR",
        'attribute name "ag\\u0001e" contains a control character (U+0001); '
        "rows before it were processed: successfully loaded 0 of 0 records",
    )
    assert op({"operation": "describe_table", "database": "dev", "table": "dog"})["record_count"] == 0


def test_the_admin_new_batch_form_refuses_a_control_character_before_storing_anything(
    client: TestClient, root: Any
) -> None:
    csrf = login(client)
    register_model(client)
    control_path = upload_control(client, csrf)
    before = snapshot(root)
    control_id = control_path.rsplit("/", 1)[-1]
    response = client.post(
        f"/admin/new-batch/for-control/{control_id}",
        data={"csrf": csrf, "comment": "Run", "name": ["DEF\x01AULT"]},
        files=[("file", ("people.json", b'[{"first": "A"}]', "application/json"))],
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "File name &#34;DEF\\u0001AULT&#34; contains a control character (U+0001)" in response.text
    assert snapshot(root) == before
