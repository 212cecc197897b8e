"""The REST push-data APIs (haplo-import.md §1.8) through the real app, on each backend:
definitions and their keys (operations), every answer of ``/api/push-data/<url>``, the XML
form, the body limit, and concurrent pushes to one record losing no write."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from starlette.testclient import TestClient

from gateway.pushdata.lease import TABLE as LEASES
from gateway.pushdata.lease import LeaseBusy, PushLeases
from gateway.storage.queue import Change
from tests.batch.conftest import API, person_model
from tests.conftest import ADMIN_AUTH, basic, make_client
from tests.support.people import person_control
from tests.support.postgres import store_overrides

PUSH = "/api/push-data/"
ONLY_POST = "Only POST requests supported for push data REST APIs."


def op(client: TestClient, body: dict[str, Any], expect: int = 200) -> Any:
    response = client.post("/", json=body, headers=ADMIN_AUTH)
    assert response.status_code == expect, response.text
    return response.json()


def single_control(email_multivalue: bool = False) -> dict[str, Any]:
    """The person control file reading the whole body as one record."""
    return person_control(
        files={"DEFAULT": {"read": "json", "singleRecord": True}}, email_multivalue=email_multivalue
    )


def update_control() -> dict[str, Any]:
    """Load a profile by its ref and append the body's email (a multivalue Name)."""
    return {
        "dataImportControlFileVersion": 0,
        "model": "haplo:person",
        "files": {"DEFAULT": {"read": "json", "singleRecord": True}},
        "instructions": [
            {
                "source": "ref",
                "destination": "load:by-ref",
                "name": "ref",
                "filters": ["haplo:string-to-ref"],
            },
            {"action": "load", "destination": "profile", "using": "load:by-ref"},
            {"source": "email", "destination": "profile", "name": "email", "multivalue": True},
        ],
    }


def define(
    client: TestClient, url: str, control: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"operation": "add_push_data_api", "url": url, "description": f"API {url}"}
    body["control"] = control if control is not None else single_control()
    return dict(op(client, {**body, **extra}))


def push(client: TestClient, url: str, key: str | None, body: Any) -> Any:
    headers = basic("haplo", key) if key is not None else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(PUSH + url, content=content, headers=headers)


def profile(client: TestClient, ref: str) -> dict[str, Any]:
    rows = op(client, {"operation": "sql", "sql": f"SELECT * FROM haplo_person.profile WHERE id = '{ref}'"})
    assert len(rows) == 1, rows
    return dict(rows[0])


@pytest.fixture(scope="module")
def people(module_client: TestClient) -> TestClient:
    """The module's app with haplo:person registered."""
    op(module_client, {"operation": "add_import_model", "model": person_model()})
    return module_client


def test_push_creates_a_record_and_answers_haplos_shape(people: TestClient) -> None:
    api = define(people, "new-person")
    response = push(
        people, "new-person", api["key"], {"first": "Ada", "last": "Lovelace", "email": "ada@example.org"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    ref = answer["actions"][0]["changed"][0]["ref"]
    assert answer == {
        "result": "success",
        "applied": 1,
        "failures": 0,
        "errorCount": 0,
        "errors": [],
        "actions": [
            {
                "record": "record 0",
                "changed": [{"kind": "object:save", "destination": "profile", "ref": ref, "new": True}],
            }
        ],
    }
    assert response.text == json.dumps(answer, indent=4)  # pretty-printed, 4 spaces
    stored = profile(people, ref)
    assert stored["email"] == ["ada@example.org"]
    assert stored["title"]["first"] == "Ada"

    again = define(people, "update-person", update_control())
    second = push(people, "update-person", again["key"], {"ref": ref, "email": "ada@lovelace.example"})
    assert second.status_code == 200, second.text
    changed = second.json()["actions"][0]["changed"]
    assert changed == [{"kind": "object:save", "destination": "profile", "ref": ref, "new": False}]
    assert profile(people, ref)["email"] == ["ada@example.org", "ada@lovelace.example"]
    log = op(people, {"operation": "read_transaction_log", "database": "haplo_person", "table": "profile"})
    pushes = [(e["user"], e["source"]) for e in log if ref in e["hash_values"]]
    assert pushes == [("push-data:new-person", "push_data"), ("push-data:update-person", "push_data")]


def test_refusals(people: TestClient) -> None:
    api = define(people, "refusals")
    other = define(people, "refusals-other")
    get = people.get(PUSH + "refusals", headers=basic("haplo", api["key"]))
    assert (get.status_code, get.json()) == (
        400,
        {
            "result": "error",
            "applied": 0,
            "failures": 0,
            "errorCount": 1,
            "errors": [ONLY_POST],
            "actions": [],
        },
    )
    unknown = push(people, "no-such-api", api["key"], {})
    assert unknown.status_code == 400 and unknown.json()["errors"] == ["API not defined: no-such-api"]
    not_authorised = {
        "result": "not authorised",
        "applied": 0,
        "failures": 0,
        "errorCount": 1,
        "errors": [],
        "actions": [],
    }
    wrong = api["key"][:-1] + ("y" if api["key"].endswith("x") else "x")  # one character off
    for key in (None, other["key"], wrong):
        refused = push(people, "refusals", key, {"first": "A", "last": "B"})
        assert (refused.status_code, refused.json()) == (403, not_authorised)
    batch_key = op(people, {"operation": "create_api_key", "name": "batch only"})["key"]
    assert push(people, "refusals", batch_key, {"first": "A", "last": "B"}).status_code == 403
    assert (
        people.post(API + "batch", data={"control": "x"}, headers=basic("haplo", api["key"])).status_code
        == 403
    )

    op(people, {"operation": "alter_push_data_api", "url": "refusals", "enabled": False})
    disabled = push(people, "refusals", api["key"], {"first": "A", "last": "B"})
    assert disabled.status_code == 400 and disabled.json()["errors"] == ["API is disabled: refusals"]
    op(people, {"operation": "alter_push_data_api", "url": "refusals", "enabled": True})

    incomplete = push(people, "refusals", api["key"], {"first": "Only"})
    answer = incomplete.json()
    assert incomplete.status_code == 400 and answer["result"] == "failure"
    assert (answer["applied"], answer["failures"], answer["actions"]) == (0, 1, [])
    assert answer["errorCount"] == len(answer["errors"]) >= 1 and "title" in answer["errors"][0]
    broken = push(people, "refusals", api["key"], b"{not json")
    answer = broken.json()
    assert broken.status_code == 400 and answer["result"] == "error"
    assert answer["errors"][-1].startswith("Exception when processing: ")


def test_xml_answer(people: TestClient) -> None:
    api = define(people, "as-xml", response="XML")
    response = push(people, "as-xml", api["key"], {"first": "Grace", "last": "Hopper"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.content)
    assert root.tag == "response"
    assert root.attrib == {"result": "success", "applied": "1", "failures": "0", "errorCount": "0"}
    assert root.find("errors") is not None and list(root.find("errors")) == []  # type: ignore[arg-type]
    record = root.find("actions/record")
    assert record is not None and record.get("identifier") == "record 0"
    changed = record.find("changed")
    assert changed is not None and changed.get("kind") == "object:save" and changed.get("new") == "true"
    assert profile(people, str(changed.get("ref")))["title"]["last"] == "Hopper"
    failed = push(people, "as-xml", api["key"], {"email": "only@example.org"})
    root = ElementTree.fromstring(failed.content)
    assert failed.status_code == 400 and root.get("result") == "failure"
    assert [e.text for e in root.iterfind("errors/error")][0].startswith("title is not set")


def test_definitions(people: TestClient) -> None:
    api = define(people, "defined", enabled=False)
    assert api["enabled"] is False and api["response"] == "JSON" and api["path"] == PUSH + "defined"
    keys = {k["id"]: k for k in op(people, {"operation": "list_api_keys"})}
    assert keys[api["key_id"]]["path"] == "=/api/push-data/defined"
    assert keys[api["key_id"]]["name"] == "REST API: API defined"
    listed = [a for a in op(people, {"operation": "list_push_data_apis"}) if a["url"] == "defined"]
    assert len(listed) == 1 and "key" not in listed[0] and api["key"] not in json.dumps(listed)

    def refused(body: dict[str, Any], status: int = 400) -> str:
        return str(op(people, body, status)["error"])

    add = {"operation": "add_push_data_api", "control": single_control()}
    assert refused({**add, "url": "defined"}) == "URL is already in use."
    assert "^[a-z0-9-]+$" in refused({**add, "url": "Bad_URL"})
    assert refused({**add, "url": None}) == "'url' is required"
    assert refused({**add, "url": "x", "response": "CSV"}) == "'response' must be JSON or XML"
    assert refused({**add, "url": "x", "control": "{oops"}).startswith("Invalid JSON, check syntax")
    not_valid = refused({**add, "url": "x", "control": {"model": "no:model"}})
    assert not_valid.startswith("Not a valid control file: ")
    assert refused({"operation": "add_push_data_api", "url": "x"}) == (
        "'control' (the control file) or 'control_digest' is required"
    )
    assert "64 hex digits" in refused({**add, "url": "x", "control_digest": "../etc"})
    assert refused({"operation": "add_push_data_api", "url": "x", "control_digest": "0" * 64}) == (
        f"Control file not found: {'0' * 64}"
    )
    assert not any(a["url"] == "x" for a in op(people, {"operation": "list_push_data_apis"}))

    upload = people.post(
        API + "control",
        files={"file": ("c.json", json.dumps(single_control()).encode())},
        headers=basic("haplo", op(people, {"operation": "create_api_key", "name": "uploader"})["key"]),
    )
    assert upload.status_code == 200, upload.text
    by_digest = op(
        people, {"operation": "add_push_data_api", "url": "by-digest", "control_digest": upload.text}
    )
    assert by_digest["control"] == single_control()

    changed = op(
        people, {"operation": "alter_push_data_api", "url": "defined", "new_key": True, "response": "xml"}
    )
    assert changed["response"] == "XML" and changed["key_id"] != api["key_id"] and "key" in changed
    assert push(people, "defined", api["key"], {}).status_code == 403  # the old key is revoked
    assert (
        refused({"operation": "alter_push_data_api", "url": "nope", "enabled": True}, 404)
        == "API not defined: nope"
    )
    assert "nothing to change" in refused({"operation": "alter_push_data_api", "url": "defined"})

    op(people, {"operation": "drop_push_data_api", "url": "defined"})
    assert changed["key_id"] not in {k["id"] for k in op(people, {"operation": "list_api_keys"})}
    assert push(people, "defined", changed["key"], {}).json()["errors"] == ["API not defined: defined"]
    assert refused({"operation": "drop_push_data_api", "url": "defined"}, 404) == "API not defined: defined"

    user = {
        "operation": "add_user",
        "username": "pushy",
        "password": "pw-12345678",
        "role": "no_su",
        "active": True,
    }
    op(people, {"operation": "add_role", "role": "no_su", "permission": {"super_user": False}})
    op(people, user)
    refused_user = people.post(
        "/", json={"operation": "list_push_data_apis"}, headers=basic("pushy", "pw-12345678")
    )
    assert refused_user.status_code == 403


@pytest.fixture
def small_client(root: Path, backend: str) -> Iterator[TestClient]:
    """An app whose push bodies may be at most 200 bytes."""
    with make_client(root, **store_overrides(backend, root), **{"push_data.max_body_size": 200}) as client:
        op(client, {"operation": "add_import_model", "model": person_model()})
        yield client


def test_body_limit(small_client: TestClient) -> None:
    api = define(small_client, "small")
    fits = push(small_client, "small", api["key"], {"first": "A", "last": "B", "notes": "x" * 100})
    assert fits.status_code == 200, fits.text
    large = push(small_client, "small", api["key"], {"first": "A", "last": "B", "notes": "x" * 300})
    assert large.status_code == 413
    assert "push_data.max_body_size (200 bytes)" in large.json()["errors"][0]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream is counted
        yield b'{"first": "A", "last": "B", "notes": "'
        for _ in range(10):
            yield b"y" * 50
        yield b'"}'

    streamed = small_client.post(PUSH + "small", content=chunks(), headers=basic("haplo", api["key"]))
    assert streamed.status_code == 413
    assert push(small_client, "small", None, b"x" * 500).status_code == 403  # nothing read for a stranger


def test_concurrent_pushes_to_one_record_lose_no_write(people: TestClient) -> None:
    create = define(people, "race-create")
    ref = push(people, "race-create", create["key"], {"first": "Race", "last": "Record"}).json()["actions"][0]
    ref = ref["changed"][0]["ref"]
    update = define(people, "race-update", update_control())
    count = 8
    answers: list[int] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        response = push(people, "race-update", update["key"], {"ref": ref, "email": f"p{n}@example.org"})
        with lock:
            answers.append(response.status_code)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert time.monotonic() - started < 60 and not any(t.is_alive() for t in threads)
    assert answers == [200] * count
    emails = profile(people, ref)["email"]
    assert sorted(emails) == sorted(f"p{n}@example.org" for n in range(count))


def test_concurrent_pushes_through_two_gateways_on_one_store_lose_no_write(tmp_path: Path) -> None:
    """Two gateways on one PostgreSQL schema (each a root of its own): pushes to one record through
    both at once all land (the store-wide push lease)."""
    first_root, second_root = tmp_path / "first", tmp_path / "second"
    shared = store_overrides("postgres", first_root)
    with make_client(first_root, **shared) as first, make_client(second_root, **shared) as second:
        op(first, {"operation": "add_import_model", "model": person_model()})
        create = define(first, "two-create")
        ref = push(first, "two-create", create["key"], {"first": "Two", "last": "Gateways"}).json()
        ref = ref["actions"][0]["changed"][0]["ref"]
        update = define(second, "two-update", update_control())  # defined through the other gateway
        count = 8
        answers: list[int] = []
        lock = threading.Lock()

        def one(n: int) -> None:
            client = first if n % 2 else second
            response = push(client, "two-update", update["key"], {"ref": ref, "email": f"g{n}@example.org"})
            with lock:
                answers.append(response.status_code)

        threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert answers == [200] * count
        assert sorted(profile(second, ref)["email"]) == sorted(f"g{n}@example.org" for n in range(count))


def test_a_lease_left_by_a_dead_holder_expires(people: TestClient, backend: str) -> None:
    gateway = people.app.state.gateway  # type: ignore[attr-defined]
    if not gateway.jobs.queue.durable:
        pytest.skip("one process owns the embedded store: no lease, the lock is enough")
    leases = PushLeases(gateway.storage, gateway.jobs.queue, ttl=0.3, wait=0.05)
    dead = {"id": "lease_db", "holder": "dead", "expires": gateway.storage.now_ms() + 300}
    gateway.jobs.queue.change(Change(LEASES, "lease_db", lambda current: dead))
    with pytest.raises(LeaseBusy), leases.hold("lease_db"):
        pass
    patient = PushLeases(gateway.storage, gateway.jobs.queue, ttl=0.3, wait=5)
    started = time.monotonic()
    with patient.hold("lease_db"):
        waited = time.monotonic() - started
    assert 0.1 < waited < 5
    with leases.hold("lease_db"):  # released: taken at once
        pass
