"""A batch's summary and a dry run's change report, through the real app on each backend.

Kept with the batch (``get_import_batch``'s ``summary``), shown by the status endpoint
(``read:``/``committed:``/``failed:``), told in words after the log's ``END:`` line, and a
change report downloadable as JSON (``GET …/changes``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.batch.conftest import API, BatchApi, minimal_control
from tests.conftest import basic
from tests.support.batch_log import summary_lines
from tests.support.summary_data import FIRST, SECOND, by_email_control


def run(api: BatchApi, control: Any, people: list[dict[str, Any]], mode: str | None = None) -> dict[str, Any]:
    batch = api.create_batch(api.upload_control(control))
    api.add_file(batch, "people", json.dumps(people).encode())
    api.schedule(batch, mode)
    api.wait(batch)
    info: dict[str, Any] = api.op({"operation": "get_import_batch", "batch": batch})
    return info


def status(api: BatchApi, batch: str) -> str:
    response = api.client.get(API + "status", params={"batch": batch}, headers=api.headers)
    assert response.status_code == 200, response.text
    return str(response.text)


def alan_id(api: BatchApi) -> str:
    store = api.client.app.state.gateway.storage  # type: ignore[attr-defined]
    (alan,) = [
        r for r in store.records.scan("haplo_person", "profile") if r.get("email") == ["alan@example.com"]
    ]
    return str(alan["id"])


def test_real_runs_count_new_updated_unchanged_and_failed(api: BatchApi) -> None:
    first = run(api, by_email_control(), FIRST)
    assert first["summary"]["destinations"] == [
        {"table": "profile", "destinations": ["profile"], "new": 2, "updated": 0, "unchanged": 0}
    ]
    second = run(api, by_email_control(), SECOND)
    summary = second["summary"]
    assert (second["state"], second["errors"]) == ("complete", 1)
    assert {
        k: summary[k] for k in ("records_read", "records_committed", "records_failed", "records_skipped")
    } == {
        "records_read": 4,
        "records_committed": 3,
        "records_failed": 1,
        "records_skipped": 0,
    }
    assert summary["destinations"] == [
        {"table": "profile", "destinations": ["profile"], "new": 1, "updated": 1, "unchanged": 1}
    ]
    assert summary["percent"] == 100 and summary["interrupted"] is None and summary["dry_run"] is False
    assert summary["started"] <= summary["finished"] and summary["duration_seconds"] >= 0
    assert second["progress"] == {"records_done": 4, "errors": 1, "percent": 100}
    batch = second["identifier"]
    assert (
        status(api, batch) == "state: complete\nerrors: 1\npercent: 100\nread: 4\ncommitted: 3\nfailed: 1\n"
    )
    words = summary_lines(second["log"])
    assert words[:2] == [
        "SUMMARY: 4 records read, 3 committed, 1 failed, 1 error",
        "SUMMARY: table profile (profile): 1 new, 1 updated, 1 unchanged",
    ]
    assert words[2].startswith("SUMMARY: took ") and len(words) == 3
    report = api.client.get(API + "changes", params={"batch": batch}, headers=api.headers)
    assert report.status_code == 200 and report.json()["destinations"] == summary["destinations"]


def test_a_rerun_of_an_import_by_keys_changes_nothing(api: BatchApi) -> None:
    run(api, by_email_control(), FIRST)
    again = run(api, by_email_control(), FIRST)
    assert (
        again["summary"]["destinations"][0] | {"new": 0, "updated": 0, "unchanged": 2}
        == again["summary"]["destinations"][0]
    )
    store = api.client.app.state.gateway.storage  # type: ignore[attr-defined]
    assert len(list(store.records.scan("haplo_person", "profile"))) == 2


def test_a_dry_run_reports_what_would_change(api: BatchApi) -> None:
    run(api, by_email_control(), FIRST)
    dry = run(api, by_email_control(), SECOND, "dry-run")
    summary = dry["summary"]
    assert dry["state"] == "dry-run"
    assert (summary["records_read"], summary["records_committed"], summary["records_skipped"]) == (4, 0, 3)
    assert summary["records_failed"] == 1 and summary["dry_run"] is True
    (row,) = summary["destinations"]
    assert (row["new"], row["updated"], row["unchanged"]) == (1, 1, 1)
    assert row["sample"] == [
        {
            "key": alan_id(api),
            "changes": [
                {
                    "name": "title",
                    "from": {"first": "Alan", "last": "Turing"},
                    "to": {"first": "Alan", "last": "Turing-Smith"},
                }
            ],
        }
    ]
    assert row["sample_complete"] is True
    assert summary_lines(dry["log"])[:2] == [
        "SUMMARY: dry run: 4 records read, 3 skipped (a dry run writes nothing), 1 failed, 1 error",
        "SUMMARY: table profile (profile): would be 1 new, 1 updated, 1 unchanged",
    ]
    download = api.client.get(API + "changes", params={"batch": dry["identifier"]}, headers=api.headers)
    assert download.status_code == 200 and download.headers["content-type"] == "application/json"
    assert download.json() == {
        "batch": dry["identifier"],
        "state": "dry-run",
        "dry_run": True,
        "finished": summary["finished"],
        "sample_size": 20,
        "destinations": summary["destinations"],
    }
    (listed,) = api.op({"operation": "list_import_batches", "state": "dry-run"})
    assert listed["summary"]["destinations"] == [{k: v for k, v in row.items() if k != "sample"}]
    # nothing was written: Alan keeps his name
    store = api.client.app.state.gateway.storage  # type: ignore[attr-defined]
    assert sorted(r["title"]["last"] for r in store.records.scan("haplo_person", "profile")) == [
        "Lovelace",
        "Turing",
    ]


def test_a_dry_run_samples_the_first_twenty_updates_of_a_table(api: BatchApi) -> None:
    people = [{"first": "P", "last": f"L{i}", "email": f"p{i}@example.com"} for i in range(25)]
    run(api, by_email_control(), people)
    renamed = [{**p, "last": p["last"] + "x"} for p in people]
    dry = run(api, by_email_control(), renamed, "dry-run")
    (row,) = dry["summary"]["destinations"]
    assert row["updated"] == 25 and len(row["sample"]) == 20 and row["sample_complete"] is False
    assert [s["changes"][0]["to"]["last"] for s in row["sample"]] == [f"L{i}x" for i in range(20)]


def test_the_change_report_needs_a_key_and_a_finished_batch(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    response = api.client.get(API + "changes", params={"batch": batch}, headers=api.headers)
    assert response.status_code == 409
    assert response.text == f"Batch {batch} has no change report: it has not finished (state uploading)"
    response = api.client.get(API + "changes", params={"batch": "nope"}, headers=api.headers)
    assert (response.status_code, response.text) == (400, "Batch not found: nope")
    response = api.client.get(API + "changes", params={"batch": batch})
    assert response.status_code == 403
    response = api.client.get(API + "changes", params={"batch": batch}, headers=basic("haplo", "wrong"))
    assert response.status_code == 403


def test_a_batch_that_fails_before_its_first_record_claims_nothing(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    api.add_file(batch, "people", b'[{"first": "Ada", "last": "Lovelace"}]')
    api.op({"operation": "drop_import_model", "name": "haplo:person"})  # gone by the time it runs
    api.schedule(batch)
    info = api.wait(batch)
    assert info["state"] == "error"
    assert info["progress"] == {"records_done": 0, "errors": 0, "percent": 0}
    summary = info["summary"]
    assert (summary["records_read"], summary["records_committed"], summary["percent"]) == (0, 0, 0)
    assert summary["interrupted"]["rerun_safe"] is True
    assert status(api, batch).startswith(
        "state: error\nerrors: 0\npercent: 0\nread: 0\ncommitted: 0\nfailed: 0\n"
    )
    words = summary_lines(info["log"])
    assert words[-1] == "SUMMARY: Nothing was committed, so re-running it as a copy is safe."


@pytest.mark.parametrize("safe", [True, False])
def test_an_error_mid_run_tells_how_far_it_got_and_whether_a_rerun_is_safe(api: BatchApi, safe: bool) -> None:
    control = by_email_control() if safe else minimal_control()
    # The third record asks for a destination the model does not have: the run ends in error.
    control["instructions"].append(
        {"action": "if-exists", "source": "boom", "then": [{"action": "new", "destination": "nowhere"}]}
    )
    people = [*FIRST, {"first": "B", "last": "Oom", "email": "b@example.com", "boom": 1}, *SECOND]
    batch = api.create_batch(api.upload_control(control))
    api.add_file(batch, "people", json.dumps(people).encode())
    api.schedule(batch)
    info = api.wait(batch)
    assert info["state"] == "error"
    summary = info["summary"]
    assert summary["records_read"] == summary["records_committed"] == info["progress"]["records_done"] == 2
    assert 0 < summary["percent"] < 100 and info["progress"]["percent"] == summary["percent"]
    stop = summary["interrupted"]
    assert (stop["records_read"], stop["records_committed"], stop["rerun_safe"]) == (2, 2, safe)
    words = summary_lines(info["log"])
    assert (
        words[-2] == "SUMMARY: interrupted after 2 records read, 2 committed (Unknown destination: nowhere)"
    )
    if safe:
        assert words[-1].startswith("SUMMARY: Re-running it as a copy is safe: ")
    else:
        assert words[-1] == (
            "SUMMARY: Re-running it as a copy may import the records committed before the stop again: "
            "'new profile' creates records that a second run would create again. "
            "Remove them from the input first, or check the records already imported."
        )
