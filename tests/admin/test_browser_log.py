"""The batch page's log view and reject download in headless Chromium against a real ``gateway serve``.

A batch with 130 errors (past an error cap of 10) is run through the batch API; the
page shows the errors grouped, filters them by pattern, searches and pages through
them, and its link downloads the reject file. Screenshots go to ``tests/artifacts/admin/``
(``log-*.png``). Same prerequisites as ``test_browser.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.browser_pages import chromium, desktop_page, log_in, shooter
from tests.admin.support import CONTROL, PERSON_MODEL
from tests.admin.test_browser import ARGS, ARTIFACTS, CHROMIUM, _browser_or_skip
from tests.batch.remote import RemoteBatchApi
from tests.support.server import ServerProcess, serving_with_model

PEOPLE: list[dict[str, Any]] = [{"first": "Ok", "last": "One", "email": "ok@example.org"}] + [
    {"email": f"n{i}@example.org"} if i % 3 == 0 else {"first": f"F{i}", "last": f"L{i}", "email": f"bad-{i}"}
    for i in range(1, 130)
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("browser-log") / "root"
    with serving_with_model(root, PERSON_MODEL, {"GATEWAY_IMPORT_MAX_ERRORS": "10"}) as running:
        yield running


def _run_batch(server: ServerProcess) -> str:
    """A batch of PEOPLE run to its end through the batch API; its identifier."""
    api = RemoteBatchApi(server)
    batch = api.batch_with_file(CONTROL, "people", json.dumps(PEOPLE).encode())
    assert api.ok("schedule", {"batch": batch}) == "SCHEDULED"
    assert api.wait(batch)["state"] == "complete"
    return batch


@pytest.mark.slow
def test_grouped_log_filter_search_paging_and_reject_download(server: ServerProcess, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    batch = _run_batch(server)
    with chromium(sync_playwright, CHROMIUM, ARGS) as browser:
        errors: list[str] = []
        context, page = desktop_page(browser, errors)
        shot = shooter(page, ARTIFACTS, "log-")
        log_in(page, server.url)
        page.goto(f"{server.url}/admin/batch/{batch}")
        groups = page.locator("#error-groups tbody tr")
        assert groups.count() == 3
        assert groups.nth(0).inner_text().startswith("86 ×\tInvalid email address for input field email: …")
        assert "people record 1, people record 2" in groups.nth(0).inner_text()
        assert "121 of the 130 errors are not in it" in page.inner_text("#cap-note")
        assert "count from 0" in page.inner_text("#record-numbering")
        assert page.inner_text("#log-range") == "Errors 1–50 of 130 · page 1 of 3"
        assert page.locator("#error-lines li").first.inner_text().startswith("people · record 1")
        assert not page.locator("#batch-log").is_visible()  # the plain log is folded away
        shot("01-grouped")

        page.click("#error-groups >> text=title is not set in object profile")
        assert page.inner_text("#log-filter") == "Only: title is not set in object profile"
        assert page.inner_text("#log-range") == "Errors 1–43 of 43 matching · page 1 of 1"
        shot("02-pattern")

        page.click("text=Show all errors")
        page.fill("#log-q", "bad-12")
        page.click("#log-search button")
        lines = page.locator("#error-lines li")
        assert lines.count() == 6 and "bad-121" in lines.first.inner_text()
        shot("03-search")

        page.click("text=Show all errors")
        page.click("#log-pager >> text=Next ›")
        assert page.inner_text("#log-range") == "Errors 51–100 of 130 · page 2 of 3"
        page.click("#log-pager >> text=Last »")
        assert page.inner_text("#log-range") == "Errors 101–130 of 130 · page 3 of 3"
        shot("04-last-page")

        with page.expect_download() as download:
            page.click(".reject-link")
        assert download.value.suggested_filename.endswith("-people.json")
        rejected = json.loads(Path(download.value.path()).read_text("utf-8"))
        assert len(rejected) == 129 and rejected[0]["_errors"] == [
            "Invalid email address for input field email: bad-1"
        ]
        page.click("#plain-log summary")
        assert page.locator("#batch-log").is_visible()
        shot("05-plain-log-open")

        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.add_cookies(context.cookies())
        small = phone.new_page()
        small.goto(f"{server.url}/admin/batch/{batch}")
        small.screenshot(path=str(ARTIFACTS / "log-06-phone.png"), full_page=True)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, width
        assert errors == []
