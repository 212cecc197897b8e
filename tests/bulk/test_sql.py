"""The sql operation: HarperDB's shapes and messages, WHERE/ORDER/LIMIT, writes, unsupported SQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_AUTH, Ops, make_client

DOGS: list[dict[str, Any]] = [
    {"id": 1, "dog_name": "Penny", "owner_name": "Kyle", "age": 5, "breed_id": 154, "adorable": True},
    {"id": 2, "dog_name": "Pepper", "owner_name": "Kyle", "age": 8, "breed_id": 154},
    {"id": 3, "dog_name": "Kato", "owner_name": "Kyle", "age": 9, "breed_id": 7},
    {"id": 4, "dog_name": "Pet Rock", "owner_name": "Zach", "age": 1, "breed_id": 99},
    {"id": 5, "dog_name": "Rosco", "owner_name": "Zach", "age": 2},
    {"id": 6, "dog_name": "Biggie", "owner_name": "Stephen", "age": 3},
    {"id": "7", "dog_name": "Stringy"},
]


def _setup(op: Ops) -> Ops:
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    op(
        {
            "operation": "create_table",
            "database": "dev",
            "table": "indexed",
            "attributes": [
                {"name": "id", "isPrimaryKey": True},
                {"name": "age", "indexed": True},
                {"name": "name"},
            ],
        }
    )
    op({"operation": "insert", "database": "dev", "table": "dog", "records": DOGS})
    return op


@pytest.fixture
def dogs(op: Ops) -> Ops:
    """A fresh app with the dogs (for tests that write)."""
    return _setup(op)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    """One app with the dogs for the read-only tests of this module."""
    root: Path = tmp_path_factory.mktemp("sql") / "root"
    with make_client(root) as client:
        yield _setup(Ops(client, ADMIN_AUTH))


def sql(op: Ops, text: str, status: int = 200) -> Any:
    return op({"operation": "sql", "sql": text}, status)


def test_select_star_columns_in_harperdbs_order(shared: Ops) -> None:
    rows = sql(shared, "SELECT * FROM dev.dog ORDER BY id LIMIT 3")
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert list(rows[0]) == [
        "id",
        "__createdtime__",
        "__updatedtime__",
        "adorable",
        "age",
        "breed_id",
        "dog_name",
        "owner_name",
    ]
    assert rows[1]["adorable"] is None


def test_transcript_selects(shared: Ops) -> None:
    assert sql(shared, "SELECT id, dog_name, age FROM dev.dog WHERE age > 4 ORDER BY age DESC") == [
        {"id": 3, "dog_name": "Kato", "age": 9},
        {"id": 2, "dog_name": "Pepper", "age": 8},
        {"id": 1, "dog_name": "Penny", "age": 5},
    ]
    assert sql(
        shared, "SELECT owner_name, COUNT(*) AS n, AVG(age) AS avg_age FROM dev.dog GROUP BY owner_name"
    ) == [
        {"owner_name": "Kyle", "n": 3, "avg_age": 22 / 3},
        {"owner_name": "Zach", "n": 2, "avg_age": 1.5},
        {"owner_name": "Stephen", "n": 1, "avg_age": 3},
        {"owner_name": None, "n": 1, "avg_age": None},
    ]
    assert sql(shared, "SELECT COUNT(*) FROM dev.dog WHERE age > 3") == [{"COUNT(*)": 3}]
    rows = sql(shared, "SELECT id, __createdtime__, __updatedtime__ FROM dev.dog WHERE id = 1")
    assert list(rows[0]) == ["id", "__createdtime__", "__updatedtime__"]


@pytest.mark.parametrize(
    ("where", "ids"),
    [
        ("age >= 5 AND owner_name = 'Kyle'", [1, 2, 3]),
        ("age < 2 OR dog_name = 'Rosco'", [4, 5]),
        ("age BETWEEN 2 AND 5", [1, 5, 6]),
        ("dog_name LIKE 'pe%'", [1, 2, 4]),
        ("dog_name NOT LIKE 'P%' AND age IS NOT NULL", [3, 5, 6]),
        ("breed_id IS NULL", [5, 6, "7"]),
        ("id IN (2, '7', 99)", [2, "7"]),
        ("NOT (owner_name = 'Kyle') AND age <> 1", [5, 6]),
        ("id = '1'", []),
        ("4 > age", [4, 5, 6]),
    ],
)
def test_where_clauses(shared: Ops, where: str, ids: list[Any]) -> None:
    got = [r["id"] for r in sql(shared, f"SELECT id FROM dev.dog WHERE {where}")]
    assert sorted(got, key=str) == sorted(ids, key=str)


def test_order_limit_offset_distinct(shared: Ops) -> None:
    assert sql(shared, "SELECT id FROM dev.dog ORDER BY age DESC, id LIMIT 2 OFFSET 1") == [
        {"id": 2},
        {"id": 1},
    ]
    assert sql(shared, "SELECT DISTINCT owner_name FROM `dev`.`dog` ORDER BY owner_name") == [
        {"owner_name": None},
        {"owner_name": "Kyle"},
        {"owner_name": "Stephen"},
        {"owner_name": "Zach"},
    ]
    assert sql(shared, "SELECT MIN(age) AS lo, MAX(age) AS hi, SUM(age) AS total FROM dev.dog") == [
        {"lo": 1, "hi": 9, "total": 28}
    ]


def test_indexed_reads_give_the_same_answers(dogs: Ops) -> None:
    records = [{"id": i, "age": i % 7, "name": f"n{i}"} for i in range(50)]
    dogs({"operation": "insert", "database": "dev", "table": "indexed", "records": records})
    by_index = sql(dogs, "SELECT id FROM dev.indexed WHERE age = 3 AND name LIKE 'n1%'")
    assert [r["id"] for r in by_index] == [10, 17]
    assert sql(dogs, "SELECT COUNT(*) AS n FROM dev.indexed WHERE age BETWEEN 2 AND 3") == [{"n": 14}]
    assert sql(dogs, "SELECT COUNT(*) AS n FROM dev.indexed WHERE id >= 40") == [{"n": 10}]


def test_insert_update_delete_answers(dogs: Ops) -> None:
    assert sql(
        dogs, "INSERT INTO dev.dog (id, dog_name, age) VALUES (100, 'Sqlie', 4), (101, 'Sqlo', 5)"
    ) == {
        "message": "inserted 2 of 2 records",
        "inserted_hashes": [100, 101],
        "skipped_hashes": [],
    }
    assert sql(dogs, "INSERT INTO dev.dog (id, dog_name) VALUE (100, 'Again')") == {
        "message": "inserted 0 of 1 records",
        "inserted_hashes": [],
        "skipped_hashes": [100],
    }
    generated = sql(dogs, "INSERT INTO dev.dog (dog_name, age) VALUES ('NoIdSql', 4)")
    assert generated["message"] == "inserted 1 of 1 records" and isinstance(
        generated["inserted_hashes"][0], str
    )
    assert sql(dogs, "UPDATE dev.dog SET age = 11 WHERE id = 100") == {
        "message": "updated 1 of 1 records",
        "update_hashes": [100],
        "skipped_hashes": [],
    }
    assert sql(dogs, "SELECT age FROM dev.dog WHERE id = 100") == [{"age": 11}]
    assert sql(dogs, "DELETE FROM dev.dog WHERE id = 101") == {
        "message": "1 of 1 record successfully deleted",
        "deleted_hashes": [101],
        "skipped_hashes": [],
    }
    assert (
        sql(dogs, "DELETE FROM dev.dog WHERE owner_name = 'Zach'")["message"]
        == "2 of 2 records successfully deleted"
    )


def test_errors(shared: Ops) -> None:
    assert sql(shared, "SELEC * FROM dev.dog", 400) == {
        "error": "Invalid SQL at: SELEC * FROM dev.dog. Please ensure your SQL is valid. "
        "Try adding backticks to reserved words and schema table references."
    }
    assert sql(shared, "SELECT * FROM dev.nope", 404) == {"error": "Table 'dev.nope' does not exist"}
    assert sql(shared, "SELECT * FROM nodb.dog", 404) == {"error": "database 'nodb' does not exist"}
    assert shared({"operation": "sql"}, 400) == {"error": "'sql' is required"}


@pytest.mark.parametrize(
    ("text", "clause"),
    [
        ("SELECT d.id, b.name FROM dev.dog AS d INNER JOIN dev.breed AS b ON d.breed_id = b.id", "JOIN"),
        ("SELECT owner_name FROM dev.dog GROUP BY owner_name HAVING COUNT(*) > 1", "HAVING"),
        ("SELECT * FROM dev.dog UNION SELECT * FROM dev.dog", "statement UNION"),
        ("DROP TABLE dev.dog", "statement DROP"),
        ("SELECT age + 1 FROM dev.dog", "expression age + 1"),
        ("SELECT * FROM dev.dog WHERE age = breed_id", "age = breed_id"),
        ("UPDATE dev.dog SET age = age + 1", "age + 1"),
        ("INSERT INTO dev.dog SELECT * FROM dev.dog", "INSERT without a column list"),
        ("SELECT * FROM dev.dog; DELETE FROM dev.dog", "with more than one statement"),
        ("SELECT * FROM (SELECT 1) AS x", "FROM other than one database.table"),
    ],
)
def test_unsupported_sql_is_a_400_naming_it(shared: Ops, text: str, clause: str) -> None:
    error = sql(shared, text, 400)["error"]
    assert clause in error and "not supported" in error
    assert len(sql(shared, "SELECT id FROM dev.dog")) == len(DOGS)


def test_the_system_database_is_not_reachable(shared: Ops) -> None:
    assert sql(shared, "SELECT * FROM system.hdb_user", 403) == {
        "error": "database 'system' is reserved for the gateway's own tables and cannot be used by operations"
    }
