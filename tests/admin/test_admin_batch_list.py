"""The admin batch list on the real app: filters by state, date, text and errors, paging, counts,
durations, badges that tell a ``complete`` batch with errors from a clean one, and 400s that name
a bad parameter."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from gateway.admin.batch_list import duration_of, format_duration
from tests.admin.support import create_batch, login, register_model, upload_control, wait_state

CLEAN = json.dumps([{"first": "Joe", "last": "Bloggs", "email": "joe@example.org"}]).encode()
FAULTY = json.dumps(
    [
        {"first": "Ann", "last": "Lee", "email": "ann@example.org"},
        {"first": "Bob", "last": "Roe", "email": "not-an-email"},
    ]
).encode()
SHIPPED_MODEL = Path(__file__).parents[2] / "control_files" / "haplo-person.model.json"
LISTED = re.compile(r'<a href="/admin/batch/([^"]+)">')


def listed(client: TestClient, query: str = "", status: int = 200) -> tuple[list[str], str]:
    """The batch identifiers the list shows (in order) and the page's text."""
    response = client.get("/admin/batches" + query)
    assert response.status_code == status, response.text
    return LISTED.findall(response.text), html.unescape(response.text)


def run(client: TestClient, csrf: str, batch: str, mode: str, end: str) -> str:
    identifier = batch.rsplit("/", 1)[-1]
    client.post(f"/admin/schedule-batch/{mode}/{identifier}", data={"csrf": csrf})
    assert wait_state(client, batch, (end, "error"))["state"] == end
    return identifier


def seed(client: TestClient) -> dict[str, str]:
    """A ready batch, a clean import, an import with 1 error and a dry run with 1 error."""
    register_model(client)
    csrf = login(client)
    control = upload_control(client, csrf, comment="Nightly staff control")
    ready = create_batch(client, csrf, control, {"people": CLEAN}, comment="Waiting batch")
    clean = create_batch(client, csrf, control, {"people": CLEAN}, comment="Clean import")
    faulty = create_batch(client, csrf, control, {"people": FAULTY, "extra": b"[]"}, comment="Faulty import")
    trial = create_batch(client, csrf, control, {"people": FAULTY}, comment="Trial run")
    return {
        "ready": ready.rsplit("/", 1)[-1],
        "clean": run(client, csrf, clean, "import", "complete"),
        "faulty": run(client, csrf, faulty, "import", "complete"),
        "trial": run(client, csrf, trial, "dry-run", "dry-run"),
        "csrf": csrf,
    }


def test_state_text_and_error_filters(client):
    ids = seed(client)
    everything, page = listed(client)
    assert everything == [ids["trial"], ids["faulty"], ids["clean"], ids["ready"]]  # newest first
    assert "4 batches" in page and "match" not in page.split("4 batches", 1)[1][:20]

    complete, page = listed(client, "?state=complete")
    assert complete == [ids["faulty"], ids["clean"]]
    assert "2 batches match the filters" in page
    assert '<option value="complete" selected>' in page  # the form shows the filter in use

    with_errors, _ = listed(client, "?errors=1")
    assert with_errors == [ids["trial"], ids["faulty"]]
    assert listed(client, "?state=complete&errors=1")[0] == [ids["faulty"]]

    # Text: part of an identifier, a comment, the control file's comment, a file's name (any case).
    assert listed(client, "?q=" + ids["clean"][3:15])[0] == [ids["clean"]]
    assert listed(client, "?q=FAULTY%20imp")[0] == [ids["faulty"]]
    assert len(listed(client, "?q=nightly+staff")[0]) == 4
    assert listed(client, "?q=extra.json")[0] == [ids["faulty"]]
    nothing, page = listed(client, "?q=no-such-thing")
    assert nothing == [] and "0 batches match the filters" in page


def test_rows_show_counts_durations_and_tell_errors_apart(client):
    ids = seed(client)
    response = client.get("/admin/batches")
    rows = {identifier: row for row in response.text.split("<tr")[2:] for identifier in LISTED.findall(row)}
    clean, faulty, trial, ready = (rows[ids[k]] for k in ("clean", "faulty", "trial", "ready"))
    assert "tone-good" in clean and "with " not in clean and "count-bad" not in clean
    # The complete batch with an error: another tone, the words, a marked error count.
    assert "tone-warn" in faulty and "with 1 error</span>" in faulty and "count-bad" in faulty
    assert '<span class="state">complete</span>' in faulty and '<span class="state">complete</span>' in clean
    assert "tone-warn" in trial and "with 1 error</span>" in trial
    # The summary's counts: what was read, committed and failed.
    assert all(f">{count}</span>" in faulty for count in ("2 read", "2 committed", "0 failed"))
    assert all(f">{count}</span>" in clean for count in ("1 read", "1 committed", "0 failed"))
    assert re.search(r'data-label="Duration" class="when">(under 0.1 s|\d+\.\d s)<', faulty)
    assert 'data-label="Duration" class="when"></td>' in ready and " done<" not in ready
    assert 'data-label="Errors"></td>' in ready  # not run: no count (and no line on a phone)
    # The full identifier, in monospace, with the comment as the link text.
    assert f'<code class="batch-id" title="Batch identifier">{ids["faulty"]}</code>' in faulty
    assert "Control file: Nightly staff control" in faulty
    # The batch page says it too; the live-updated state text stays the bare state.
    page = client.get(f"/admin/batch/{ids['faulty']}").text
    assert (
        '<span class="state" id="batch-state">complete</span> <span class="note">with 1 error</span>' in page
    )
    assert 'count-bad"><span aria-hidden="true">⚠ </span><span id="batch-errors">1</span>' in page


def test_date_filters_are_utc_days_and_inclusive(client):
    ids = seed(client)
    today = datetime.now(UTC).date()
    day = timedelta(days=1)
    assert len(listed(client, f"?from={today}&to={today}")[0]) == 4
    assert listed(client, f"?to={today - day}")[0] == []
    assert listed(client, f"?from={today + day}")[0] == []
    # An older batch (its creation time set in the store, as an old batch would have it).
    service = client.app.state.gateway.imports.batches
    row = service._row(ids["ready"])
    service._save({**row, "created": "2020-01-15T23:59:59.999999Z"})
    assert listed(client, "?from=2020-01-15&to=2020-01-15")[0] == [ids["ready"]]
    assert listed(client, "?to=2020-01-14")[0] == []
    assert ids["ready"] not in listed(client, f"?from={today}")[0]
    assert listed(client, "?from=2020-01-01&state=ready")[0] == [ids["ready"]]


def test_paging_keeps_the_filters(client):
    register_model(client)
    csrf = login(client)
    control = upload_control(client, csrf)
    digest = client.app.state.gateway.imports.batches.get_control(control.rsplit("/", 1)[-1])["digest"]
    service = client.app.state.gateway.imports.batches
    made = [service.create_batch(digest, f"Paged {i}", "ready")["identifier"] for i in range(7)]
    newest_first = list(reversed(made))
    first, page = listed(client, "?state=ready&size=3")
    assert first == newest_first[:3]
    assert "7 batches match the filters" in page and "Page 1 of 3" in page
    assert 'href="/admin/batches?state=ready&size=3&page=2" rel="next"' in page
    assert 'rel="prev"' not in page
    second, page = listed(client, "?state=ready&size=3&page=2")
    assert second == newest_first[3:6]
    assert 'href="/admin/batches?state=ready&size=3" rel="prev"' in page
    third, page = listed(client, "?state=ready&size=3&page=3")
    assert third == newest_first[6:] and 'rel="next"' not in page
    beyond, page = listed(client, "?state=ready&size=3&page=9")
    assert beyond == [] and "Page 9 is past the end" in page
    assert listed(client, "?q=Paged+6&size=3")[0] == [made[6]]
    assert len(listed(client)[0]) == 7  # 50 a page by default


def test_bad_parameters_are_400_pages_naming_them(client):
    login(client)
    cases: list[tuple[str, str]] = [
        ("?state=finished", "Unknown state 'finished': choose one of uploading, ready, scheduled"),
        ("?from=2026-13-01", "The 'from' date must be a date like 2026-01-31, not '2026-13-01'."),
        ("?to=yesterday", "The 'to' date must be a date like 2026-01-31, not 'yesterday'."),
        (
            "?from=2026-02-01&to=2026-01-01",
            "The 'from' date (2026-02-01) is after the 'to' date (2026-01-01).",
        ),
        ("?page=0", "'page' must be a whole number from 1 to 1000000, not '0'."),
        ("?page=two", "'page' must be a whole number from 1 to 1000000, not 'two'."),
        ("?size=100000", "'size' must be a whole number from 1 to 500, not '100000'."),
        ("?errors=maybe", "'errors' must be 1 (only batches with errors) or left out, not 'maybe'."),
        ("?q=" + "x" * 201, "The search text is longer than 200 characters."),
    ]
    for query, message in cases:
        response = client.get("/admin/batches" + query)
        assert response.status_code == 400, query
        assert response.headers["content-type"].startswith("text/html")
        assert message in html.unescape(response.text), (query, response.text)
    kept = client.get("/admin/batches?state=finished&q=%3Cb%3Enightly").text
    assert 'value="&lt;b&gt;nightly"' in kept and "<b>nightly" not in kept  # the form keeps it, escaped


def test_batch_home_links_to_common_views(client):
    login(client)
    page = client.get("/admin/batch-import").text
    today = datetime.now(UTC).date()
    for link in (
        f"/admin/batches?from={today}&to={today}",
        "/admin/batches?state=running",
        "/admin/batches?errors=1",
    ):
        assert f'href="{link}"' in html.unescape(page)
        assert client.get(link).status_code == 200


def test_no_internal_references_on_pages(client):
    register_model(client)
    csrf = login(client)
    control = upload_control(client, csrf)
    batch = create_batch(client, csrf, control, {"people": CLEAN})
    model = json.loads(SHIPPED_MODEL.read_text())
    client.app.state.gateway.imports.models.add(model, replace=True)
    paths = [
        "/admin/",
        "/admin/models",
        "/admin/model?model=haplo:person",
        "/admin/filters",
        "/admin/documentation",
        "/admin/generate-control-file?model=haplo:person",
        "/admin/batch-import",
        "/admin/control-files",
        control,
        "/admin/new-control-file",
        batch,
        "/admin/batches",
        "/admin/api-keys",
        "/admin/create-api-key",
    ]
    for path in paths:
        text = client.get(path).text
        assert "§" not in text and "haplo-import" not in text and ".md" not in text, path


def test_durations_read_from_the_log_or_a_summary():
    log = "START: 2026-01-01T10:00:00.000Z\nsome line\nEND: 2026-01-01T10:03:05.500Z"
    assert duration_of({"state": "complete", "log": log}) == "3 min 05 s"
    assert duration_of({"state": "ready", "log": None}) == ""
    running = {"state": "running", "log": "START: 2026-01-01T10:00:00.000Z"}
    assert duration_of(running, now=datetime(2026, 1, 1, 12, 5, tzinfo=UTC)) == "2 h 05 min so far"
    assert duration_of({"state": "complete", "log": log, "summary": {"duration_seconds": 2.25}}) == "2.2 s"
    assert [format_duration(s) for s in (0.04, 42, 61, 3600)] == [
        "under 0.1 s",
        "42 s",
        "1 min 01 s",
        "1 h 00 min",
    ]
