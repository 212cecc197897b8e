"""Against a real ``gateway serve`` subprocess: Haplo's documented curl script, and restarts.

The restart tests use the documented knob ``import.job_start_delay``
(``GATEWAY_IMPORT_JOB_START_DELAY``): a batch job waits that many seconds before
it starts, and a stopping server cancels the wait, so "scheduled but not
started" is deterministic. The crash test holds its run mid-file instead
(tests/support/held_blob.py: the upload is served through a FIFO that the test
feeds), so "killed while running" does not depend on the machine's speed.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import person_model
from tests.batch.remote import RemoteBatchApi, all_records
from tests.support.batch_log import run_lines
from tests.support.held_blob import HeldBlob
from tests.support.prerequisites import require
from tests.support.server import start_server

pytestmark = pytest.mark.slow

CURL_SCRIPT = """\
set -euo pipefail
DIGEST=$(curl -s --fail-with-body -X POST -F "comment=Example control" -F file=@control.json --user haplo:$KEY $BASE/api/haplo-data-import-batch/control)
BATCH=$(curl -s --fail-with-body -X POST -d "comment=Example import" -d "control=$DIGEST" --user haplo:$KEY $BASE/api/haplo-data-import-batch/batch)
echo "BATCH=$BATCH" >&2
curl -s --fail-with-body -X POST -F "batch=$BATCH" -F name=data0 -F file=@data.json --user haplo:$KEY $BASE/api/haplo-data-import-batch/file
echo
curl -s --fail-with-body -X POST -d "batch=$BATCH" $MODE --user haplo:$KEY $BASE/api/haplo-data-import-batch/schedule
"""

SUPERVISION_MODEL = {
    "name": "test:supervision",
    "title": "Projects",
    "database": "test_supervision",
    "destinations": [
        {
            "name": "project",
            "kind": "object",
            "table": "project",
            "names": {"title": {"type": "text", "required": True}},
        },
        {
            "name": "supervision",
            "kind": "dictionary",
            "table": "supervision",
            "depends": "project",
            "linkName": "project",
            "optional": True,
            "names": {"supervisor": {"type": "text"}, "role": {"type": "text"}, "project": {"type": "ref"}},
        },
    ],
}

SUPERVISION_CONTROL = {
    "dataImportControlFileVersion": 0,
    "model": "test:supervision",
    "files": {"DEFAULT": {"read": "json"}},
    "instructions": [
        {"action": "new", "destination": "project"},
        {"source": "title", "destination": "project", "name": "title"},
        {"source": "supervisor", "destination": "supervision", "name": "supervisor"},
        {"source": "role", "destination": "supervision", "name": "role"},
    ],
}


def people_control() -> dict[str, Any]:
    return json.loads(
        (
            Path(__file__).resolve().parents[2] / "control_files/examples/people-create.control.json"
        ).read_text()
    )


def run_curl_script(workdir: Path, base: str, key: str, dry_run: bool) -> tuple[str, str]:
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "KEY": key,
        "BASE": base,
        "MODE": "-d mode=dry-run" if dry_run else "",
    }
    done = subprocess.run(
        ["bash", "-c", CURL_SCRIPT], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    batch = next(line for line in done.stderr.splitlines() if line.startswith("BATCH="))[len("BATCH=") :]
    return done.stdout, batch


def test_documented_curl_script(tmp_path: Path) -> None:
    require(shutil.which("curl"), "the curl binary is not installed (apt-get install curl)")
    server = start_server(tmp_path / "root")
    try:
        api = RemoteBatchApi(server)
        api.require({"operation": "add_import_model", "model": person_model()})
        people = [
            {"first": "Ada", "last": "Lovelace", "email": "ada@example.com"},
            {"first": "Alan", "last": "Turing"},
        ]
        (tmp_path / "control.json").write_text(json.dumps(people_control()))
        (tmp_path / "data.json").write_text(json.dumps(people))

        stdout, batch = run_curl_script(tmp_path, server.url, api.key, dry_run=True)
        assert stdout.endswith("\nSCHEDULED")
        assert api.wait(batch)["state"] == "dry-run"
        assert all_records(server, "haplo_person", "profile") == []

        stdout, batch = run_curl_script(tmp_path, server.url, api.key, dry_run=False)
        lines = stdout.split("\n")
        assert len(lines[0]) == 64 and lines[-1] == "SCHEDULED"
        info = api.wait(batch)
        assert (info["state"], info["errors"]) == ("complete", 0)
        assert info["comment"] == "Example import"
        titles = sorted(r["title"]["last"] for r in all_records(server, "haplo_person", "profile"))
        assert titles == ["Lovelace", "Turing"]
        status = subprocess.run(
            [
                "curl",
                "-s",
                "--fail-with-body",
                "--user",
                f"haplo:{api.key}",
                f"{server.url}/api/haplo-data-import-batch/status?batch={batch}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert status.stdout == "state: complete\nerrors: 0\npercent: 100\nread: 2\ncommitted: 2\nfailed: 0\n"
        wrong = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "POST",
                "-d",
                f"batch={batch}",
                "--user",
                "haplo:" + "A" * 44,
                f"{server.url}/api/haplo-data-import-batch/schedule",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert wrong.stdout == "403"
    finally:
        server.stop()


def test_scheduled_batch_runs_after_restart(tmp_path: Path) -> None:
    root = tmp_path / "root"
    server = start_server(root, {"GATEWAY_IMPORT_JOB_START_DELAY": "600"})
    try:
        api = RemoteBatchApi(server)
        api.require({"operation": "add_import_model", "model": person_model()})
        people = [{"first": "Grace", "last": "Hopper", "email": "grace@example.com"}]
        batch = api.batch_with_file(people_control(), "people", json.dumps(people).encode())
        assert api.ok("schedule", {"batch": batch}) == "SCHEDULED"
        time.sleep(0.5)
        assert api.batch_info(batch)["state"] == "scheduled"
    finally:
        server.stop(signal.SIGTERM)  # graceful: uvicorn re-raises SIGTERM after the lifespan shutdown
    server = start_server(root)
    try:
        api = RemoteBatchApi(server, api.key)
        info = api.wait(batch)
        assert (info["state"], info["errors"]) == ("complete", 0)
        assert [r["title"] for r in all_records(server, "haplo_person", "profile")] == [
            {"first": "Grace", "last": "Hopper"}
        ]
    finally:
        server.stop()


def test_killed_run_is_error_with_whole_records_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    total, held = 30000, 20000
    rows = [{"title": f"P{i}", "supervisor": f"s{i}", "role": "R"} for i in range(total)]
    data = json.dumps(rows).encode()
    # the run is held mid-file: it can read the first `held` records and no byte after them
    prefix = json.dumps(rows[:held]).encode()[:-1]
    assert data.startswith(prefix)
    server = start_server(root)
    try:
        api = RemoteBatchApi(server)
        api.require({"operation": "add_import_model", "model": SUPERVISION_MODEL})
        batch = api.batch_with_file(SUPERVISION_CONTROL, "rows", data)
        with HeldBlob(root, data, server.process.pid, held_at=len(prefix)) as feed:
            api.ok("schedule", {"batch": batch})
            feed.wait_held()
            deadline = time.monotonic() + 120  # only a bound: the run cannot get past the held bytes
            while True:
                info = api.batch_info(batch)
                assert info["state"] in ("scheduled", "running"), info
                if info["state"] == "running" and info["progress"]["records_done"] >= 3000:
                    break
                assert time.monotonic() < deadline, f"the held run never reported 3000 records: {info}"
                time.sleep(0.05)
            seen = info["progress"]["records_done"]
            assert seen <= held, info
            server.stop(signal.SIGKILL)
    finally:
        server.stop(signal.SIGKILL)
    server = start_server(root)
    try:
        api = RemoteBatchApi(server, api.key)
        info = api.batch_info(batch)
        assert info["state"] == "error"
        lines = run_lines(info["log"])
        assert lines[0].startswith("START: ") and lines[-1].startswith("END: ")
        assert lines[-2] == (
            "EXCEPTION: Error during import: The server stopped during the run; "
            "records committed before the stop are kept"
        )
        projects = all_records(server, "test_supervision", "project")
        supervisions = all_records(server, "test_supervision", "supervision")
        # records reported done were committed first; none past the held bytes could be read
        assert 3000 <= seen <= len(projects) <= held < total
        assert len(supervisions) == len(projects)  # each record's two targets were written together
        by_id = {p["id"]: p for p in projects}
        for row in supervisions:
            parent = by_id[row["project"]]
            assert parent["title"] == "P" + row["supervisor"][1:]
            assert row["role"] == "R"
        # no re-run happened: the batch stays failed and nothing new appears
        time.sleep(1)
        assert len(all_records(server, "test_supervision", "project")) == len(projects)
        assert api.batch_info(batch)["state"] == "error"
    finally:
        server.stop()
