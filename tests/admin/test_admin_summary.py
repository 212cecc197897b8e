"""The batch page's summary and the change report download, on the real app (TestClient)."""

from __future__ import annotations

import html
import json

from tests.admin.support import create_batch, login, register_model, upload_control, wait_state
from tests.batch.conftest import person_model
from tests.support.summary_data import FIRST, SECOND, by_email_control


def _run(client, csrf: str, control: str, people: list[dict[str, object]], mode: str) -> str:
    batch = create_batch(client, csrf, control, {"people": json.dumps(people).encode()})
    identifier = batch.rsplit("/", 1)[-1]
    response = client.post(f"/admin/schedule-batch/{mode}/{identifier}", data={"csrf": csrf})
    assert response.status_code == 200, response.text
    wait_state(client, batch, ("complete", "dry-run", "error"))
    return batch


def test_the_batch_page_shows_the_summary_and_offers_the_change_report(client):
    register_model(client, person_model())
    csrf = login(client)
    control = upload_control(client, csrf, by_email_control())
    ready = create_batch(client, csrf, control, {"people": b"[]"})
    assert 'id="batch-summary"' not in client.get(ready).text  # nothing before the run
    assert client.get(ready + "/changes").status_code == 404

    _run(client, csrf, control, FIRST, "import")
    dry = _run(client, csrf, control, SECOND, "dry-run")
    page = html.unescape(client.get(dry).text)
    assert 'id="batch-summary"' in page and "What a real import would change" in page
    assert '<td id="summary-read">4</td>' in page and '<td id="summary-skipped">3 ' in page
    assert (
        '{"first": "Alan", "last": "Turing"}' in page and '{"first": "Alan", "last": "Turing-Smith"}' in page
    )
    assert f'href="{dry}/changes"' in page
    download = client.get(dry + "/changes")
    assert download.status_code == 200 and download.headers["content-type"] == "application/json"
    assert "attachment" in download.headers["content-disposition"]
    report = download.json()
    assert report["dry_run"] is True and report["batch"] == dry.rsplit("/", 1)[-1]
    (row,) = [r for r in report["destinations"] if r["table"] == "profile"]
    assert (row["new"], row["updated"], row["unchanged"]) == (1, 1, 1) and len(row["sample"]) == 1
    assert client.get("/admin/batch/nope/changes").status_code == 404


def test_an_interrupted_batch_says_how_far_it_got_and_whether_a_rerun_is_safe(client):
    register_model(client, person_model())
    csrf = login(client)
    control = by_email_control()
    control["instructions"].append(
        {"action": "if-exists", "source": "boom", "then": [{"action": "new", "destination": "nowhere"}]}
    )
    path = upload_control(client, csrf, control)
    batch = _run(
        client, csrf, path, [*FIRST, {"first": "B", "last": "Oom", "email": "b@x.org", "boom": 1}], "import"
    )
    page = html.unescape(client.get(batch).text)
    assert (
        '<p class="notice" id="summary-interrupted"><strong>Interrupted</strong> (Unknown destination: nowhere):'
        in page
    )
    assert "2 records read and\n2 committed before it stopped." in page
    assert "Re-running it as a copy is safe: the control file finds every record by its keys" in page
