"""The API-key throttle slows a guessing address down without locking out a valid key.

Found by the attack campaign: once an address was throttled, a valid key from it was
refused too (so anyone sharing the address, e.g. behind a NAT or a proxy, could lock
the importer out). Now keys that do not check out get Haplo's 403 ``THROTTLE`` with a
``Retry-After``; a valid key is accepted.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from gateway.auth.api_keys import ApiKeyService
from gateway.auth.secret_store import open_secrets
from tests.conftest import ADMIN_AUTH
from tests.support.auth_scenarios import ManualClock, basic_header, from_address

API = "/api/haplo-data-import-batch/"
INVALID = b'{"success":false,"kind":"INVALID-API-KEY","error":{"message":"Invalid API Key"}}'
THROTTLED = b'{"success":false,"kind":"THROTTLE","error":{"message":"Invalid API Key"}}'


def probe(client: TestClient, key: str) -> object:
    """A request that passes authentication and stops at the handler (unknown batch: 400)."""
    return client.post(API + "schedule", data={"batch": "probe"}, headers=basic_header("haplo", key))


def test_valid_key_passes_from_a_throttled_address(client: TestClient) -> None:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    clock = ManualClock()
    gateway.auth.api_keys = ApiKeyService(
        gateway.storage,
        gateway.audit,
        open_secrets(gateway.storage).api_key_secret,
        max_failures=3,
        failure_window=300,
        clock=clock,
    )
    created = client.post("/", json={"operation": "create_api_key", "name": "importer"}, headers=ADMIN_AUTH)
    good = created.json()["key"]
    shared = from_address(client, "192.0.2.10")

    for _ in range(3):
        assert probe(shared, "g" * 44).content == INVALID
    clock.advance(100)
    throttled = probe(shared, "h" * 44)
    assert (throttled.status_code, throttled.content) == (403, THROTTLED)
    assert throttled.headers["retry-after"] == "200"
    assert throttled.headers["content-type"] == "application/json"
    wrong_secret = probe(shared, good[:16] + "x" * 28)
    assert (wrong_secret.status_code, wrong_secret.content) == (403, THROTTLED)

    accepted = probe(shared, good)
    assert (accepted.status_code, accepted.text) == (400, "Batch not found: probe")
    assert probe(from_address(client, "192.0.2.11"), "h" * 44).content == INVALID  # other addresses

    clock.advance(200)
    assert probe(shared, "h" * 44).content == INVALID  # the window has passed
