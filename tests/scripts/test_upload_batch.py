"""``scripts/upload-batch`` against a real ``gateway serve``: outcomes, exit codes, progress, streaming."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pty
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.support import PERSON_MODEL
from tests.support.people import person_control
from tests.support.server import ServerProcess, serving_with_model, start_server

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "upload-batch"
PEOPLE_CONTROL: dict[str, Any] = person_control(files={"people": {"read": "json"}}, email_multivalue=True)
GOOD = [{"first": "Joe", "last": "Bloggs", "email": "joe@example.org"}, {"last": "Smith"}]
BAD = [{"first": "Jane", "last": "Doe", "email": "nope"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving_with_model(tmp_path_factory.mktemp("upload") / "root", PERSON_MODEL) as running:
        yield running


@pytest.fixture(scope="module")
def key(server: ServerProcess) -> str:
    status, answer = server.op({"operation": "create_api_key", "name": "script tests"})
    assert status == 200, answer
    return str(answer["key"])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, content in {"control": PEOPLE_CONTROL, "good": GOOD, "bad": BAD}.items():
        out[name] = tmp_path / f"{name}.json"
        out[name].write_text(json.dumps(content))
    return out


def run(
    *args: str, key: str | None = None, timeout: float = 60, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_API_KEY"}
    if key is not None:
        env["GATEWAY_API_KEY"] = key
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        timeout=timeout,
        **kwargs,
    )


def profiles(server: ServerProcess) -> list[str]:
    status, rows = server.op(
        {
            "operation": "search_by_value",
            "database": "haplo_person",
            "table": "profile",
            "attribute": "id",
            "value": "*",
            "get_attributes": ["*"],
        }
    )
    assert status == 200, rows
    return sorted(r["title"]["last"] for r in rows)


def server_sends_log(server: ServerProcess, key: str, batch: str) -> bool:
    request = urllib.request.Request(
        f"{server.url}/api/haplo-data-import-batch/status?batch={batch}&log=1",
        headers={"Authorization": "Basic " + base64.b64encode(f"haplo:{key}".encode()).decode()},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return "\n\n" in response.read().decode()


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    out = {}
    for line in result.stdout.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name not in out:
            out[name] = value
    return out


def test_dry_run_then_import(server: ServerProcess, key: str, files: dict[str, Path]) -> None:
    base = [
        "--url",
        server.url,
        "--control",
        str(files["control"]),
        "--comment",
        "Nightly",
        f"people={files['good']}",
    ]
    dry = run(*base, "--dry-run", "--wait", "--interval", "0.1", key=key)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    seen = lines(dry)
    assert len(seen["control"]) == 64 and len(seen["batch"]) == 44 and len(seen["file people"]) == 64
    assert "scheduled (dry run)" in dry.stdout
    assert seen["state"] == "dry-run" and seen["errors"] == "0"
    if server_sends_log(server, key, seen["batch"]):
        assert "log:\nSTART: " in dry.stdout and "\nEND: " in dry.stdout
    else:
        assert "log: (the server did not send the log)" in dry.stdout
    assert profiles(server) == []
    assert "state: dry-run" in dry.stderr  # plain progress lines when not a terminal

    real = run(*base, "--key", key, "--wait", "--interval", "0.1")
    assert real.returncode == 0, real.stdout + real.stderr
    assert lines(real)["state"] == "complete"
    assert lines(real)["control"] == seen["control"]
    assert profiles(server) == ["Bloggs", "Smith"]


def test_errors_give_exit_1(server: ServerProcess, key: str, files: dict[str, Path]) -> None:
    result = run(
        "--url",
        server.url,
        "--control",
        str(files["control"]),
        f"people={files['bad']}",
        "--dry-run",
        "--wait",
        "--interval",
        "0.1",
        key=key,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert lines(result)["state"] == "dry-run" and lines(result)["errors"] == "1"


def test_batch_error_gives_exit_3(
    server: ServerProcess, key: str, files: dict[str, Path], tmp_path: Path
) -> None:
    malformed = tmp_path / "malformed.json"
    malformed.write_text('[{"first": "A"},\n {"first": }]')
    result = run(
        "--url",
        server.url,
        "--control",
        str(files["control"]),
        f"people={malformed}",
        "--wait",
        "--interval",
        "0.1",
        key=key,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert lines(result)["state"] == "error"
    assert "JSON file people is not valid JSON: line 2, column 12, record 2: " in result.stdout


def test_without_wait_exits_once_scheduled(server: ServerProcess, key: str, files: dict[str, Path]) -> None:
    result = run(
        "--url",
        server.url,
        "--control",
        str(files["control"]),
        f"people={files['good']}",
        "--dry-run",
        key=key,
    )
    assert result.returncode == 0 and result.stdout.endswith("scheduled (dry run)\n")
    assert "state:" not in result.stdout


def test_control_warnings_and_unlisted_names_are_reported(
    server: ServerProcess, key: str, tmp_path: Path, files: dict[str, Path]
) -> None:
    control = tmp_path / "warned.json"
    extra = {"source": "s", "destination": "profile", "name": "schuhgröße"}
    control.write_text(
        json.dumps({**PEOPLE_CONTROL, "instructions": [*PEOPLE_CONTROL["instructions"], extra]})
    )
    result = run("--url", server.url, "--control", str(control), f"staff={files['good']}", key=key)
    assert (
        "upload-batch: warning: Unknown name in field schuhgröße for destination profile\n" in result.stderr
    )
    assert result.returncode == 4
    assert "file: HTTP 400: File name not in control file: staff (it lists: people)" in result.stderr


def test_bad_key_and_http_failures_give_exit_4(server: ServerProcess, files: dict[str, Path]) -> None:
    result = run(
        "--url", server.url, "--control", str(files["control"]), f"people={files['good']}", key="x" * 44
    )
    assert result.returncode == 4
    assert "control: HTTP 403" in result.stderr and "INVALID-API-KEY" in result.stderr
    closed = run(
        "--url", "http://127.0.0.1:1", "--control", str(files["control"]), f"p={files['good']}", key="k" * 44
    )
    assert closed.returncode == 4 and "upload-batch: POST" in closed.stderr


def test_rejected_control_file_gives_exit_4(server: ServerProcess, key: str, tmp_path: Path, files) -> None:
    bad = tmp_path / "bad-control.json"
    bad.write_text(json.dumps({**PEOPLE_CONTROL, "model": "nope"}))
    result = run("--url", server.url, "--control", str(bad), f"people={files['good']}", key=key)
    assert result.returncode == 4
    assert "HTTP 400: Invalid control file:\n  Model not implemented: nope" in result.stderr


def test_usage_errors_give_exit_2(server: ServerProcess, files: dict[str, Path]) -> None:
    no_key = run("--url", server.url, "--control", str(files["control"]), f"people={files['good']}")
    assert no_key.returncode == 2 and "GATEWAY_API_KEY" in no_key.stderr
    for pair in ("people", f"people={files['good']}.missing", "=x"):
        bad = run("--url", server.url, "--control", str(files["control"]), pair, key="k")
        assert bad.returncode == 2, pair
    dup = run(
        "--url",
        server.url,
        "--control",
        str(files["control"]),
        f"a={files['good']}",
        f"a={files['bad']}",
        key="k",
    )
    assert dup.returncode == 2 and "duplicate file names: a" in dup.stderr
    assert (
        run("--url", "ftp://x", "--control", str(files["control"]), f"a={files['good']}", key="k").returncode
        == 2
    )
    assert run("--help").returncode == 0


def test_progress_bar_on_a_terminal(server: ServerProcess, key: str, files: dict[str, Path]) -> None:
    leader, follower = pty.openpty()
    try:
        result = run(
            "--url",
            server.url,
            "--control",
            str(files["control"]),
            f"people={files['good']}",
            "--dry-run",
            "--wait",
            "--interval",
            "0.1",
            key=key,
            stderr=follower,
        )
    finally:
        os.close(follower)
    try:
        shown = os.read(leader, 65536).decode()
    finally:
        os.close(leader)
    assert result.returncode == 0
    assert "\r[" in shown and "100" in shown and "dry-run" in shown


@pytest.fixture
def haplo_way(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A server that accepts any file name (import.check_file_names false), and a key for it."""
    running = start_server(tmp_path / "haplo-way", {"GATEWAY_IMPORT_CHECK_FILE_NAMES": "false"})
    try:
        status, answer = running.op({"operation": "add_import_model", "model": PERSON_MODEL})
        assert status == 200, answer
        status, answer = running.op({"operation": "create_api_key", "name": "script tests"})
        assert status == 200, answer
        yield running, str(answer["key"])
    finally:
        running.stop()


def test_files_are_streamed(haplo_way: tuple[ServerProcess, str], tmp_path: Path) -> None:
    server, key = haplo_way
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        for _ in range(96):
            handle.write(b" " * (1024 * 1024))
    # The control file has no spec for "big": the run stops at once (state error) without reading it.
    control = tmp_path / "control.json"
    control.write_text(json.dumps(PEOPLE_CONTROL))
    # VmHWM (peak RSS of this process image) read at exit; getrusage would include the forking parent.
    probe = (
        "import atexit, runpy, sys;"
        "atexit.register(lambda: print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0],"
        " file=sys.stderr));"
        f"sys.argv = ['upload-batch'] + sys.argv[1:]; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')"
    )
    env = {**os.environ, "GATEWAY_API_KEY": key}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "--url",
            server.url,
            "--control",
            str(control),
            f"big={big}",
            "--wait",
            "--interval",
            "0.1",
            "--timeout",
            "60",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    peak_kib = int(result.stderr.rsplit("VmHWM:", 1)[1].split()[0])
    assert peak_kib < 48 * 1024, peak_kib  # the 96 MiB file never sits in memory
    assert lines(result)["file big"] == hashlib.sha256(big.read_bytes()).hexdigest()
