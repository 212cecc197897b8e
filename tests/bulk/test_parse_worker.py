"""csv_file_load through the parse worker process gives the same answers as the in-process load."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.operations import bulk as bulk_ops
from tests.bulk.helpers import all_records, run_job
from tests.conftest import ADMIN_AUTH, Ops, make_client

STARTED: list[int] = []


@pytest.fixture(scope="module")
def worker_op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ops, Path]]:
    """An app whose csv_file_load always uses the parse worker (whatever the machine's load)."""
    root = tmp_path_factory.mktemp("worker") / "root"
    real_parts = bulk_ops.worker_parts

    def counted(*args: Any) -> Any:
        STARTED.append(1)
        return real_parts(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk_ops, "worth_a_worker", lambda size, minimum: True)
        patch.setattr(bulk_ops, "worker_parts", counted)
        with make_client(root, **{"bulk.parse_worker_min_bytes": 1}) as client:
            yield Ops(client, ADMIN_AUTH), root


def _load(op: Ops, root: Path, name: str, content: bytes) -> dict[str, object]:
    table = name.replace(".", "_")
    op({"operation": "create_table", "database": "w", "table": table, "primary_key": "id"})
    (root / "import" / name).write_bytes(content)
    body = {
        "operation": "csv_file_load",
        "database": "w",
        "table": table,
        "file_path": str(root / "import" / name),
    }
    return run_job(op, body)


def test_a_large_file_loads_through_the_worker(worker_op: tuple[Ops, Path]) -> None:
    op, root = worker_op
    content = (
        "id,name,score,flag,note\n" + "".join(f'{i},n{i},{i}.5,true,"a, b"\n' for i in range(25_000))
    ).encode()
    before = len(STARTED)
    job = _load(op, root, "big.csv", content)
    assert len(STARTED) == before + 1
    assert (job["status"], job["message"]) == ("COMPLETE", "successfully loaded 25000 of 25000 records")
    assert job["progress"]["bytes_read"] == len(content)
    rows = op({"operation": "sql", "sql": "SELECT * FROM w.big_csv WHERE id = 24999"})
    assert rows[0]["name"] == "n24999" and rows[0]["score"] == 24999.5 and rows[0]["flag"] is True


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "quote.csv",
            b'id,a\n1,x\n2,"open\n3,y\n',
            "unterminated quoted field at CSV row 2 (line 3); "
            "rows before it were processed: successfully loaded 1 of 1 records",
        ),
        (
            "ragged.csv",
            b"id,a\n1,x\n2,y,z\n",
            "3 cells where the header has 2 columns at CSV row 2 (line 3); "
            "rows before it were processed: successfully loaded 1 of 1 records",
        ),
        (
            "utf8.csv",
            b"id,a\n1,x\n2,\xc3\x28\n",
            "invalid UTF-8 (byte 0xc3 at byte offset 11) at CSV row 2 (line 3); "
            "rows before it were processed: successfully loaded 1 of 1 records",
        ),
    ],
)
def test_malformed_files_fail_the_same_way(
    worker_op: tuple[Ops, Path], name: str, content: bytes, message: str
) -> None:
    op, root = worker_op
    job = _load(op, root, name, content)
    assert (job["status"], job["message"]) == ("ERROR", message)
    assert [r["id"] for r in all_records(op, "w", name.replace(".", "_"))] == [1]


def test_short_rows_and_blank_lines(worker_op: tuple[Ops, Path]) -> None:
    op, root = worker_op
    job = _load(op, root, "short.csv", b"id,a,b\n1,x\n\n2,y,z\n")
    assert job["message"] == "successfully loaded 2 of 2 records"
    assert op({"operation": "sql", "sql": "SELECT id, a, b FROM w.short_csv"}) == [
        {"id": 1, "a": "x", "b": None},
        {"id": 2, "a": "y", "b": "z"},
    ]
