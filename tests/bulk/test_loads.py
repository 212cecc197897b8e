"""csv_data_load and csv_file_load through the real app: HarperDB's answers, casting, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.bulk.helpers import all_records, run_job
from tests.conftest import Ops

TRANSCRIPT = json.loads((Path(__file__).parents[3] / "shared/spec/harper-transcript.json").read_text())[
    "entries"
]


def _entry(label: str) -> dict[str, Any]:
    return next(e for e in TRANSCRIPT if e["label"] == label)


@pytest.fixture
def dev(op: Ops) -> Ops:
    op({"operation": "create_database", "database": "dev"})
    op({"operation": "create_table", "database": "dev", "table": "csvtypes", "primary_key": "id"})
    return op


def _same_number(value: Any) -> Any:
    """JavaScript doubles: 12345678901234567000 and 1.2345678901234567e19 are one number."""
    return float(value) if type(value) in (int, float) else value


def _strip_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without metadata; null values left out (the search may or may not fill absent ones)."""
    return [
        {k: _same_number(v) for k, v in r.items() if not k.startswith("__") and v is not None}
        for r in records
    ]


# Deviation (gateway.storage.numbers): HarperDB rounds these cells of column ``big`` to doubles;
# a double cannot hold them exactly, so they stay the strings they are.
KEPT_AS_WRITTEN = {1: "12345678901234567890", 2: "9007199254740993"}


def _with_deviations(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "big": KEPT_AS_WRITTEN[r["id"]]} if r.get("id") in KEPT_AS_WRITTEN else r for r in records]


def test_transcript_csv_data_loads_give_harperdbs_messages_and_values(dev: Ops) -> None:
    first = run_job(dev, _entry("csv_data_load insert (type casting)")["request"])
    assert (first["status"], first["message"], first["type"], first["user"]) == (
        "COMPLETE",
        "successfully loaded 3 of 3 records",
        "csv_data_load",
        "admin",
    )
    assert first["created_datetime"] <= first["start_datetime"] <= first["end_datetime"]
    assert first["progress"]["records_done"] == 3 and first["progress"]["percent"] == 100.0
    assert "data" not in first["job_body"]
    expected = _with_deviations(_entry("csvtypes contents")["response"])
    got = all_records(dev, "dev", "csvtypes")
    assert _strip_times(got) == _strip_times(expected)
    assert len({r["__createdtime__"] for r in got}) == 1  # one load, one creation time
    for label, message in [
        ("csv_data_load upsert with new column", "successfully loaded 2 of 2 records"),
        ("csv_data_load default action (no action field)", "successfully loaded 1 of 2 records"),
        ("csv_data_load update action", "successfully loaded 1 of 2 records"),
        ("csv_data_load empty data", "No records parsed from csv file."),
    ]:
        job = run_job(dev, _entry(label)["request"])
        assert (job["status"], job["message"]) == ("COMPLETE", message), label
    after = _with_deviations(_entry("csvtypes contents after upsert/update")["response"])
    assert _strip_times(all_records(dev, "dev", "csvtypes")) == _strip_times(after)


@pytest.mark.parametrize(
    "label", ["csv_data_load missing table", "csv_data_load missing database", "csv_data_load bad action"]
)
def test_request_errors_are_synchronous_400s(dev: Ops, label: str) -> None:
    entry = _entry(label)
    assert dev(entry["request"], entry["status"]) == entry["response"]


def test_missing_table_field_and_missing_data(dev: Ops) -> None:
    assert dev({"operation": "csv_data_load", "database": "dev", "data": "id\n1\n"}, 400) == {
        "error": "'table' is required"
    }
    assert dev({"operation": "csv_data_load", "database": "dev", "table": "csvtypes"}, 400) == {
        "error": "'data' is required"
    }


def test_no_primary_key_column_generates_keys(dev: Ops) -> None:
    job = run_job(dev, _entry("csv_data_load no primary key column")["request"])
    assert job["message"] == "successfully loaded 1 of 1 records"
    [record] = all_records(dev, "dev", "csvtypes")
    assert isinstance(record["id"], str) and (record["i"], record["f"]) == (1, 2)


def _load(op: Ops, data: str, action: str = "insert") -> dict[str, Any]:
    body = {
        "operation": "csv_data_load",
        "database": "dev",
        "table": "csvtypes",
        "action": action,
        "data": data,
    }
    return run_job(op, body)


def test_unterminated_quote_is_an_error_naming_the_row_and_earlier_rows_stay(dev: Ops) -> None:
    job = _load(dev, 'id,a,b\n1,x,y\n2,x,y\n10,"unterminated,1\n11,2,3\n')
    assert job["status"] == "ERROR"
    assert job["message"] == (
        "unterminated quoted field at CSV row 3 (line 4); "
        "rows before it were processed: successfully loaded 2 of 2 records"
    )
    assert [r["id"] for r in all_records(dev, "dev", "csvtypes")] == [1, 2]


def test_more_cells_than_the_header_is_an_error(dev: Ops) -> None:
    job = _load(dev, "id,a,b\n20,1\n21,2,3,4\n22,5,6\n")
    assert job["status"] == "ERROR"
    assert job["message"].startswith("4 cells where the header has 3 columns at CSV row 2 (line 3)")
    records = all_records(dev, "dev", "csvtypes")
    assert [(r["id"], r.get("a"), r.get("b")) for r in records] == [(20, 1, None)]


def test_short_rows_leave_missing_cells_absent(dev: Ops) -> None:
    assert _load(dev, "id,a,b\n1,x\n2,y,z\n")["message"] == "successfully loaded 2 of 2 records"
    rows = dev({"operation": "sql", "sql": "SELECT id, a, b FROM dev.csvtypes"})
    assert rows == [{"id": 1, "a": "x", "b": None}, {"id": 2, "a": "y", "b": "z"}]
    _load(dev, "id,b\n1,later\n", action="update")
    assert dev({"operation": "sql", "sql": "SELECT a, b FROM dev.csvtypes WHERE id = 1"}) == [
        {"a": "x", "b": "later"}
    ]


def test_a_failure_in_a_later_chunk_keeps_the_earlier_chunks(dev: Ops) -> None:
    lines = [f"{i},v{i}" for i in range(1, 25_001)]
    lines[22_000] = "22001,oops,extra"
    job = _load(dev, "id,v\n" + "\n".join(lines) + "\n")
    assert job["status"] == "ERROR"
    assert job["message"] == (
        "3 cells where the header has 2 columns at CSV row 22001 (line 22002); "
        "rows before it were processed: successfully loaded 22000 of 22000 records"
    )
    count = dev({"operation": "sql", "sql": "SELECT COUNT(*) AS n FROM dev.csvtypes"})
    assert count == [{"n": 22000}]


def test_schema_defined_table_type_error_names_the_row(op: Ops) -> None:
    op(
        {
            "operation": "create_table",
            "database": "dev",
            "table": "typed",
            "attributes": [
                {"name": "id", "type": "Int", "isPrimaryKey": True},
                {"name": "age", "type": "Int"},
            ],
        }
    )
    body = {"operation": "csv_data_load", "database": "dev", "table": "typed", "data": "id,age\n1,4\n2,old\n"}
    job = run_job(op, body)
    assert job["status"] == "ERROR"
    assert job["message"].startswith('Value "old" in property age must be an integer')
    assert "at CSV row 2 (line 3)" in job["message"]
    assert op({"operation": "sql", "sql": "SELECT * FROM dev.typed"}) == [{"id": 1, "age": 4}]


def test_invalid_primary_key_value_is_an_error(dev: Ops) -> None:
    job = _load(dev, "id,a\n1,x\ntrue,y\n")
    assert job["status"] == "ERROR"
    assert job["message"].startswith("invalid primary key value true for 'id' at CSV row 2")


def test_new_columns_become_attributes(dev: Ops) -> None:
    _load(dev, "id,fresh_col\n1,x\n")
    described = dev({"operation": "describe_table", "database": "dev", "table": "csvtypes"})
    assert "fresh_col" in {a["attribute"] for a in described["attributes"]}


# -- csv_file_load ------------------------------------------------------------------------


def _file_load(op: Ops, path: str, expect: int = 200) -> Any:
    body = {"operation": "csv_file_load", "database": "dev", "table": "csvtypes", "file_path": path}
    if expect != 200:
        return op(body, expect)
    return run_job(op, body)


def test_csv_file_load_from_the_import_directory(dev: Ops, root: Path) -> None:
    content = "id,name\n200,FileDog\n201,FileDog2\n"
    (root / "import" / "small.csv").write_text(content)
    job = _file_load(dev, str(root / "import" / "small.csv"))
    assert (job["status"], job["message"], job["type"]) == (
        "COMPLETE",
        "successfully loaded 2 of 2 records",
        "csv_file_load",
    )
    assert job["progress"]["bytes_read"] == job["progress"]["bytes_total"] == len(content)


def test_missing_and_relative_files_answer_harperdbs_message(dev: Ops, root: Path) -> None:
    missing = str(root / "import" / "nope.csv")
    assert _file_load(dev, missing, 400) == {"error": f"No such file or directory {missing}"}
    assert _file_load(dev, "small.csv", 400) == {"error": "No such file or directory small.csv"}


def test_paths_outside_the_import_directories_are_refused(dev: Ops, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("id\n1\n")
    assert _file_load(dev, str(outside), 400) == {
        "error": f"file_path '{outside}' is outside the allowed import directories"
    }
    dotdot = f"{root}/import/../../outside.csv"
    assert _file_load(dev, dotdot, 400) == {
        "error": f"file_path '{dotdot}' is outside the allowed import directories"
    }
    link = root / "import" / "link.csv"
    os.symlink(outside, link)
    assert _file_load(dev, str(link), 400) == {
        "error": f"file_path '{link}' is outside the allowed import directories"
    }
    assert all_records(dev, "dev", "csvtypes") == []


def test_a_symlink_inside_the_import_directory_is_followed(dev: Ops, root: Path) -> None:
    (root / "import" / "real.csv").write_text("id\n7\n")
    os.symlink(root / "import" / "real.csv", root / "import" / "alias.csv")
    assert (
        _file_load(dev, str(root / "import" / "alias.csv"))["message"] == "successfully loaded 1 of 1 records"
    )


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"", "COMPLETE", "No records parsed from csv file."),
        (b"id,a,b\n", "COMPLETE", "No records parsed from csv file."),
        (
            b"id,a\n1,x\n2,\xff\xfe\n",
            "ERROR",
            "invalid UTF-8 (byte 0xff at byte offset 11) at CSV row 2 (line 3)",
        ),
    ],
)
def test_empty_header_only_and_non_utf8_files(
    dev: Ops, root: Path, content: bytes, status: str, message: str
) -> None:
    path = root / "import" / "f.csv"
    path.write_bytes(content)
    job = _file_load(dev, str(path))
    assert job["status"] == status
    assert job["message"].startswith(message)


def test_extra_import_directories_from_configuration(tmp_path: Path) -> None:
    from tests.conftest import ADMIN_AUTH, Ops, make_client

    extra = tmp_path / "landing"
    extra.mkdir()
    (extra / "x.csv").write_text("id\n1\n2\n")
    with make_client(tmp_path / "root", **{"bulk.import_directories": [str(extra)]}) as client:
        op = Ops(client, ADMIN_AUTH)
        op({"operation": "create_table", "database": "dev", "table": "csvtypes", "primary_key": "id"})
        assert _file_load(op, str(extra / "x.csv"))["message"] == "successfully loaded 2 of 2 records"
