"""HarperDB's documented request bodies for bulk, job and SQL operations, sent unchanged
(only server-local paths point into the test's directories)."""

from __future__ import annotations

from pathlib import Path

from tests.bulk.helpers import all_records, run_job
from tests.conftest import Ops

BREEDS = (
    "id,name,section,country,image\n"
    "1,ENGLISH POINTER,British and Irish Pointers and Setters,GREAT BRITAIN,"
    "http://www.fci.be/Nomenclature/Illustrations/001g07.jpg\n"
    "2,ENGLISH SETTER,British and Irish Pointers and Setters,GREAT BRITAIN,"
    "http://www.fci.be/Nomenclature/Illustrations/002g07.jpg\n"
    "3,KERRY BLUE TERRIER,Large and medium sized Terriers,IRELAND,\n"
)


def test_documented_bodies(op: Ops, root: Path) -> None:
    op({"operation": "create_database", "database": "dev"})
    op({"operation": "create_table", "database": "dev", "table": "breed", "primary_key": "id"})
    op({"operation": "create_table", "database": "dev", "table": "dog", "primary_key": "id"})
    job = run_job(
        op,
        {
            "operation": "csv_data_load",
            "database": "dev",
            "action": "insert",
            "table": "breed",
            "data": BREEDS,
        },
    )
    assert (job["status"], job["message"]) == ("COMPLETE", "successfully loaded 3 of 3 records")
    assert all_records(op, "dev", "breed")[2]["image"] == ""
    (root / "import" / "breeds.csv").write_text(BREEDS.replace("ENGLISH", "IRISH"))
    body = {
        "operation": "csv_file_load",
        "action": "upsert",
        "database": "dev",
        "table": "breed",
        "file_path": str(root / "import" / "breeds.csv"),
    }
    assert run_job(op, body)["message"] == "successfully loaded 3 of 3 records"
    assert all_records(op, "dev", "breed")[0]["name"] == "IRISH POINTER"
    export = {
        "operation": "export_local",
        "format": "json",
        "path": str(root / "export") + "/",
        "search_operation": {"operation": "sql", "sql": "SELECT * FROM dev.breed"},
    }
    job = run_job(op, export)
    assert job["result"]["message"] == "Successfully exported JSON locally."
    assert Path(job["result"]["path"]).read_text().startswith('[{"id":1,"__createdtime__":')
    assert op({"operation": "sql", "sql": "INSERT INTO dev.dog (id, dog_name) VALUE (22, 'Simon')"}) == {
        "message": "inserted 1 of 1 records",
        "inserted_hashes": [22],
        "skipped_hashes": [],
    }
    assert op({"operation": "sql", "sql": "SELECT * FROM dev.dog WHERE id = 22"})[0]["dog_name"] == "Simon"
    assert op({"operation": "sql", "sql": "UPDATE dev.dog SET dog_name = 'penelope' WHERE id = 22"})[
        "update_hashes"
    ] == [22]
    assert op({"operation": "sql", "sql": "SELECT DISTINCT dog_name FROM dev.dog"}) == [
        {"dog_name": "penelope"}
    ]
    assert op({"operation": "sql", "sql": "SELECT COUNT(*) FROM dev.dog WHERE id > 3"}) == [{"COUNT(*)": 1}]
    assert op({"operation": "sql", "sql": "SELECT * FROM dev.dog ORDER BY age DESC"})[0]["id"] == 22
    assert op({"operation": "sql", "sql": "DELETE FROM dev.dog WHERE id = 22"})["deleted_hashes"] == [22]
    job = run_job(
        op,
        {
            "operation": "delete_records_before",
            "date": "2021-01-25T23:05:27.464",
            "schema": "dev",
            "table": "breed",
        },
    )
    assert (job["status"], job["message"]) == ("COMPLETE", "0 of 0 records successfully deleted")
    found = op(
        {
            "operation": "search_jobs_by_start_date",
            "from_date": "2021-01-25T22:05:27.464+0000",
            "to_date": "2099-01-25T23:05:27.464+0000",
        }
    )
    assert [j["type"] for j in found] == [
        "csv_data_load",
        "csv_file_load",
        "export_local",
        "delete_records_before",
    ]
    assert op({"operation": "get_job", "id": found[0]["id"]})[0]["status"] == "COMPLETE"
