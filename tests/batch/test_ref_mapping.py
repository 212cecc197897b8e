"""refMapping through the real app (spec §6.6): a mapping's ``types`` are tables of the model
database, whether or not the model declares them as destinations."""

from __future__ import annotations

import json
from typing import Any

from tests.batch.conftest import BatchApi

MODEL: dict[str, Any] = {
    "name": "test:staff",
    "title": "Staff",
    "database": "staffdb",
    "destinations": [
        {
            "name": "person",
            "kind": "object",
            "table": "person",
            "names": {"title": {"type": "text", "required": True}, "org": {"type": "ref"}},
        }
    ],
}


def control(mapping: dict[str, Any]) -> dict[str, Any]:
    return {
        "dataImportControlFileVersion": 0,
        "model": "test:staff",
        "files": {"people": {"read": "json"}},
        "mapping": {"orgs": mapping},
        "instructions": [
            {"action": "new", "destination": "person"},
            {"source": "name", "destination": "person", "name": "title"},
            {"source": "dept", "destination": "person", "name": "org", "refMapping": "orgs"},
        ],
    }


def run(api: BatchApi, control_file: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    batch = api.create_batch(api.upload_control(control_file))
    api.add_file(batch, "people", json.dumps(rows).encode())
    api.schedule(batch)
    return api.wait(batch)


def test_a_mapping_may_name_a_table_that_is_not_a_destination(api: BatchApi) -> None:
    api.op({"operation": "add_import_model", "model": MODEL})
    # a reference table of the model database, made and filled by other means
    api.op({"operation": "create_table", "database": "staffdb", "table": "org", "primary_key": "org_id"})
    orgs = [{"org_id": "o1", "title": "Physics", "code": "x:phy"}, {"org_id": "o2", "title": "History"}]
    api.op({"operation": "insert", "database": "staffdb", "table": "org", "records": orgs})
    rows = [{"name": "Ada", "dept": "PHY"}, {"name": "Eric", "dept": "HIS"}]

    by_title = control({"types": ["org"], "using": "title", "values": {"PHY": "Physics", "HIS": "History"}})
    info = run(api, by_title, rows)
    assert (info["state"], info["errors"]) == ("complete", 0), info["log"]
    by_code = control({"types": ["org", "ghosts"], "using": "behaviour", "values": {"PHY": "x:phy"}})
    info = run(api, by_code, rows[:1])
    assert (info["state"], info["errors"]) == ("complete", 0), info["log"]  # unknown types: ignored

    people = api.op({"operation": "sql", "sql": "SELECT title, org FROM staffdb.person ORDER BY title"})
    assert [(p["title"], p["org"]) for p in people] == [("Ada", "o1"), ("Ada", "o1"), ("Eric", "o2")]

    unknown = run(api, control({"types": ["ghosts"], "using": "title", "values": {}}), rows[:1])
    assert "Mapping orgs refers to unknown type ghosts" in unknown["log"]
    assert "No types for mapping orgs" in unknown["log"]
