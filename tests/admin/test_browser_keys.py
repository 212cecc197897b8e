"""The API-key pages in headless Chromium against a real ``gateway serve``, with screenshots.

A key is created with a name through the form, its copy button puts it on the
clipboard (or, where the Clipboard API is refused, selects it), the key works on the
batch API, and the list tells keys apart by name with created and last-used times.
Screenshots: ``tests/artifacts/admin/keys-*.png``. Prerequisites as in ``test_browser.py``.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin.browser_pages import watched_page
from tests.admin.test_browser import ARGS, ARTIFACTS, CHROMIUM, _browser_or_skip
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("browser-keys") / "root")
    try:
        status, answer = running.op({"operation": "create_api_key", "name": "nightly HR import"})
        assert status == 200, answer
        yield running
    finally:
        running.stop()


def _status_with(server: ServerProcess, key: str) -> int:
    request = urllib.request.Request(
        server.url + "/api/haplo-data-import-batch/status?batch=nope",
        headers={"Authorization": "Basic " + base64.b64encode(f"haplo:{key}".encode()).decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


@pytest.mark.slow
def test_named_keys_and_the_copy_button(server: ServerProcess, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
            page, errors = watched_page(context)

            def shot(name: str) -> None:
                page.screenshot(path=str(ARTIFACTS / f"keys-{name}.png"), full_page=True)

            page.goto(server.url + "/admin/login")
            page.fill("#username", ADMIN_USER)
            page.fill("#password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(server.url + "/admin/")

            # The form wants a name (the browser enforces `required`; the server does too).
            page.goto(server.url + "/admin/create-api-key")
            page.click("button:has-text('Create API key')")
            assert page.url == server.url + "/admin/create-api-key"  # not submitted without a name
            page.fill("#name", "payroll export")
            page.click("button:has-text('Create API key')")
            key = page.inner_text("#api-key")
            assert len(key) == 44
            copy = page.locator("#copy-key")
            assert copy.is_visible()
            copy.click()
            page.wait_for_function("document.getElementById('copy-status').textContent !== ''")
            status = page.inner_text("#copy-status")
            if status == "Copied.":  # http://127.0.0.1 is a secure context: the Clipboard API
                assert page.evaluate("navigator.clipboard.readText()") == key
            else:  # the fallback: the key is selected for Ctrl+C
                assert page.evaluate("window.getSelection().toString()") == key
            shot("01-new-key-with-copy-button")

            # The fallback path: no Clipboard API at all.
            page.evaluate("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
            page.evaluate("document.getElementById('copy-status').textContent = ''")
            copy.click()
            page.wait_for_function("document.getElementById('copy-status').textContent !== ''")
            assert page.evaluate("window.getSelection().toString()") == key
            assert page.inner_text("#copy-status") in ("Copied.", "Selected: press Ctrl+C (⌘C) to copy.")

            assert _status_with(server, key) == 400  # accepted: "Batch not found: nope"

            page.goto(server.url + "/admin/api-keys")
            rows = page.locator("tbody tr")
            assert rows.count() == 2
            texts = [rows.nth(i).inner_text() for i in range(2)]
            assert "nightly HR import" in texts[0] and "payroll export" in texts[1]
            assert rows.nth(0).locator("td.when").nth(1).inner_text() == "never"
            cells = rows.nth(1).locator("td.when")
            assert cells.nth(0).inner_text().strip() not in ("", "—")  # created
            assert cells.nth(1).inner_text().strip() not in ("", "—")  # last used (the status call)
            assert "once a minute" in page.content()
            shot("02-key-list-with-names")
            assert errors == []
        finally:
            browser.close()
