"""Values at the edges of what a field takes: dates beyond the years 1 to 9999 in UTC, zones of 24
hours, epoch milliseconds out of range, huge expirations, a model's JSON text nested too deep, and
fields that must have their type. Each answered 500 (or was silently taken) before; now 400."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Ops

MODEL: dict[str, Any] = {"name": "edge:m", "database": "edge", "destinations": [{"name": "t", "names": {}}]}


@pytest.mark.parametrize(
    "body",
    [
        {
            "operation": "search_jobs_by_start_date",
            "from_date": "2020-01-01T00:00+24:00",
            "to_date": "2021-01-01",
        },
        {
            "operation": "search_jobs_by_start_date",
            "from_date": "2020-01-01",
            "to_date": "2021-01-01T00:00-99",
        },
        {"operation": "delete_records_before", "table": "dog", "date": "2020-01-01T00:00+2400"},
        {"operation": "read_log", "from": "0001-01-01T00:00:00+05:00"},
        {"operation": "read_log", "until": "9999-12-31T23:59:59-05:00"},
        {"operation": "create_api_key", "name": "k", "expires": 1e20},
        {"operation": "create_api_key", "name": "k", "expires": -1e17},
        {"operation": "create_api_key", "name": "k", "expires": "0001-01-01T00:00:00+01:00"},
        {"operation": "create_api_key", "name": "k", "path": 0},
        {"operation": "create_api_key", "name": "k", "path": False},
        {"operation": "create_table", "table": "t", "primary_key": "id", "expiration": 1e300},
        {"operation": "add_import_model", "model": MODEL, "replace": "false"},
        {"operation": "add_import_model", "model": "[" * 5000 + "]" * 5000},
        {
            "operation": "add_import_model",
            "model": json.dumps({**MODEL, "x": [[[[0]]]] * 1}).replace("0", "[" * 200 + "]" * 200),
        },
        {"operation": "add_import_model", "model": json.dumps(MODEL).replace("{}", '{"n": 1e400}')},
    ],
    ids=lambda body: body["operation"],
)
def test_out_of_range_values_are_400(op: Ops, body: dict[str, Any]) -> None:
    response = op.raw(body)
    assert response.status_code == 400, response.text
    assert op({"operation": "list_import_models"}) == []  # nothing registered on the way


def test_dates_take_every_rfc3339_form(op: Ops) -> None:
    for date in ("2020-01-01t10:00:00z", "2020-01-01T10:00:00.1234567890Z", "0001-01-01T00:00:00+05:00"):
        assert (
            op({"operation": "search_jobs_by_start_date", "from_date": date, "to_date": "9999-01-01"}) == []
        )
    assert op({"operation": "read_log", "from": "2020-01-01T10:00:00z", "limit": 1}) is not None
    key = op({"operation": "create_api_key", "name": "k", "expires": "9999-12-31t00:00:00z"})
    assert [k["expires"] for k in op({"operation": "list_api_keys"})] == ["9999-12-31T00:00:00.000Z"]
    assert key["path"] == "/api/haplo-data-import-batch/"


def test_expiration_up_to_2_53_seconds_is_kept(op: Ops) -> None:
    op({"operation": "create_table", "table": "t", "primary_key": "id", "expiration": 2**53})
    assert op({"operation": "describe_table", "table": "t"})["expiration"] == 2**53


def test_a_model_as_json_text_with_a_64_bit_number_is_registered(op: Ops) -> None:
    text = json.dumps({**MODEL, "note": 2**63 - 1})
    assert op({"operation": "add_import_model", "model": text, "replace": None})["tables"] == ["t"]


def test_integral_floats_are_integers(op: Ops, root) -> None:
    """JSON does not tell 5 from 5.0 (schemathesis sent 3757.0 for an integer ``limit``: 400 before)."""
    assert op({"operation": "read_log", "limit": 2.0, "start": 0.0}) is not None
    assert op({"operation": "read_audit_log", "limit": 1.0}) is not None
    assert op({"operation": "list_import_batches", "limit": 3.0}) == []
    op({"operation": "set_configuration", "http.port": 9930.0})
    assert "port: 9930\n" in (root / "gateway-config.yaml").read_text("utf-8")
    for body in (
        {"operation": "read_log", "limit": 2.5},
        {"operation": "read_log", "limit": 1e300},
        {"operation": "list_import_batches", "limit": 1e300},
        {"operation": "set_configuration", "http.port": 1.5},
    ):
        assert op.raw(body).status_code == 400, body
    assert op.raw({"operation": "read_log", "limit": 1e300}).json() == {
        "error": f"'limit' must be an integer of at most {2**53}"
    }


def test_a_configuration_key_in_two_spellings_has_each_value_checked(op: Ops, root) -> None:
    """The fuzzer's case: a wrong value under one spelling was dropped for a right one under another."""
    body = {"operation": "set_configuration", "http_port": [1], "http.port": 9931}
    assert op.raw(body).json() == {"error": "'http.port' must be an integer"}
    op({"operation": "set_configuration", "http_port": 9932, "http": {"port": 9933}})
    assert "port: 9933\n" in (root / "gateway-config.yaml").read_text("utf-8")
