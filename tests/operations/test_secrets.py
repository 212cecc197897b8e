"""The server's secrets in ``system.hdb_secret``: created once per store (race-free), imported
from the ``<root>/keys/`` files of earlier versions, and never answered by any operation."""

from __future__ import annotations

import json
import os
import secrets
import stat
import threading
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.auth.api_keys import ApiKeyService
from gateway.auth.secret_store import (
    API_KEY_SECRET,
    SECRET_TABLE,
    SystemSecretStore,
    new_rsa_pem,
    open_secrets,
)
from gateway.auth.tokens import OPERATION, TokenIssuer
from gateway.config import load_config
from gateway.storage.backends import open_storage
from gateway.storage.rocksdb import open_rocksdb
from tests.conftest import ADMIN_AUTH, make_client
from tests.support.postgres import store_overrides

API = "/api/haplo-data-import-batch/"


def old_key_files(keys: Path) -> tuple[bytes, bytes, bytes]:
    """``<root>/keys/`` as an earlier version left it: (JWT PEM, API-key secret, session secret)."""
    keys.mkdir(parents=True)
    pem, api_secret, session = new_rsa_pem().encode(), secrets.token_bytes(32).hex().encode(), os.urandom(32)
    for name, data in (
        ("jwt-private.pem", pem),
        ("api-key-secret", api_secret),
        ("admin-session.key", session),
    ):
        (keys / name).write_bytes(data)
        (keys / name).chmod(0o600)
    return pem, api_secret, session


def test_an_upgrade_keeps_old_tokens_and_keys_and_removes_the_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    pem, api_secret, session = old_key_files(root / "keys")
    old_token = TokenIssuer(pem, 3600, 3600).issue("admin", True, OPERATION)
    store = open_rocksdb(root / "db")  # a key the earlier version created, hashed under its secret
    try:
        old_key = ApiKeyService(store, AuditLog(store), api_secret).create("old")["key"]
    finally:
        store.close()

    with make_client(root, **{"storage.backend": "rocksdb"}) as client:
        assert not (root / "keys").exists()
        assert stat.S_IMODE((root / "db").stat().st_mode) == 0o700
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        assert gateway.auth.sessions.secret == session
        answer = client.post(
            "/", json={"operation": "user_info"}, headers={"Authorization": f"Bearer {old_token}"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["username"] == "admin"
        probe = client.post(API + "schedule", data={"batch": "probe"}, auth=("haplo", old_key))
        assert (probe.status_code, probe.text) == (400, "Batch not found: probe")
        token = client.post(
            "/",
            json={
                "operation": "create_authentication_tokens",
                "username": "admin",
                "password": "admin-password",
            },
        ).json()["operation_token"]
    # a restart reads the same secrets back from the store
    with make_client(root, **{"storage.backend": "rocksdb"}) as client:
        for bearer in (old_token, token):
            answer = client.post(
                "/", json={"operation": "user_info"}, headers={"Authorization": f"Bearer {bearer}"}
            )
            assert answer.status_code == 200, answer.text


def test_a_key_file_that_differs_from_the_stored_secret_is_left(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with make_client(root, **{"storage.backend": "rocksdb"}) as client:
        stored = client.app.state.gateway.auth.sessions.secret  # type: ignore[attr-defined]
    old_key_files(root / "keys")
    with make_client(root, **{"storage.backend": "rocksdb"}) as client:
        assert client.app.state.gateway.auth.sessions.secret == stored  # type: ignore[attr-defined]
    assert sorted(p.name for p in (root / "keys").iterdir()) == [
        "admin-session.key",
        "api-key-secret",
        "jwt-private.pem",
    ]


@pytest.mark.parametrize("backend", ["rocksdb", "postgres"])
def test_no_operation_answers_a_secret(tmp_path: Path, backend: str) -> None:
    root = tmp_path / "root"
    with make_client(root, **store_overrides(backend, root)) as client:
        gateway = client.app.state.gateway  # type: ignore[attr-defined]
        values = [str(r["value"]) for r in gateway.storage.records.scan("system", SECRET_TABLE)]
        assert len(values) == 3
        bodies = [
            {"operation": "describe_all"},
            {"operation": "describe_database", "database": "system"},
            {"operation": "describe_table", "database": "system", "table": SECRET_TABLE},
            {
                "operation": "search_by_id",
                "database": "system",
                "table": SECRET_TABLE,
                "ids": [API_KEY_SECRET],
                "get_attributes": ["*"],
            },
            {
                "operation": "search_by_value",
                "database": "system",
                "table": SECRET_TABLE,
                "search_attribute": "id",
                "search_value": "*",
                "get_attributes": ["*"],
            },
            {"operation": "sql", "sql": f"SELECT * FROM system.{SECRET_TABLE}"},
            {"operation": "read_log"},
            {"operation": "read_audit_log"},
            {"operation": "system_information"},
            {"operation": "get_configuration"},
        ]
        for body in bodies:
            answer = client.post("/", json=body, headers=ADMIN_AUTH)
            assert answer.status_code < 500, (body, answer.text)
            for value in values:
                assert value not in answer.text and value[:40] not in answer.text, body
        log_text = (gateway.config.log_dir / "gateway.log").read_text()
        assert not any(value[:40] in log_text for value in values)
        assert all(
            value[:40] not in json.dumps(r) for r in gateway.audit.read(None, None, None) for value in values
        )


def test_processes_starting_at_once_agree_on_the_secrets(tmp_path: Path) -> None:
    """Eight openings of one empty PostgreSQL store at once: one set of secrets for all."""
    root = tmp_path / "root"
    config = load_config(root=root, environ={}, overrides=store_overrides("postgres", root))
    stores = [open_storage(config) for _ in range(8)]
    found: list[tuple[bytes, bytes, bytes]] = []
    barrier = threading.Barrier(len(stores))

    def start(store: object) -> None:
        barrier.wait(timeout=30)
        opened = open_secrets(store)  # type: ignore[arg-type]
        found.append((opened.jwt_private_pem, opened.api_key_secret, opened.session_secret))

    try:
        threads = [threading.Thread(target=start, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(found) == len(stores) and len(set(found)) == 1
        assert len(list(stores[0].records.scan("system", SECRET_TABLE))) == 3
        assert SystemSecretStore(stores[0]).obtain(API_KEY_SECRET, lambda: "x" * 64) == found[0][1].decode()
    finally:
        for store in stores:
            store.close()


def test_an_unusable_key_file_is_left_and_a_new_secret_made(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "jwt-private.pem").write_bytes(b"\xff\xfe not a key")
    (root / "keys" / "api-key-secret").write_bytes(b"short")
    with make_client(root, **{"storage.backend": "rocksdb"}) as client:
        tokens = client.post(
            "/",
            json={
                "operation": "create_authentication_tokens",
                "username": "admin",
                "password": "admin-password",
            },
        )
        assert tokens.status_code == 200, tokens.text
    assert sorted(p.name for p in (root / "keys").iterdir()) == ["api-key-secret", "jwt-private.pem"]
