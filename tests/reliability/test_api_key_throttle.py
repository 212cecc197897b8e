"""The API-key throttle: a guessing address is slowed down, a known key id's secret cannot be
tested faster than the throttle allows, and the right key is not locked out by others' failures.

Found by the attack campaign: once an address was throttled, a valid key from it was
refused too (so anyone sharing the address, e.g. behind a NAT or a proxy, could lock
the importer out). Now keys that do not check out from a throttled address get Haplo's
403 ``THROTTLE`` saying so, with a ``Retry-After``; a valid key is accepted. Wrong
secrets of an existing key id are counted for that id as well (from every address, a
throttled one too), and once the id has used up its failures every attempt with it,
the right key included, is ``THROTTLE`` until the window has passed: otherwise a
throttled address would still learn at full speed which secret is right.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.testclient import TestClient

from gateway.auth.api_keys import ApiKeyService
from gateway.auth.secret_store import open_secrets
from tests.conftest import ADMIN_AUTH
from tests.support.auth_scenarios import ManualClock, basic_header, from_address

API = "/api/haplo-data-import-batch/"
INVALID = b'{"success":false,"kind":"INVALID-API-KEY","error":{"message":"Invalid API Key"}}'


def throttled_body(what: str, seconds: int) -> bytes:
    message = f"too many failed attempts {what}; retry in {seconds} s"
    return json.dumps(
        {"success": False, "kind": "THROTTLE", "error": {"message": message}}, separators=(",", ":")
    ).encode()


def probe(client: TestClient, key: str) -> Any:
    """A request that passes authentication and stops at the handler (unknown batch: 400)."""
    return client.post(API + "schedule", data={"batch": "probe"}, headers=basic_header("haplo", key))


def accepted(response: Any) -> bool:
    return (response.status_code, response.text) == (400, "Batch not found: probe")


def manual_keys(client: TestClient, max_failures: int = 3) -> ManualClock:
    """Replace the app's key service by one with a manual clock and a small limit."""
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    clock = ManualClock()
    gateway.auth.api_keys = ApiKeyService(
        gateway.storage,
        gateway.audit,
        open_secrets(gateway.storage).api_key_secret,
        max_failures=max_failures,
        failure_window=300,
        clock=clock,
    )
    return clock


def new_key(client: TestClient, name: str) -> str:
    created = client.post("/", json={"operation": "create_api_key", "name": name}, headers=ADMIN_AUTH)
    key: str = created.json()["key"]
    return key


def test_valid_key_passes_from_a_throttled_address(client: TestClient) -> None:
    clock = manual_keys(client)
    good = new_key(client, "importer")
    shared = from_address(client, "192.0.2.10")

    for _ in range(3):
        assert probe(shared, "g" * 44).content == INVALID
    clock.advance(100)
    throttled = probe(shared, "h" * 44)
    assert (throttled.status_code, throttled.content) == (403, throttled_body("from this address", 200))
    assert throttled.headers["retry-after"] == "200"
    assert throttled.headers["content-type"] == "application/json"
    wrong_secret = probe(shared, good[:16] + "x" * 28)
    assert (wrong_secret.status_code, wrong_secret.content) == (403, throttled_body("from this address", 200))

    assert accepted(probe(shared, good))
    assert probe(from_address(client, "192.0.2.11"), "h" * 44).content == INVALID  # other addresses

    clock.advance(200)
    assert probe(shared, "h" * 44).content == INVALID  # the window has passed


def test_a_known_key_ids_secret_cannot_be_tested_faster_than_the_throttle(client: TestClient) -> None:
    clock = manual_keys(client)
    good = new_key(client, "importer")
    other = new_key(client, "other importer")
    attacker = from_address(client, "198.51.100.7")
    for _ in range(3):  # the attacker's address is throttled first
        assert probe(attacker, "g" * 44).content == INVALID
    # Wrong secrets for the importer's key id from the throttled address still count for the id ...
    started = time.monotonic()
    answers = set()
    for n in range(50):
        if time.monotonic() - started > 30:
            break
        answers.add(probe(attacker, good[:16] + f"{n:028d}").json()["error"]["message"])
    # ... so after 3 of them the id is throttled, and the right secret is no oracle: refused too.
    assert probe(attacker, good).content == throttled_body("with this key", 300)
    assert answers == {
        "too many failed attempts from this address; retry in 300 s",
        "too many failed attempts with this key; retry in 300 s",
    }
    # From any address, for the rest of the window; other keys are not affected.
    elsewhere = from_address(client, "192.0.2.50")
    assert probe(elsewhere, good).json()["kind"] == "THROTTLE"
    assert accepted(probe(elsewhere, other))
    assert accepted(probe(attacker, other))  # the right key of another id, from the throttled address
    clock.advance(301)
    assert accepted(probe(elsewhere, good))
    assert accepted(probe(attacker, good))


def test_wrong_secrets_from_many_addresses_are_bounded_per_key(client: TestClient) -> None:
    manual_keys(client)
    good = new_key(client, "importer")
    for n in range(3):  # a distributed guesser: one attempt per address
        assert probe(from_address(client, f"203.0.113.{n}"), good[:16] + "y" * 28).content == INVALID
    fresh = from_address(client, "203.0.113.99")
    assert probe(fresh, good[:16] + "z" * 28).content == throttled_body("with this key", 300)
    assert probe(fresh, good).content == throttled_body("with this key", 300)
