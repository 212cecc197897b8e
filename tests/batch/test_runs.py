"""Running batches (§1.5, §1.6, §8): states, log, error count, audit, dry run, recovery, shutdown."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

import engine.batch
from engine import validate_control
from gateway.imports import summary as summaries
from gateway.storage.system import SYSTEM_DB
from tests.batch.conftest import BatchApi, minimal_control, start_api
from tests.conftest import make_client
from tests.support.batch_log import run_lines, summary_lines
from tests.support.held_blob import HeldBlob
from tests.support.postgres import store_overrides

PEOPLE = [
    {"first": "Ada", "last": "Lovelace", "email": "ada@example.com"},
    {"first": "Alan", "last": "Turing", "email": "alan@example.com"},
]


def profiles(api: BatchApi) -> list[dict[str, Any]]:
    store = api.client.app.state.gateway.storage  # type: ignore[attr-defined]
    return [
        {k: v for k, v in r.items() if not k.startswith("__")}
        for r in store.records.scan("haplo_person", "profile")
    ]


def audit_entries(api: BatchApi, prefix: str) -> list[dict[str, Any]]:
    store = api.client.app.state.gateway.storage  # type: ignore[attr-defined]
    entries = [e for e in store.records.scan(SYSTEM_DB, "hdb_audit") if str(e["type"]).startswith(prefix)]
    return sorted(entries, key=lambda e: e["time"])


def run(api: BatchApi, control: Any, files: dict[str, bytes], mode: str | None = None) -> dict[str, Any]:
    batch = api.create_batch(api.upload_control(control))
    for name, content in files.items():
        api.add_file(batch, name, content)
    api.schedule(batch, mode)
    return api.wait(batch)


def test_real_run_commits_records(api: BatchApi) -> None:
    finished: list[str] = []
    service = api.client.app.state.gateway.imports.batches  # type: ignore[attr-defined]
    service.on_finished.append(finished.append)
    info = run(api, minimal_control(), {"people": json.dumps(PEOPLE).encode()})
    # The end state is saved before the completion listeners run: give them a moment.
    deadline = time.monotonic() + 10
    while not finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert finished == [info["identifier"]]
    assert info["state"] == "complete"
    assert info["errors"] == 0
    lines = run_lines(info["log"])
    assert len(lines) == 2 and lines[0].startswith("START: ") and lines[1].startswith("END: ")
    assert info["progress"] == {"records_done": 2, "errors": 0, "percent": 100}
    stored = sorted(profiles(api), key=lambda r: r["email"])
    assert [r["title"] for r in stored] == [
        {"first": "Ada", "last": "Lovelace"},
        {"first": "Alan", "last": "Turing"},
    ]
    assert all(isinstance(r["id"], str) and r["type"] == "person" for r in stored)
    starts = audit_entries(api, "haplo_data_import_batch:")
    assert [e["type"] for e in starts] == ["haplo_data_import_batch:start", "haplo_data_import_batch:end"]
    assert starts[0]["data"] == {"batch": info["identifier"], "control": info["control"]}
    assert starts[1]["data"] == starts[0]["data"]
    store = api.client.app.state.gateway.storage  # type: ignore[attr-defined]
    logged = list(store.txlog.read("haplo_person", "profile"))  # one commit group: one entry
    assert [(e.user, e.source, sorted(e.keys)) for e in logged] == [
        (f"batch:{info['identifier']}", "import_batch", sorted(r["id"] for r in stored))
    ]


def test_a_run_writes_its_records_in_groups_of_its_stores_size(
    api: BatchApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each store says how many records a group holds (a group costs round trips on PostgreSQL)."""
    imports = api.client.app.state.gateway.storage.imports  # type: ignore[attr-defined]
    size = int(imports.group_records)
    write = imports.write_records
    groups: list[int] = []

    def counted(database: str, tables: Any) -> int:
        groups.append(sum(len(records) for records in tables.values()))
        return int(write(database, tables))

    monkeypatch.setattr(imports, "write_records", counted)
    people = [{"first": "F", "last": f"L{i}", "email": f"p{i}@example.com"} for i in range(size * 5 // 2)]
    info = run(api, minimal_control(), {"people": json.dumps(people).encode()})
    assert (info["state"], info["progress"]["records_done"]) == ("complete", len(people))
    assert sum(groups) == len(people) == len(profiles(api))
    assert size // 10 < max(groups) <= size, groups  # a group is cut at the size (or by time)


def test_dry_run_writes_nothing_and_logs_the_same(api: BatchApi) -> None:
    records = [*PEOPLE, {"email": "no-name@example.com"}, {"first": "X", "last": "Y", "email": "bad"}]
    control = minimal_control()
    dry = run(api, control, {"d": json.dumps(records).encode()}, mode="dry-run")
    assert dry["state"] == "dry-run"
    assert dry["dry_run"] is True
    assert profiles(api) == []
    real = run(api, control, {"d": json.dumps(records).encode()})
    assert real["state"] == "complete"
    assert real["errors"] == dry["errors"] > 0
    assert run_lines(real["log"])[1:-1] == run_lines(dry["log"])[1:-1]
    assert "(record 2)" in dry["log"] and "(record 3)" in dry["log"]
    assert len(profiles(api)) == 3  # the record without a name is not complete


def test_batch_without_files_completes_with_zero_records(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    api.schedule(batch)
    info = api.wait(batch)
    assert (info["state"], info["errors"], info["progress"]["records_done"]) == ("complete", 0, 0)


def test_missing_file_spec_is_a_batch_error(api: BatchApi) -> None:
    control = minimal_control()
    control["files"] = {"good": {"read": "json"}}
    batch = api.create_batch(api.upload_control(control))
    api.add_file(batch, "good", json.dumps(PEOPLE).encode())
    refused = api.post("file", {"batch": batch, "name": "stray"}, {"file": ("stray.json", b"[]")})
    assert (refused.status_code, refused.text) == (
        400,
        "File name not in control file: stray (it lists: good)",
    )
    # Haplo's way (import.check_file_names: false): the upload is accepted and the run fails.
    api.client.app.state.gateway.imports.batches.check_file_names = False  # type: ignore[attr-defined]
    api.add_file(batch, "stray", b"[]")
    api.schedule(batch)
    info = api.wait(batch)
    assert info["state"] == "error"
    lines = run_lines(info["log"])
    assert lines[-2] == (
        "EXCEPTION: Error during import: Could not find file specification in control file for file "
        "stray (and DEFAULT file entry does not exist)"
    )
    assert lines[-1].startswith("END: ")
    assert info["errors"] == 0
    assert profiles(api) == []  # the files are checked before the first record


def test_exception_keeps_committed_records_and_counts_errors(api: BatchApi) -> None:
    control = minimal_control()
    control["instructions"].append(
        {"action": "if-exists", "source": "boom", "then": [{"action": "new", "destination": "nowhere"}]}
    )
    records = [
        PEOPLE[0],
        {"email": "untitled@example.com"},
        PEOPLE[1],
        {"first": "B", "last": "Oom", "boom": 1},
    ]
    info = run(api, control, {"d": json.dumps([*records, {"first": "Never", "last": "Reached"}]).encode()})
    assert info["state"] == "error"
    lines = run_lines(info["log"])
    assert lines[-2] == "EXCEPTION: Error during import: Unknown destination: nowhere"
    errors = lines[1:-2]
    assert errors and all(line.endswith("(record 1)") for line in errors)
    assert info["errors"] == len(errors)  # ours: the count so far, not Haplo's 0
    assert sorted(r["title"]["last"] for r in profiles(api)) == ["Lovelace", "Turing"]


def test_unregistered_model_at_run_time(api: BatchApi) -> None:
    batch = api.create_batch(api.upload_control(minimal_control()))
    api.op({"operation": "drop_import_model", "name": "haplo:person"})
    api.schedule(batch)
    info = api.wait(batch)
    assert info["state"] == "error"
    assert (
        "EXCEPTION: Error during import: Errors in control file:\n  Model not implemented: haplo:person"
        in info["log"]
    )


def test_control_file_is_validated_once_per_run(api: BatchApi, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[Any] = []

    def validate(control: Any, names: Any) -> list[str]:
        checked.append(control)
        return validate_control(control, names)

    monkeypatch.setattr(engine.batch, "validate_control", validate)
    assert run(api, minimal_control(), {"p": json.dumps(PEOPLE).encode()})["state"] == "complete"
    assert len(checked) == 1
    batch = api.create_batch(api.upload_control(minimal_control()))
    api.op({"operation": "drop_import_model", "name": "haplo:person"})
    api.schedule(batch)
    assert api.wait(batch)["state"] == "error"
    assert len(checked) == 2


def test_error_cap_from_configuration(root: Path, backend: str) -> None:
    with make_client(root, **store_overrides(backend, root), **{"import.max_errors": 5}) as client:
        api = start_api(client)
        control = minimal_control()
        control["instructions"].append({"action": "log-error", "message": "bad"})
        info = run(
            api, control, {"d": json.dumps([{"first": "a", "last": str(i)} for i in range(8)]).encode()}
        )
        lines = run_lines(info["log"])[1:-1]
        assert lines == [f"bad (record {i})" for i in range(4)] + [
            "Too many errors in import batch, no further errors will be reported"
        ]
        assert info["errors"] == 8


@pytest.mark.parametrize(("cap", "logged"), [(3, 2), (0, 8)])
def test_other_error_caps_from_configuration(root: Path, cap: int, logged: int, backend: str) -> None:
    with make_client(root, **store_overrides(backend, root), **{"import.max_errors": cap}) as client:
        api = start_api(client)
        control = minimal_control()
        control["instructions"].append({"action": "log-error", "message": "bad"})
        info = run(
            api, control, {"d": json.dumps([{"first": "a", "last": str(i)} for i in range(8)]).encode()}
        )
        lines = run_lines(info["log"])[1:-1]
        too_many = ["Too many errors in import batch, no further errors will be reported"] if cap else []
        assert lines == [f"bad (record {i})" for i in range(logged)] + too_many
        assert info["errors"] == 8


def test_copy_and_list(api: BatchApi) -> None:
    dry = run(api, minimal_control(), {"p": json.dumps(PEOPLE).encode()}, mode="dry-run")
    copy = api.op({"operation": "copy_import_batch", "batch": dry["identifier"]})
    assert copy["state"] == "ready"
    assert copy["files"] == dry["files"] and copy["control"] == dry["control"]
    assert copy["comment"] == "Unnamed batch (copy)"
    listed = api.op({"operation": "list_import_batches"})
    assert [b["identifier"] for b in listed] == [copy["identifier"], dry["identifier"]]
    assert [b["identifier"] for b in api.op({"operation": "list_import_batches", "state": "ready"})] == [
        copy["identifier"]
    ]
    assert len(api.op({"operation": "list_import_batches", "limit": 1})) == 1
    service = api.client.app.state.gateway.imports.batches  # type: ignore[attr-defined]
    service.schedule(copy["identifier"], False, ("ready",))
    assert api.wait(copy["identifier"])["state"] == "complete"
    assert len(profiles(api)) == 2
    assert api.op({"operation": "copy_import_batch", "batch": "nope"}, 404) == {
        "error": "Batch not found: nope"
    }
    assert api.op({"operation": "get_import_batch", "batch": "nope"}, 404) == {
        "error": "Batch not found: nope"
    }
    assert api.op({"operation": "get_import_batch"}, 400) == {"error": "'batch' is required"}


def test_recovery_fails_running_and_requeues_scheduled(root: Path, backend: str) -> None:
    with make_client(root, **store_overrides(backend, root), **{"import.job_start_delay": 300}) as client:
        api = start_api(client)
        digest = api.upload_control(minimal_control())
        waiting = api.create_batch(digest, "waiting")
        api.add_file(waiting, "p", json.dumps(PEOPLE).encode())
        api.schedule(waiting)
        crashed = api.create_batch(digest, "crashed")
        service = client.app.state.gateway.imports.batches  # type: ignore[attr-defined]
        row = service._row(crashed)
        row.update(state="running", log="START: 2024-01-01T00:00:00.000Z\nbad thing (record 0)", errors=1)
        service._save(row)
        started = time.monotonic()
    # The start delay (300 s) does not hold up shutdown: any bound well below it shows that,
    # and a loaded machine needs room (a shutdown here takes well under a second when idle).
    assert time.monotonic() - started < 120
    with make_client(root, **store_overrides(backend, root)) as client:
        api = BatchApi(client, "")
        assert api.wait(waiting)["state"] == "complete"
        info = api.op({"operation": "get_import_batch", "batch": crashed})
        assert info["state"] == "error"
        assert info["errors"] == 1
        lines = run_lines(info["log"])
        assert lines[:2] == ["START: 2024-01-01T00:00:00.000Z", "bad thing (record 0)"]
        assert lines[2] == (
            "EXCEPTION: Error during import: The server stopped during the run; "
            "records committed before the stop are kept"
        )
        assert lines[3].startswith("END: ")
        assert len(profiles(api)) == 2
        # cut short before it saved any progress: the summary claims nothing it cannot know
        assert info["progress"] == {"records_done": 0, "errors": 1, "percent": 0}
        stop = info["summary"]["interrupted"]
        assert (stop["at_least"], stop["rerun_safe"], stop["rerun"]) == (True, False, summaries.UNKNOWN)
        assert summary_lines(info["log"])[-1] == "SUMMARY: " + summaries.UNKNOWN


def test_shutdown_stops_a_running_batch_at_a_record_boundary(root: Path, backend: str) -> None:
    total, held = 40000, 20000
    people = [{"first": "F", "last": f"L{i}", "email": f"p{i}@example.com"} for i in range(total)]
    data = json.dumps(people).encode()
    # The run is held after `held` records (tests/support/held_blob.py) and gets the rest of the
    # file only once the shutdown has begun, so it is still running when it is asked to stop.
    feed = HeldBlob(root, data, os.getpid(), held_at=len(json.dumps(people[:held]).encode()) - 1)
    try:
        with make_client(root, **store_overrides(backend, root)) as client:
            api = start_api(client)
            batch = api.create_batch(api.upload_control(minimal_control()))
            api.add_file(batch, "p", data)
            feed.start()
            api.schedule(batch)
            feed.wait_held()
            deadline = time.monotonic() + 60  # only a bound: the held run reaches 1000 records
            while (
                api.op({"operation": "get_import_batch", "batch": batch})["progress"]["records_done"] < 1000
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            feed.release_when(client.app.state.gateway.stopping)  # type: ignore[attr-defined]
    finally:
        feed.close()
    with make_client(root, **store_overrides(backend, root)) as client:
        api = BatchApi(client, "")
        info = api.op({"operation": "get_import_batch", "batch": batch})
        assert info["state"] == "error"
        assert "EXCEPTION: Error during import: Batch stopped: server shutting down" in info["log"]
        done = len(profiles(api))
        assert 1000 <= done < total
        assert done == info["progress"]["records_done"]
        # a stopped batch claims no work that did not happen: not 100 %, and how far it got
        assert 0 < info["progress"]["percent"] < 100
        summary = info["summary"]
        assert summary["records_read"] == summary["records_committed"] == done
        stop = summary["interrupted"]
        assert (stop["records_committed"], stop["at_least"], stop["rerun_safe"]) == (done, False, False)
        assert stop["reason"] == "Batch stopped: server shutting down"
        assert f"{done} committed (Batch stopped: server shutting down)" in info["log"]
