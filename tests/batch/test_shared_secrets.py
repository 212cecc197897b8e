"""Two real ``gateway serve --no-worker`` processes on one PostgreSQL store, started at once on an
empty database, each with a root of its own: what one issues (an operation token, an API key, an
admin session cookie) the other accepts, because both read the secrets from ``system.hdb_secret``."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.batch.conftest import minimal_control, person_model
from tests.batch.remote import RemoteBatchApi
from tests.support.postgres import store_env
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, start_server

pytestmark = pytest.mark.slow

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def request(
    url: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> tuple[int, str]:
    """GET (or POST JSON ``body`` or ``form``) without following redirects; (status, text)."""
    data, kind = None, None
    if body is not None:
        data, kind = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data, kind = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    req = urllib.request.Request(
        url, data=data, headers={**(headers or {}), **({"Content-Type": kind} if kind else {})}
    )
    opener = opener or urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(req, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_what_one_gateway_issues_the_other_accepts(tmp_path: Path) -> None:
    env = store_env("postgres", tmp_path / "store")  # one schema for both
    with ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(start_server, tmp_path / name / "root", env, 60, ["--no-worker"])
            for name in ("a", "b")
        ]
        servers = [future.result() for future in starting]
    a, b = servers
    try:
        assert not (a.root / "keys").exists() and not (b.root / "keys").exists()
        # an operation token from A works on B
        status, tokens = a.op(
            {"operation": "create_authentication_tokens", "username": ADMIN_USER, "password": ADMIN_PASSWORD}
        )
        assert status == 200, tokens
        bearer = {"Authorization": f"Bearer {tokens['operation_token']}"}
        status, text = request(b.url + "/", {"operation": "user_info"}, bearer)
        assert status == 200, text
        assert json.loads(text)["username"] == ADMIN_USER
        refresh = {"operation": "refresh_operation_token"}
        status, text = request(b.url + "/", refresh, {"Authorization": f"Bearer {tokens['refresh_token']}"})
        assert status == 200, text

        # an API key created on A authenticates a batch upload on B
        on_a = RemoteBatchApi(a)
        on_a.require({"operation": "add_import_model", "model": person_model()})
        on_b = RemoteBatchApi(b, key=on_a.key)
        # the model registered through A is B's too
        assert [m["name"] for m in on_b.require({"operation": "list_import_models"})] == ["haplo:person"]
        rows = [{"first": "Ada", "last": "Lovelace", "email": "ada@example.com"}]
        batch = on_b.batch_with_file(minimal_control(), "people", json.dumps(rows).encode())
        assert batch
        wrong = on_a.key[:-1] + ("B" if on_a.key.endswith("A") else "A")  # one character off
        assert RemoteBatchApi(b, key=wrong).post("schedule", {"batch": batch})[0] == 403

        # an admin session cookie from A opens an admin page on B
        jar = CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirects)
        status, page = request(a.url + "/admin/login", opener=browser)
        found = CSRF.search(page)
        assert status == 200 and found, page
        login = {
            "csrf": found.group(1),
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "next": "/admin/",
        }
        status, text = request(a.url + "/admin/login", form=login, opener=browser)
        assert status == 303, text
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        assert cookie
        status, page_b = request(b.url + "/admin/", headers={"Cookie": cookie})
        assert status == 200, page_b
        assert "logout" in page_b.lower()
        assert request(b.url + "/admin/")[0] == 303  # without the cookie: sent to the login page
    finally:
        for server in servers:
            server.stop()
