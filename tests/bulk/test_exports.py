"""export_local: HarperDB's result and file formats, path confinement, errors inside the job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.bulk.helpers import run_job
from tests.conftest import Ops

DOGS = [
    {"id": 1, "dog_name": "Penny", "owner_name": "Kyle", "age": 5, "adorable": True},
    {"id": 2, "dog_name": 'Pep "the" per', "owner_name": "Kyle", "age": 8},
    {"id": "5", "dog_name": "Stringy", "tags": ["a", "b"], "weight": 1.5},
]


@pytest.fixture
def dogs(op: Ops) -> Ops:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    op({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
    return op


def _export(fmt: str, path: str, search: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "operation": "export_local",
        "format": fmt,
        "path": path,
        "search_operation": search
        or {
            "operation": "search_by_value",
            "database": "dev",
            "table": "dog",
            "search_attribute": "id",
            "search_value": "*",
            "get_attributes": ["*"],
        },
    }
    body.update(extra)
    return body


def test_json_export_is_one_compact_array_in_harperdbs_key_order(dogs: Ops, root: Path) -> None:
    job = run_job(dogs, _export("json", str(root / "export")))
    assert (job["status"], job["message"]) == ("COMPLETE", f"Successfully completed job: {job['id']}")
    assert job["result"]["message"] == "Successfully exported JSON locally."
    path = Path(job["result"]["path"])
    assert path.parent == root / "export" and path.name.endswith(".json") and path.stem.isdigit()
    text = path.read_text()
    assert "\n" not in text and text.startswith('[{"id":1,"__createdtime__":')
    rows = json.loads(text)
    assert [list(r)[:3] for r in rows] == [["id", "__createdtime__", "__updatedtime__"]] * 3
    rest = list(rows[0])[3:]
    assert rest == sorted(rest) == ["adorable", "age", "dog_name", "owner_name", "tags", "weight"]
    assert rows[2]["tags"] == ["a", "b"] and rows[0]["tags"] is None
    assert list(path.parent.glob(".*partial")) == []


def test_csv_export_quotes_strings_and_header_only(dogs: Ops, root: Path) -> None:
    search = {
        "operation": "sql",
        "sql": "SELECT id, dog_name, adorable, tags, weight FROM dev.dog ORDER BY id",
    }
    job = run_job(dogs, _export("csv", str(root / "export") + "/", search, filename="dogs"))
    assert job["result"] == {
        "message": "Successfully exported CSV locally.",
        "path": f"{root}/export/dogs.csv",
    }
    assert (root / "export" / "dogs.csv").read_text() == (
        '"id","dog_name","adorable","tags","weight"\n'
        '1,"Penny",true,,\n'
        '2,"Pep ""the"" per",,,\n'
        '"5","Stringy",,"[""a"",""b""]",1.5'
    )


def test_missing_directory_and_bad_format_fail_inside_the_job(dogs: Ops, root: Path) -> None:
    missing = str(root / "export" / "no_such_dir")
    job = run_job(dogs, _export("csv", missing))
    assert (job["status"], job["message"]) == ("ERROR", f"path '{missing}' does not exist")
    job = run_job(dogs, _export("xml", str(root / "export")))
    assert (job["status"], job["message"]) == (
        "ERROR",
        "format invalid. must be one of the following values: json, csv",
    )
    job = run_job(dogs, _export("json", str(root / "export"), {"operation": "describe_all"}))
    assert job["message"] == (
        "search_operation.operation must be one of the following values: "
        "search_by_value, search_by_hash, sql, search_by_conditions"
    )
    job = run_job(
        dogs, _export("json", str(root / "export"), {"operation": "sql", "sql": "SELECT * FROM dev.nope"})
    )
    assert (job["status"], job["message"]) == ("ERROR", "Table 'dev.nope' does not exist")


def test_export_paths_outside_the_export_directories_are_refused(
    dogs: Ops, root: Path, tmp_path: Path
) -> None:
    for path in [str(tmp_path), f"{root}/export/../import", "relative/dir"]:
        assert dogs(_export("json", path), 400) == {
            "error": f"path '{path}' is outside the allowed export directories"
        }
    assert dogs(_export("json", str(root / "export"), filename="../escape"), 400) == {
        "error": "'filename' must be a plain file name (no directory part)"
    }


def test_search_by_conditions_and_by_hash_exports(dogs: Ops, root: Path) -> None:
    conditions = {
        "operation": "search_by_conditions",
        "database": "dev",
        "table": "dog",
        "operator": "and",
        "get_attributes": ["id", "dog_name"],
        "conditions": [{"search_attribute": "owner_name", "search_type": "equals", "search_value": "Kyle"}],
    }
    job = run_job(dogs, _export("json", str(root / "export"), conditions, filename="kyle"))
    assert json.loads((root / "export" / "kyle.json").read_text()) == [
        {"id": 1, "dog_name": "Penny"},
        {"id": 2, "dog_name": 'Pep "the" per'},
    ]
    by_hash = {
        "operation": "search_by_hash",
        "schema": "dev",
        "table": "dog",
        "hash_values": ["5"],
        "get_attributes": ["dog_name"],
    }
    job = run_job(dogs, _export("csv", str(root / "export"), by_hash, filename="five"))
    assert job["status"] == "COMPLETE"
    assert (root / "export" / "five.csv").read_text() == '"dog_name"\n"Stringy"'
