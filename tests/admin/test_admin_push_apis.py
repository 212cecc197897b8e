"""The REST push-data API pages: list, create (the key shown once), enable/disable, delete;
CSRF on every POST; a key made there pushes to its API only."""

from __future__ import annotations

import html
import json
import re

from starlette.testclient import TestClient

from tests.admin.support import login, register_model
from tests.conftest import ADMIN_AUTH, basic
from tests.support.people import person_control

CONTROL = json.dumps(person_control(files={"DEFAULT": {"read": "json", "singleRecord": True}}))


def create(client: TestClient, csrf: str, **fields: str) -> object:
    data = {"csrf": csrf, "url": "people", "description": "People feed", "response": "JSON", "enabled": "yes"}
    data |= {"control": CONTROL, **fields}
    return client.post("/admin/new-push-api", data=data, follow_redirects=False)


def test_push_api_pages(client: TestClient) -> None:
    register_model(client)
    csrf = login(client)
    assert "REST push-data APIs" in client.get("/admin/").text
    page = client.get("/admin/new-push-api")
    assert page.status_code == 200 and 'name="control"' in page.text

    bad = create(client, csrf, url="Not Valid")
    assert bad.status_code == 400 and "^[a-z0-9-]+$" in html.unescape(bad.text)  # type: ignore[attr-defined]
    assert 'value="Not Valid"' in bad.text  # type: ignore[attr-defined]  # the form keeps what was typed
    invalid = create(client, csrf, control='{"model": "haplo:person"}')
    assert invalid.status_code == 400 and "Not a valid control file" in invalid.text  # type: ignore[attr-defined]
    forged = create(client, "not-the-token")
    assert forged.status_code == 403  # type: ignore[attr-defined]
    assert client.post("/", json={"operation": "list_push_data_apis"}, headers=ADMIN_AUTH).json() == []

    created = create(client, csrf)
    assert created.status_code == 200  # type: ignore[attr-defined]
    key = re.search(r'id="api-key">([^<]+)<', created.text).group(1)  # type: ignore[attr-defined, union-attr]
    assert "=/api/push-data/people" in created.text  # type: ignore[attr-defined]
    assert "URL is already in use." in create(client, csrf).text  # type: ignore[attr-defined]

    listed = client.get("/admin/push-apis").text
    assert 'class="stack"' in listed and 'data-label="URL name">people<' in listed and key not in listed
    pushed = client.post(
        "/api/push-data/people", content=b'{"first": "Ann", "last": "Lee"}', headers=basic("haplo", key)
    )
    assert pushed.status_code == 200, pushed.text

    disabled = client.post(
        "/admin/push-api/people/enabled", data={"csrf": csrf, "enabled": "no"}, follow_redirects=False
    )
    assert disabled.status_code == 303
    assert "people (disabled)" in client.get("/admin/push-apis").text
    refused = client.post("/api/push-data/people", content=b"{}", headers=basic("haplo", key))
    assert refused.json()["errors"] == ["API is disabled: people"]
    client.post(
        "/admin/push-api/people/enabled", data={"csrf": csrf, "enabled": "yes"}, follow_redirects=False
    )
    assert "(disabled)" not in client.get("/admin/push-apis").text

    deleted = client.post("/admin/push-api/people/delete", data={"csrf": csrf}, follow_redirects=False)
    assert deleted.status_code == 303
    assert "deleted, its key revoked" in client.get("/admin/push-apis").text
    gone = client.post("/api/push-data/people", content=b"{}", headers=basic("haplo", key))
    assert gone.json()["errors"] == ["API not defined: people"]
    keys = client.post("/", json={"operation": "list_api_keys"}, headers=ADMIN_AUTH).json()
    assert not any(k["path"] == "=/api/push-data/people" for k in keys)
