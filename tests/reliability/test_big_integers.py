"""Numbers a double cannot carry exactly: refused (POST /, SQL) or kept as written (CSV cells).

Keys and index entries are doubles, so 2**53 and 2**53 + 1 used to be one key (the
second insert was "skipped" as a duplicate of the first), 2**64 and 30-digit integers
were stored as rounded floats and ``1e-400`` as 0.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.bulk.helpers import run_job
from tests.conftest import ADMIN_AUTH, Ops

RANGE = "integers must be from -9007199254740992 to 9007199254740992 (send larger ones as strings)"
TOO_SMALL = "it is too small for a double and would become 0"
TOO_LARGE = "it is too large for a double"
SAFE = 2**53


@pytest.fixture
def table(op: Ops) -> Ops:
    op({"operation": "create_table", "database": "dev", "table": "t", "primary_key": "id"})
    return op


def post(client: TestClient, raw: str) -> Any:
    return client.post("/", content=raw, headers={**ADMIN_AUTH, "Content-Type": "application/json"})


def rows(op: Ops) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = op(
        {
            "operation": "search_by_value",
            "database": "dev",
            "table": "t",
            "attribute": "id",
            "value": "*",
            "get_attributes": ["*"],
        }
    )
    return [{k: v for k, v in r.items() if not k.startswith("__")} for r in found]


# -- POST / -------------------------------------------------------------------------------------


def test_keys_2_53_and_2_53_plus_1_no_longer_collide(table: Ops, client: TestClient) -> None:
    raw = '{"operation":"insert","database":"dev","table":"t","records":[{"id":9007199254740992,"a":1},{"id":9007199254740993,"a":2}]}'
    response = post(client, raw)
    assert (response.status_code, response.json()) == (
        400,
        {"error": f"Value 9007199254740993 at records[1].id cannot be stored exactly: {RANGE}"},
    )
    assert rows(table) == []  # the request is refused whole


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("18446744073709551616", RANGE),  # 2**64: orjson reads it as a float
        ("123456789012345678901234567890", RANGE),
        ("-9007199254740993", RANGE),
        ("9223372036854775807", RANGE),
        ("1e-400", TOO_SMALL),
        ("-2.5E-330", TOO_SMALL),
        ("0." + "0" * 400 + "1", TOO_SMALL),
    ],
)
@pytest.mark.parametrize("operation", ["insert", "upsert", "update"])
def test_a_value_a_double_cannot_carry_is_a_400_naming_record_and_attribute(
    table: Ops, client: TestClient, literal: str, reason: str, operation: str
) -> None:
    table({"operation": "insert", "database": "dev", "table": "t", "records": [{"id": 1, "n": 5}]})
    raw = (
        f'{{"operation":"{operation}","database":"dev","table":"t",'
        f'"records":[{{"id":1,"n":6}},{{"id":2,"tags":[1,{{"n":{literal}}}]}}]}}'
    )
    response = post(client, raw)
    shown = literal if len(literal) <= 40 else f"{literal[:40]}… ({len(literal)} characters)"
    assert (response.status_code, response.json()) == (
        400,
        {"error": f"Value {shown} at records[1].tags[1].n cannot be stored exactly: {reason}"},
    )
    assert rows(table) == [{"id": 1, "n": 5}]


def test_attribute_names_that_are_not_identifiers_are_quoted_in_the_path(
    table: Ops, client: TestClient
) -> None:
    raw = '{"operation":"insert","database":"dev","table":"t","records":[{"id":1,"big number":1e-999}]}'
    assert post(client, raw).json() == {
        "error": f'Value 1e-999 at records[0]["big number"] cannot be stored exactly: {TOO_SMALL}'
    }


def test_numbers_a_double_carries_are_stored_as_sent(table: Ops, client: TestClient) -> None:
    raw = (
        '{"operation":"insert","database":"dev","table":"t","records":['
        '{"id":9007199254740992,"min":-9007199254740992,"tiny":5e-324,"zero":0.0,"negzero":-0e-400,'
        '"big":1.7976931348623157e308,"exp":1e16,"card":"4111111111111111","note":"E-1000 e-000"},'
        '{"id":-9007199254740992,"x":1234567890123456}]}'
    )
    response = post(client, raw)
    assert response.status_code == 200, response.text
    assert rows(table) == [
        {"id": -SAFE, "x": 1234567890123456},
        {
            "id": SAFE,
            "min": -SAFE,
            "tiny": 5e-324,
            "zero": 0,
            "negzero": 0,
            "big": 1.7976931348623157e308,
            "exp": 1e16,
            "card": "4111111111111111",
            "note": "E-1000 e-000",
        },
    ]
    found = table(
        {
            "operation": "search_by_id",
            "database": "dev",
            "table": "t",
            "ids": [SAFE],
            "get_attributes": ["id"],
        }
    )
    assert found == [{"id": SAFE}]


def test_a_search_for_an_inexact_number_is_refused_rather_than_matching_its_neighbour(
    table: Ops, client: TestClient
) -> None:
    table({"operation": "insert", "database": "dev", "table": "t", "records": [{"id": 1, "n": SAFE}]})
    raw = '{"operation":"search_by_value","database":"dev","table":"t","attribute":"n","value":9007199254740993,"get_attributes":["id"]}'
    assert post(client, raw).json() == {
        "error": f"Value 9007199254740993 at value cannot be stored exactly: {RANGE}"
    }


def test_the_check_does_not_slow_an_ordinary_insert_measurably(table: Ops, client: TestClient) -> None:
    """A 1,000-record body with long digit strings takes the slow path and still goes through."""
    records = ",".join(f'{{"id":{i},"card":"41111111111{i:05d}","v":-1e-300}}' for i in range(1000))
    started = time.perf_counter()
    response = post(client, f'{{"operation":"insert","database":"dev","table":"t","records":[{records}]}}')
    assert response.status_code == 200, response.text
    assert time.perf_counter() - started < 10
    assert len(rows(table)) == 1000


# -- SQL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        (
            "INSERT INTO dev.t (id, a) VALUES (1, 2), (9007199254740993, 3)",
            f"Value 9007199254740993 of column 'id' in row 2 cannot be stored exactly: {RANGE}",
        ),
        (
            "INSERT INTO dev.t (id, a) VALUES (2, -123456789012345678901234567890)",
            f"Value -123456789012345678901234567890 of column 'a' in row 1 cannot be stored exactly: {RANGE}",
        ),
        (
            "INSERT INTO dev.t (id, a) VALUES (3, 1e-400)",
            f"Value 1e-400 of column 'a' in row 1 cannot be stored exactly: {TOO_SMALL}",
        ),
        (
            "INSERT INTO dev.t (id, a) VALUES (4, 1e400)",
            f"Value 1e400 of column 'a' in row 1 cannot be stored exactly: {TOO_LARGE}",
        ),
        (
            "UPDATE dev.t SET a = 18446744073709551616 WHERE id = 1",
            f"Value 18446744073709551616 of column 'a' cannot be stored exactly: {RANGE}",
        ),
        (
            "SELECT * FROM dev.t WHERE id = 9007199254740993",
            f"Value 9007199254740993 cannot be stored exactly: {RANGE}",
        ),
    ],
)
def test_sql_literals_a_double_cannot_carry_are_a_400(table: Ops, sql: str, error: str) -> None:
    table({"operation": "insert", "database": "dev", "table": "t", "records": [{"id": 1, "a": 1}]})
    assert table({"operation": "sql", "sql": sql}, 400) == {"error": error}
    assert rows(table) == [{"id": 1, "a": 1}]


def test_sql_literals_at_the_limits_are_stored_exactly(table: Ops) -> None:
    table(
        {
            "operation": "sql",
            "sql": "INSERT INTO dev.t (id, a, b) VALUES (9007199254740992, -9007199254740992, 5e-324)",
        }
    )
    assert rows(table) == [{"id": SAFE, "a": -SAFE, "b": 5e-324}]


# -- CSV loads ----------------------------------------------------------------------------------

CSV = (
    "id,n,label\n"
    "9007199254740992,9007199254740992,two to the 53\n"
    "9007199254740993,12345678901234567890,above\n"
    "-9007199254740993,9007199254740993.0,below\n"
    f"7,0.{'0' * 400}1,underflow\n"
    "8,1.5,plain\n"
)
EXPECTED = [
    {"id": "-9007199254740993", "n": "9007199254740993.0", "label": "below"},
    {"id": 7, "n": f"0.{'0' * 400}1", "label": "underflow"},
    {"id": 8, "n": 1.5, "label": "plain"},
    {"id": SAFE, "n": SAFE, "label": "two to the 53"},
    {"id": "9007199254740993", "n": "12345678901234567890", "label": "above"},
]


def _sorted(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(found, key=lambda r: (isinstance(r["id"], str), r["id"]))


def test_csv_cells_beyond_what_a_double_carries_stay_strings_and_keys_do_not_collide(table: Ops) -> None:
    job = run_job(table, {"operation": "csv_data_load", "database": "dev", "table": "t", "data": CSV})
    assert (job["status"], job["message"]) == ("COMPLETE", "successfully loaded 5 of 5 records")
    assert _sorted(rows(table)) == _sorted(EXPECTED)


def test_the_arrow_reader_stores_the_same_values_as_the_python_reader(op: Ops, root: Path) -> None:
    """A file of 1 MiB or more goes through pyarrow; its stored records equal csv_data_load's."""
    filler = "".join(f"{1000 + i},{i},row {i}\n" for i in range(70_000))
    text = CSV + filler
    path = root / "import" / "big.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    assert path.stat().st_size >= 1 << 20
    for name in ("fast", "slow"):
        op({"operation": "create_table", "database": "dev", "table": name, "primary_key": "id"})
    fast = run_job(
        op, {"operation": "csv_file_load", "database": "dev", "table": "fast", "file_path": str(path)}
    )
    slow = run_job(op, {"operation": "csv_data_load", "database": "dev", "table": "slow", "data": text})
    assert fast["message"] == slow["message"] == "successfully loaded 70005 of 70005 records"

    def stored(table: str) -> list[Any]:
        found = op({"operation": "sql", "sql": f"SELECT id, n, label FROM dev.{table}"})
        return _sorted(found)

    assert stored("fast") == stored("slow")
    assert [r for r in stored("fast") if r["label"] in {e["label"] for e in EXPECTED}] == _sorted(EXPECTED)
