"""The batch page's log view on the real app: groups, search, pattern filter, paging, cap note, reject links."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.admin.support import CONTROL, create_batch, login, register_model, upload_control, wait_state
from tests.conftest import make_client
from tests.support.postgres import store_overrides

CAP = 10
RECORDS = 130  # every record after the first fails: 129 errors in two kinds, past the cap of 10


def _people() -> bytes:
    people: list[dict[str, Any]] = [{"first": "Ok", "last": "One", "email": "ok@example.org"}]
    for i in range(1, RECORDS):
        if i % 3 == 0:  # no name: the title is missing
            people.append({"email": f"n{i}@example.org"})
        else:
            people.append({"first": f"F{i}", "last": f"L{i}", "email": f"bad-{i}"})
    return json.dumps(people).encode()


@pytest.fixture(scope="module", params=("rocksdb", "postgres"))
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str]]:
    """A real app (error cap 10) with one batch run to its end; (client, batch page path)."""
    root = tmp_path_factory.mktemp(f"log-{request.param}") / "root"
    with make_client(
        root, **store_overrides(str(request.param), root), **{"import.max_errors": CAP}
    ) as client:
        register_model(client)
        csrf = login(client)
        batch = create_batch(client, csrf, upload_control(client, csrf, CONTROL), {"people": _people()})
        identifier = batch.rsplit("/", 1)[-1]
        client.post(f"/admin/schedule-batch/import/{identifier}", data={"csrf": csrf}, follow_redirects=False)
        assert wait_state(client, batch, ("complete", "error"))["state"] == "complete"
        yield client, batch


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _lines(page: str) -> list[str]:
    block = page.split('id="error-lines"', 1)[1].split("</ol>", 1)[0]
    return [_text(li) for li in block.split("<li>")[1:]]


def _groups(page: str) -> list[list[str]]:
    table = page.split('id="error-groups"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    return [[_text(td.split(">", 1)[1]) for td in row.split("<td")[1:]] for row in table.split("<tr")[1:]]


def test_groups_with_counts_first_records_cap_note_and_numbering(app: tuple[TestClient, str]) -> None:
    client, batch = app
    page = client.get(batch).text
    text = _text(page)
    hint = "To set defaults for title, see example of if-has-value instruction at "
    assert [g[0] for g in _groups(page)] == ["86 ×", "43 ×", "1 ×"]
    email, title, once = (g[1:] for g in _groups(page))
    assert email == [
        "Invalid email address for input field email: …",
        "people record 1, people record 2, people record 4, people record 5, people record 7, …",
    ]
    assert title == [
        "title is not set in object profile",
        "people record 3, people record 6, people record 9, people record 12, people record 15, …",
    ]
    assert once[0].startswith(hint)
    assert "Errors (130)" in text  # every error, past the cap
    assert (
        f"The plain log stopped at the error cap ({CAP}): {130 - CAP + 1} of the 130 errors are not in it."
        in text
    )
    assert "Record numbers count from 0" in text
    assert "Errors 1–50 of 130 · page 1 of 3" in text
    assert _lines(page)[0] == "people · record 1 Invalid email address for input field email: bad-1"
    assert "/rejects?file=people" in page
    assert "Download failed records of people (129, 86 imported)" in text


def test_paging_through_every_error(app: tuple[TestClient, str]) -> None:
    client, batch = app
    first = client.get(batch).text
    total = int(re.search(r"Errors \((\d+)\)", first).group(1))  # type: ignore[union-attr]
    seen: list[str] = []
    for number in range(1, -(-total // 50) + 1):
        seen += _lines(client.get(batch, params={"page": str(number)}).text)
    assert len(seen) == total
    assert seen[-1].startswith("people · record 129 ")
    beyond = client.get(batch, params={"page": "999"}).text
    assert _lines(beyond) == seen[-(total % 50 or 50) :]
    assert client.get(batch, params={"page": "nonsense"}).status_code == 200


def test_search_and_pattern_filter(app: tuple[TestClient, str]) -> None:
    client, batch = app
    found = client.get(batch, params={"q": "BAD-12"}).text
    assert _lines(found) == [  # record 12 has no email error (its name is missing)
        *[
            f"people · record {n} Invalid email address for input field email: bad-{n}"
            for n in (121, 122, 124, 125, 127, 128)
        ],
    ]
    assert "of 6 matching" in found
    pattern = "title is not set in object profile"
    only = client.get(batch, params={"pattern": pattern}).text
    lines = _lines(only)
    assert lines and all(line.endswith(pattern) for line in lines)
    assert lines[0] == f"people · record 3 {pattern}"
    assert "of 43 matching" in only
    both = client.get(batch, params={"pattern": pattern, "q": "record"}).text
    assert "No error matches." in both


def test_the_link_downloads_the_reject_file_and_other_files_say_why_not(app: tuple[TestClient, str]) -> None:
    client, batch = app
    response = client.get(batch + "/rejects", params={"file": "people"})
    assert response.status_code == 200
    rejected = response.json()
    assert len(rejected) == 129 and all(r["_errors"] for r in rejected)
    missing = client.get(batch + "/rejects", params={"file": "nope"})
    assert missing.status_code == 400 and "has no file named nope" in missing.text


def test_a_batch_without_errors_shows_the_plain_log_open(tmp_path: Path) -> None:
    root = tmp_path / "root"
    with make_client(root, **store_overrides("rocksdb", root)) as client:
        register_model(client)
        csrf = login(client)
        good = json.dumps([{"first": "A", "last": "B", "email": "a@example.org"}]).encode()
        batch = create_batch(client, csrf, upload_control(client, csrf, CONTROL), {"people": good})
        identifier = batch.rsplit("/", 1)[-1]
        client.post(f"/admin/schedule-batch/import/{identifier}", data={"csrf": csrf}, follow_redirects=False)
        wait_state(client, batch, ("complete",))
        page = client.get(batch).text
        assert (
            '<details id="plain-log" open>' in page and "error-groups" not in page and "/rejects" not in page
        )
