"""A batch run whose engine runs in a child process (``import.engine_process_min_bytes``).

Each comparison runs the same batch on two fresh apps on RocksDB (the store that takes encoded
new records): one with the engine in a child process for every real run, one in process. What
is stored, logged and counted must be the same, apart from generated keys and time stamps. Then
what ends a run: a dead child, a store that fails under it, a server that stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import BatchApi, minimal_control, person_model, start_api
from tests.batch.test_buffered_commit import PEOPLE_CONTROL
from tests.conftest import make_client
from tests.support.batch_log import run_lines

CHILD = {"import.engine_process_min_bytes": 1}
IN_PROCESS = {"import.engine_process_min_bytes": 0}


def people(count: int, bad_every: int = 0) -> list[dict[str, Any]]:
    """Person records; every ``bad_every``-th has an email that is not one and no last name."""
    rows = []
    for i in range(count):
        row: dict[str, Any] = {
            "first": f"F{i % 7}",
            "last": f"L{i}",
            "email": f"p{i}@example.com",
            "job": "J",
        }
        if bad_every and i % bad_every == 0:
            row["email"] = "not an email"
            del row["last"]
        rows.append(row)
    return rows


def engine_children() -> list[int]:
    """Pids of this process's children running ``engine.remote``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"engine.remote" in cmdline:
            found.append(int(entry.name))
    return found


def run(
    api: BatchApi, control: Any, data: bytes, mode: str | None = None, timeout: float = 60
) -> dict[str, Any]:
    batch = api.create_batch(api.upload_control(control))
    api.add_file(batch, "people", data)
    api.schedule(batch, mode)
    return api.wait(batch, timeout)


def stored(api: BatchApi) -> list[dict[str, Any]]:
    """The profiles without their generated keys and time stamps, in a stable order."""
    store = api.client.app.state.gateway.storage  # type: ignore[attr-defined]
    rows = [
        {k: v for k, v in r.items() if k != "id" and not k.startswith("__")}
        for r in store.records.scan("haplo_person", "profile")
    ]
    return sorted(rows, key=json.dumps)


def comparable(info: dict[str, Any]) -> dict[str, Any]:
    """What two runs of the same batch share: state, counts, error lines and the summary's counts."""
    summary = info["summary"]
    return {
        "state": info["state"],
        "errors": info["errors"],
        "progress": info["progress"],
        "lines": [line for line in run_lines(info["log"]) if not line.startswith(("START: ", "END: "))],
        "counts": {
            k: summary[k] for k in ("records_read", "records_committed", "records_failed", "destinations")
        },
    }


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[BatchApi, BatchApi]]:
    """Two apps on fresh RocksDB roots: the engine in a child process, and in process."""
    with (
        make_client(tmp_path / "child", **CHILD) as child,
        make_client(tmp_path / "inproc", **IN_PROCESS) as inproc,
    ):
        yield start_api(child), start_api(inproc)


def test_a_run_in_an_engine_process_stores_logs_and_counts_what_a_run_in_process_does(
    pair: tuple[BatchApi, BatchApi], caplog: pytest.LogCaptureFixture
) -> None:
    data = json.dumps(people(2500, bad_every=97)).encode()
    child, inproc = pair
    with caplog.at_level("INFO", logger="gateway.imports"):
        in_child = run(child, minimal_control(), data)
    assert any("its engine runs in process" in r.getMessage() for r in caplog.records)
    assert not engine_children()  # the child exited with its run
    in_process = run(inproc, minimal_control(), data)
    assert in_child["state"] == "complete" and in_child["errors"] > 0
    assert comparable(in_child) == comparable(in_process)
    assert stored(child) == stored(inproc) and len(stored(child)) == in_child["summary"]["records_committed"]
    kept = [
        [
            (e.message, e.file, e.record, e.batch_record, e.imported)
            for e in api.client.app.state.gateway.imports.errors.entries(info["identifier"])
        ]  # type: ignore[attr-defined]
        for api, info in ((child, in_child), (inproc, in_process))
    ]
    assert kept[0] == kept[1] and kept[0]
    # the records are indexed as in process: found by their email
    found = child.op(
        {
            "operation": "search_by_value",
            "database": "haplo_person",
            "table": "profile",
            "search_attribute": "email",
            "search_value": "p5@example.com",
            "get_attributes": ["title"],
        }
    )
    assert found == [{"title": {"first": "F5", "last": "L5"}}]


def test_reads_in_an_engine_process_see_the_runs_earlier_records(pair: tuple[BatchApi, BatchApi]) -> None:
    """Later records load the profiles earlier ones of the same run created (by email): a read
    from the child is answered after every record it sent before."""
    rows = people(600)
    rows += [{**row, "job": "K"} for row in rows[::3]]  # the same people again: loaded, updated
    data = json.dumps(rows).encode()
    child, inproc = pair
    for api in pair:
        api.op({"operation": "add_import_model", "model": person_model_with_email_lookup(), "replace": True})
    in_child, in_process = run(child, PEOPLE_CONTROL, data), run(inproc, PEOPLE_CONTROL, data)
    assert comparable(in_child) == comparable(in_process)
    assert in_child["summary"]["destinations"][0]["updated"] == 200
    assert stored(child) == stored(inproc) and len(stored(child)) == 600


def person_model_with_email_lookup() -> dict[str, Any]:
    model = person_model()
    model["destinations"][0]["lookupNames"] = ["email"]
    return model


def test_a_dry_run_stays_in_process_and_a_real_run_after_it_goes_to_the_child_checked_before(
    pair: tuple[BatchApi, BatchApi], caplog: pytest.LogCaptureFixture
) -> None:
    child, _ = pair
    data = json.dumps(people(300)).encode()
    with caplog.at_level("INFO", logger="gateway.imports"):
        dry = run(child, minimal_control(), data, "dry-run")
        assert not any("its engine runs in process" in r.getMessage() for r in caplog.records)
        real = run(child, minimal_control(), data)
    assert (dry["state"], real["state"]) == ("dry-run", "complete")
    messages = [r.getMessage() for r in caplog.records]
    assert any("its engine runs in process" in m for m in messages)
    # the engine process was handed the dry run's check of the file, and read it once
    assert any(m.endswith(f"{real['identifier']}: 1 file(s) checked before, read once") for m in messages)
    assert [{**d, "sample": None, "sample_complete": None} for d in dry["summary"]["destinations"]] == [
        {**d, "sample": None, "sample_complete": None} for d in real["summary"]["destinations"]
    ]


@contextlib.contextmanager
def a_long_run(root: Path, records: int = 150_000) -> Iterator[tuple[BatchApi, str]]:
    """An app whose batch of ``records`` people runs in an engine process, past its first 2,000."""
    data = json.dumps(people(records)).encode()
    with make_client(root, **CHILD) as client:
        api = start_api(client)
        batch = api.create_batch(api.upload_control(minimal_control()))
        api.add_file(batch, "people", data)
        api.schedule(batch)
        deadline = time.monotonic() + 60
        while api.op({"operation": "get_import_batch", "batch": batch})["progress"]["records_done"] < 2000:
            assert time.monotonic() < deadline, "the run did not get going"
            time.sleep(0.02)
        yield api, batch


def test_a_dead_engine_process_ends_the_run_in_error_keeping_what_it_stored(tmp_path: Path) -> None:
    with a_long_run(tmp_path / "root") as (api, batch):
        children = engine_children()
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)
        info = api.wait(batch, 60)
        assert info["state"] == "error"
        assert (
            "EXCEPTION: Error during import: the engine process ended unexpectedly (exit status -9)"
            in info["log"]
        )
        kept = len(stored(api))
        assert 2000 <= kept < 150_000
        assert info["summary"]["records_committed"] == kept


def test_a_store_that_fails_under_the_engine_process_ends_the_run(tmp_path: Path) -> None:
    """The run's table is dropped while the child is still sending records: storing them fails,
    the child is told, and the run ends in error naming why (as a failed flush in process does)."""
    with a_long_run(tmp_path / "root") as (api, batch):
        api.op({"operation": "drop_table", "database": "haplo_person", "table": "profile"})
        info = api.wait(batch, 60)
        assert info["state"] == "error"
        assert "Could not store the last" in info["log"]
        assert info["summary"]["records_read"] < 150_000
        deadline = time.monotonic() + 10
        while engine_children():  # the child stops at its next check, then exits
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_a_stopping_server_stops_a_run_in_an_engine_process(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with a_long_run(root) as (_, batch):
        pass
    assert not engine_children()
    with make_client(root, **CHILD) as client:
        api = BatchApi(client, "")
        info = api.op({"operation": "get_import_batch", "batch": batch})
        assert info["state"] == "error"
        assert "EXCEPTION: Error during import: Batch stopped: server shutting down" in info["log"]
        kept = len(stored(api))
        assert info["summary"]["records_committed"] == kept == info["progress"]["records_done"]


def test_the_engine_process_leaves_stop_signals_to_the_server(tmp_path: Path) -> None:
    """Ctrl-C or a service manager's SIGTERM reach the whole process group: the engine process
    ignores them (the server stops the run at a record boundary), and the run here goes on."""
    with a_long_run(tmp_path / "root", 60_000) as (api, batch):
        children = engine_children()
        assert len(children) == 1
        os.kill(children[0], signal.SIGTERM)
        os.kill(children[0], signal.SIGINT)
        info = api.wait(batch, 60)
        assert info["state"] == "complete"
        assert len(stored(api)) == 60_000


def test_the_engine_processs_check_is_remembered_for_the_next_run(
    pair: tuple[BatchApi, BatchApi], caplog: pytest.LogCaptureFixture
) -> None:
    """A check made in the engine process comes back to the runner, which hands it to the next run."""
    child, _ = pair
    data = json.dumps(people(300)).encode()
    with caplog.at_level("INFO", logger="gateway.imports"):
        first, second = run(child, minimal_control(), data), run(child, minimal_control(), data)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("its engine runs in process" in m for m in messages) == 2
    read_once = [m for m in messages if m.endswith("checked before, read once")]
    assert read_once == [f"batch {second['identifier']}: 1 file(s) checked before, read once"]
    assert (first["state"], second["state"]) == ("complete", "complete")
    assert len(stored(child)) == 600
