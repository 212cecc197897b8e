"""API keys for the batch API: create one (shown once), list and revoke them."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.admin.web import Page, admin_view

KEY_PATH = "/api/haplo-data-import-batch/"
MAX_NAME = 200


@admin_view
async def create_api_key(page: Page) -> Response:
    """GET: the form (a name for the key). POST: create the key and show it this one time."""

    def form(status: int = 200, error: str | None = None, name: str = "") -> Response:
        return page.render(
            "api_key_new.html", status, title="Create API key", key_path=KEY_PATH, error=error, name=name
        )

    if page.form is None:
        return form()
    name = page.field("name")
    if not name:
        return form(400, "A name is required: say what will use the key (e.g. “nightly HR import”).")
    if len(name) > MAX_NAME:
        return form(400, f"The name is longer than {MAX_NAME} characters.", name[:MAX_NAME])
    created = await run_in_threadpool(page.gateway.auth.api_keys.create, name, KEY_PATH)
    return page.render("api_key_created.html", title="API key created", key=created)


@admin_view
async def api_keys(page: Page) -> Response:
    """The keys (never their secrets), with a revoke button each."""
    keys = await run_in_threadpool(page.gateway.auth.api_keys.list)
    return page.render("api_keys.html", title="API keys", keys=keys)


@admin_view
async def revoke_api_key(page: Page) -> Response:
    """POST: revoke one key at once."""
    key_id = page.request.path_params["key_id"]
    if page.form is None:
        return page.redirect("/admin/api-keys")
    revoked = await run_in_threadpool(page.gateway.auth.api_keys.revoke, key_id)
    page.set_flash("API key revoked." if revoked else "That API key was already gone.")
    return page.redirect("/admin/api-keys")
