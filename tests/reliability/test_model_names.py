"""An import model cannot reach the hidden system database or name tables the operations would refuse."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Ops


def _model(database: str, table: str = "person") -> dict[str, Any]:
    return {
        "name": "test:names",
        "database": database,
        "destinations": [
            {"name": "person", "kind": "object", "table": table, "names": {"title": {"type": "text"}}}
        ],
    }


@pytest.mark.parametrize(
    ("database", "table", "problem"),
    [
        ("system", "person", "Model database 'system' is reserved for the gateway's own tables"),
        ("a/b", "person", "Model database 'a/b' cannot include backticks or forward slashes"),
        ("names", "we`ird", "Destination person: table 'we`ird' cannot include backticks or forward slashes"),
        ("names", "t" * 251, "is longer than 250 characters"),
    ],
)
def test_a_model_that_would_write_where_operations_cannot_is_refused(
    op: Ops, database: str, table: str, problem: str
) -> None:
    answer = op({"operation": "add_import_model", "model": _model(database, table)}, 400)
    assert problem in answer["error"]
    assert op({"operation": "list_import_models"}) == []
    assert database not in op({"operation": "describe_all"})
