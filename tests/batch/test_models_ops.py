"""Model registry operations and validate_control_file (operations.md §4)."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from tests.batch.conftest import minimal_control, person_model, start_api
from tests.conftest import ADMIN_AUTH, Ops, basic, make_client
from tests.support.postgres import store_overrides


def test_add_model_creates_database_and_tables(op: Ops) -> None:
    answer = op({"operation": "add_import_model", "model": person_model()})
    assert answer == {
        "message": "Model 'haplo:person' successfully added",
        "database": "haplo_person",
        "tables": ["profile"],
    }
    assert (
        op({"operation": "describe_table", "database": "haplo_person", "table": "profile"})["hash_attribute"]
        == "id"
    )
    listed = op({"operation": "list_import_models"})
    assert listed == [
        {
            "name": "haplo:person",
            "title": "People",
            "description": person_model()["description"],
            "database": "haplo_person",
            "tables": ["profile"],
        }
    ]


def test_add_model_lists_every_problem(op: Ops) -> None:
    model = {
        "name": "bad:model",
        "destinations": [
            {"name": "a", "kind": "object", "names": {"x": {"type": "no-such-type"}}},
            {"name": "a", "kind": "object", "depends": "ghost", "names": {}},
        ],
    }
    answer = op({"operation": "add_import_model", "model": model}, 400)
    assert answer["error"].startswith("Invalid model: ")
    assert answer["problems"] == [
        "Duplicate destination name: a",
        "Destinations a and a use the same table a",
        "Destination a depends on unknown destination ghost",
        "Unknown type no-such-type for a/x (a custom type needs a pseudo destination value:no-such-type)",
    ]
    assert answer["error"] == "Invalid model: " + "; ".join(answer["problems"])
    assert op({"operation": "list_import_models"}) == []
    assert op({"operation": "add_import_model"}, 400) == {"error": "'model' is required"}
    assert op({"operation": "add_import_model", "model": "{nope"}, 400) == {
        "error": "'model' is not valid JSON"
    }
    assert op({"operation": "add_import_model", "model": [1]}, 400) == {
        "error": "Invalid model: 'model' must be an object (the model definition)",
        "problems": ["'model' must be an object (the model definition)"],
    }


def test_replace_and_drop(op: Ops) -> None:
    op({"operation": "add_import_model", "model": person_model()})
    dup = op({"operation": "add_import_model", "model": person_model()}, 400)
    assert dup["error"] == "Invalid model: Model 'haplo:person' already exists (use replace: true)"
    changed = {**person_model(), "title": "Persons"}
    answer = op({"operation": "add_import_model", "model": json.dumps(changed), "replace": True})
    assert answer["message"] == "Model 'haplo:person' successfully replaced"
    assert op({"operation": "describe_import_model", "name": "haplo:person"})["title"] == "Persons"
    op({"operation": "insert", "database": "haplo_person", "table": "profile", "records": [{"id": "p1"}]})
    assert op({"operation": "drop_import_model", "name": "haplo:person"}) == {
        "message": "Model 'haplo:person' successfully dropped"
    }
    assert op({"operation": "drop_import_model", "name": "haplo:person"}, 404) == {
        "error": "Model 'haplo:person' not found"
    }
    # its data stays
    assert (
        op({"operation": "describe_table", "database": "haplo_person", "table": "profile"})["record_count"]
        == 1
    )
    assert op({"operation": "describe_import_model", "name": "haplo:person"}, 404) == {
        "error": "Model 'haplo:person' not found"
    }


def test_table_with_other_primary_key_is_a_problem(op: Ops) -> None:
    op({"operation": "create_table", "database": "haplo_person", "table": "profile", "primary_key": "code"})
    answer = op({"operation": "add_import_model", "model": person_model()}, 400)
    assert answer["problems"] == ["Table 'haplo_person.profile' exists with primary key 'code', not 'id'"]


def test_describe_model_has_pseudo_destinations(op: Ops) -> None:
    op({"operation": "add_import_model", "model": person_model()})
    described = op({"operation": "describe_import_model", "name": "haplo:person"})
    names = {d["name"]: d for d in described["destinations"]}
    assert set(names) == {
        "profile",
        "load:by-ref",
        "value:person-name",
        "value:postal-address",
        "load:by-email",
    }
    assert names["load:by-ref"]["pseudo"] is True and names["profile"]["pseudo"] is False


def test_validate_control_file(op: Ops) -> None:
    op({"operation": "add_import_model", "model": person_model()})
    assert op({"operation": "validate_control_file", "control": minimal_control()}) == {
        "valid": True,
        "errors": [],
    }
    text = json.dumps(minimal_control("other:model"))
    assert op({"operation": "validate_control_file", "control": text}) == {
        "valid": False,
        "errors": ["Model not implemented: other:model"],
    }
    assert op({"operation": "validate_control_file", "control": "{x"}) == {
        "valid": False,
        "errors": [
            "Uploaded file is not JSON: line 1, column 2: Expecting property name enclosed in double quotes"
        ],
    }
    assert op({"operation": "validate_control_file", "control": {}}) == {
        "valid": False,
        "errors": [
            "Not a control file",
            "Control file does not specify model in the model property",
            "Control file does not specify processing instructions in the instructions property",
            "Control file does not have files property",
        ],
    }
    assert op({"operation": "validate_control_file"}, 400) == {"error": "'control' is required"}


def test_import_operations_need_a_super_user(client: TestClient, op: Ops) -> None:
    op({"operation": "add_role", "role": "reader", "permission": {"super_user": False}})
    op({"operation": "add_user", "username": "reader", "password": "pw", "role": "reader", "active": True})
    headers = basic("reader", "pw")
    for body in (
        {"operation": "add_import_model", "model": person_model()},
        {"operation": "create_api_key", "name": "x"},
        {"operation": "list_api_keys"},
        {"operation": "list_import_batches"},
        {"operation": "list_control_files"},
    ):
        response = client.post("/", json=body, headers=headers)
        assert response.status_code == 403, body
        assert "restricted to 'super_user' roles" in response.json()["unauthorized_access"][0]
    # get_import_batch is open to any role
    response = client.post("/", json={"operation": "get_import_batch", "batch": "nope"}, headers=headers)
    assert (response.status_code, response.json()) == (404, {"error": "Batch not found: nope"})


def test_every_app_on_a_shared_store_knows_the_models_another_changed(tmp_path: Path) -> None:
    """Two gateways on one PostgreSQL schema and S3 prefix (as on two machines): a model added, replaced or
    dropped through one is known at once to the other, for control files and for runs."""
    overrides = store_overrides("postgres+s3", tmp_path / "shared")  # files in one bucket too
    with (
        make_client(tmp_path / "one", **overrides) as one_client,
        make_client(tmp_path / "two", **overrides) as two_client,
    ):
        one, two = Ops(one_client, ADMIN_AUTH), Ops(two_client, ADMIN_AUTH)
        assert two({"operation": "validate_control_file", "control": minimal_control()})["valid"] is False
        one({"operation": "add_import_model", "model": person_model()})
        assert two({"operation": "validate_control_file", "control": minimal_control()})["valid"] is True
        assert [m["name"] for m in two({"operation": "list_import_models"})] == ["haplo:person"]
        changed = {**person_model(), "title": "Persons"}
        one({"operation": "add_import_model", "model": changed, "replace": True})
        assert two({"operation": "describe_import_model", "name": "haplo:person"})["title"] == "Persons"
        api = start_api(two_client, model=False)
        batch = api.create_batch(api.upload_control(minimal_control()))
        api.add_file(batch, "people", b'[{"first": "Ada", "last": "Lovelace", "email": "ada@example.com"}]')
        api.schedule(batch)
        done = api.wait(batch)
        assert done["state"] == "complete", done["log"]
        one({"operation": "drop_import_model", "name": "haplo:person"})
        assert two({"operation": "validate_control_file", "control": minimal_control()}) == {
            "valid": False,
            "errors": ["Model not implemented: haplo:person"],
        }
