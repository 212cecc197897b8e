"""Admin login, session cookie, super-user restriction, CSRF, security headers."""

from __future__ import annotations

from gateway.auth.passwords import hash_password
from gateway.auth.sessions import COOKIE_NAME, Session, SessionSigner
from tests.admin.support import csrf_of, login


def test_pages_need_a_login_and_return_where_asked(client):
    response = client.get("/admin/batches", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (
        303,
        "/admin/login?next=%2Fadmin%2Fbatches",
    )
    form = client.get(response.headers["location"]).text
    assert 'value="/admin/batches"' in form
    wrong = client.post(
        "/admin/login",
        data={"csrf": csrf_of(form), "username": "admin", "password": "nope", "next": "/admin/batches"},
    )
    assert wrong.status_code == 401 and "Login failed" in wrong.text
    ok = client.post(
        "/admin/login",
        data={
            "csrf": csrf_of(form),
            "username": "admin",
            "password": "admin-password",
            "next": "/admin/batches",
        },
        follow_redirects=False,
    )
    assert (ok.status_code, ok.headers["location"]) == (303, "/admin/batches")
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/admin" in cookie and "SameSite=lax" in cookie
    assert client.get("/admin/batches").status_code == 200


def test_next_only_goes_to_admin_pages(client):
    form = client.get("/admin/login").text
    response = client.post(
        "/admin/login",
        data={
            "csrf": csrf_of(form),
            "username": "admin",
            "password": "admin-password",
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin/"


def test_login_form_needs_its_token(client):
    client.get("/admin/login")
    response = client.post(
        "/admin/login", data={"csrf": "forged", "username": "admin", "password": "admin-password"}
    )
    assert response.status_code == 403 and "expired" in response.text
    assert client.get("/admin/batches", follow_redirects=False).status_code == 303


def test_only_super_users(client):
    gateway = client.app.state.gateway
    role = gateway.auth.users.add_role("reader", {"super_user": False})
    gateway.auth.users.add_user("reader", "reader-password", role["id"])
    form = client.get("/admin/login").text
    response = client.post(
        "/admin/login", data={"csrf": csrf_of(form), "username": "reader", "password": "reader-password"}
    )
    assert response.status_code == 403 and "not permitted" in response.text
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_posts_need_the_csrf_token(client):
    csrf = login(client)
    response = client.post("/admin/create-api-key", data={"csrf": "wrong"})
    assert response.status_code == 403 and "expired" in response.text
    assert client.post("/admin/create-api-key", data={}).status_code == 403
    assert client.app.state.gateway.auth.api_keys.list() == []
    assert client.post("/admin/create-api-key", data={"csrf": csrf, "name": "k"}).status_code == 200


def test_tampered_or_foreign_cookie_is_no_session(client):
    login(client)
    value = client.cookies.get(COOKIE_NAME)
    body, signature = value.split(".")
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, body + "x." + signature, path="/admin")
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert (
        client.get(
            "/admin/", headers={"cookie": f"{COOKIE_NAME}=garbage"}, follow_redirects=False
        ).status_code
        == 303
    )
    signer = SessionSigner(client.app.state.gateway.auth.sessions.secret)
    assert signer.loads("ünïcode.garbage") is None and signer.loads("a.b.c") is None
    assert signer.loads(signer.dumps(Session(username="admin"))).username == "admin"
    assert signer.loads(signer.dumps(Session(username="admin", issued=1.0))) is None  # expired


def test_password_change_and_logout_end_the_session(client):
    csrf = login(client)
    assert client.get("/admin/").status_code == 200
    logout = client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert logout.headers["location"] == "/admin/login"
    assert "You have logged out." in client.get("/admin/login").text
    assert client.get("/admin/", follow_redirects=False).status_code == 303

    login(client)
    gateway = client.app.state.gateway
    record = gateway.auth.users.user_record("admin")
    record["password"] = hash_password("another-password")
    gateway.storage.records.write("system", "hdb_user", [record], "upsert")
    gateway.auth.users.invalidate()
    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_security_headers(client):
    login(client)
    response = client.get("/admin/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'nonce-" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
