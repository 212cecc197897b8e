"""Wrong passwords are throttled per user and client address, never the right password elsewhere.

Found by the attack campaign: 40 wrong Basic passwords (27/s) and 20 wrong admin logins
were all answered 401 with no slowing down. Now, after ``password_max_failures`` wrong
passwords for one user from one address (Basic auth on ``POST /``,
``create_authentication_tokens`` and the admin login count together), that user is
refused from that address with 429, ``Retry-After`` and one message, until the window
has passed; the same user from another address is let in with the right password.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from gateway.auth.login_throttle import LoginThrottled, PasswordThrottle
from gateway.auth.throttle import FailureCounter
from tests.admin.support import csrf_of
from tests.support.auth_scenarios import ManualClock, basic_header, from_address, manual_throttle
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

WRONG = basic_header(ADMIN_USER, "wrong-password")
RIGHT = basic_header(ADMIN_USER, ADMIN_PASSWORD)
USER_INFO = {"operation": "user_info"}


def wait_message(seconds: int) -> str:
    return f"Too many failed login attempts; try again in {seconds} seconds"


def admin_login(client: TestClient, password: str) -> object:
    form = client.get("/admin/login").text
    return client.post(
        "/admin/login",
        data={"csrf": csrf_of(form), "username": ADMIN_USER, "password": password, "next": "/admin/"},
        follow_redirects=False,
    )


def tokens(client: TestClient, password: str) -> object:
    return client.post(
        "/", json={"operation": "create_authentication_tokens", "username": ADMIN_USER, "password": password}
    )


def test_basic_auth_locks_the_user_out_from_that_address_only(client: TestClient) -> None:
    clock = manual_throttle(client)
    attacker = from_address(client, "10.0.0.66")
    for _ in range(5):
        response = attacker.post("/", json=USER_INFO, headers=WRONG)
        assert (response.status_code, response.json()) == (401, {"error": "Login failed"})

    refused = attacker.post("/", json=USER_INFO, headers=RIGHT)  # even the right password
    assert refused.status_code == 429
    assert refused.json() == {"error": wait_message(300)}
    assert refused.headers["retry-after"] == "300"
    assert refused.headers["content-type"] == "application/json"

    elsewhere = from_address(client, "10.0.0.7")
    assert elsewhere.post("/", json=USER_INFO, headers=RIGHT).status_code == 200
    assert client.post("/", json=USER_INFO, headers=RIGHT).status_code == 200  # "testclient" address

    clock.advance(120)
    later = attacker.post("/", json=USER_INFO, headers=WRONG)
    assert (later.status_code, later.json()["error"], later.headers["retry-after"]) == (
        429,
        wait_message(180),
        "180",
    )
    clock.advance(180)
    assert attacker.post("/", json=USER_INFO, headers=RIGHT).status_code == 200


def test_a_success_starts_the_count_again(client: TestClient) -> None:
    manual_throttle(client)
    user = from_address(client, "10.0.0.5")
    for _ in range(2):
        for _ in range(4):
            assert user.post("/", json=USER_INFO, headers=WRONG).status_code == 401
        assert user.post("/", json=USER_INFO, headers=RIGHT).status_code == 200


def test_tokens_and_admin_login_share_the_count(client: TestClient) -> None:
    manual_throttle(client)
    attacker = from_address(client, "10.0.0.66")
    for _ in range(2):
        assert attacker.post("/", json=USER_INFO, headers=WRONG).status_code == 401
    for _ in range(2):
        response = tokens(attacker, "wrong")
        assert (response.status_code, response.json()) == (401, {"error": "invalid credentials"})
    wrong_login = admin_login(attacker, "wrong")
    assert wrong_login.status_code == 401 and "Login failed" in wrong_login.text

    response = tokens(attacker, ADMIN_PASSWORD)
    assert (response.status_code, response.json()) == (429, {"error": wait_message(300)})
    assert response.headers["retry-after"] == "300"

    page = admin_login(attacker, ADMIN_PASSWORD)
    assert page.status_code == 429 and page.headers["retry-after"] == "300"
    assert wait_message(300) in page.text
    assert attacker.get("/admin/", follow_redirects=False).status_code == 303  # not logged in

    elsewhere = from_address(client, "10.0.0.7")
    assert set(tokens(elsewhere, ADMIN_PASSWORD).json()) == {"operation_token", "refresh_token"}
    assert admin_login(elsewhere, ADMIN_PASSWORD).status_code == 303


def test_admin_login_alone_is_throttled(client: TestClient) -> None:
    manual_throttle(client, max_failures=3)
    attacker = from_address(client, "10.0.0.66")
    for _ in range(3):
        assert admin_login(attacker, "wrong").status_code == 401
    page = admin_login(attacker, "wrong")
    assert page.status_code == 429 and wait_message(300) in page.text
    assert admin_login(from_address(client, "10.0.0.7"), ADMIN_PASSWORD).status_code == 303


def test_unknown_users_and_other_users_are_counted_apart(client: TestClient) -> None:
    manual_throttle(client, max_failures=2)
    attacker = from_address(client, "10.0.0.66")
    for _ in range(2):
        assert attacker.post("/", json=USER_INFO, headers=basic_header("nobody", "x")).status_code == 401
    assert attacker.post("/", json=USER_INFO, headers=basic_header("nobody", "x")).status_code == 429
    assert attacker.post("/", json=USER_INFO, headers=RIGHT).status_code == 200


def test_spread_guessing_tightens_each_address_to_one_failure(client: TestClient) -> None:
    """Past ``password_user_max_failures`` across addresses, an address that failed once must wait;
    an address that has not failed is still let in with the right password."""
    manual_throttle(client, max_failures=5, user_max_failures=3)
    first = from_address(client, "10.0.1.1")
    assert first.post("/", json=USER_INFO, headers=WRONG).status_code == 401
    assert first.post("/", json=USER_INFO, headers=RIGHT).status_code == 200  # under the cap: budget 5
    for host in ("10.0.1.2", "10.0.1.3", "10.0.1.4"):
        assert from_address(client, host).post("/", json=USER_INFO, headers=WRONG).status_code == 401
    refused = from_address(client, "10.0.1.4").post("/", json=USER_INFO, headers=RIGHT)
    assert (refused.status_code, refused.json()) == (429, {"error": wait_message(300)})
    assert from_address(client, "10.0.1.9").post("/", json=USER_INFO, headers=RIGHT).status_code == 200
    assert first.post("/", json=USER_INFO, headers=RIGHT).status_code == 200  # its count was cleared


def test_inactive_user_with_the_right_password_is_not_counted(client: TestClient) -> None:
    manual_throttle(client, max_failures=2)
    client.post(
        "/",
        json={
            "operation": "add_user",
            "username": "idle",
            "password": "pw",
            "role": "super_user",
            "active": False,
        },
        headers=RIGHT,
    )
    for _ in range(4):
        response = client.post("/", json=USER_INFO, headers=basic_header("idle", "pw"))
        assert (response.status_code, response.json()) == (
            401,
            {"error": "Cannot complete request: User is inactive"},
        )


@pytest.mark.parametrize(("seconds", "text"), [(1, "1 second"), (2, "2 seconds")])
def test_the_wait_is_rounded_up_to_whole_seconds(seconds: int, text: str) -> None:
    clock = ManualClock()
    throttle = PasswordThrottle(max_failures=1, window=seconds, clock=clock)
    throttle.failed("u", "a")
    clock.advance(0.5)
    with pytest.raises(LoginThrottled) as raised:
        throttle.check("u", "a")
    assert str(raised.value) == f"Too many failed login attempts; try again in {text}"


def test_counts_stay_bounded_in_memory() -> None:
    clock = ManualClock()
    counter = FailureCounter(window=60, depth=3, clock=clock, max_keys=100)
    for i in range(1000):
        counter.add(("user", f"10.0.{i // 256}.{i % 256}"))
    for _ in range(50):
        counter.add("one")
    assert len(counter._failures) == 100  # the least recently failed keys were forgotten
    assert counter.count("one") == 3  # at most ``depth`` stamps per key
    clock.advance(61)
    assert counter.count("one") == 0 and counter.wait("one", 3) == 0


def test_a_huge_user_name_is_not_kept_in_memory() -> None:
    """User names come from clients (a token request can carry megabytes): counts keep a digest."""
    throttle = PasswordThrottle(max_failures=5, clock=ManualClock())
    huge = "u" * 1_000_000
    throttle.failed(huge, "10.0.0.66")
    counters = (throttle._pairs._failures, throttle._users._failures)
    assert all(len(repr(key)) < 200 for counter in counters for key in counter)
    for _ in range(4):
        throttle.failed(huge, "10.0.0.66")
    with pytest.raises(LoginThrottled):
        throttle.check(huge, "10.0.0.66")
    throttle.check(huge, "10.0.0.67")
    throttle.check("u", "10.0.0.66")
