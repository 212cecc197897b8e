"""The reject file (``GET /api/haplo-data-import-batch/rejects``): failed records in their input format.

Each format is checked through the real app on each backend: the failed records come
back with their errors, they can be fixed and uploaded as a new batch that completes,
and every failed record is there even past the text log's cap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from engine import RECORD_PROCESSORS
from tests.batch.conftest import API, BatchApi, minimal_control, start_api
from tests.conftest import make_client
from tests.support.people import person_control
from tests.support.postgres import store_overrides

BAD = "Invalid email address for input field email: "


def _run(
    api: BatchApi, control: dict[str, Any], files: dict[str, tuple[str, bytes]]
) -> tuple[str, dict[str, Any]]:
    batch = api.create_batch(api.upload_control(control))
    for name, (filename, content) in files.items():
        api.add_file(batch, name, content, filename)
    api.schedule(batch)
    return batch, api.wait(batch)


def _rejects(api: BatchApi, batch: str, file: str | None = None, expect: int = 200) -> Any:
    params = {"batch": batch, **({"file": file} if file else {})}
    response = api.client.get(API + "rejects", params=params, headers=api.headers)
    assert response.status_code == expect, response.text
    return response


def _people(*emails: str) -> list[dict[str, str]]:
    return [{"first": f"F{i}", "last": f"L{i}", "email": e} for i, e in enumerate(emails)]


def test_json_round_trip_fail_download_fix_upload_complete(mapi: BatchApi) -> None:
    records = _people("a@example.com", "not-an-email", "b@example.com", "also bad")
    batch, info = _run(mapi, minimal_control(), {"people": ("people.json", json.dumps(records).encode())})
    assert info["state"] == "complete" and info["errors"] == 2
    response = _rejects(mapi, batch)
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    assert ".json" in response.headers["content-disposition"]
    rejected = response.json()
    assert [r["first"] for r in rejected] == ["F1", "F3"]
    assert rejected[0]["_errors"] == [BAD + "not-an-email"]
    assert rejected[1]["_errors"] == [BAD + "also bad"]
    assert [r["_imported"] for r in rejected] == [True, True]  # stored without the email
    for record in rejected:  # the administrator fixes them
        del record["_errors"], record["_imported"]
        record["email"] = record["first"].lower() + "@example.com"
    fixed, again = _run(mapi, minimal_control(), {"people": ("fixed.json", json.dumps(rejected).encode())})
    assert again["state"] == "complete" and again["errors"] == 0
    assert _rejects(mapi, fixed, expect=400).text == f"Batch {fixed} has no failed records"


def test_tsv_keeps_the_lines_and_the_header_and_records_line_numbers(
    mapi: BatchApi, module_client: TestClient
) -> None:
    control = person_control(files={"people": {"read": "tsv-with-name-row"}})
    data = b"first\tlast\temail\r\nA\tB\ta@example.com\r\n\r\nC\tD\tbad\r\nE\tF\tworse\r\n"
    batch, info = _run(mapi, control, {"people": ("people.tsv", data)})
    assert info["errors"] == 2
    response = _rejects(mapi, batch, "people")
    assert response.headers["content-type"].startswith("text/tab-separated-values")
    assert response.text == (
        f"first\tlast\temail\t_imported\t_errors\nC\tD\tbad\tyes\t{BAD}bad\nE\tF\tworse\tyes\t{BAD}worse\n"
    )
    entries = list(module_client.app.state.gateway.imports.errors.entries(batch))
    assert [(e.file, e.record, e.batch_record, e.line) for e in entries] == [
        ("people", 1, 1, 4),
        ("people", 2, 2, 5),
    ]
    fixed = response.text.replace("\tbad\t", "\tc@example.com\t").replace("\tworse\t", "\te@example.com\t")
    assert "\tc@example.com\tyes\t" in fixed
    _, again = _run(mapi, control, {"people": ("fixed.tsv", fixed.encode())})
    assert again["state"] == "complete" and again["errors"] == 0  # the added columns are ignored


def test_csv_quotes_and_lines(mapi: BatchApi, module_client: TestClient) -> None:
    control = person_control(files={"people": {"read": "csv"}})
    data = b'first,last,email\n"A, a",B,a@example.com\n"multi\nline",D,bad\n'
    batch, info = _run(mapi, control, {"people": ("people.csv", data)})
    assert info["errors"] == 1
    response = _rejects(mapi, batch)
    assert response.text == f'first,last,email,_imported,_errors\r\n"multi\nline",D,bad,yes,{BAD}bad\r\n'
    entries = list(module_client.app.state.gateway.imports.errors.entries(batch))
    assert [(e.record, e.line) for e in entries] == [(1, 3)]


def test_jsonl_and_xml_formats(mapi: BatchApi) -> None:
    lines = b"\n".join(json.dumps(r).encode() for r in _people("a@example.com", "bad")) + b"\n"
    batch, _ = _run(mapi, person_control(files={"DEFAULT": {"read": "jsonl"}}), {"p": ("p.jsonl", lines)})
    assert [json.loads(x) for x in _rejects(mapi, batch).text.splitlines()] == [
        {"first": "F1", "last": "L1", "email": "bad", "_imported": True, "_errors": [BAD + "bad"]}
    ]
    xml = (
        b'<?xml version="1.0"?><people xmlns:x="urn:x" source="crm">'
        b"<person><first>A</first><last>B</last><email>a@example.com</email></person>"
        b"<person><first>C &amp; c</first><last>D</last><email>bad</email></person></people>"
    )
    control = person_control(files={"DEFAULT": {"read": "xml-text-of-children"}})
    batch, info = _run(mapi, control, {"p": ("p.xml", xml)})
    assert info["errors"] == 1
    response = _rejects(mapi, batch)
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<people xmlns:x="urn:x" source="crm">\n'
        f'<person _imported="yes" _errors="{BAD}bad"><first>C &amp; c</first><last>D</last><email>bad</email></person>\n'
        "</people>\n"
    )
    fixed = response.text.replace("<email>bad</email>", "<email>c@example.com</email>").encode()
    _, again = _run(mapi, control, {"p": ("fixed.xml", fixed)})
    assert again["state"] == "complete" and again["errors"] == 0
    attrs = b'<people><p first="A" last="B" email="bad"/></people>'
    control = person_control(files={"DEFAULT": {"read": "xml-attributes"}})
    batch, _ = _run(mapi, control, {"p": ("a.xml", attrs)})
    assert (
        f'<p first="A" last="B" email="bad" _imported="yes" _errors="{BAD}bad"></p>'
        in _rejects(mapi, batch).text
    )


def test_several_files_choose_one_by_name(mapi: BatchApi) -> None:
    control = person_control(files={"a": {"read": "json"}, "b": {"read": "jsonl"}, "c": {"read": "json"}})
    files = {
        "a": ("a.json", json.dumps(_people("bad-a")).encode()),
        "b": ("b.jsonl", json.dumps(_people("x@example.com", "bad-b")[1]).encode()),
        "c": ("c.json", json.dumps(_people("c@example.com")).encode()),
    }
    batch, info = _run(mapi, control, files)
    assert info["errors"] == 2
    refused = _rejects(mapi, batch, expect=400).text
    assert refused == f"Batch {batch} has failed records in several files (a, b): choose one with file=<name>"
    assert [r["email"] for r in _rejects(mapi, batch, "a").json()] == ["bad-a"]
    assert (
        json.loads(_rejects(mapi, batch, "b").text)["email"] == "bad-b"
    )  # record 0 of file b (record 1 of the batch)
    assert _rejects(mapi, batch, "c", expect=400).text == f"File c of batch {batch} has no failed records"
    assert _rejects(mapi, batch, "zzz", expect=400).text == f"Batch {batch} has no file named zzz"


def test_refusals_and_keys(mapi: BatchApi) -> None:
    assert _rejects(mapi, "nope", expect=400).text == "Batch not found: nope"
    waiting = mapi.create_batch(mapi.upload_control(minimal_control()))
    assert "has not run to an end yet (state: uploading)" in _rejects(mapi, waiting, expect=400).text
    assert mapi.client.get(API + "rejects", params={"batch": waiting}).status_code == 403
    missing = mapi.client.get(API + "rejects", headers=mapi.headers)
    assert (missing.status_code, missing.text) == (400, "Bad request (failed validation)")
    wrong = mapi.client.get(
        API + "rejects", params={"batch": waiting}, headers={"Authorization": "Basic aGFwbG86eA=="}
    )
    assert wrong.status_code == 403 and wrong.headers["content-type"] == "application/json"


@pytest.fixture
def capped(tmp_path: Path, backend: str) -> Any:
    root = tmp_path / "capped"
    with make_client(root, **store_overrides(backend, root), **{"import.max_errors": 3}) as client:
        yield start_api(client)


def test_every_failed_record_is_in_the_reject_file_past_the_log_cap(capped: BatchApi) -> None:
    emails = [f"bad{i}" if i % 2 else f"p{i}@example.com" for i in range(40)]
    batch, info = _run(
        capped, minimal_control(), {"people": ("people.json", json.dumps(_people(*emails)).encode())}
    )
    assert info["errors"] == 20
    assert info["log"].count("(record") == 2  # the text log stops at the cap
    rejected = _rejects(capped, batch).json()
    assert [r["email"] for r in rejected] == [f"bad{i}" for i in range(1, 40, 2)]


def test_a_run_cut_short_keeps_its_rejects_without_a_summary(
    mapi: BatchApi, module_client: TestClient
) -> None:
    batch, _ = _run(
        mapi,
        minimal_control(),
        {"people": ("p.json", json.dumps(_people("bad", "a@example.com", "worse")).encode())},
    )
    errors = module_client.app.state.gateway.imports.errors
    kept = list(errors.entries(batch))
    errors.clear(batch)  # as a crash leaves it: the entries so far, no summary
    errors.put(batch, kept)
    assert errors.summary(batch) is None
    assert [r["email"] for r in _rejects(mapi, batch).json()] == ["bad", "worse"]


def test_no_reject_file_when_a_record_processor_rewrites_the_records(
    mapi: BatchApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(RECORD_PROCESSORS, "test:reversed", lambda sources: list(reversed(sources)))
    control = {**minimal_control(), "recordProcessor": "test:reversed"}
    batch, info = _run(mapi, control, {"people": ("p.json", json.dumps(_people("bad")).encode())})
    assert info["errors"] == 1
    refused = _rejects(mapi, batch, expect=400).text
    assert (
        refused
        == f"Batch {batch} has no reject file: its control file's record processor rewrites the records"
    )


def test_imported_says_which_failed_records_were_stored_all_same(
    mapi: BatchApi, module_client: TestClient
) -> None:
    records = [{"email": "n@example.com"}, *_people("bad"), {"first": "X", "email": "also bad"}]
    batch, info = _run(mapi, minimal_control(), {"people": ("p.json", json.dumps(records).encode())})
    rejected = _rejects(mapi, batch).json()
    assert [(r.get("first"), r["_imported"]) for r in rejected] == [(None, False), ("F0", True), ("X", False)]
    summary = module_client.app.state.gateway.imports.errors.summary(batch)
    assert summary["files"] == {"people": {"records": 3, "errors": info["errors"], "imported": 1}}
