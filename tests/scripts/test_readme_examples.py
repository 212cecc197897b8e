"""The README's examples run as written, with the shipped files, against a real ``gateway serve``.

Every ```sh block of README.md except the install/serve one is run, in order, by bash
from the repository root (so ``control_files/`` and ``scripts/`` resolve as a reader's
checkout would), with ``gateway`` on PATH and the server's root in ``GATEWAY_ROOT``.
The only change made to the text is the port of ``http://127.0.0.1:9925``. The README's
table of operation arguments is checked against the OpenAPI description.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.http.openapi_operations import DOCS, FIELD_ALIASES
from tests.support.server import ServerProcess, start_server

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PASSWORD = "change-me"  # the README's example password


def sh_blocks(text: str) -> list[str]:
    """The README's ```sh blocks, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(
        tmp_path_factory.mktemp("readme") / "gateway-data",
        {"GATEWAY_ADMIN_USERNAME": "admin", "GATEWAY_ADMIN_PASSWORD": PASSWORD},
    )
    try:
        yield running
    finally:
        running.stop()


def operation(server: ServerProcess, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        server.url + "/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", "Basic " + token)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.mark.slow
def test_the_readme_shell_examples_run_as_written(server: ServerProcess, tmp_path: Path) -> None:
    blocks = [b for b in sh_blocks(README.read_text("utf-8")) if "pip install" not in b]
    assert len(blocks) == 6, "the README's runnable examples are ```sh blocks"
    script = "set -euo pipefail\n" + "\n".join(blocks).replace("http://127.0.0.1:9925", server.url)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "gateway"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gateway "$@"\n')
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(REPO),
            "GATEWAY_ROOT": str(server.root),
            "GATEWAY_ADMIN_USERNAME": "admin",
            "GATEWAY_ADMIN_PASSWORD": PASSWORD,
        }
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "no such control file" not in done.stderr
    assert '"message":"table \'dev.dog\' successfully created."' in done.stdout
    assert "SCHEDULED" in done.stdout
    # Every batch the examples scheduled ends well: two dry runs and a real import, by the
    # curl example, the upload script (which waited) and the curl example of the script section.
    deadline = time.monotonic() + 120
    while True:
        batches = operation(server, {"operation": "list_import_batches"})
        states = sorted(b["state"] for b in batches)
        if not any(s in ("scheduled", "running") for s in states) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # ... and the change report's dry run, and the reject file's round trip (one failed record, fixed).
    assert states == ["complete", "complete", "complete", "dry-run", "dry-run", "dry-run", "dry-run"], batches
    assert sorted(b["errors"] for b in batches) == [0, 0, 0, 0, 0, 0, 2], batches
    assert '"updated":1' in done.stdout and '"to":["Director"]' in done.stdout  # the change report
    assert "dorothy@example.com\tno\t" in done.stdout  # the reject file
    people = operation(
        server,
        {
            "operation": "search_by_value",
            "database": "haplo_person",
            "table": "profile",
            "attribute": "id",
            "value": "*",
            "get_attributes": ["email"],
        },
    )
    stored = json.loads((REPO / "control_files" / "examples" / "people.json").read_text("utf-8"))
    assert len(people) == len(stored) + 2 > 2  # Katherine, then Dorothy once fixed


def test_the_readme_lists_every_operations_arguments() -> None:
    text = README.read_text("utf-8")
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| `([a-z0-9_]+)` \| (.*?) \| (.*?) \|$", text, flags=re.M)
    }
    for name, doc in DOCS.items():
        assert name in rows, f"README: no row for {name} in the operations' arguments table"
        required, optional = rows[name]
        named = set(re.findall(r"`([A-Za-z0-9_.]+)", required + " " + optional))
        for field in doc.required:
            assert f"`{field}`" in required, f"README: {name} requires `{field}`"
        if name == "set_configuration":
            continue
        aliases = {alias for alias, current in FIELD_ALIASES.items() if current in doc.properties}
        assert set(doc.properties) <= named, f"README: {name} lacks {set(doc.properties) - named}"
        extra = (
            named
            - set(doc.properties)
            - aliases
            - {"isPrimaryKey", "timestamp", "type", "username", "hash_value"}
        )
        assert not extra, f"README: {name} documents {extra}, which it does not take"
    assert "`get_import_batch` | `batch` |" in text
