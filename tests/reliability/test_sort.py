"""Unknown sort and search attributes: a 400 naming the attribute, never a silent result.

HarperDB answers an unknown attribute in ``get_attributes`` with ``unknown attribute
'nonexistent'`` (harper-answers.md; 500 there, 400 here). A misspelled ``sort``
attribute used to be ignored (results in index order) and a misspelled search
attribute answered ``[]``; both now get the same answer as ``get_attributes``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Ops

DOGS = [
    {"id": 1, "dog_name": "Penny", "age": 5},
    {"id": 2, "dog_name": "Pepper", "age": 8},
    {"id": 3, "dog_name": "Kato", "age": 9},
]
ALL = [{"search_attribute": "age", "search_type": "greater_than", "search_value": 0}]


@pytest.fixture
def dogs(op: Ops) -> Ops:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    op({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
    return op


def _conditions(conditions: list[Any], sort: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "operation": "search_by_conditions",
        "database": "dev",
        "table": "dog",
        "get_attributes": ["id"],
        "conditions": conditions,
    }
    if sort is not None:
        body["sort"] = sort
    return body


def test_a_sort_on_an_unknown_attribute_is_a_400_naming_it(dogs: Ops) -> None:
    answer = dogs(_conditions(ALL, {"attribute": "agee", "descending": True}), 400)
    assert answer == {"error": "unknown attribute 'agee'"}


def test_an_unknown_tie_breaker_is_a_400_naming_it(dogs: Ops) -> None:
    sort = {"attribute": "age", "next": {"attribute": "dog_name", "next": {"attribute": "nmae"}}}
    assert dogs(_conditions(ALL, sort), 400) == {"error": "unknown attribute 'nmae'"}


def test_a_known_sort_attribute_still_sorts(dogs: Ops) -> None:
    answer = dogs(_conditions(ALL, {"attribute": "age", "descending": True}))
    assert answer == [{"id": 3}, {"id": 2}, {"id": 1}]


def test_an_attribute_the_table_knows_but_no_record_has_sorts_and_searches(dogs: Ops) -> None:
    dogs({"operation": "create_attribute", "database": "dev", "table": "dog", "attribute": "color"})
    assert dogs(_conditions(ALL, {"attribute": "color", "next": {"attribute": "id"}})) == [
        {"id": 1},
        {"id": 2},
        {"id": 3},
    ]
    equals = [{"search_attribute": "color", "search_type": "equals", "search_value": "red"}]
    assert dogs(_conditions(equals)) == []


@pytest.mark.parametrize(
    "conditions",
    [
        [{"search_attribute": "dog_nmae", "search_type": "equals", "search_value": "Penny"}],
        [
            {"search_attribute": "age", "search_type": "greater_than", "search_value": 1},
            {
                "operator": "or",
                "conditions": [
                    {"search_attribute": "dog_nmae", "search_type": "contains", "search_value": "e"}
                ],
            },
        ],
    ],
    ids=["top level", "nested group"],
)
def test_a_condition_on_an_unknown_attribute_is_a_400_naming_it(dogs: Ops, conditions: list[Any]) -> None:
    assert dogs(_conditions(conditions), 400) == {"error": "unknown attribute 'dog_nmae'"}


@pytest.mark.parametrize("value", ["*", "Pe*", "Penny", 5])
def test_search_by_value_on_an_unknown_attribute_is_a_400_naming_it(dogs: Ops, value: Any) -> None:
    body = {
        "operation": "search_by_value",
        "database": "dev",
        "table": "dog",
        "search_attribute": "dog_nmae",
        "search_value": value,
        "get_attributes": ["*"],
    }
    assert dogs(body, 400) == {"error": "unknown attribute 'dog_nmae'"}


def test_an_export_sorted_on_an_unknown_attribute_fails_its_job_naming_it(dogs: Ops, root: Any) -> None:
    (root / "export").mkdir(parents=True, exist_ok=True)
    search = _conditions(ALL, {"attribute": "agee"})
    started = dogs(
        {
            "operation": "export_local",
            "format": "json",
            "path": str(root / "export"),
            "search_operation": search,
        }
    )
    job = _finished_job(dogs, started["job_id"])
    assert (job["status"], job["message"]) == ("ERROR", "unknown attribute 'agee'")
    assert list((root / "export").iterdir()) == []


def test_an_export_searching_an_unknown_attribute_fails_its_job_naming_it(dogs: Ops, root: Any) -> None:
    (root / "export").mkdir(parents=True, exist_ok=True)
    search = {
        "operation": "search_by_value",
        "database": "dev",
        "table": "dog",
        "search_attribute": "dog_nmae",
        "search_value": "*",
        "get_attributes": ["id"],
    }
    started = dogs(
        {
            "operation": "export_local",
            "format": "csv",
            "path": str(root / "export"),
            "search_operation": search,
        }
    )
    job = _finished_job(dogs, started["job_id"])
    assert (job["status"], job["message"]) == ("ERROR", "unknown attribute 'dog_nmae'")


def _finished_job(op: Ops, job_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = op({"operation": "get_job", "id": job_id})[0]
        if job["status"] != "IN_PROGRESS":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {timeout} s")
