"""A batch page's summary and a dry run's change report in headless Chromium, with screenshots.

Same prerequisites as ``test_browser.py`` (Debian's ``chromium``, the ``playwright`` package);
screenshots go to ``tests/artifacts/admin/summary-*.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin.browser_pages import WAIT_MS
from tests.admin.test_browser import ARGS, ARTIFACTS, CHROMIUM, _browser_or_skip
from tests.batch.conftest import person_model
from tests.batch.remote import RemoteBatchApi
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, ServerProcess, start_server
from tests.support.summary_data import FIRST, SECOND, by_email_control


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("browser-summary") / "root")
    try:
        status, answer = running.op({"operation": "add_import_model", "model": person_model()})
        assert status == 200, answer
        yield running
    finally:
        running.stop()


def _run(api: RemoteBatchApi, people: list[dict[str, object]], mode: str = "") -> str:
    batch = api.batch_with_file(by_email_control(), "people", json.dumps(people).encode())
    api.ok("schedule", {"batch": batch, "mode": mode})
    api.wait(batch)
    return batch


@pytest.mark.slow
def test_batch_page_shows_the_summary_and_the_change_report(server: ServerProcess, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    api = RemoteBatchApi(server)
    first = _run(api, FIRST)
    dry = _run(api, SECOND, "dry-run")
    real = _run(api, SECOND)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            page.goto(server.url + "/admin/login")
            page.fill("#username", ADMIN_USER)
            page.fill("#password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(server.url + "/admin/")

            # The dry run: what a real import would change, with the sampled update.
            page.goto(f"{server.url}/admin/batch/{dry}")
            summary = page.locator("#batch-summary")
            assert summary.is_visible()
            assert page.inner_text("#summary-read") == "4"
            assert page.inner_text("#summary-skipped").startswith("3")
            assert page.inner_text("#summary-failed").startswith("1")
            assert "What a real import would change" in summary.inner_text()
            cells = page.locator("#summary-changes tbody td").all_inner_texts()
            assert cells == ["profile", "profile", "1", "1", "1"]
            sample = page.locator("table.sample-changes").inner_text()
            assert '"last": "Turing"}' in sample and '"last": "Turing-Smith"' in sample and "title" in sample
            page.locator("#batch-summary").screenshot(path=str(ARTIFACTS / "summary-01-dry-run-changes.png"))
            page.screenshot(path=str(ARTIFACTS / "summary-02-dry-run-page.png"), full_page=True)
            with page.expect_download() as caught:
                page.click("#changes-download")
            download = caught.value
            target = tmp_path / "changes.json"
            download.save_as(str(target))
            report = json.loads(target.read_text("utf-8"))
            assert report["batch"] == dry and report["dry_run"] is True
            assert report["destinations"][0]["sample"][0]["changes"][0]["name"] == "title"

            # The real import: committed, and no sample (nothing is sampled in a real run).
            page.goto(f"{server.url}/admin/batch/{real}")
            assert page.inner_text("#summary-committed") == "3"
            assert page.locator("#summary-changes tbody td").all_inner_texts() == [
                "profile",
                "profile",
                "1",
                "1",
                "1",
            ]
            assert page.locator("table.sample-changes").count() == 0
            assert page.locator("#summary-interrupted").count() == 0
            page.screenshot(path=str(ARTIFACTS / "summary-03-complete.png"), full_page=True)

            # A batch that has not run has no summary.
            page.goto(f"{server.url}/admin/batch/{api.batch_with_file(by_email_control(), 'people', b'[]')}")
            assert page.locator("#batch-summary").count() == 0
            page.goto(f"{server.url}/admin/batch/{first}")
            assert page.locator("#summary-changes tbody td").all_inner_texts() == [
                "profile",
                "profile",
                "2",
                "0",
                "0",
            ]
            assert errors == []
        finally:
            browser.close()
