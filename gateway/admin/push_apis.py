"""The REST push-data API pages (haplo-import.md §9): list, create (its key shown once),
enable or disable, delete. Every change is a CSRF-checked POST; the work is
:class:`gateway.pushdata.PushApis`'s, as for the operations."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.admin.web import Page, admin_view
from gateway.pushdata import DefinitionError
from gateway.pushdata.definitions import PATH_PREFIX, RESPONSES

LIST = "/admin/push-apis"


@admin_view
async def push_apis(page: Page) -> Response:
    """Every push-data API: url (marked when disabled), description, format, with its buttons."""
    apis = await run_in_threadpool(page.gateway.push_data.apis.list)
    return page.render("push_apis.html", title="REST push-data APIs", apis=apis)


@admin_view
async def new_push_api(page: Page) -> Response:
    """GET: the form. POST: define the API and show its key this one time."""
    values: dict[str, Any] = {
        "url": "",
        "description": "",
        "response": "JSON",
        "enabled": True,
        "control": "",
    }

    def form(status: int = 200, error: str | None = None) -> Response:
        return page.render(
            "push_api_new.html",
            status,
            title="New REST API",
            error=error,
            values=values,
            responses=RESPONSES,
            prefix=PATH_PREFIX,
        )

    if page.form is None:
        return form()
    values.update(
        url=page.field("url"),
        description=page.field("description"),
        response=page.field("response") or "JSON",
        enabled=page.field("enabled") == "yes",
        control=page.field("control"),
    )
    if not values["control"]:
        return form(400, "The control file is required (paste its JSON).")
    try:
        created = await run_in_threadpool(
            page.gateway.push_data.apis.add,
            values["url"],
            values["description"],
            values["control"],
            None,
            values["enabled"],
            values["response"],
        )
    except DefinitionError as exc:
        return form(400, exc.message)
    return page.render("push_api_created.html", title="REST API created", api=created)


@admin_view
async def set_push_api_enabled(page: Page) -> Response:
    """POST: enable or disable one API (``enabled`` yes or no)."""
    if page.form is None:
        return page.redirect(LIST)
    url = page.request.path_params["url"]
    enabled = page.field("enabled") == "yes"
    try:
        await run_in_threadpool(page.gateway.push_data.apis.alter, url, {"enabled": enabled})
    except DefinitionError as exc:
        page.set_flash(exc.message)
        return page.redirect(LIST)
    page.set_flash(f"{url}: {'enabled' if enabled else 'disabled'}.")
    return page.redirect(LIST)


@admin_view
async def delete_push_api(page: Page) -> Response:
    """POST: delete one API and revoke its key."""
    if page.form is None:
        return page.redirect(LIST)
    url = page.request.path_params["url"]
    try:
        dropped = await run_in_threadpool(page.gateway.push_data.apis.drop, url)
    except DefinitionError:
        dropped = False
    page.set_flash(f"{url}: deleted, its key revoked." if dropped else "That API was already gone.")
    return page.redirect(LIST)
