"""The whole admin flow in headless Chromium against a real ``gateway serve``, with screenshots.

Needs Debian's ``chromium`` (``apt-get install chromium``) and the ``playwright``
Python package (its own browser download is never used). Screenshots go to
``tests/artifacts/admin/`` (git-ignored).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.browser_pages import desktop_page, loaded
from tests.admin.support import CONTROL, PERSON_MODEL
from tests.support.held_blob import HeldBlob
from tests.support.prerequisites import missing_prerequisite, require
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, ServerProcess, serving_with_model

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "admin"
# More than KEEP_LIMIT bytes (the file is read twice: checked, then its records), so that the
# real import can be held mid-file (tests/support/held_blob.py) while the page shows its progress.
RECORDS = 30_000
HELD = 15_000  # records the held import can read before the test lets it go on
PEOPLE = [{"first": "Jane", "last": "Smith", "email": "jane-at-example.org"}] + [
    {"first": f"First{i}", "last": f"Last{i}", "email": f"p{i}@example.org"} for i in range(RECORDS - 1)
]


def _browser_or_skip() -> Any:
    """Playwright's ``sync_playwright``; skips (fails under ``CI=true``) without it or Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_prerequisite("the playwright package is not installed (pip install playwright)")
    require(
        Path(CHROMIUM).exists() or shutil.which("chromium"),
        f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium)",
    )
    return sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serving_with_model(tmp_path_factory.mktemp("browser") / "root", PERSON_MODEL) as running:
        yield running


@pytest.mark.slow
def test_admin_flow_in_a_browser(server: ServerProcess, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    control = tmp_path / "control.json"
    control.write_text(json.dumps(CONTROL))
    people = tmp_path / "people.json"
    people.write_text(json.dumps(PEOPLE))
    extra = tmp_path / "extra.json"
    extra.write_text("[]")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            errors: list[str] = []
            context, page = desktop_page(browser, errors)

            def shot(name: str) -> None:
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

            # Log in.
            page.goto(server.url + "/admin/")
            assert page.url.startswith(server.url + "/admin/login")
            shot("01-login")
            page.fill("#username", ADMIN_USER)
            page.fill("#password", "wrong")
            page.click("button[type=submit]")
            assert "Login failed" in page.inner_text(".error")
            page.fill("#password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(server.url + "/admin/")
            shot("02-home")

            # Framework pages.
            page.click("text=Models")
            page.click("text=haplo:person (People)")
            assert "Pseudo destination" in loaded(page)
            shot("03-model")
            page.click("text=Generate control file…")
            page.check("#include-0")
            page.click("button:has-text('Generate control file')")
            assert "TODO-" in page.inner_text("pre.json")
            shot("04-generated")
            page.click("header >> text=Filters")
            assert "haplo:fix-up-url" in loaded(page)
            shot("05-filters")

            # Upload a control file.
            page.click("header >> text=Control files")
            page.click("text=Upload new control file…")
            shot("06-new-control-file")
            page.set_input_files("#file", str(control))
            page.fill("#comment", "People control")
            page.click("button:has-text('Upload')")
            page.wait_for_selector("text=Control file uploaded.")
            assert '"dataImportControlFileVersion": 0' in page.inner_text("pre.json")
            shot("07-control-file")

            # A batch with two files (the second row is added by the page's script).
            page.click("text=New batch…")
            page.fill("#comment", "People run")
            page.click("#add-row")
            rows = page.locator(".file-row")
            assert rows.count() == 3
            rows.nth(0).locator("input[name=name]").fill("people")
            rows.nth(0).locator("input[name=file]").set_input_files(str(people))
            rows.nth(1).locator("input[name=name]").fill("extra")
            rows.nth(1).locator("input[name=file]").set_input_files(str(extra))
            shot("08-new-batch")
            page.click("button:has-text('Create batch')")
            page.wait_for_selector("text=Batch import: People run")
            assert page.inner_text("#batch-state") == "ready"
            assert "people.json" in loaded(page) and "extra.json" in loaded(page)
            shot("09-batch-ready")

            # Dry run: the page follows the run by itself and shows the log and the notice.
            page.click("text=Dry run…")
            assert "Data will be checked but not imported." in loaded(page)
            shot("10-confirm-dry-run")
            page.click("button:has-text('Dry run')")
            page.wait_for_selector("#dry-run-notice")
            notice = page.inner_text("#dry-run-notice")
            assert "Dry run only: This application has not been updated with imported data." in notice
            log = page.text_content("#batch-log") or ""  # folded below the error list
            assert log.startswith("START: ") and "Invalid email address" in log and "END: " in log
            shot("11-batch-dry-run")
            with page.expect_download() as download:
                page.click("text=Download log")
            assert "Invalid email address" in Path(download.value.path()).read_text()

            # Copy, then import for real.
            page.click("text=Copy as new batch…")
            page.click("button:has-text('Copy batch')")
            page.wait_for_selector("text=Batch import: People run (copy)")
            page.click("text=Import data…")
            assert "Always do a dry run first." in loaded(page)
            # The run is held mid-file until the test lets it go on, so the running page is seen
            # whatever the machine's speed: first with no record done, then with the records that
            # were done, updated by the page's own polling (the same document: no reload).
            # The dry run checked the file: the real run remembers it and reads the file once.
            data = people.read_bytes()
            held_at = len(json.dumps(PEOPLE[:HELD]).encode()) - 1
            with HeldBlob(server.root, data, server.process.pid, held_at, gated=True, checked=True) as feed:
                page.click("button:has-text('Import data')")
                page.wait_for_selector("#progress")
                assert page.inner_text("#batch-state") in ("scheduled", "running")
                assert page.inner_text("#progress-records") == "0"
                page.evaluate("window.heldBlobMarker = 'same document'")
                feed.serve()
                feed.wait_held()
                # the page's polling shows the records done (state and numbers are set together)
                page.locator("#progress-records", has_text=re.compile(r"^[1-9][0-9]*$")).wait_for()
                assert page.inner_text("#batch-state") == "running"
                assert page.evaluate("window.heldBlobMarker") == "same document"
                assert 0 < int(page.inner_text("#progress-records")) <= HELD, page.inner_text("#progress")
                shot("12-batch-running")
                with page.expect_navigation(wait_until="load"):  # the page reloads itself when done
                    feed.release()
            assert page.evaluate("window.heldBlobMarker") is None  # a new document
            assert page.inner_text("#batch-state") == "complete"
            assert page.inner_text("#batch-errors") == "1"
            assert page.locator("#progress").count() == 0
            shot("13-batch-complete")
            page.click("header >> text=Batches")
            assert page.locator("tbody tr").count() == 2
            shot("14-batches")

            # An API key, shown once, that works on the batch API.
            page.goto(server.url + "/admin/batch-import")
            page.click("text=Create API key…")
            page.fill("#name", "browser test")
            page.click("button:has-text('Create API key')")
            key = page.inner_text("#api-key")
            assert "This is the only time it can be displayed" in loaded(page)
            shot("15-api-key")
            request = urllib.request.Request(
                server.url + "/api/haplo-data-import-batch/status?batch=nope",
                headers={"Authorization": "Basic " + base64.b64encode(f"haplo:{key}".encode()).decode()},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert (refused.value.code, refused.value.read()) == (400, b"Batch not found: nope")

            # The same pages on a phone.
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
            phone.add_cookies(context.cookies())
            small = phone.new_page()
            for name, path in (("16-phone-home", "/admin/"), ("17-phone-batches", "/admin/batches")):
                small.goto(server.url + path)
                small.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            width = small.evaluate("document.documentElement.scrollWidth")
            assert width <= 400, width  # no sideways scrolling of the page itself
            assert errors == []  # no script errors (CSP blocks nothing we need)
        finally:
            browser.close()
    status, table = server.op({"operation": "describe_table", "database": "haplo_person", "table": "profile"})
    assert status == 200 and table["record_count"] == RECORDS
