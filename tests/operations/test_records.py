"""insert / update / upsert / delete through the real app (answers word for word, deviations)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.operations.conftest import DOGS


def _all(op, table="dog"):
    return op(
        {
            "operation": "search_by_value",
            "database": "dev",
            "table": table,
            "attribute": "id",
            "value": "*",
            "get_attributes": ["*"],
        }
    )


def test_insert_answers(dogs):
    answer = dogs(
        {
            "operation": "insert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 1, "dog_name": "Dup"}, {"id": 16, "dog_name": "Six", "age": 6}],
        }
    )
    assert answer == {"message": "inserted 1 of 2 records", "inserted_hashes": [16], "skipped_hashes": [1]}
    generated = dogs(
        {"operation": "insert", "database": "dev", "table": "dog", "records": [{"dog_name": "NoId"}]}
    )
    assert generated["message"] == "inserted 1 of 1 records" and generated["skipped_hashes"] == []
    key = generated["inserted_hashes"][0]
    assert str(uuid.UUID(key)) == key  # deviation: a UUID string, returned
    row = dogs(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "dog",
            "ids": [key],
            "get_attributes": ["*"],
        }
    )
    assert row[0]["dog_name"] == "NoId" and row[0]["id"] == key
    legacy = dogs(
        {"operation": "insert", "schema": "dev", "table": "breed", "records": [{"id": 346, "name": "Husky"}]}
    )
    assert legacy == {"message": "inserted 1 of 1 records", "inserted_hashes": [346], "skipped_hashes": []}
    assert dogs({"operation": "insert", "database": "dev", "table": "dog", "records": []})["message"] == (
        "inserted 0 of 0 records"
    )


def test_metadata_timestamps(dogs):
    rows = {r["id"]: r for r in _all(dogs)}
    first = rows[1]
    assert (
        isinstance(first["__createdtime__"], float) and first["__createdtime__"] == first["__updatedtime__"]
    )
    # every record written in one request shares __createdtime__
    assert len({r["__createdtime__"] for r in rows.values()}) == 1
    dogs({"operation": "update", "database": "dev", "table": "dog", "records": [{"id": 1, "age": 6}]})
    after = dogs(
        {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1], "get_attributes": ["*"]}
    )[0]
    assert (
        after["__createdtime__"] == first["__createdtime__"]
        and after["__updatedtime__"] > first["__updatedtime__"]
    )


def test_update_answers(dogs):
    answer = dogs(
        {
            "operation": "update",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 1, "weight_lbs": 38, "new_attr": "x"}, {"id": 999, "dog_name": "Ghost"}],
        }
    )
    assert answer == {"message": "updated 1 of 2 records", "update_hashes": [1], "skipped_hashes": [999]}
    row = dogs(
        {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [1], "get_attributes": ["*"]}
    )[0]
    assert row["weight_lbs"] == 38 and row["new_attr"] == "x" and row["dog_name"] == "Penny"
    assert dogs(
        {"operation": "update", "database": "dev", "table": "dog", "records": [{"dog_name": "no id"}]}, 400
    ) == {"error": "a valid hash attribute must be provided with update record, check log for more info"}


def test_upsert_answers(dogs):
    answer = dogs(
        {
            "operation": "upsert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 2, "age": 8}, {"id": 7, "dog_name": "Seven"}, {"dog_name": "NoIdUpsert"}],
        }
    )
    assert answer["message"] == "upserted 3 of 3 records" and "skipped_hashes" not in answer
    assert answer["upserted_hashes"][:2] == [2, 7] and str(uuid.UUID(answer["upserted_hashes"][2]))
    row = dogs(
        {"operation": "search_by_id", "database": "dev", "table": "dog", "ids": [2], "get_attributes": ["*"]}
    )[0]
    assert row["dog_name"] == "Pepper" and row["age"] == 8  # merged, not replaced


def test_delete_answers(dogs):
    answer = dogs({"operation": "delete", "database": "dev", "table": "dog", "ids": [6, 12345]})
    # deviation: the id that did not exist is skipped, not reported as deleted
    assert answer == {
        "message": "1 of 2 records successfully deleted",
        "deleted_hashes": [6],
        "skipped_hashes": [12345],
    }
    assert dogs({"operation": "delete", "database": "dev", "table": "dog", "hash_values": [4]}) == {
        "message": "1 of 1 record successfully deleted",
        "deleted_hashes": [4],
        "skipped_hashes": [],
    }
    assert dogs({"operation": "delete", "database": "dev", "table": "dog", "ids": [1, "5"]})["message"] == (
        "2 of 2 records successfully deleted"
    )
    assert {r["id"] for r in _all(dogs)} == {2, 3}
    # the index entries went with the records
    gone = dogs(
        {
            "operation": "search_by_value",
            "database": "dev",
            "table": "dog",
            "attribute": "owner_name",
            "value": "Zach",
            "get_attributes": ["id"],
        }
    )
    assert gone == []


def test_typed_keys(dogs):
    assert (
        dogs(
            {
                "operation": "search_by_id",
                "database": "dev",
                "table": "dog",
                "ids": ["1"],
                "get_attributes": ["*"],
            }
        )
        == []
    )
    dogs(
        {
            "operation": "insert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": "1", "dog_name": "Text"}],
        }
    )
    both = dogs(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "dog",
            "ids": [1, "1"],
            "get_attributes": ["dog_name"],
        }
    )
    assert both == [{"dog_name": "Penny"}, {"dog_name": "Text"}]


WRITE_ERRORS: list[tuple[dict[str, Any], int, str]] = [
    ({"operation": "insert", "database": "dev", "records": [{"id": 1}]}, 400, "'table' is required"),
    (
        {"operation": "insert", "database": "dev", "table": "nope", "records": [{"id": 1}]},
        400,
        "Table 'dev.nope' does not exist",
    ),
    (
        {"operation": "insert", "database": "nodb", "table": "nope", "records": [{"id": 1}]},
        400,
        "database 'nodb' does not exist",
    ),
    (
        {"operation": "insert", "table": "dog", "records": [{"id": 1}]},
        400,
        "database 'data' does not exist",
    ),
    (
        {"operation": "insert", "database": "dev", "table": "dog", "records": {"id": 1}},
        400,
        "'records' must be an array",
    ),
    ({"operation": "insert", "database": "dev", "table": "dog"}, 400, "'records' is required"),
    (
        {"operation": "update", "database": "dev", "table": "nope", "records": []},
        400,
        "Table 'dev.nope' does not exist",
    ),
    (
        {"operation": "upsert", "database": "dev", "table": "nope", "records": []},
        400,
        "Table 'dev.nope' does not exist",
    ),
    (
        {"operation": "delete", "database": "dev", "table": "nope", "ids": [1]},
        400,
        "Table 'dev.nope' does not exist",
    ),
    ({"operation": "delete", "database": "dev", "table": "dog"}, 400, "'ids' is required"),
]


def test_write_errors(dogs):
    for body, status, error in WRITE_ERRORS:
        assert dogs(body, status) == {"error": error}, body


def test_nothing_written_on_bad_input(dogs):
    before = _all(dogs)
    bad_requests = [
        # one bad record among good ones: the whole request fails
        {
            "operation": "insert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 100, "n": 1}, {"id": {"x": 1}}],
        },
        {
            "operation": "insert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 101, "brand_new": 1}, "text"],
        },
        {"operation": "insert", "database": "dev", "table": "dog", "records": [{"id": 102}, {"id": [1, 2]}]},
        {
            "operation": "update",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 1, "age": 99}, {"age": 1}],
        },
        {
            "operation": "upsert",
            "database": "dev",
            "table": "dog",
            "records": [{"id": 1, "age": 99}, {"id": True}],
        },
        {"operation": "delete", "database": "dev", "table": "dog", "ids": "1"},
    ]
    for body in bad_requests:
        assert dogs.raw(body).status_code == 400, body
    assert _all(dogs) == before
    described = dogs({"operation": "describe_table", "database": "dev", "table": "dog"})
    assert "brand_new" not in [a["attribute"] for a in described["attributes"]]


def test_records_of_every_json_type_round_trip(dogs):
    record = {
        "id": 50,
        "text": "ünïcødé \u0000 nul",
        "float": 1.25,
        "neg": -3,
        "big": 2**53,
        "flag": False,
        "none": None,
        "list": [1, "a", None, {"x": 1}],
        "nested": {"a": {"b": [1, 2]}},
    }
    dogs({"operation": "insert", "database": "dev", "table": "dog", "records": [record]})
    got = dogs(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "dog",
            "ids": [50],
            "get_attributes": list(record),
        }
    )
    assert got == [record]
    by_element = dogs(
        {
            "operation": "search_by_value",
            "database": "dev",
            "table": "dog",
            "attribute": "list",
            "value": "a",
            "get_attributes": ["id"],
        }
    )
    assert by_element == [{"id": 50}]
    assert len(DOGS) + 1 == len(_all(dogs))
