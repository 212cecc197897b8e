"""API keys (§1.1): format, storage, path rules, revocation, throttling, audit, 403 bodies."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from starlette.testclient import TestClient

from gateway.auth.api_keys import haplo_random_identifier, path_allows
from tests.batch.conftest import API, BatchApi, minimal_control
from tests.conftest import ADMIN_AUTH, basic

INVALID = b'{"success":false,"kind":"INVALID-API-KEY","error":{"message":"Invalid API Key"}}'
THROTTLED = b'{"success":false,"kind":"THROTTLE","error":{"message":"too many failed attempts from this address; retry in %d s"}}'


def op(client: TestClient, body: dict, expect: int = 200) -> object:
    response = client.post("/", json=body, headers=ADMIN_AUTH)
    assert response.status_code == expect, response.text
    return response.json()


def schedule_probe(client: TestClient, key: str, path: str = "schedule"):
    """A request that passes authentication and stops at the handler (unknown batch)."""
    return client.post(API + path, data={"batch": "probe"}, headers=basic("haplo", key))


def test_identifier_format() -> None:
    for _ in range(300):
        key = haplo_random_identifier()
        assert len(key) == 44
        assert re.fullmatch(r"[A-Za-z0-9_-]+", key)
        assert key[0].isalnum() and key[-1].isalnum()


def test_path_rules() -> None:
    assert path_allows("/api/haplo-data-import-batch/", "/api/haplo-data-import-batch/file")
    assert not path_allows("/api/haplo-data-import-batch/", "/api/other")
    assert path_allows("=/api/haplo-data-import-batch/file", "/api/haplo-data-import-batch/file")
    assert not path_allows("=/api/haplo-data-import-batch/file", "/api/haplo-data-import-batch/files")


def test_create_list_and_storage(module_client: TestClient, module_root: Path) -> None:
    client, root = module_client, module_root
    created = op(client, {"operation": "create_api_key", "name": "nightly"})
    assert set(created) == {"id", "name", "path", "key"}
    assert created["path"] == "/api/haplo-data-import-batch/"
    assert created["id"] == created["key"][:16]
    listed = op(client, {"operation": "list_api_keys"})
    entry = next(k for k in listed if k["id"] == created["id"])
    assert entry["id"] == created["id"] and entry["name"] == "nightly" and entry["last_used"] is None
    assert created["key"] not in json.dumps(listed) and created["key"][16:] not in json.dumps(listed)
    assert not (root / "keys").exists()  # the HMAC secret is in system.hdb_secret
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    store = gateway.storage
    if store.backend == "rocksdb":
        assert stat.S_IMODE(gateway.config.store_dir.stat().st_mode) == 0o700
    record = store.records.get("system", "hdb_api_key", created["id"])
    assert created["key"][16:] not in json.dumps(record)
    assert len(record["secret_hash"]) == 64


def test_key_authenticates_and_records_last_used(module_client: TestClient) -> None:
    client = module_client
    created = op(client, {"operation": "create_api_key", "name": "k"})
    response = schedule_probe(client, created["key"])
    assert (response.status_code, response.text) == (400, "Batch not found: probe")
    listed = op(client, {"operation": "list_api_keys"})
    assert next(k for k in listed if k["id"] == created["id"])["last_used"] is not None


def test_wrong_short_and_unknown_keys(module_client: TestClient) -> None:
    client = module_client
    key = op(client, {"operation": "create_api_key", "name": "k"})["key"]
    for bad in (key[:-1] + ("A" if key[-1] != "A" else "B"), key[:15], "x" * 44, key[:16]):
        response = schedule_probe(client, bad)
        assert response.status_code == 403, bad
        assert response.content == INVALID
        assert response.headers["content-type"] == "application/json"


def test_revoked_key_refused_at_once(module_client: TestClient) -> None:
    client = module_client
    created = op(client, {"operation": "create_api_key", "name": "k"})
    assert schedule_probe(client, created["key"]).status_code == 400
    assert op(client, {"operation": "revoke_api_key", "id": created["id"]}) == {
        "message": f"API key '{created['id']}' successfully revoked"
    }
    response = schedule_probe(client, created["key"])
    assert (response.status_code, response.content) == (403, INVALID)
    assert created["id"] not in [k["id"] for k in op(client, {"operation": "list_api_keys"})]
    assert op(client, {"operation": "revoke_api_key", "id": created["id"]}, 404) == {
        "error": f"API key '{created['id']}' not found"
    }


def test_path_rule_not_covering_endpoint(module_client: TestClient) -> None:
    client = module_client
    exact = op(
        client, {"operation": "create_api_key", "name": "k", "path": "=/api/haplo-data-import-batch/control"}
    )
    response = schedule_probe(client, exact["key"])
    assert (response.status_code, response.content) == (403, INVALID)
    control = json.dumps(minimal_control("nope:model")).encode()
    response = client.post(
        API + "control", files={"file": ("c.json", control)}, headers=basic("haplo", exact["key"])
    )
    assert response.status_code == 400 and response.text.startswith("Invalid control file:")
    other = op(client, {"operation": "create_api_key", "name": "k2", "path": "/api/push-data/"})
    assert schedule_probe(client, other["key"]).content == INVALID


def test_expired_key(module_client: TestClient) -> None:
    client = module_client
    key = op(client, {"operation": "create_api_key", "name": "old", "expires": "2001-01-01T00:00:00Z"})["key"]
    assert schedule_probe(client, key).content == INVALID
    fresh = op(client, {"operation": "create_api_key", "name": "new", "expires": "2999-01-01T00:00:00Z"})[
        "key"
    ]
    assert schedule_probe(client, fresh).status_code == 400


def test_key_only_for_user_haplo(module_client: TestClient) -> None:
    client = module_client
    key = op(client, {"operation": "create_api_key", "name": "k"})["key"]
    response = client.post(API + "schedule", data={"batch": "probe"}, headers=basic("someone", key))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "The user must be 'haplo': present the API key as HTTP Basic haplo:<key>"
    )
    # and an API key is not a password for the Operations API
    response = client.post("/", json={"operation": "list_api_keys"}, headers=basic("haplo", key))
    assert response.status_code == 401


def test_throttle_after_failures(small_limit_client: TestClient) -> None:
    client = small_limit_client
    good = op(client, {"operation": "create_api_key", "name": "k"})["key"]
    for _ in range(3):
        assert schedule_probe(client, "y" * 44).content == INVALID
    response = schedule_probe(client, "z" * 44)
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 300
    assert (response.status_code, response.content) == (403, THROTTLED % wait)
    # the valid key is still accepted from the throttled address
    assert schedule_probe(client, good).status_code == 400
    # a too-short key is refused before the throttle is consulted
    assert schedule_probe(client, "short").content == INVALID


def test_create_api_key_validation_and_permissions(module_client: TestClient) -> None:
    client = module_client
    assert op(client, {"operation": "create_api_key"}, 400) == {"error": "'name' is required"}
    assert op(client, {"operation": "create_api_key", "name": "k", "path": "api/"}, 400) == {
        "error": "'path' must start with '/' (a prefix) or '=/' (an exact path)"
    }
    assert op(client, {"operation": "create_api_key", "name": "k", "expires": "soon"}, 400) == {
        "error": "'expires' must be an ISO-8601 date or epoch milliseconds: soon"
    }


def test_key_events_are_audited(api: BatchApi) -> None:
    client = api.client
    created = op(client, {"operation": "create_api_key", "name": "audited"})
    op(client, {"operation": "revoke_api_key", "id": created["id"]})
    from gateway.storage.system import SYSTEM_DB

    store = client.app.state.gateway.storage  # type: ignore[attr-defined]
    entries = [e for e in store.records.scan(SYSTEM_DB, "hdb_audit") if e["type"].startswith("api_key:")]
    data = [(e["type"], e["data"]) for e in sorted(entries, key=lambda e: e["time"])]
    assert ("api_key:create", {"key_id": created["id"], "path": created["path"], "name": "audited"}) in data
    assert ("api_key:destroy", {"key_id": created["id"], "path": created["path"], "name": "audited"}) in data
