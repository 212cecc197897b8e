"""Pages of the headless-Chromium admin tests: a desktop page that records script errors, and login."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

WAIT_MS = 30_000


def desktop_page(browser: Any, errors: list[str]) -> tuple[Any, Any]:
    """A 1280×800 context that accepts downloads and its page; script errors (and CSP reports) go to
    ``errors``. ``(context, page)``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    return context, _watched(context.new_page(), errors)


def watched_page(context: Any) -> tuple[Any, list[str]]:
    """A new page of ``context`` and the list its script errors and CSP violations go to."""
    errors: list[str] = []
    return _watched(context.new_page(), errors), errors


def _watched(page: Any, errors: list[str]) -> Any:
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return page


def loaded(page: Any) -> str:
    """The page's HTML once the document a click navigated to has loaded (right after a click that
    navigates, ``page.content()`` may still be the new document's empty start on a busy machine)."""
    page.wait_for_load_state("load")
    return str(page.content())


def log_in(page: Any, url: str) -> None:
    """Log in as the admin through the login form at server ``url``."""
    page.goto(url + "/admin/login")
    page.fill("#username", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/admin/")


@contextlib.contextmanager
def chromium(sync_playwright: Any, executable: str, args: list[str]) -> Iterator[Any]:
    """Headless Chromium (``executable``, launched with ``args``), closed at the end."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser
        finally:
            browser.close()


def shooter(page: Any, folder: Path, prefix: str = "") -> Callable[[str], None]:
    """``shot(name)``: a full-page screenshot of ``page`` to ``folder/<prefix><name>.png``."""

    def shot(name: str) -> None:
        page.screenshot(path=str(folder / f"{prefix}{name}.png"), full_page=True)

    return shot
