"""search_by_id / search_by_value / search_by_conditions through the real app."""

from __future__ import annotations

from typing import Any

DEV_DOG = {"database": "dev", "table": "dog"}


def ids(rows: list[dict[str, Any]]) -> list[Any]:
    return [r["id"] for r in rows]


def by_value(op, attribute: str, value: Any, **extra: Any) -> list[Any]:
    body = {"operation": "search_by_value", **DEV_DOG, "search_attribute": attribute, "search_value": value}
    return ids(op({"get_attributes": ["id"], **body, **extra}))


def by_conditions(op, conditions: list[Any], **extra: Any) -> list[Any]:
    body = {
        "operation": "search_by_conditions",
        **DEV_DOG,
        "get_attributes": ["id"],
        "conditions": conditions,
    }
    return ids(op({**body, **extra}))


def cond(attribute: str, search_type: str, value: Any) -> dict[str, Any]:
    return {"search_attribute": attribute, "search_type": search_type, "search_value": value}


def test_search_by_id_and_alias(dogs):
    rows = dogs({"operation": "search_by_id", **DEV_DOG, "ids": [1, 2, 999], "get_attributes": ["*"]})
    assert ids(rows) == [1, 2]
    assert list(rows[1]) == [
        "id",
        "__createdtime__",
        "__updatedtime__",
        *[a for a in rows[1] if not a.startswith("__") and a != "id"],
    ]
    assert rows[1]["weight_lbs"] == 50
    stringy = dogs({"operation": "search_by_id", **DEV_DOG, "ids": ["5"], "get_attributes": ["*"]})[0]
    # "*" answers the record's own attributes (HarperDB would add the missing ones as null)
    assert "weight_lbs" not in stringy and "breed_id" not in stringy
    legacy = dogs(
        {
            "operation": "search_by_hash",
            "schema": "dev",
            "table": "dog",
            "hash_values": [1, 3],
            "get_attributes": ["id", "dog_name"],
        }
    )
    assert legacy == [{"id": 1, "dog_name": "Penny"}, {"id": 3, "dog_name": "Kato"}]
    explicit = dogs(
        {
            "operation": "search_by_id",
            **DEV_DOG,
            "ids": [1],
            "get_attributes": ["id", "__createdtime__", "__updatedtime__"],
        }
    )
    assert list(explicit[0]) == ["id", "__createdtime__", "__updatedtime__"]


def test_search_by_value_wildcards(dogs):
    assert by_value(dogs, "dog_name", "*") == [1, 2, 3, 4, 6, "5"]  # numbers before strings
    assert by_value(dogs, "id", "*") == [1, 2, 3, 4, 6, "5"]
    assert by_value(dogs, "dog_name", "Pe*") == [1, 2, 4]
    assert by_value(dogs, "dog_name", "*er") == [6, 2]  # Harper, Pepper: index (value) order
    assert by_value(dogs, "dog_name", "*e*") == [6, 1, 2, 4]
    assert by_value(dogs, "dog_name", "P*y") == [1]
    assert by_value(dogs, "age", 5) == [1]
    assert by_value(dogs, "age", "5") == []  # typed
    assert by_value(dogs, "weight_lbs", "*") == [1, 2, 3, 4]  # only records that have it
    assert by_value(dogs, "owner_name", "Kyle", limit=2, offset=1) == [2, 3]
    legacy = dogs(
        {
            "operation": "search_by_value",
            **DEV_DOG,
            "attribute": "dog_name",
            "value": "Kato",
            "get_attributes": ["*"],
        }
    )
    assert legacy[0]["age"] == 9


def test_search_by_value_on_unindexed_attribute_scans(op):
    op(
        {
            "operation": "create_table",
            **DEV_DOG,
            "attributes": [{"name": "id", "isPrimaryKey": True}, {"name": "name", "type": "String"}],
        }
    )
    op(
        {
            "operation": "insert",
            **DEV_DOG,
            "records": [{"id": 2, "name": "Pepper"}, {"id": 1, "name": "Penny"}, {"id": 3, "name": "Kato"}],
        }
    )
    assert by_value(op, "name", "Pe*") == [1, 2]
    assert by_conditions(op, [cond("name", "ends_with", "o")]) == [3]


def test_conditions_comparators(dogs):
    assert by_conditions(dogs, [cond("age", "equals", 9)]) == [3]
    assert by_conditions(dogs, [cond("age", "not_equal", 9)]) == [1, 2, 4, 6, "5"]
    assert by_conditions(dogs, [cond("dog_name", "contains", "ock")]) == [4]
    assert by_conditions(dogs, [cond("dog_name", "starts_with", "Har")]) == [6]
    assert by_conditions(dogs, [cond("dog_name", "ends_with", "gy")]) == ["5"]
    assert by_conditions(dogs, [cond("age", "greater_than", 5)]) == [2, 3]
    assert by_conditions(dogs, [cond("age", "greater_than_equal", 5)]) == [1, 2, 3]
    assert by_conditions(dogs, [cond("age", "less_than", 3)]) == [4, "5"]
    assert by_conditions(dogs, [cond("age", "less_than_equal", 3)]) == [4, "5", 6]
    assert by_conditions(dogs, [cond("age", "between", [2, 5])]) == ["5", 6, 1]
    assert by_conditions(dogs, [cond("owner_name", "greater_than", "Stephen")]) == [4, "5"]
    assert (
        by_conditions(dogs, [cond("age", "greater_than", "1")]) == []
    )  # a string bound matches strings only
    assert by_conditions(dogs, [{"attribute": "age", "comparator": "lt", "value": 2}]) == [4]


def test_conditions_transcript_cases(dogs):
    # HarperDB transcript: and + sort + limit/offset
    rows = dogs(
        {
            "operation": "search_by_conditions",
            **DEV_DOG,
            "operator": "and",
            "limit": 2,
            "offset": 1,
            "sort": {"attribute": "age", "descending": True},
            "get_attributes": ["id", "dog_name", "age"],
            "conditions": [cond("age", "between", [1, 9]), cond("owner_name", "equals", "Kyle")],
        }
    )
    assert rows == [{"id": 2, "dog_name": "Pepper", "age": 8}, {"id": 1, "dog_name": "Penny", "age": 5}]
    # or: the children's results in order
    assert by_conditions(
        dogs, [cond("dog_name", "contains", "ock"), cond("dog_name", "starts_with", "Har")], operator="or"
    ) == [4, 6]
    # and: driven by the narrowest indexed condition (age > 2), in its order
    assert by_conditions(
        dogs,
        [
            cond("age", "greater_than", 2),
            cond("age", "less_than_equal", 9),
            cond("dog_name", "not_equal", "Kato"),
        ],
    ) == [6, 1, 2]
    # nested group
    nested = [
        cond("owner_name", "equals", "Kyle"),
        {"operator": "or", "conditions": [cond("age", "equals", 9), cond("age", "equals", 8)]},
    ]
    assert by_conditions(dogs, nested) == [3, 2]
    # sort with a tie-breaker
    rows = dogs(
        {
            "operation": "search_by_conditions",
            **DEV_DOG,
            "get_attributes": ["id", "owner_name", "age"],
            "sort": {"attribute": "owner_name", "next": {"attribute": "age", "descending": True}},
            "conditions": [cond("age", "greater_than_equal", 0)],
        }
    )
    assert ids(rows) == [3, 2, 1, 6, "5", 4]


def test_deeply_nested_groups(dogs):
    inner: dict[str, Any] = {
        "operator": "or",
        "conditions": [cond("id", "equals", 4), cond("id", "equals", "5")],
    }
    for _ in range(5):
        inner = {"operator": "and", "conditions": [inner, cond("owner_name", "equals", "Zach")]}
    assert by_conditions(dogs, [inner]) == [4, "5"]
    assert by_conditions(dogs, [], operator="and") == [1, 2, 3, 4, 6, "5"]


def test_offset_limit_without_sort(dogs):
    assert by_conditions(dogs, [cond("age", "greater_than", 0)], limit=3) == [4, "5", 6]
    assert by_conditions(dogs, [cond("age", "greater_than", 0)], offset=4) == [2, 3]
    assert by_conditions(dogs, [cond("age", "greater_than", 0)], offset=10) == []
    assert by_conditions(dogs, [cond("age", "greater_than", 0)], limit=0) == []


def test_index_drives_the_and(dogs, client, monkeypatch):
    store = client.app.state.gateway.storage
    calls: list[str] = []
    original_scan = store.records.scan

    def counting_scan(*args: Any, **kwargs: Any) -> Any:
        calls.append("scan")
        return original_scan(*args, **kwargs)

    monkeypatch.setattr(store.records, "scan", counting_scan)
    assert by_conditions(dogs, [cond("dog_name", "not_equal", "x"), cond("age", "equals", 9)]) == [3]
    assert calls == []  # the indexed equals drove it, no table scan
    assert by_conditions(dogs, [cond("dog_name", "not_equal", "x")]) == [1, 2, 3, 4, 6, "5"]
    assert calls == ["scan"]


SEARCH_ERRORS: list[tuple[dict[str, Any], int, str]] = [
    ({"operation": "search_by_id", **DEV_DOG, "ids": [1]}, 400, "'get_attributes' is required"),
    (
        {
            "operation": "search_by_id",
            **DEV_DOG,
            "ids": [1, "5"],
            "get_attributes": ["dog_name", "age", "nonexistent"],
        },
        400,
        "unknown attribute 'nonexistent'",
    ),
    (
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "nope",
            "ids": [1],
            "get_attributes": ["*"],
        },
        404,
        "Table 'dev.nope' does not exist",
    ),
    (
        {
            "operation": "search_by_id",
            "database": "nodb",
            "table": "nope",
            "ids": [1],
            "get_attributes": ["*"],
        },
        404,
        "database 'nodb' does not exist",
    ),
    (
        {"operation": "search_by_value", **DEV_DOG, "search_value": "*", "get_attributes": ["*"]},
        400,
        "'attribute' is required",
    ),
    (
        {"operation": "search_by_value", **DEV_DOG, "search_attribute": "a", "get_attributes": ["*"]},
        400,
        "'value' is required",
    ),
    (
        {
            "operation": "search_by_conditions",
            **DEV_DOG,
            "get_attributes": ["id"],
            "conditions": [cond("age", "bogus", 9)],
        },
        400,
        'Unknown query comparator "bogus"',
    ),
    (
        {"operation": "search_by_conditions", **DEV_DOG, "get_attributes": ["id"]},
        400,
        "'conditions' is required",
    ),
    (
        {
            "operation": "search_by_conditions",
            **DEV_DOG,
            "get_attributes": ["id"],
            "conditions": [cond("age", "between", 5)],
        },
        400,
        "'between' needs a 'search_value' array of two values",
    ),
    (
        {
            "operation": "search_by_conditions",
            **DEV_DOG,
            "get_attributes": ["id"],
            "conditions": [],
            "operator": "xor",
        },
        400,
        "'operator' must be 'and' or 'or'",
    ),
    (
        {
            "operation": "search_by_conditions",
            **DEV_DOG,
            "get_attributes": ["id"],
            "conditions": [],
            "sort": {"x": 1},
        },
        400,
        "'sort' needs an 'attribute' string",
    ),
    (
        {
            "operation": "search_by_conditions",
            **DEV_DOG,
            "get_attributes": ["id"],
            "conditions": [],
            "limit": -1,
        },
        400,
        "'limit' must be an integer of at least 0",
    ),
]


def test_search_errors(dogs):
    for body, status, error in SEARCH_ERRORS:
        assert dogs(body, status) == {"error": error}, body
