"""The batch list and the look of every admin page in headless Chromium against a real ``gateway serve``.

Batches are made through the admin forms (posted with the browser's own session), then the
list is filtered with its form, a ``complete`` batch with errors is checked to look unlike a
clean one, and every admin page is measured at 390 px and at 1280 px: nothing may be wider
than the page (no table, container or code block that scrolls or clips sideways). Screenshots
go to ``tests/artifacts/admin/`` (``list-*.png``, git-ignored).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.admin.browser_pages import WAIT_MS
from tests.admin.support import CONTROL
from tests.admin.test_browser import ARGS, ARTIFACTS, CHROMIUM, _browser_or_skip
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, ServerProcess, start_server

SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "control_files" / "haplo-person.model.json"
CLEAN = [{"first": "Joe", "last": "Bloggs", "email": "joe@example.org"}]
FAULTY = [
    {"first": "Ann", "last": "Lee", "email": "ann@example.org"},
    {"first": "Bob", "last": "Roe", "email": "not-an-email"},
]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Every element whose content is wider than its box (it scrolls or clips sideways), or whose box
# reaches past the window; each as "tag.class#id: widths".
OVERFLOWS = """() => {
  const width = document.documentElement.clientWidth, found = [];
  if (document.documentElement.scrollWidth > width) found.push("page: " + document.documentElement.scrollWidth);
  const hidden = el => { for (let n = el; n; n = n.parentElement) if (getComputedStyle(n).clip !== "auto") return true; return false; };
  for (const el of document.querySelectorAll("main *, header *")) {
    if (hidden(el)) continue;  // read by screen readers only (a stacked table's header row)
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const name = el.tagName.toLowerCase() + (el.className ? "." + String(el.className).replace(/ /g, ".") : "")
      + (el.id ? "#" + el.id : "");
    const scrolls = ["visible", "clip"].indexOf(getComputedStyle(el).overflowX) < 0 || el.tagName === "TABLE";
    if (scrolls && el.scrollWidth > el.clientWidth + 1) found.push(name + ": content " + el.scrollWidth + " > " + el.clientWidth);
    if (box.right > width + 1 || box.left < -1) found.push(name + ": box " + Math.round(box.left) + ".." + Math.round(box.right));
  }
  return found;
}"""
STEPS = 600  # bounded waits: at most STEPS polls of 0.1 s


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("browser-list") / "root")
    try:
        model = json.loads(SHIPPED_MODEL.read_text())
        status, answer = running.op({"operation": "add_import_model", "model": model})
        assert status == 200, answer
        yield running
    finally:
        running.stop()


class Admin:
    """Posts the admin forms with the browser context's session (its cookie and CSRF token)."""

    def __init__(self, page: Any, url: str) -> None:
        self.page, self.url = page, url
        self.csrf = CSRF.search(page.content()).group(1)

    def post(self, path: str, multipart: dict[str, Any], status: int = 303) -> str:
        """POST a form; the page it redirects to (a 303) or the page's HTML."""
        response = self.page.request.post(
            self.url + path, multipart={"csrf": self.csrf, **multipart}, max_redirects=0
        )
        assert response.status == status, (path, response.status, response.text()[:500])
        return str(response.headers["location"]) if status == 303 else str(response.text())

    def upload(self, name: str, content: Any) -> dict[str, Any]:
        return {"name": name, "mimeType": "application/json", "buffer": json.dumps(content).encode()}

    def batch(self, control: str, comment: str, records: list[dict[str, str]]) -> str:
        control_id = control.rsplit("/", 1)[-1]
        fields = {"comment": comment, "name": "people", "file": self.upload("people.json", records)}
        return self.post(f"/admin/new-batch/for-control/{control_id}", fields).rsplit("/", 1)[-1]

    def run(self, identifier: str, mode: str, end: str) -> None:
        self.post(f"/admin/schedule-batch/{mode}/{identifier}", {})
        for _ in range(STEPS):
            state = self.page.request.get(f"{self.url}/admin/batch/{identifier}/progress").json()["state"]
            if state in (end, "error"):
                assert state == end
                return
            time.sleep(0.1)
        raise AssertionError(f"batch {identifier} did not end {end}")


def follow(page: Any, selector: str) -> None:
    """Click a link or button that loads another page, and wait for that page."""
    with page.expect_navigation(wait_until="load"):
        page.click(selector)


def _listed(page: Any) -> list[str]:
    return [
        href.rsplit("/", 1)[-1]
        for href in page.eval_on_selector_all(
            "table.batches td[data-label=Batch] > a", "links => links.map(a => a.getAttribute('href'))"
        )
    ]


@pytest.mark.slow
def test_batch_list_filters_badges_and_every_page_fits(server: ServerProcess) -> None:
    sync_playwright = _browser_or_skip()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport=DESKTOP)
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def shot(name: str, on: Any = page) -> None:
                on.screenshot(path=str(ARTIFACTS / f"list-{name}.png"), full_page=True)

            page.goto(server.url + "/admin/login")
            page.fill("#username", ADMIN_USER)
            page.fill("#password", ADMIN_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(server.url + "/admin/")

            admin = Admin(page, server.url)
            control = admin.post(
                "/admin/new-control-file",
                {"comment": "Nightly people control", "file": admin.upload("control.json", CONTROL)},
            )
            ready = admin.batch(control, "Waiting batch", CLEAN)
            clean = admin.batch(control, "Clean import", CLEAN)
            admin.run(clean, "import", "complete")
            faulty = admin.batch(control, "Import with errors", FAULTY)
            admin.run(faulty, "import", "complete")
            trial = admin.batch(control, "Trial run", FAULTY)
            admin.run(trial, "dry-run", "dry-run")
            assert 'id="api-key"' in admin.post("/admin/create-api-key", {"name": "x"}, status=200)
            push_api = {"url": "people-feed", "description": "People pushed one at a time by the HR system"}
            push_api |= {"response": "JSON", "enabled": "yes", "control": json.dumps(CONTROL)}
            assert 'id="api-key"' in admin.post("/admin/new-push-api", push_api, status=200)

            # The list, newest first, filtered with its form.
            page.goto(server.url + "/admin/batch-import")
            follow(page, "text=With errors")
            assert _listed(page) == [trial, faulty]
            follow(page, "text=Clear")
            assert _listed(page) == [trial, faulty, clean, ready]
            assert page.inner_text("#batch-count") == "4 batches"
            shot("01-batches")
            page.select_option("select[name=state]", "complete")
            follow(page, "button:has-text('Filter')")
            assert _listed(page) == [faulty, clean]
            assert page.inner_text("#batch-count") == "2 batches match the filters"
            page.check("input[name=errors]")
            follow(page, "button:has-text('Filter')")
            assert _listed(page) == [faulty]
            shot("02-batches-complete-with-errors")
            follow(page, "text=Clear")
            page.fill("input[name=q]", clean[5:20])
            follow(page, "button:has-text('Filter')")
            assert _listed(page) == [clean]
            follow(page, "text=Clear")
            today = datetime.now(UTC).date().isoformat()
            page.fill("input[name=from]", today)
            page.fill("input[name=to]", today)
            page.fill("input[name=q]", "nightly people")
            follow(page, "button:has-text('Filter')")
            assert len(_listed(page)) == 4
            assert f"from={today}" in page.url and "q=nightly+people" in page.url
            page.fill("input[name=from]", "2001-01-01")
            page.fill("input[name=to]", "2001-12-31")
            follow(page, "button:has-text('Filter')")
            assert _listed(page) == [] and page.inner_text("#batch-count") == "0 batches match the filters"

            # A complete batch with errors does not look like a clean one: other words, another colour.
            follow(page, "text=Clear")
            row = {b: page.locator(f"tr:has(a[href='/admin/batch/{b}'])") for b in (clean, faulty)}
            assert row[clean].locator(".badge").inner_text().strip() == "✓ complete"
            assert row[faulty].locator(".badge").inner_text().strip() == "⚠ complete with 1 error"
            colours = {
                b: row[b].locator(".badge").evaluate("e => getComputedStyle(e).backgroundColor") for b in row
            }
            assert colours[clean] != colours[faulty], colours
            weights = [
                row[b].locator("td[data-label=Errors] .count").evaluate("e => getComputedStyle(e).fontWeight")
                for b in (clean, faulty)
            ]
            assert int(weights[1]) > int(weights[0]), weights
            assert row[faulty].locator("td[data-label=Errors]").inner_text().strip() == "⚠ 1"
            assert row[faulty].locator("code.batch-id").inner_text() == faulty  # the whole identifier
            page.goto(f"{server.url}/admin/batch/{faulty}")
            assert page.inner_text("#batch-state") == "complete"
            assert page.locator(".badge").inner_text().strip() == "⚠ complete with 1 error"
            shot("03-batch-complete-with-errors")

            # Every admin page, at a desktop width and on a phone: nothing wider than the window.
            control_id = control.rsplit("/", 1)[-1]
            pages = {
                "home": "/admin/",
                "models": "/admin/models",
                "model": "/admin/model?model=haplo:person",
                "generate": "/admin/generate-control-file?model=haplo:person",
                "filters": "/admin/filters",
                "documentation": "/admin/documentation",
                "batch-import": "/admin/batch-import",
                "control-files": "/admin/control-files",
                "control-file": control,
                "new-control-file": "/admin/new-control-file",
                "new-batch": f"/admin/new-batch/for-control/{control_id}",
                "batches": "/admin/batches",
                "batches-filtered": "/admin/batches?state=complete&errors=1",
                "batches-bad-filter": "/admin/batches?from=2026-13-01",
                "batch-complete-with-errors": f"/admin/batch/{faulty}",
                "batch-ready": f"/admin/batch/{ready}",
                "batch-dry-run": f"/admin/batch/{trial}",
                "confirm-dry-run": f"/admin/schedule-batch/dry-run/{ready}",
                "confirm-copy": f"/admin/copy-batch/{clean}",
                "create-api-key": "/admin/create-api-key",
                "api-keys": "/admin/api-keys",
                "push-apis": "/admin/push-apis",
                "new-push-api": "/admin/new-push-api",
                "not-found": "/admin/batch/nope",
            }
            phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
            phone.add_cookies(context.cookies())
            small = phone.new_page()
            small.on("pageerror", lambda exc: errors.append(str(exc)))
            problems: dict[str, list[str]] = {}
            for size, view in (("desktop", page), ("phone", small)):
                for name, path in pages.items():
                    view.goto(server.url + path)
                    text = view.inner_text("body")
                    assert "§" not in text and "haplo-import" not in text, (name, size)
                    shot(f"{size}-{name}", view)
                    found = view.evaluate(OVERFLOWS)
                    if found:
                        problems[f"{size} {name}"] = found
                # Pages reached by a form: the draft control file, a new key, the login form.
                view.goto(server.url + pages["generate"])
                view.click("button:has-text('Generate control file')")
                view.wait_for_selector("pre.json")
                shot(f"{size}-generated", view)
                problems.update({f"{size} generated": f} for f in [view.evaluate(OVERFLOWS)] if f)
                view.goto(server.url + "/admin/create-api-key")
                view.fill("#name", "nightly")
                view.click("button:has-text('Create API key')")
                view.wait_for_selector("#api-key")
                shot(f"{size}-api-key-created", view)
                problems.update({f"{size} api-key-created": f} for f in [view.evaluate(OVERFLOWS)] if f)
            logged_out = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
            logged_out.goto(server.url + "/admin/login")
            shot("phone-login", logged_out)
            problems.update({"phone login": f} for f in [logged_out.evaluate(OVERFLOWS)] if f)
            assert problems == {}, json.dumps(problems, indent=1)

            # On a phone the batch's files are cards: the whole "Download" link is on the screen.
            small.goto(f"{server.url}/admin/batch/{faulty}")
            link = small.locator("td[data-label=Download] a")
            assert link.inner_text() == "Download"
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
            small.goto(server.url + "/admin/batches")
            ident = small.locator(f"tr:has(a[href='/admin/batch/{faulty}']) code.batch-id")
            assert ident.inner_text() == faulty
            assert ident.bounding_box()["width"] <= PHONE["width"]
            assert errors == []
        finally:
            browser.close()
