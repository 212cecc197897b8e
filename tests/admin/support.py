"""Helpers for the admin tests: log in through the form, post forms with the CSRF token."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.testclient import TestClient

from tests.support.people import person_control
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

PERSON_MODEL: dict[str, Any] = {
    "name": "haplo:person",
    "title": "People",
    "description": "Person profile records.",
    "database": "haplo_person",
    "types": ["person", "staff"],
    "destinations": [
        {
            "name": "profile",
            "kind": "object",
            "table": "profile",
            "defaultType": "person",
            "names": {
                "title": {"type": "person-name", "required": True, "description": "Person's name"},
                "type": {"type": "object-type", "description": "Type of record"},
                "email": {"type": "email-address", "multivalue": True, "description": "Email address"},
                "url": {"type": "url", "multivalue": True},
                "born": {"type": "datetime"},
                "phone": {"type": "telephone-number"},
                "manager": {"type": "ref"},
            },
        },
        {
            "name": "note",
            "kind": "dictionary",
            "table": "note",
            "depends": "profile",
            "optional": True,
            "linkName": "person",
            "names": {"person": {"type": "ref"}, "text": {"type": "text-paragraph"}},
        },
    ],
}

CONTROL: dict[str, Any] = person_control()

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(client: TestClient, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> str:
    """Log in through the form; the session's CSRF token."""
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"csrf": csrf_of(page.text), "username": username, "password": password, "next": "/admin/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/admin/").text)


def register_model(client: TestClient, model: dict[str, Any] | None = None) -> None:
    client.app.state.gateway.imports.models.add(model or PERSON_MODEL, replace=True)


def upload_control(client: TestClient, csrf: str, control: Any = None, comment: str = "People") -> str:
    """Upload a control file through the form; the control file page's path."""
    data = control if isinstance(control, bytes) else json.dumps(control or CONTROL).encode()
    response = client.post(
        "/admin/new-control-file",
        data={"csrf": csrf, "comment": comment},
        files={"file": ("control.json", data, "application/json")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def create_batch(
    client: TestClient, csrf: str, control_path: str, files: dict[str, bytes], comment: str = "Run"
) -> str:
    """Create a batch through the form; its page's path."""
    control_id = control_path.rsplit("/", 1)[-1]
    response = client.post(
        f"/admin/new-batch/for-control/{control_id}",
        data={"csrf": csrf, "comment": comment, "name": list(files)},
        files=[("file", (f"{name}.json", content, "application/json")) for name, content in files.items()],
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def wait_state(
    client: TestClient, batch_path: str, states: tuple[str, ...], timeout: float = 30
) -> dict[str, Any]:
    """Poll the progress JSON until the batch reaches one of ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = client.get(batch_path + "/progress").json()
        if data["state"] in states:
            return data
        time.sleep(0.05)
    raise AssertionError(f"batch did not reach {states} within {timeout}s: {data}")
