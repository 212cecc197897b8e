"""The admin download of a batch's change report (the summary itself is on the batch page)."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.admin.web import Page, admin_view
from gateway.imports.summary import change_report


@admin_view
async def batch_changes(page: Page) -> Response:
    """The batch's change report as a JSON download (404 before the batch has finished)."""
    identifier = page.request.path_params["identifier"]
    found = await run_in_threadpool(page.gateway.imports.batches.get, identifier)
    report = change_report(found) if found is not None and found.get("state") != "running" else None
    if found is None or report is None:
        return page.message(
            "Not found", "This batch has no change report: it has not finished.", 404, "/admin/batches"
        )
    return Response(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="changes-{found["identifier"][:10]}.json"'},
    )
