"""``gateway add-model``, ``create-key`` and ``revoke-key``: on a stopped root, and via a running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.auth.api_keys import ApiKeyService
from gateway.auth.secret_store import open_secrets
from gateway.storage.rocksdb import open_rocksdb
from tests.batch.conftest import PERSON_MODEL, minimal_control
from tests.batch.remote import RemoteBatchApi
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, start_server

pytestmark = pytest.mark.slow


def gateway(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
        cwd=cwd,
    )


def test_verbs_refuse_where_there_is_no_store(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (
        ("add-model", str(PERSON_MODEL)),
        ("create-key", "--name", "k"),
        ("revoke-key", "x" * 16),
        ("backup", str(tmp_path / "copy")),
    ):
        refused = gateway(*args, cwd=elsewhere)
        assert refused.returncode == 1, (args, refused.stdout)
        assert refused.stderr.startswith(
            f"gateway: {args[0]}: no gateway store at {elsewhere / 'gateway-data'}, and no running server there; "
            "nothing was created. Pass --root DIR (or set GATEWAY_ROOT) for the root your server uses"
        ), refused.stderr
        assert "gateway init --root DIR" in refused.stderr and refused.stdout == ""
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "copy").exists()
    missing_root = gateway("create-key", "--name", "k", "--root", str(tmp_path / "typo"))
    assert missing_root.returncode == 1 and str(tmp_path / "typo") in missing_root.stderr
    assert not (tmp_path / "typo").exists()
    # init creates one (and says so); then the verbs work there, and init again changes nothing.
    root = tmp_path / "root"
    assert (
        gateway("init", "--root", str(root)).stdout
        == f"gateway: root {root} now has an empty store (rocksdb)\n"
    )
    assert gateway("add-model", str(PERSON_MODEL), "--root", str(root)).returncode == 0
    again = gateway("init", "--root", str(root))
    assert again.stdout == f"gateway: root {root} already has a store (rocksdb)\n"
    assert gateway("add-model", str(PERSON_MODEL), "--root", str(root)).returncode == 1  # still registered


def test_verbs_on_a_stopped_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert gateway("init", "--root", str(root)).returncode == 0
    added = gateway("add-model", str(PERSON_MODEL), "--root", str(root))
    assert added.returncode == 0, added.stderr
    assert added.stdout == "Model 'haplo:person' successfully added (database haplo_person, tables profile)\n"
    again = gateway("add-model", str(PERSON_MODEL), "--root", str(root))
    assert again.returncode == 1
    assert "Model 'haplo:person' already exists" in again.stderr
    assert gateway("add-model", str(PERSON_MODEL), "--replace", "--root", str(root)).returncode == 0

    created = gateway("create-key", "--root", str(root), "--name", "cli key")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert len(key) == 44 and created.stdout == key + "\n"
    assert "this is the only time it is shown" in created.stderr

    store = open_rocksdb(root / "db")
    try:
        keys = ApiKeyService(store, AuditLog(store), open_secrets(store).api_key_secret)
        assert (
            keys.authenticate(key, "/api/haplo-data-import-batch/control", "127.0.0.1")["name"] == "cli key"
        )
    finally:
        store.close()

    revoked = gateway("revoke-key", key[:16], "--root", str(root))
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == f"API key '{key[:16]}' successfully revoked\n"
    missing = gateway("revoke-key", key[:16], "--root", str(root))
    assert (missing.returncode, missing.stderr) == (1, f"gateway: API key '{key[:16]}' not found\n")


def test_bad_model_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert gateway("init", "--root", str(root)).returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x:y", "destinations": []}))
    result = gateway("add-model", str(bad), "--root", str(root))
    assert result.returncode == 1
    assert result.stderr.startswith("gateway: invalid model:\n  ")
    assert "Model must have at least one destination" in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{nope")
    result = gateway("add-model", str(garbage), "--root", str(root))
    assert result.returncode == 1 and "is not JSON" in result.stderr
    result = gateway("add-model", str(tmp_path / "missing.json"), "--root", str(root))
    assert result.returncode == 1 and "cannot read" in result.stderr


def test_verbs_fall_back_to_the_running_server(tmp_path: Path) -> None:
    root = tmp_path / "root"
    server = start_server(root)
    try:
        creds = {"GATEWAY_ADMIN_USERNAME": ADMIN_USER, "GATEWAY_ADMIN_PASSWORD": ADMIN_PASSWORD}
        added = gateway("add-model", str(PERSON_MODEL), "--root", str(root), "--url", server.url, env=creds)
        assert added.returncode == 0, added.stderr
        assert (root / "server-url").read_text() == server.url + "\n"
        # Without --url: the URL the server wrote into the root (it runs on a port of its own).
        created = gateway("create-key", "--root", str(root), env=creds)
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip()
        api = RemoteBatchApi(server, key)
        assert len(api.ok("control", {}, {"file": ("c.json", json.dumps(minimal_control()).encode())})) == 64
        revoked = gateway("revoke-key", key[:16], "--root", str(root), "--url", server.url, env=creds)
        assert revoked.returncode == 0, revoked.stderr
        status, _ = api.post("control", {}, {"file": ("c.json", b"{}")})
        assert status == 403

        no_creds = gateway("create-key", "--root", str(root), "--url", server.url)
        assert no_creds.returncode == 1
        assert "the store is in use by a running server; set GATEWAY_ADMIN_USERNAME" in no_creds.stderr
        wrong = gateway(
            "create-key",
            "--root",
            str(root),
            "--url",
            server.url,
            env={"GATEWAY_ADMIN_USERNAME": ADMIN_USER, "GATEWAY_ADMIN_PASSWORD": "wrong"},
        )
        assert wrong.returncode == 1 and "answered 401: Login failed" in wrong.stderr
    finally:
        server.stop()
    assert not (root / "server-url").exists()  # removed when the server stops
