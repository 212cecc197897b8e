"""The batch page's log view and reject-file downloads (served from the stored error entries).

The view groups a batch's errors by message pattern (counts and the first records of
each), searches them (``?q=``), filters them by pattern (``?pattern=``) and pages through
all of them (``?page=``, :data:`PAGE_SIZE` a page) with the file, record and line of each.
It says when the plain log's cap was reached and how many errors it does not show.
Nothing is re-run: the entries and their summary were stored by the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from gateway.admin.web import Page, admin_view
from gateway.imports.errorlog import ErrorGroups, matching
from gateway.imports.reject_file import files_with_rejects, open_reject_file
from gateway.imports.rejects import RejectsUnavailable
from gateway.storage.ports import BatchErrorLog
from gateway.storage.records import ErrorEntry

PAGE_SIZE: Final = 50
MAX_QUERY: Final = 200


@dataclass
class LogView:
    """What the batch page's log section shows."""

    total: int = 0
    """Errors counted by the run (all of them are stored)."""
    cap: int | None = None
    not_logged: int = 0
    """Errors the plain log does not show (past its cap)."""
    groups: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    """``{"name", "records", "errors"}`` of each file with failed records."""
    entries: list[ErrorEntry] = field(default_factory=list)
    """This page's errors."""
    matching: int = 0
    page: int = 1
    pages: int = 1
    query: str = ""
    pattern: str = ""
    record_processor: bool = False

    @property
    def first(self) -> int:
        """The number (from 1) of this page's first error among the matching ones."""
        return (self.page - 1) * PAGE_SIZE + 1

    def link(self, **changes: Any) -> str:
        """A query string for this view with ``changes`` (``page``, ``q``, ``pattern``); empty values dropped."""
        values = {"q": self.query, "pattern": self.pattern, "page": self.page, **changes}
        kept = {k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)}
        return "?" + urlencode(kept) + "#error-log" if kept else "?#error-log"


def _page_number(raw: str | None) -> int:
    try:
        return max(1, int(raw or "1"))
    except ValueError:
        return 1


def log_view(errors: BatchErrorLog, batch: dict[str, Any], params: dict[str, str]) -> LogView:
    """The log view of ``batch`` for the page's query parameters (``q``, ``pattern``, ``page``)."""
    identifier = str(batch["identifier"])
    view = LogView(query=(params.get("q") or "").strip()[:MAX_QUERY], pattern=params.get("pattern") or "")
    summary = errors.summary(identifier)
    if summary is None:  # still running (or run before errors were kept): group what is stored so far
        groups = ErrorGroups()
        for entry in errors.entries(identifier):
            groups.add(entry)
            view.total += 1
        view.groups = groups.as_list()
    else:
        view.total = int(summary.get("total") or 0)
        view.cap = summary.get("cap")
        view.groups = list(summary.get("groups") or [])
        view.record_processor = bool(summary.get("record_processor"))
        if batch.get("state") in ("complete", "dry-run", "error"):
            failed = files_with_rejects(summary)
            view.rejects = [{"name": name, **counts} for name, counts in failed.items()]
    if view.cap and view.total >= view.cap:
        view.not_logged = view.total - (view.cap - 1)
    wanted = _page_number(params.get("page"))
    if not view.query and not view.pattern and summary is not None:
        view.matching = view.total
        view.pages = max(1, -(-view.matching // PAGE_SIZE))
        view.page = min(wanted, view.pages)
        start = (view.page - 1) * PAGE_SIZE
        view.entries = list(islice(errors.entries(identifier, start), PAGE_SIZE))
        return view
    start = (wanted - 1) * PAGE_SIZE
    kept: list[ErrorEntry] = []
    last_page: list[ErrorEntry] = []
    for count, entry in enumerate(matching(errors.entries(identifier), view.query, view.pattern)):
        if count % PAGE_SIZE == 0:
            last_page = []
        last_page.append(entry)
        if start <= count < start + PAGE_SIZE:
            kept.append(entry)
        view.matching = count + 1
    view.pages = max(1, -(-view.matching // PAGE_SIZE))
    view.page = min(wanted, view.pages)
    view.entries = kept if wanted <= view.pages else last_page
    return view


@admin_view
async def batch_rejects(page: Page) -> Response:
    """A batch file's reject file as a download (``?file=<name>``; without it, the one with failed records)."""
    imports = page.gateway.imports
    identifier = page.request.path_params["identifier"]
    try:
        reject = await run_in_threadpool(
            open_reject_file,
            imports.batches,
            imports.errors,
            identifier,
            page.request.query_params.get("file"),
        )
    except RejectsUnavailable as refused:
        return page.message("No reject file", str(refused), 400, f"/admin/batch/{identifier}")
    disposition = {"Content-Disposition": f'attachment; filename="{reject.filename}"'}
    return StreamingResponse(reject.chunks, media_type=reject.media_type, headers=disposition)
