"""Admin sessions live in storage: a replayed cookie opens nothing once its session has ended.

Found by the attack campaign: the old ``gateway_admin`` cookie, replayed after logout,
still opened ``/admin/api-keys`` and created an API key. A session now ends at once on
logout, on a password change, a role change, deactivation or a drop of its user, and on
new permissions for the user's role.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.auth.passwords import hash_password
from gateway.auth.session_store import SESSION_TABLE, SessionStore
from gateway.auth.sessions import COOKIE_NAME
from gateway.config import load_config
from gateway.storage.backends import open_storage
from gateway.storage.system import SYSTEM_DB
from tests.admin.support import login
from tests.conftest import ADMIN_AUTH, make_client
from tests.support.auth_scenarios import ManualClock, from_address

ENDED = "Your session has ended. Log in again."


def op(client: TestClient, body: dict[str, object]) -> object:
    response = client.post("/", json=body, headers=ADMIN_AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def replay(client: TestClient, cookie: str, csrf: str) -> tuple[int, int]:
    """Statuses of GET /admin/api-keys and POST /admin/create-api-key with only this cookie."""
    fresh = from_address(client, "127.0.0.9")
    fresh.cookies.set(COOKIE_NAME, cookie, path="/admin")
    page = fresh.get("/admin/api-keys", follow_redirects=False)
    created = fresh.post("/admin/create-api-key", data={"csrf": csrf, "name": "k"}, follow_redirects=False)
    if created.status_code == 401:
        assert ENDED in created.text
    return page.status_code, created.status_code


def logged_in(
    client: TestClient, username: str = "admin", password: str = "admin-password"
) -> tuple[str, str]:
    """Log ``username`` in on a client of its own; (cookie value, CSRF token)."""
    browser = from_address(client, "127.0.0.8")
    csrf = login(browser, username, password)
    cookie = browser.cookies.get(COOKIE_NAME)
    assert cookie
    return cookie, csrf


def add_super_user(client: TestClient, username: str, role: str = "super_user") -> None:
    op(client, {"operation": "add_user", "username": username, "password": "pw-" + username, "role": role})


def test_cookie_replayed_after_logout_opens_nothing(client: TestClient) -> None:
    browser = from_address(client, "127.0.0.7")
    csrf = login(browser)
    cookie = browser.cookies.get(COOKIE_NAME)
    assert cookie
    assert replay(client, cookie, csrf) == (200, 200)  # the replay works while the session lives
    keys_before = len(client.app.state.gateway.auth.api_keys.list())  # type: ignore[attr-defined]

    logout = browser.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert (logout.status_code, logout.headers["location"]) == (303, "/admin/login")
    assert "You have logged out." in browser.get("/admin/login").text

    assert replay(client, cookie, csrf) == (303, 401)
    assert len(client.app.state.gateway.auth.api_keys.list()) == keys_before  # type: ignore[attr-defined]


def test_sessions_are_stored_without_their_ids(client: TestClient) -> None:
    cookie, _ = logged_in(client)
    storage = client.app.state.gateway.storage  # type: ignore[attr-defined]
    records = list(storage.records.scan(SYSTEM_DB, SESSION_TABLE))
    assert [r["username"] for r in records] == ["admin"]
    signer = client.app.state.gateway.auth.sessions  # type: ignore[attr-defined]
    session_id = signer.loads(cookie).session_id
    assert session_id and all(session_id not in str(r) for r in records)


Change = Callable[[TestClient], None]
CHANGES: dict[str, Change] = {
    "password change": lambda c: op(c, {"operation": "alter_user", "username": "ops", "password": "new"}),
    "user dropped": lambda c: op(c, {"operation": "drop_user", "username": "ops"}),
    "made inactive": lambda c: op(c, {"operation": "alter_user", "username": "ops", "active": False}),
    "another role": lambda c: op(c, {"operation": "alter_user", "username": "ops", "role": "super_two"}),
    "role's permissions": lambda c: op(
        c,
        {
            "operation": "alter_role",
            "id": "super_user",
            "permission": {"super_user": True, "dev": {"tables": {}}},
        },
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_user_changes_end_that_users_sessions_at_once(client: TestClient, change: str) -> None:
    op(client, {"operation": "add_role", "role": "super_two", "permission": {"super_user": True}})
    add_super_user(client, "ops")
    add_super_user(client, "bystander", role="super_two")
    ops_cookie, ops_csrf = logged_in(client, "ops", "pw-ops")
    other_cookie, other_csrf = logged_in(client, "bystander", "pw-bystander")
    assert replay(client, ops_cookie, ops_csrf) == (200, 200)

    CHANGES[change](client)

    assert replay(client, ops_cookie, ops_csrf) == (303, 401)
    assert replay(client, other_cookie, other_csrf) == (200, 200)  # other users keep theirs


def test_a_write_around_the_directory_still_ends_the_session(client: TestClient) -> None:
    """The password fingerprint kept with the session catches a password written straight to storage."""
    cookie, csrf = logged_in(client)
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    record = gateway.auth.users.user_record("admin")
    record["password"] = hash_password("another-password")
    gateway.storage.records.write("system", "hdb_user", [record], "upsert")
    gateway.auth.users.invalidate()
    assert replay(client, cookie, csrf) == (303, 401)


def test_sessions_outlive_the_process_not_the_logout(tmp_path: Path) -> None:
    """Sessions are records in the store: a restarted (or second) gateway knows them."""
    root = tmp_path / "root"
    with make_client(root) as first:
        cookie, csrf = logged_in(first)
    with make_client(root) as second:
        assert replay(second, cookie, csrf) == (200, 200)
        browser = from_address(second, "127.0.0.7")
        browser.cookies.set(COOKIE_NAME, cookie, path="/admin")
        browser.post("/admin/logout", data={"csrf": csrf})
    with make_client(root) as third:
        assert replay(third, cookie, csrf) == (303, 401)


def test_logging_in_again_ends_the_previous_session(client: TestClient) -> None:
    browser = from_address(client, "127.0.0.7")
    login(browser)
    first = browser.cookies.get(COOKIE_NAME)
    csrf = login(browser)
    assert first and browser.cookies.get(COOKIE_NAME) != first
    assert replay(client, first, csrf)[0] == 303


def test_expired_sessions_are_refused_and_purged(tmp_path: Path) -> None:
    storage = open_storage(load_config(root=tmp_path / "root", environ={}))
    try:
        clock = ManualClock()
        store = SessionStore(storage, max_age=600, clock=clock)
        old = store.start("admin", "fp")
        clock.advance(300)
        young = store.start("admin", "fp")
        assert store.lookup(old) is not None and store.count() == 2
        clock.advance(300)
        assert store.lookup(old) is None  # expired at 600 s
        assert store.lookup(young) is not None
        store.start("admin", "fp")  # a login purges expired records
        assert store.count() == 2
        assert store.end_user("admin") == 2 and store.lookup(young) is None
    finally:
        storage.close()
